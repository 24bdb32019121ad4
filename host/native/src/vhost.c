/*
 * vhost-user's OS seam (vhost.h has the contract): unix sockets with SCM_RIGHTS, guest memory mapped over
 * part of the shared Wasm memory, memfds, eventfds. No policy, and no state but the guard table of guest
 * mappings (guard.c, lock-free), so any thread may call it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>
#include "args.h"
#include "guard.h"
#include "vhost.h"

/* A hole in the Wasm memory would fault the next access from any thread: stop at once instead. */
#define VHOST_ASSERT(cond, ...)                                                                     \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "wstor native vhost.c:%d: invariant broken: %s: ", __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

/* The syscall expression `call`, again while it fails with EINTR (bounded); its result, or -errno. */
#define RETRY_EINTR(call)                                                                           \
    ({                                                                                              \
        ssize_t rc_ = -1;                                                                           \
        for (int i_ = 0; i_ < WSTOR_VHOST_EINTR_RETRIES; i_++) {                                    \
            rc_ = (call);                                                                           \
            if (rc_ >= 0 || errno != EINTR) break;                                                  \
        }                                                                                           \
        rc_ < 0 ? -(ssize_t)errno : rc_;                                                            \
    })

/* ---- arguments (wrong types throw EINVAL; see vhost.h) ---- */

/* The first argument of a function that takes an fd first: 0, -EBADF (the number cannot be an fd), or 1
 * after a throw. argv gets the first argc arguments. */
static int fd_first_arg(napi_env env, napi_callback_info info, const char *fn, size_t argc, napi_value *argv, int *fd) {
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (!wstor_arg_fd(env, argv[0], fn, fd)) return 1;
    return *fd < 0 ? -EBADF : 0;
}

/* A string copied into buf (NUL-terminated); *length is its full UTF-8 length, which may not fit (then
 * *length >= cap and the caller refuses it). */
static bool arg_string(napi_env env, napi_value value, const char *fn, const char *name, char *buf, size_t cap,
                       size_t *length) {
    if (napi_get_value_string_utf8(env, value, NULL, 0, length) != napi_ok) {
        wstor_throw_errno(env, EINVAL, "%s: %s must be a string", fn, name);
        return false;
    }
    size_t copied = 0;
    napi_get_value_string_utf8(env, value, buf, cap, &copied);
    if (copied != *length) *length = cap; /* cut short */
    return true;
}

static bool range_inside(uint64_t offset, uint64_t bytes, uint64_t limit) {
    return offset <= limit && bytes <= limit - offset;
}

static uint64_t page_bytes(void) {
    static uint64_t page;
    if (page == 0) page = (uint64_t)sysconf(_SC_PAGESIZE);
    return page;
}

/* ---- unix sockets ---- */

/* 0, or -ENAMETOOLONG / -EINVAL when the path does not fit sun_path or is empty. */
static int unix_address(const char *path, size_t length, struct sockaddr_un *addr) {
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (length == 0) return -EINVAL;
    if (length >= sizeof(addr->sun_path)) return -ENAMETOOLONG;
    if (strlen(path) != length) return -EINVAL; /* an embedded NUL would name another socket */
    memcpy(addr->sun_path, path, length + 1);
    return 0;
}

static int unix_socket(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

/* After a failed call on a socket of ours: closes it and returns that call's -errno. */
static int close_failed(int fd) {
    int err = errno;
    close(fd);
    return -err;
}

/*
 * A listening socket bound at addr with permissions `mode`, or -errno (nothing left open, nothing left on
 * disk). Whoever may connect is trusted with a disk, so the file is never looser than `mode`, whatever the
 * umask: Linux creates a socket file with the socket inode's mode less the umask, so the fchmod before
 * bind is what it is created with; the chmod after it puts back bits the umask took, before listen()
 * (until then a connect is refused, so nobody gets in under the narrower mode either).
 */
static int listen_once(const struct sockaddr_un *addr, mode_t mode) {
    int fd = unix_socket();
    if (fd < 0) return fd;
    if (fchmod(fd, mode) != 0) return close_failed(fd);
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) return close_failed(fd);
    if (fchmodat(AT_FDCWD, addr->sun_path, mode, AT_SYMLINK_NOFOLLOW) != 0 || listen(fd, WSTOR_VHOST_LISTEN_BACKLOG) != 0) {
        int rc = close_failed(fd);
        unlink(addr->sun_path);
        return rc;
    }
    return fd;
}

