/* wstor's native addon: the few things the host cannot do from JavaScript. Registration only. */
#include <node_api.h>
#include "affinity.h"
#include "copy.h"
#include "crc32c.h"
#include "file.h"
#include "guestmem.h"
#include "tcp.h"
#include "uring.h"
#include "vhost.h"

static napi_value init(napi_env env, napi_value exports) {
    napi_value crc32c_hardware;
    napi_get_boolean(env, wstor_crc32c_hardware(), &crc32c_hardware);
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
        { "uringWatch", NULL, wstor_uring_watch, NULL, NULL, NULL, napi_default, NULL },
        { "uringUnwatch", NULL, wstor_uring_unwatch, NULL, NULL, NULL, napi_default, NULL },
        { "uringWait", NULL, wstor_uring_wait, NULL, NULL, NULL, napi_default, NULL },
        { "tcpListen", NULL, wstor_tcp_listen, NULL, NULL, NULL, napi_default, NULL },
        { "tcpPeerName", NULL, wstor_tcp_peer_name, NULL, NULL, NULL, napi_default, NULL },
        { "tcpSocket", NULL, wstor_tcp_socket, NULL, NULL, NULL, napi_default, NULL },
        { "unixListen", NULL, wstor_vhost_unix_listen, NULL, NULL, NULL, napi_default, NULL },
        { "unixAccept", NULL, wstor_vhost_unix_accept, NULL, NULL, NULL, napi_default, NULL },
        { "unixConnect", NULL, wstor_vhost_unix_connect, NULL, NULL, NULL, napi_default, NULL },
        { "recvMsg", NULL, wstor_vhost_recv_msg, NULL, NULL, NULL, napi_default, NULL },
        { "sendMsg", NULL, wstor_vhost_send_msg, NULL, NULL, NULL, napi_default, NULL },
        { "closeFd", NULL, wstor_vhost_close_fd, NULL, NULL, NULL, napi_default, NULL },
        { "mapIntoMemory", NULL, wstor_vhost_map_into_memory, NULL, NULL, NULL, napi_default, NULL },
        { "unmapFromMemory", NULL, wstor_vhost_unmap_from_memory, NULL, NULL, NULL, napi_default, NULL },
        { "adviseRandom", NULL, wstor_vhost_advise_random, NULL, NULL, NULL, napi_default, NULL },
        { "memfdCreate", NULL, wstor_vhost_memfd_create, NULL, NULL, NULL, napi_default, NULL },
        { "fdSize", NULL, wstor_vhost_fd_size, NULL, NULL, NULL, napi_default, NULL },
        { "fdKind", NULL, wstor_vhost_fd_kind, NULL, NULL, NULL, napi_default, NULL },
        { "guardStats", NULL, wstor_vhost_guard_stats, NULL, NULL, NULL, napi_default, NULL },
        { "guestRegionMap", NULL, wstor_guestmem_region_map, NULL, NULL, NULL, napi_default, NULL },
        { "guestRegionUnmap", NULL, wstor_guestmem_region_unmap, NULL, NULL, NULL, napi_default, NULL },
        { "guestRead", NULL, wstor_guestmem_read, NULL, NULL, NULL, napi_default, NULL },
        { "guestWrite", NULL, wstor_guestmem_write, NULL, NULL, NULL, napi_default, NULL },
        { "guestWindowMap", NULL, wstor_guestmem_window_map, NULL, NULL, NULL, napi_default, NULL },
        { "guestMemStats", NULL, wstor_guestmem_stats, NULL, NULL, NULL, napi_default, NULL },
        { "eventfdCreate", NULL, wstor_vhost_eventfd_create, NULL, NULL, NULL, napi_default, NULL },
        { "eventfdWrite", NULL, wstor_vhost_eventfd_write, NULL, NULL, NULL, napi_default, NULL },
        { "eventfdRead", NULL, wstor_vhost_eventfd_read, NULL, NULL, NULL, napi_default, NULL },
        { "hostPageSize", NULL, wstor_vhost_host_page_size, NULL, NULL, NULL, napi_default, NULL },
        { "fileAllocate", NULL, wstor_file_allocate, NULL, NULL, NULL, napi_default, NULL },
        { "copyFromMemory", NULL, wstor_copy_from_memory, NULL, NULL, NULL, napi_default, NULL },
        { "copyIntoMemory", NULL, wstor_copy_into_memory, NULL, NULL, NULL, napi_default, NULL },
        { "crc32cMemory", NULL, wstor_crc32c_memory, NULL, NULL, NULL, napi_default, NULL },
        { "crc32cHardware", NULL, NULL, NULL, NULL, crc32c_hardware, napi_enumerable, NULL },
    };
    napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
