/*
 * One io_uring per reactor thread (LESSONS 4), driven by descriptors the core writes into Wasm memory.
 * This header owns the wire formats shared with the core and the N-API entry points; uring.c owns the rest.
 */
#ifndef WSTOR_URING_H
#define WSTOR_URING_H
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

/* The core and the host agree on these bytes; both sides are little-endian, so the structs are the wire. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the descriptor formats assume a little-endian host");

enum wstor_uring_op {
    WSTOR_URING_READ = 0,
    WSTOR_URING_WRITE = 1,
    WSTOR_URING_FSYNC = 2,
    WSTOR_URING_FDATASYNC = 3,
    WSTOR_URING_PUNCH_HOLE = 4, /* fallocate(PUNCH_HOLE | KEEP_SIZE) over [offset, offset + len) */
    WSTOR_URING_ZERO_RANGE = 5, /* fallocate(ZERO_RANGE | KEEP_SIZE) over [offset, offset + len) */
    WSTOR_URING_READV = 6,
    WSTOR_URING_WRITEV = 7,
    /* Sockets (the core's assembly/sock). offset must be 0; buf, len and iovcnt as noted, else 0. */
    WSTOR_URING_ACCEPT = 8,    /* accept4(fd, SOCK_CLOEXEC | SOCK_NONBLOCK), then TCP_NODELAY on it: res = the new fd */
    WSTOR_URING_RECV = 9,      /* recv into [buf, buf + len), len >= 1: res = bytes, 0 when the peer closed */
    WSTOR_URING_SENDMSG = 10,  /* sendmsg of iovcnt pairs at buf, MSG_NOSIGNAL: res = bytes sent (may be short) */
    WSTOR_URING_CANCEL_FD = 11, /* cancel every op of this ring on fd (IORING_ASYNC_CANCEL_FD | ALL): res = how many (0: none) */
    WSTOR_URING_CLOSE = 12,    /* close(fd) */
    WSTOR_URING_CONNECT = 13,  /* connect(fd, the sockaddr at [buf, buf + len)), len 1..128: res = 0 */
    WSTOR_URING_OP_COUNT
};

/* One submission descriptor in Wasm memory. Reserved fields must be 0 (room to grow without ambiguity). */
struct wstor_uring_desc {
    uint8_t op;         /* enum wstor_uring_op */
    uint8_t flags;      /* WSTOR_URING_F_*; any other bit is -EINVAL */
    uint16_t iovcnt;    /* READV/WRITEV/SENDMSG: 1..WSTOR_URING_IOV_MAX pairs at buf; 0 for every other op */
    int32_t fd;
    uint32_t buf;       /* Wasm offset of the buffer (READ/WRITE/RECV), the sockaddr (CONNECT) or the iovec pairs (READV/WRITEV/SENDMSG) */
    uint32_t len;       /* bytes: buffer (READ/WRITE/RECV), sockaddr (CONNECT) or file range (PUNCH_HOLE/ZERO_RANGE) */
    uint64_t offset;    /* file offset; UINT64_MAX means "the file position" (as io_uring defines it) */
    uint32_t user_data; /* handed back untouched in the completion */
    uint32_t reserved1;
};
#define WSTOR_URING_DESC_BYTES 32
/* Hand this descriptor (and any accepted before it) to the kernel at once, not at the end of the call. A
 * submit of more than two SQEs runs under a block plug: the device sees none of the batch until the last
 * request is prepared. For device I/O (O_DIRECT) that holds the first request back by the whole batch's
 * preparation time; for page-cache I/O there is no device to keep busy and one syscall per batch is cheaper. */
#define WSTOR_URING_F_SUBMIT_NOW 0x01
/* READV/WRITEV only: the vector at buf holds iovcnt external entries (struct wstor_uring_ext_iovec), buffers
 * in guest regions outside the Wasm memory (guestmem.h). Each is translated and its region pinned until the
 * completion; a handle naming no region is -EBADF, a range outside one -EFAULT (nothing submitted). */
#define WSTOR_URING_F_EXTERNAL 0x02
#define WSTOR_URING_F_ALL (WSTOR_URING_F_SUBMIT_NOW | WSTOR_URING_F_EXTERNAL)
_Static_assert(sizeof(struct wstor_uring_desc) == WSTOR_URING_DESC_BYTES, "descriptor is 32 bytes");
_Static_assert(offsetof(struct wstor_uring_desc, flags) == 1, "flags at 1");
_Static_assert(offsetof(struct wstor_uring_desc, iovcnt) == 2, "iovcnt at 2");
_Static_assert(offsetof(struct wstor_uring_desc, fd) == 4, "fd at 4");
_Static_assert(offsetof(struct wstor_uring_desc, buf) == 8, "buf at 8");
_Static_assert(offsetof(struct wstor_uring_desc, len) == 12, "len at 12");
_Static_assert(offsetof(struct wstor_uring_desc, offset) == 16, "offset at 16");
_Static_assert(offsetof(struct wstor_uring_desc, user_data) == 24, "user_data at 24");

/* One element of a READV/WRITEV/SENDMSG vector in Wasm memory. */
struct wstor_uring_iovec {
    uint32_t buf; /* Wasm offset */
    uint32_t len; /* bytes */
};
#define WSTOR_URING_IOVEC_BYTES 8
#define WSTOR_URING_IOV_MAX 64
_Static_assert(sizeof(struct wstor_uring_iovec) == WSTOR_URING_IOVEC_BYTES, "iovec pair is 8 bytes");

/* One element of an external vector (WSTOR_URING_F_EXTERNAL; the core's bdev/extiov.ts). */
struct wstor_uring_ext_iovec {
    uint32_t handle; /* a guest region (guestmem.h), or 0: offset is a Wasm offset */
    uint32_t len;
    uint64_t offset; /* bytes into the region */
};
#define WSTOR_URING_EXT_IOVEC_BYTES 16
_Static_assert(sizeof(struct wstor_uring_ext_iovec) == WSTOR_URING_EXT_IOVEC_BYTES, "external iovec is 16 bytes");
_Static_assert(offsetof(struct wstor_uring_ext_iovec, offset) == 8, "offset at 8");

/* One completion written into Wasm memory by uringReap. */
struct wstor_uring_cqe {
    uint32_t user_data;
    int32_t res; /* bytes transferred, 0, or -errno, as the kernel reports it */
};
#define WSTOR_URING_CQE_BYTES 8
_Static_assert(sizeof(struct wstor_uring_cqe) == WSTOR_URING_CQE_BYTES, "completion is 8 bytes");
_Static_assert(offsetof(struct wstor_uring_cqe, res) == 4, "res at 4");

napi_value wstor_uring_create(napi_env env, napi_callback_info info);
napi_value wstor_uring_set_memory(napi_env env, napi_callback_info info);
napi_value wstor_uring_submit(napi_env env, napi_callback_info info);
napi_value wstor_uring_reap(napi_env env, napi_callback_info info);
napi_value wstor_uring_info(napi_env env, napi_callback_info info);
napi_value wstor_uring_destroy(napi_env env, napi_callback_info info);
/* uring_sleep.c: the reactor's sleep inside its ring. */
napi_value wstor_uring_watch(napi_env env, napi_callback_info info);
napi_value wstor_uring_unwatch(napi_env env, napi_callback_info info);
napi_value wstor_uring_wait(napi_env env, napi_callback_info info);

#endif