/* A connected socket, or -errno. Nonblocking: a full backlog is -EAGAIN rather than a wait. */
static int connect_once(const struct sockaddr_un *addr) {
    int fd = unix_socket();
    if (fd < 0) return fd;
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) return close_failed(fd);
    return fd;
}

/* The path is taken. 1: a socket someone listens on; 0: a socket nobody answers on (left by a process that
 * died); -EEXIST: not a socket (never replaced); other -errno: could not tell. */
static int path_in_use(const struct sockaddr_un *addr) {
    struct stat st;
    if (lstat(addr->sun_path, &st) != 0) return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) return -EEXIST;
    int fd = connect_once(addr);
    if (fd >= 0) {
        close(fd); /* the listener sees one connection that closes at once */
        return 1;
    }
    if (fd == -EAGAIN) return 1; /* its backlog is full: alive */
    if (fd == -ECONNREFUSED) return 0;
    return fd;
}

/* The path argument of unixListen/unixConnect as an address (argv gets up to argc arguments): 0, a negative
 * errno, or 1 after a throw. */
static int address_arg(napi_env env, napi_callback_info info, const char *fn, size_t argc, napi_value *argv,
                       struct sockaddr_un *addr) {
    size_t length;
    char path[sizeof(addr->sun_path)];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (!arg_string(env, argv[0], fn, "path", path, sizeof(path), &length)) return 1;
    return unix_address(path, length, addr);
}

/* unixListen(path, mode = 0600): listening fd, or -errno (-EADDRINUSE: someone answers there; -EEXIST: not a
 * socket; -EINVAL: a mode outside 0..0777). The file has exactly `mode`, whatever the umask. */
napi_value wstor_vhost_unix_listen(napi_env env, napi_callback_info info) {
    struct sockaddr_un addr;
    napi_value argv[2] = { NULL, NULL };
    int rc = address_arg(env, info, "unixListen", 2, argv, &addr);
    if (rc == 1) return NULL;
    double mode = WSTOR_VHOST_SOCKET_MODE;
    napi_valuetype type = napi_undefined;
    if (argv[1] != NULL) napi_typeof(env, argv[1], &type);
    if (type != napi_undefined && !wstor_arg_integer(env, argv[1], "unixListen", "mode", &mode)) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    if (mode < 0 || mode > 0777) return wstor_number(env, -EINVAL);
    rc = listen_once(&addr, (mode_t)mode);
    if (rc != -EADDRINUSE) return wstor_number(env, rc);
    int in_use = path_in_use(&addr);
    if (in_use != 0) return wstor_number(env, in_use > 0 ? -EADDRINUSE : in_use);
    if (unlink(addr.sun_path) != 0 && errno != ENOENT) return wstor_number(env, -errno);
    return wstor_number(env, listen_once(&addr, (mode_t)mode)); /* -EADDRINUSE again if another process won the race */
}

/* unixConnect(path): connected fd, or -errno (-ECONNREFUSED, -ENOENT, -EAGAIN when the backlog is full). */
napi_value wstor_vhost_unix_connect(napi_env env, napi_callback_info info) {
    struct sockaddr_un addr;
    napi_value argv[1];
    int rc = address_arg(env, info, "unixConnect", 1, argv, &addr);
    if (rc == 1) return NULL;
    return wstor_number(env, rc < 0 ? rc : connect_once(&addr));
}

