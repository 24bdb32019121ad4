/* NVMe/TCP's OS seam in the addon: the listening socket the host makes for a transport listener, a connection's
 * peer, and the unconnected socket the core connects (host side). */
#ifndef WSTOR_TCP_H
#define WSTOR_TCP_H
#include <node_api.h>

/* tcpListen(addr, port, backlog): a nonblocking, CLOEXEC listening TCP socket, or throws (code = errno name). */
napi_value wstor_tcp_listen(napi_env env, napi_callback_info info);
/* tcpPeerName(fd, memory, ptr, cap): the peer's port, its numeric address NUL-terminated at ptr; or -errno. */
napi_value wstor_tcp_peer_name(napi_env env, napi_callback_info info);
/* tcpSocket(memory, addrPtr, port, outPtr, cap): a nonblocking TCP socket and its peer's sockaddr ({u32 len,
 * bytes}) at outPtr, for the core's CONNECT; the fd or -errno. */
napi_value wstor_tcp_socket(napi_env env, napi_callback_info info);

#endif
