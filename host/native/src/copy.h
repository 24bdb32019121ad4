/* Copies between the shared Wasm memory and ordinary buffers (copy.c). */
#ifndef WSTOR_COPY_H
#define WSTOR_COPY_H
#include <node_api.h>

napi_value wstor_copy_from_memory(napi_env env, napi_callback_info info);
napi_value wstor_copy_into_memory(napi_env env, napi_callback_info info);

#endif