/* unixAccept(listenFd): connected fd, -EAGAIN when nobody is waiting, or -errno. */
napi_value wstor_vhost_unix_accept(napi_env env, napi_callback_info info) {
    napi_value argv[1];
    int listen_fd;
    int rc = fd_first_arg(env, info, "unixAccept", 1, argv, &listen_fd);
    if (rc == 1) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    /* ECONNABORTED: that peer gave up before we took it; the next one may be there (bounded, as EINTR). */
    ssize_t fd = -ECONNABORTED;
    for (int i = 0; i < WSTOR_VHOST_EINTR_RETRIES && fd == -ECONNABORTED; i++)
        fd = RETRY_EINTR(accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    return wstor_number(env, fd);
}

/* ---- messages with fds ---- */

static void close_all(const int *fds, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) close(fds[i]);
}

/* Every fd of every SCM_RIGHTS message into fds (at most WSTOR_VHOST_FDS_MAX: the control buffer holds no
 * more); other control messages are ignored (none is enabled on these sockets). */
static uint32_t collect_fds(struct msghdr *msg, int *fds) {
    uint32_t count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        VHOST_ASSERT(count + n <= WSTOR_VHOST_FDS_MAX, "%zu fds past %u in a control buffer sized for %d", n, count,
                     WSTOR_VHOST_FDS_MAX);
        memcpy(fds + count, CMSG_DATA(c), n * sizeof(int));
        count += (uint32_t)n;
    }
    return count;
}

union control_buffer {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * WSTOR_VHOST_FDS_MAX)];
};

/* Every fd a peer hands over is made nonblocking before anyone uses it: a write to a pipe it never reads, or a
 * read of an empty one, must never hold a reactor. The flag is the open file's, so the peer's copy gets it
 * too; it changes nothing for memory fds. False if one cannot be (an O_PATH fd): refuse them all. */
static bool all_nonblocking(const int *fds, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) != 0)) return false;
    }
    return true;
}

/* One recvmsg into [data, data + cap); packs the result as vhost.h says, or -errno. */
static int64_t recv_into(int fd, uint8_t *data, uint32_t cap, uint8_t *fds_out, uint32_t fds_max) {
    union control_buffer control;
    struct iovec iov = { .iov_base = data, .iov_len = cap };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof(control.bytes),
    };
    /* A recvmsg that fails (EINTR included) takes nothing, fds included: retrying loses none. */
    ssize_t n = RETRY_EINTR(recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) return n;
    int fds[WSTOR_VHOST_FDS_MAX];
    uint32_t count = collect_fds(&msg, fds);
    uint32_t flags = 0;
    if ((msg.msg_flags & MSG_CTRUNC) != 0 || count > fds_max || !all_nonblocking(fds, count)) flags |= WSTOR_VHOST_RECV_FDS_REFUSED;
    if ((msg.msg_flags & MSG_TRUNC) != 0) flags |= WSTOR_VHOST_RECV_DATA_TRUNCATED;
    if (flags != 0) {
        close_all(fds, count);
        count = 0;
    }
    memcpy(fds_out, fds, count * sizeof(int)); /* i32, little-endian like the Wasm memory */
    VHOST_ASSERT((uint64_t)n <= cap, "recvmsg returned %zd for a %u-byte buffer", n, cap);
    return (int64_t)n | ((int64_t)count << WSTOR_VHOST_RECV_FDS_SHIFT) |
           ((int64_t)flags << WSTOR_VHOST_RECV_FLAGS_SHIFT);
}

/* recvMsg(fd, memory, ptr, cap, fdsPtr, maxFds): bytes + fds * 2^32 + flags * 2^36 (vhost.h), 0 when the
 * peer closed, or -errno (-EAGAIN: nothing there; -EFAULT: a range outside the memory; -EINVAL: cap 0,
 * maxFds > 8, or the two ranges overlap). */
