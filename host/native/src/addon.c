/* wstor's native addon: the few things the host cannot do from JavaScript. Registration only. */
#include <node_api.h>
#include "affinity.h"
#include "uring.h"

static napi_value init(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        { "getThreadAffinity", NULL, wstor_get_thread_affinity, NULL, NULL, NULL, napi_default, NULL },
        { "setThreadAffinity", NULL, wstor_set_thread_affinity, NULL, NULL, NULL, napi_default, NULL },
        { "getThreadId", NULL, wstor_get_thread_id, NULL, NULL, NULL, napi_default, NULL },
        { "uringCreate", NULL, wstor_uring_create, NULL, NULL, NULL, napi_default, NULL },
        { "uringSetMemory", NULL, wstor_uring_set_memory, NULL, NULL, NULL, napi_default, NULL },
        { "uringSubmit", NULL, wstor_uring_submit, NULL, NULL, NULL, napi_default, NULL },
        { "uringReap", NULL, wstor_uring_reap, NULL, NULL, NULL, napi_default, NULL },
        { "uringInfo", NULL, wstor_uring_info, NULL, NULL, NULL, napi_default, NULL },
        { "uringDestroy", NULL, wstor_uring_destroy, NULL, NULL, NULL, napi_default, NULL },
    };
    napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
