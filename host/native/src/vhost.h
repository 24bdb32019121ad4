/*
 * The OS seam of the vhost-user target: unix sockets that carry fds (SCM_RIGHTS), guest memory mapped into
 * the shared Wasm memory, memfds and eventfds. Policy (which fd means what, which range is whose) lives in
 * the core; this only checks that every range stays inside the Wasm memory and that no fd leaks.
 *
 * Contract, documented once here (host/native/index.ts repeats it for TypeScript):
 * - Arguments of the wrong JavaScript type (not a number, not an integer, not a string, not an array, a
 *   memory that is not a shared Wasm memory) are host bugs: they throw an Error with code EINVAL.
 * - Everything else returns a negative errno and throws nothing: values the core computed (ranges,
 *   alignment, fds, counts) and every OS error. EINTR is retried (at most WSTOR_VHOST_EINTR_RETRIES times).
 * - Every fd this file creates is O_CLOEXEC, and sockets and eventfds are nonblocking. Every fd received
 *   (recvMsg) is made nonblocking before it is handed on: a peer's fd never makes a reactor wait.
 */
#ifndef WSTOR_VHOST_H
#define WSTOR_VHOST_H
#include <node_api.h>

/* vhost-user's own limit: SET_MEM_TABLE carries at most 8 regions, one fd each [vhost-user.rst]. */
#define WSTOR_VHOST_FDS_MAX 8
#define WSTOR_VHOST_LISTEN_BACKLOG 16
#define WSTOR_VHOST_SOCKET_MODE 0600 /* unixListen's default: whoever connects is trusted with a disk */
#define WSTOR_VHOST_EINTR_RETRIES 16
#define WSTOR_VHOST_MEMFD_NAME_MAX 249 /* memfd_create(2): longer names are EINVAL */

/*
 * recvMsg's result when not negative: bytes + fds * 2^32 + flags * 2^36, a safe integer (< 2^38). bytes is
 * at most the cap (< 2^32), fds at most WSTOR_VHOST_FDS_MAX (4 bits).
 */
#define WSTOR_VHOST_RECV_FDS_SHIFT 32
#define WSTOR_VHOST_RECV_FLAGS_SHIFT 36
/* The peer sent more fds than maxFds, or more than the control buffer holds (MSG_CTRUNC): none delivered,
 * every one received closed. A vhost-user frontend never does this; the core should drop the connection. */
#define WSTOR_VHOST_RECV_FDS_REFUSED 1u
/* MSG_TRUNC: the message was longer than cap and its tail is lost (datagram sockets only; never on the
 * stream sockets unixListen/unixConnect make). Fds are refused too. */
#define WSTOR_VHOST_RECV_DATA_TRUNCATED 2u
_Static_assert(WSTOR_VHOST_FDS_MAX < (1 << (WSTOR_VHOST_RECV_FLAGS_SHIFT - WSTOR_VHOST_RECV_FDS_SHIFT)),
               "the fd count fits below the flags");

/* fdKind's answers; assembly/runtime/host.ts (host_vu_fd_kind) has the same numbers. */
#define WSTOR_VHOST_FD_EVENTFD 1
#define WSTOR_VHOST_FD_PIPE 2   /* a pipe or FIFO */
#define WSTOR_VHOST_FD_FILE 3   /* a regular file: memfd, tmpfs, hugetlbfs, ... */
#define WSTOR_VHOST_FD_SOCKET 4
#define WSTOR_VHOST_FD_OTHER 5  /* a device, a directory, another anonymous inode */

/* For guestmem.c (guest regions outside the Wasm memory, and their windows inside it). */
#include <stdint.h>
int wstor_vhost_fd_mappable(int fd, uint64_t fd_offset, uint64_t length, uintptr_t at);
int wstor_vhost_map_file_over(uint8_t *at, uint64_t length, int fd, uint64_t fd_offset, uint32_t *flag, uint32_t value);

napi_value wstor_vhost_unix_listen(napi_env env, napi_callback_info info);
napi_value wstor_vhost_unix_accept(napi_env env, napi_callback_info info);
napi_value wstor_vhost_unix_connect(napi_env env, napi_callback_info info);
napi_value wstor_vhost_recv_msg(napi_env env, napi_callback_info info);
napi_value wstor_vhost_send_msg(napi_env env, napi_callback_info info);
napi_value wstor_vhost_close_fd(napi_env env, napi_callback_info info);
napi_value wstor_vhost_map_into_memory(napi_env env, napi_callback_info info);
napi_value wstor_vhost_unmap_from_memory(napi_env env, napi_callback_info info);
napi_value wstor_vhost_memfd_create(napi_env env, napi_callback_info info);
napi_value wstor_vhost_fd_size(napi_env env, napi_callback_info info);
napi_value wstor_vhost_fd_kind(napi_env env, napi_callback_info info);
napi_value wstor_vhost_advise_random(napi_env env, napi_callback_info info);
napi_value wstor_vhost_eventfd_create(napi_env env, napi_callback_info info);
napi_value wstor_vhost_eventfd_write(napi_env env, napi_callback_info info);
napi_value wstor_vhost_eventfd_read(napi_env env, napi_callback_info info);
napi_value wstor_vhost_host_page_size(napi_env env, napi_callback_info info);
napi_value wstor_vhost_guard_stats(napi_env env, napi_callback_info info);

#endif