napi_value wstor_vhost_recv_msg(napi_env env, napi_callback_info info) {
    static const char fn[] = "recvMsg";
    napi_value argv[6];
    int fd;
    uint8_t *base;
    uint64_t mem_bytes;
    uint32_t ptr, cap, fds_ptr, fds_max;
    int rc = fd_first_arg(env, info, fn, 6, argv, &fd);
    if (rc == 1 || !wstor_memory_from_arg(env, argv[1], fn, &base, &mem_bytes) ||
        !wstor_arg_u32(env, argv[2], fn, "ptr", &ptr) || !wstor_arg_u32(env, argv[3], fn, "cap", &cap) ||
        !wstor_arg_u32(env, argv[4], fn, "fdsPtr", &fds_ptr) || !wstor_arg_u32(env, argv[5], fn, "maxFds", &fds_max))
        return NULL;
    uint64_t fds_bytes = (uint64_t)fds_max * sizeof(int32_t);
    if (rc < 0) return wstor_number(env, rc);
    if (cap == 0 || fds_max > WSTOR_VHOST_FDS_MAX) return wstor_number(env, -EINVAL);
    if (!range_inside(ptr, cap, mem_bytes) || !range_inside(fds_ptr, fds_bytes, mem_bytes)) return wstor_number(env, -EFAULT);
    if (fds_bytes != 0 && ptr < fds_ptr + fds_bytes && fds_ptr < (uint64_t)ptr + cap) return wstor_number(env, -EINVAL);
    return wstor_number(env, recv_into(fd, base + ptr, cap, base + fds_ptr, fds_max));
}

/* fds: a JavaScript array of at most WSTOR_VHOST_FDS_MAX fds. Throws on wrong types; 0 or -errno. */
static int fds_from_array(napi_env env, napi_value array, const char *fn, int *fds, uint32_t *count) {
    bool is_array = false;
    if (napi_is_array(env, array, &is_array) != napi_ok || !is_array) {
        wstor_throw_errno(env, EINVAL, "%s: fds must be an array of fd numbers", fn);
        return -EINVAL;
    }
    napi_get_array_length(env, array, count);
    if (*count > WSTOR_VHOST_FDS_MAX) return -EINVAL;
    for (uint32_t i = 0; i < *count; i++) {
        napi_value element;
        napi_get_element(env, array, i, &element);
        if (!wstor_arg_fd(env, element, fn, &fds[i])) return -EINVAL;
        if (fds[i] < 0) return -EBADF;
    }
    return 0;
}

static int64_t send_from(int fd, const uint8_t *data, uint32_t len, const int *fds, uint32_t count) {
    union control_buffer control;
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (count > 0) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(c), fds, count * sizeof(int));
    }
    return RETRY_EINTR(sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL));
}

/* sendMsg(fd, memory, ptr, len, fds): bytes sent (the fds go with the first byte; fewer than len means send
 * the rest without them), or -errno (-EAGAIN: socket full; -EPIPE: peer gone; -EFAULT: range outside the
 * memory; -EINVAL: len 0 or more than 8 fds; -EBADF: a negative fd). */
napi_value wstor_vhost_send_msg(napi_env env, napi_callback_info info) {
    static const char fn[] = "sendMsg";
    napi_value argv[5];
    int fd, fds[WSTOR_VHOST_FDS_MAX];
    uint8_t *base;
    uint64_t mem_bytes;
    uint32_t ptr, len, count = 0;
    int fd_rc = fd_first_arg(env, info, fn, 5, argv, &fd);
    if (fd_rc == 1 || !wstor_memory_from_arg(env, argv[1], fn, &base, &mem_bytes) ||
        !wstor_arg_u32(env, argv[2], fn, "ptr", &ptr) || !wstor_arg_u32(env, argv[3], fn, "len", &len))
        return NULL;
    int rc = fds_from_array(env, argv[4], fn, fds, &count);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    if (fd_rc < 0) return wstor_number(env, fd_rc);
    if (len == 0) return wstor_number(env, -EINVAL); /* on a stream socket, fds with no byte are never sent */
    if (!range_inside(ptr, len, mem_bytes)) return wstor_number(env, -EFAULT);
    return wstor_number(env, send_from(fd, base + ptr, len, fds, count));
}

