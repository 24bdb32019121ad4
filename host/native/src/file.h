/* Files for file bdevs (file.c). */
#ifndef WSTOR_FILE_H
#define WSTOR_FILE_H
#include <node_api.h>

napi_value wstor_file_allocate(napi_env env, napi_callback_info info);

#endif
