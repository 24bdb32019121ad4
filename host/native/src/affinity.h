/* CPU affinity of the calling OS thread (one reactor worker). */
#ifndef WSTOR_AFFINITY_H
#define WSTOR_AFFINITY_H
#include <node_api.h>

napi_value wstor_get_thread_affinity(napi_env env, napi_callback_info info);
napi_value wstor_set_thread_affinity(napi_env env, napi_callback_info info);
napi_value wstor_get_thread_id(napi_env env, napi_callback_info info);

#endif