/* closeFd(fd): 0 or -errno. Refuses stdin/stdout/stderr (-EBADF): closing one is always a bug here. */
napi_value wstor_vhost_close_fd(napi_env env, napi_callback_info info) {
    napi_value argv[1];
    int fd;
    int rc = fd_first_arg(env, info, "closeFd", 1, argv, &fd);
    if (rc == 1) return NULL;
    if (rc < 0 || fd <= STDERR_FILENO) return wstor_number(env, -EBADF);
    /* Linux frees the fd even when close reports EINTR; retrying could close another thread's new fd. */
    if (close(fd) != 0 && errno != EINTR) return wstor_number(env, -errno);
    return wstor_number(env, 0);
}

/* ---- guest memory in the Wasm memory ---- */

/* The arguments both mapping calls share, checked: 0, or a negative errno to return, or 1 after a throw. */
struct map_range {
    uint8_t *base;
    uint64_t mem_bytes, offset, length;
};

static int map_range_args(napi_env env, napi_value *argv, const char *fn, struct map_range *r) {
    if (!wstor_memory_from_arg(env, argv[0], fn, &r->base, &r->mem_bytes) ||
        !wstor_arg_size(env, argv[1], fn, "offset", &r->offset) || !wstor_arg_size(env, argv[2], fn, "length", &r->length))
        return 1;
    uint64_t page = page_bytes();
    VHOST_ASSERT((uintptr_t)r->base % page == 0, "Wasm memory at %p is not page-aligned", (void *)r->base);
    if (r->length == 0 || r->offset % page != 0 || r->length % page != 0) return -EINVAL;
    if (!range_inside(r->offset, r->length, r->mem_bytes)) return -EFAULT;
    return 0;
}

