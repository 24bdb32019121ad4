/*
 * tcpListen: the listening socket of an NVMe/TCP listener. The host makes it (it knows the address the
 * RPC named); the core's poll group accepts on it. tcpPeerName: who is on the other end of a connection
 * the core accepted (for the qpair listings). tcpSocket: an unconnected socket and the sockaddr for the
 * core to connect it with (its reactor's ring does the connect: the data path stays there). IPv4 or IPv6
 * by the address's own form (a literal, never a name to resolve), SO_REUSEADDR so a restarted target
 * binds while old connections linger in TIME_WAIT, IPV6_V6ONLY so an IPv6 listener never takes an IPv4
 * port by surprise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "args.h"
#include "tcp.h"

#define TCP_ADDR_MAX 64          /* longer than any IPv6 literal (45) */
#define TCP_BACKLOG_MAX 4096

/* What to do about the usual bind failures, named for the operator. */
static const char *bind_advice(int err) {
    switch (err) {
    case EADDRINUSE: return "another listener holds this address and port: pick another trsvcid or stop it";
    case EACCES: return "ports below 1024 need privileges: pick a port from 1024 up";
    case EADDRNOTAVAIL: return "no interface of this machine has this address: listen on one of its own addresses";
    default: return strerror(err);
    }
}

/* `addr` (an IPv4 or IPv6 literal) and `port` as a sockaddr: its family, or -1 when addr is no literal. */
static int addr_parse(const char *addr, uint32_t port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return AF_INET6;
    }
    return -1;
}

static napi_value listen_on(napi_env env, const char *addr, uint32_t port, uint32_t backlog) {
    struct sockaddr_storage ss;
    socklen_t len;
    int family = addr_parse(addr, port, &ss, &len);
    if (family < 0)
        return wstor_throw_errno(env, EINVAL, "tcpListen: \"%s\" is not an IPv4 or IPv6 address literal (e.g. 127.0.0.1 or ::1)", addr);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return wstor_throw_errno(env, errno, "tcpListen: socket for %s port %u: %s", addr, port, strerror(errno));
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
        int err = errno;
        close(fd);
        return wstor_throw_errno(env, err, "tcpListen: socket options for %s port %u: %s", addr, port, strerror(err));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int err = errno;
        close(fd);
        return wstor_throw_errno(env, err, "tcpListen: cannot bind %s port %u: %s", addr, port, bind_advice(err));
    }
    if (listen(fd, (int)backlog) != 0) {
        int err = errno;
        close(fd);
        return wstor_throw_errno(env, err, "tcpListen: cannot listen on %s port %u: %s", addr, port, strerror(err));
    }
    napi_value result;
    napi_create_int32(env, fd, &result);
    return result;
}

/* tcpListen(addr: string, port: number, backlog: number): number */
napi_value wstor_tcp_listen(napi_env env, napi_callback_info info) {
    static const char fn[] = "tcpListen";
    size_t argc = 3;
    napi_value argv[3];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    char addr[TCP_ADDR_MAX];
    size_t addr_len = 0;
    if (argc < 3 || napi_get_value_string_utf8(env, argv[0], addr, sizeof(addr), &addr_len) != napi_ok)
        return wstor_throw_errno(env, EINVAL, "%s(addr, port, backlog): addr must be a string", fn);
    if (addr_len >= sizeof(addr) - 1)
        return wstor_throw_errno(env, EINVAL, "%s: address \"%s...\" is too long for an IP address literal", fn, addr);
    uint32_t port, backlog;
    if (!wstor_arg_u32(env, argv[1], fn, "port", &port) || !wstor_arg_u32(env, argv[2], fn, "backlog", &backlog)) return NULL;
    if (port == 0 || port > 65535) return wstor_throw_errno(env, EINVAL, "%s: port %u must be 1..65535", fn, port);
    if (backlog == 0 || backlog > TCP_BACKLOG_MAX)
        return wstor_throw_errno(env, EINVAL, "%s: backlog %u must be 1..%d", fn, backlog, TCP_BACKLOG_MAX);
    return listen_on(env, addr, port, backlog);
}

/* The peer of `fd` as a numeric address into out[0, cap) (NUL-terminated; an IPv4-mapped IPv6 peer as
 * IPv4, as the initiator sees itself): the port, or -errno. */
static int32_t peer_name(int fd, char *out, uint32_t cap) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    char text[INET6_ADDRSTRLEN];
    uint16_t port;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
        port = ntohs(v4->sin_port);
    } else if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof(text));
        port = ntohs(v6->sin6_port);
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
        port = ntohs(v6->sin6_port);
    } else {
        return -EAFNOSUPPORT; /* a unix socket: no address to name */
    }
    size_t n = strlen(text);
    if (n + 1 > cap) return -ENOSPC;
    memcpy(out, text, n + 1);
    return port;
}

