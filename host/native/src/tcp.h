/* NVMe/TCP's OS seam in the addon: the listening socket the host makes for a transport listener. */
#ifndef WSTOR_TCP_H
#define WSTOR_TCP_H
#include <node_api.h>

/* tcpListen(addr, port, backlog): a nonblocking, CLOEXEC listening TCP socket, or throws (code = errno name). */
napi_value wstor_tcp_listen(napi_env env, napi_callback_info info);

#endif