/* Fresh zero pages, read-write, private, over [at, at + length): what V8 had there. */
static int anonymous_over(uint8_t *at, uint64_t length) {
    void *p = mmap(at, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return p == MAP_FAILED ? -errno : 0;
}

/* vhost.h: 0 when fd can be mapped shared over length bytes from fd_offset, else the errno mapIntoMemory returns. */
int wstor_vhost_fd_mappable(int fd, uint64_t fd_offset, uint64_t length, uintptr_t at) {
    struct stat st;
    struct statfs fs;
    if (fstat(fd, &st) != 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -ENODEV; /* sockets, pipes, eventfds, devices: not guest memory */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if ((fl & O_PATH) != 0) return -EBADF;
    if ((fl & O_ACCMODE) != O_RDWR) return -EACCES;
    if (fd_offset % page_bytes() != 0) return -EINVAL;
    if (!range_inside(fd_offset, length, (uint64_t)st.st_size)) return -ENXIO; /* past EOF: SIGBUS on access */
    if (fstatfs(fd, &fs) != 0) return -errno;
    if ((uint32_t)fs.f_type == (uint32_t)HUGETLBFS_MAGIC) {
        uint64_t huge = (uint64_t)fs.f_bsize;
        if (fd_offset % huge != 0 || length % huge != 0 || at % huge != 0) return -EINVAL;
    }
    return 0;
}

/* Zero pages back over a range that mapped a file (mmap or a guard failed after the range was given up). */
static void zero_pages_back(uint8_t *at, uint64_t length, int fd, int err) {
    int rc = anonymous_over(at, length);
    VHOST_ASSERT(rc == 0, "mapping fd %d failed (%s) and zero pages could not be put back at %p "
                 "(%s): the Wasm memory would have a hole", fd, strerror(err), (void *)at, strerror(-rc));
}

/* vhost.h: fd [fd_offset, + length) shared and read-write over [at, at + length) of the Wasm memory, guarded
 * when flag is not NULL. 0 or -errno; on failure the range holds zero pages. */
int wstor_vhost_map_file_over(uint8_t *at, uint64_t length, int fd, uint64_t fd_offset, uint32_t *flag, uint32_t value) {
    int rc = wstor_vhost_fd_mappable(fd, fd_offset, length, (uintptr_t)at);
    if (rc < 0) return rc;
    wstor_guard_disarm(at, length);                    /* whatever was mapped here is going */
    void *p = mmap(at, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)fd_offset);
    if (p == MAP_FAILED) {
        int err = errno;
        zero_pages_back(at, length, fd, err);
        return -err;
    }
    VHOST_ASSERT(p == at, "MAP_FIXED mapped at %p, not %p", p, (void *)at);
    wstor_guard_forget(at, length);
    if (flag != NULL && (rc = wstor_guard_arm(at, length, flag, value)) != 0) {
        zero_pages_back(at, length, fd, -rc);
        return rc;
    }
    return 0;
}

/* The optional guard of mapIntoMemory: the u32 at guardOffset (inside the memory, aligned) gets guardValue
 * (at least 1) if the mapping breaks. *flag stays NULL without one. 0, -EINVAL or -EFAULT, or 1 after a throw. */
static int guard_args(napi_env env, napi_value *argv, const struct map_range *r, uint32_t **flag, uint32_t *value) {
    static const char fn[] = "mapIntoMemory";
    napi_valuetype type = napi_undefined;
    *flag = NULL;
    napi_typeof(env, argv[5], &type);                  /* napi fills arguments not passed with undefined */
    if (type == napi_undefined) return 0;
    uint32_t offset;
    if (!wstor_arg_u32(env, argv[5], fn, "guardOffset", &offset) || !wstor_arg_u32(env, argv[6], fn, "guardValue", value))
        return 1;
    if (offset % sizeof(uint32_t) != 0 || *value == 0) return -EINVAL;
    if (!range_inside(offset, sizeof(uint32_t), r->mem_bytes)) return -EFAULT;
    *flag = (uint32_t *)(r->base + offset);
    return 0;
}

/*
 * mapIntoMemory(memory, offset, length, fd, fdOffset, guardOffset?, guardValue?): 0, or -errno; see index.ts
 * for each. On a failed mmap the range holds zero pages (the kernel may have unmapped it before failing).
 * With a guard, a SIGBUS inside the mapping (its file shrank) is repaired instead of ending the process
 * (guard.h): zero pages over it, guardValue in the guard word. Guest memory is always guarded.
 * Always read-write, never read-only: V8's grow of a shared memory mprotects [base, new length) read-write
 * (BackingStore::GrowWasmMemoryInPlace), which makes a read-only mapping of an O_RDWR fd writable, and
 * aborts the process (a fatal CHECK on mprotect's errno) over one of an O_RDONLY fd: both seen on Node
 * 20.20 when this was written. Guest memory is always read-write for a blk backend anyway.
 */
napi_value wstor_vhost_map_into_memory(napi_env env, napi_callback_info info) {
    static const char fn[] = "mapIntoMemory";
    size_t argc = 7;
    napi_value argv[7];
    struct map_range r;
    int fd;
    uint64_t fd_offset;
    uint32_t *flag, value = 0;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 5) return wstor_throw_errno(env, EINVAL, "%s: takes memory, offset, length, fd, fdOffset", fn);
    int rc = map_range_args(env, argv, fn, &r);
    if (rc == 1 || !wstor_arg_fd(env, argv[3], fn, &fd) || !wstor_arg_size(env, argv[4], fn, "fdOffset", &fd_offset))
        return NULL;
    if (rc < 0) return wstor_number(env, rc);
    int guard_rc = guard_args(env, argv, &r, &flag, &value);
    if (guard_rc == 1) return NULL;
    if (guard_rc < 0) return wstor_number(env, guard_rc);
    if (fd < 0) return wstor_number(env, -EBADF);
    return wstor_number(env, wstor_vhost_map_file_over(r.base + r.offset, r.length, fd, fd_offset, flag, value));
}

/* The arguments (memory, offset, length) of a call over whole pages of the memory: 1 after a throw, a
 * negative errno to return, or 0 with `r` filled in. */