/* tcpPeerName(fd, memory, ptr, cap): the port, the address NUL-terminated at memory[ptr]; or -errno
 * (-EFAULT: [ptr, ptr + cap) outside the memory; -ENOSPC: cap too small; -ENOTCONN, -EBADF, -ENOTSOCK). */
napi_value wstor_tcp_peer_name(napi_env env, napi_callback_info info) {
    static const char fn[] = "tcpPeerName";
    size_t argc = 4;
    napi_value argv[4];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    uint32_t fd, ptr, cap;
    uint8_t *base;
    uint64_t bytes;
    if (argc < 4 || !wstor_arg_u32(env, argv[0], fn, "fd", &fd) || !wstor_memory_from_arg(env, argv[1], fn, &base, &bytes) ||
        !wstor_arg_u32(env, argv[2], fn, "ptr", &ptr) || !wstor_arg_u32(env, argv[3], fn, "cap", &cap))
        return NULL;
    int32_t rc;
    if (fd > INT32_MAX) rc = -EBADF;
    else if ((uint64_t)ptr + cap > bytes) rc = -EFAULT;
    else {
        char text[INET6_ADDRSTRLEN];
        rc = peer_name((int)fd, text, cap < sizeof(text) ? cap : (uint32_t)sizeof(text));
        if (rc >= 0) memcpy(base + ptr, text, strlen(text) + 1); /* one write into shared memory */
    }
    napi_value result;
    napi_create_int32(env, rc, &result);
    return result;
}

/* A nonblocking, CLOEXEC TCP socket with TCP_NODELAY for `addr`'s family, its sockaddr as {u32 len, bytes}
 * into out[0, cap); the fd, or -errno (-EINVAL: addr is no IP literal, or port not 1..65535). */
static int32_t tcp_socket(const char *addr, uint32_t port, uint8_t *out, uint32_t cap) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (port == 0 || port > 65535) return -EINVAL;
    int family = addr_parse(addr, port, &ss, &len);
    if (family < 0) return -EINVAL;
    if (sizeof(uint32_t) + len > cap) return -ENOSPC;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    uint32_t len32 = (uint32_t)len;
    memcpy(out, &len32, sizeof(len32));
    memcpy(out + sizeof(len32), &ss, len);
    return fd;
}

/* tcpSocket(memory, addrPtr, port, outPtr, cap): the fd, or -errno. The address is NUL-terminated at
 * memory[addrPtr] within TCP_ADDR_MAX bytes (-EINVAL if not); -EFAULT: a range outside the memory. */
napi_value wstor_tcp_socket(napi_env env, napi_callback_info info) {
    static const char fn[] = "tcpSocket";
    size_t argc = 5;
    napi_value argv[5];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    uint8_t *base;
    uint64_t bytes;
    uint32_t addr_ptr, port, out_ptr, cap;
    if (argc < 5 || !wstor_memory_from_arg(env, argv[0], fn, &base, &bytes) || !wstor_arg_u32(env, argv[1], fn, "addrPtr", &addr_ptr) ||
        !wstor_arg_u32(env, argv[2], fn, "port", &port) || !wstor_arg_u32(env, argv[3], fn, "outPtr", &out_ptr) ||
        !wstor_arg_u32(env, argv[4], fn, "cap", &cap))
        return NULL;
    int32_t rc;
    char addr[TCP_ADDR_MAX];
    if (addr_ptr >= bytes || (uint64_t)out_ptr + cap > bytes) {
        rc = -EFAULT;
    } else {
        /* One copy out of shared memory, then only the copy is read. */
        uint64_t avail = bytes - addr_ptr;
        size_t n = avail < sizeof(addr) ? (size_t)avail : sizeof(addr);
        memcpy(addr, base + addr_ptr, n);
        const char *nul = memchr(addr, 0, n);
        uint8_t sockaddr_out[sizeof(uint32_t) + sizeof(struct sockaddr_storage)] = { 0 };
        rc = nul == NULL ? -EINVAL : tcp_socket(addr, port, sockaddr_out, cap < sizeof(sockaddr_out) ? cap : (uint32_t)sizeof(sockaddr_out));
        if (rc >= 0) {
            uint32_t len32;
            memcpy(&len32, sockaddr_out, sizeof(len32));
            memcpy(base + out_ptr, sockaddr_out, sizeof(len32) + len32);
        }
    }
    napi_value result;
    napi_create_int32(env, rc, &result);
    return result;
}