static int range_call_args(napi_env env, napi_callback_info info, const char *fn, struct map_range *r) {
    size_t argc = 3;
    napi_value argv[3];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    return map_range_args(env, argv, fn, r);
}

/*
 * adviseRandom(memory, offset, length): madvise(MADV_RANDOM) over a mapped range: 0, or -errno as above.
 * A file mapped for random 4 KiB I/O then faults single pages in instead of reading ahead into large
 * folios; a store into a clean large folio makes the file system walk (and dirty) the whole folio,
 * which measured ~30 us per 4 KiB write fault on ext4 (Linux 6.18).
 */
napi_value wstor_vhost_advise_random(napi_env env, napi_callback_info info) {
    struct map_range r;
    int rc = range_call_args(env, info, "adviseRandom", &r);
    if (rc == 1) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    return wstor_number(env, madvise(r.base + r.offset, r.length, MADV_RANDOM) == 0 ? 0 : -errno);
}

/* unmapFromMemory(memory, offset, length): 0, or -EINVAL (misaligned, 0) / -EFAULT (outside the memory).
 * The range then reads as zeroes, whatever was there. */
napi_value wstor_vhost_unmap_from_memory(napi_env env, napi_callback_info info) {
    struct map_range r;
    int rc = range_call_args(env, info, "unmapFromMemory", &r);
    if (rc == 1) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    wstor_guard_disarm(r.base + r.offset, r.length);
    rc = anonymous_over(r.base + r.offset, r.length);
    VHOST_ASSERT(rc == 0, "zero pages could not be put at Wasm offset %llu (%s): the Wasm memory would have a hole",
                 (unsigned long long)r.offset, strerror(-rc));
    return wstor_number(env, 0);
}

/* guardStats(): { armed, repairs }: guarded mappings now, SIGBUS repairs since the process started. */
napi_value wstor_vhost_guard_stats(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value out;
    napi_create_object(env, &out);
    napi_set_named_property(env, out, "armed", wstor_number(env, wstor_guard_armed()));
    napi_set_named_property(env, out, "repairs", wstor_number(env, wstor_guard_repairs()));
    return out;
}

/* memfdCreate(name, bytes): fd of a sealed-size memfd (it can neither shrink nor grow, so no peer we hand it
 * to can make our mapping fault), or -errno (-ENAMETOOLONG: name over 249 bytes). */
napi_value wstor_vhost_memfd_create(napi_env env, napi_callback_info info) {
    static const char fn[] = "memfdCreate";
    size_t argc = 2, length;
    napi_value argv[2];
    char name[WSTOR_VHOST_MEMFD_NAME_MAX + 1];
    uint64_t bytes;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (!arg_string(env, argv[0], fn, "name", name, sizeof(name), &length) ||
        !wstor_arg_size(env, argv[1], fn, "bytes", &bytes))
        return NULL;
    if (length > WSTOR_VHOST_MEMFD_NAME_MAX) return wstor_number(env, -ENAMETOOLONG);
    if (strlen(name) != length) return wstor_number(env, -EINVAL);
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return wstor_number(env, -errno);
    if (ftruncate(fd, (off_t)bytes) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        return wstor_number(env, close_failed(fd));
    return wstor_number(env, fd);
}

/* A call that answers from fstat of its one fd argument: `answer`'s number, a negative errno, or a throw. */
static napi_value fstat_call(napi_env env, napi_callback_info info, const char *fn,
                             int64_t (*answer)(int fd, const struct stat *st)) {
    napi_value argv[1];
    int fd;
    struct stat st;
    int rc = fd_first_arg(env, info, fn, 1, argv, &fd);
    if (rc == 1) return NULL;
    if (rc == 0 && fstat(fd, &st) != 0) rc = -errno;
    return wstor_number(env, rc < 0 ? rc : answer(fd, &st));
}

static int64_t size_of(int fd, const struct stat *st) {
    (void)fd;
    return S_ISREG(st->st_mode) ? (int64_t)st->st_size : -ENODEV;
}

/* An anonymous inode (st_mode has no file type) that is an eventfd. /proc names it; without /proc, a write of 0
 * tells (an eventfd adds it: nothing changes; the other anonymous fds refuse writes). */
static bool is_eventfd(int fd) {
    char link[64], target[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n >= 0) {
        target[n] = '\0';
        return strcmp(target, "anon_inode:[eventfd]") == 0;
    }
    uint64_t zero = 0;
    return RETRY_EINTR(write(fd, &zero, sizeof(zero))) == (ssize_t)sizeof(zero);
}

static int64_t kind_of(int fd, const struct stat *st) {
    if (S_ISFIFO(st->st_mode)) return WSTOR_VHOST_FD_PIPE;
    if (S_ISREG(st->st_mode)) return WSTOR_VHOST_FD_FILE;
    if (S_ISSOCK(st->st_mode)) return WSTOR_VHOST_FD_SOCKET;
    if ((st->st_mode & S_IFMT) == 0 && is_eventfd(fd)) return WSTOR_VHOST_FD_EVENTFD;
    return WSTOR_VHOST_FD_OTHER;
}

/* fdSize(fd): bytes of a regular file or memfd, -ENODEV for anything else, or -errno. */
napi_value wstor_vhost_fd_size(napi_env env, napi_callback_info info) { return fstat_call(env, info, "fdSize", size_of); }

/* fdKind(fd): WSTOR_VHOST_FD_* (vhost.h), or -errno (-EBADF). */
napi_value wstor_vhost_fd_kind(napi_env env, napi_callback_info info) { return fstat_call(env, info, "fdKind", kind_of); }

/* ---- eventfds (kick, call, err) ---- */

/* eventfdCreate(): a nonblocking eventfd with counter 0, or -errno. */
napi_value wstor_vhost_eventfd_create(napi_env env, napi_callback_info info) {
    (void)info;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return wstor_number(env, fd < 0 ? -errno : fd);
}

/* eventfdWrite(fd, value): 0, or -errno (-EAGAIN: the counter would overflow; -EINVAL: value < 1). The fd
 * must be an eventfd: 8 bytes written to anything else are simply written. */
napi_value wstor_vhost_eventfd_write(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    int fd;
    double d;
    int rc = fd_first_arg(env, info, "eventfdWrite", 2, argv, &fd);
    if (rc == 1 || !wstor_arg_integer(env, argv[1], "eventfdWrite", "value", &d)) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    if (d < 1) return wstor_number(env, -EINVAL);
    uint64_t value = (uint64_t)d;
    ssize_t n = RETRY_EINTR(write(fd, &value, sizeof(value)));
    if (n < 0) return wstor_number(env, n);
    return wstor_number(env, n == (ssize_t)sizeof(value) ? 0 : -EIO);
}

/* eventfdRead(fd): the counter (now reset to 0), -EAGAIN when it is 0, or -errno. A counter above 2^53
 * comes back rounded (only a writer of huge values makes one; QEMU and KVM write 1). */
napi_value wstor_vhost_eventfd_read(napi_env env, napi_callback_info info) {
    napi_value argv[1];
    int fd;
    int rc = fd_first_arg(env, info, "eventfdRead", 1, argv, &fd);
    if (rc == 1) return NULL;
    if (rc < 0) return wstor_number(env, rc);
    uint64_t value = 0;
    ssize_t n = RETRY_EINTR(read(fd, &value, sizeof(value)));
    if (n < 0) return wstor_number(env, n);
    if (n != (ssize_t)sizeof(value)) return wstor_number(env, -EINVAL); /* not an eventfd */
    napi_value result;
    napi_create_double(env, (double)value, &result);
    return result;
}

/* hostPageSize(): the unit of mapIntoMemory's offsets and lengths. */
napi_value wstor_vhost_host_page_size(napi_env env, napi_callback_info info) {
    (void)info;
    return wstor_number(env, (int64_t)page_bytes());
}
