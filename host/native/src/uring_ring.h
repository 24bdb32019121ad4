/*
 * The ring's state, shared by the files that drive it: uring.c (handles, descriptors, submit and reap) and
 * uring_sleep.c (the reactor's sleep inside its ring). Not part of the addon's interface.
 */
#ifndef WSTOR_URING_RING_H
#define WSTOR_URING_RING_H
#include <linux/io_uring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <node_api.h>
#include "uring.h"

/* A broken invariant here means memory the kernel may write is no longer accounted for: stop at once. */
#define URING_ASSERT(cond)                                                                          \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "wstor native %s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

/* Fds one ring may watch for its reactor's sleep: its wake eventfd and the kick eventfds of the
 * vhost rings it serves. Each may hold one poll in the kernel, so the CQ is sized with room for them. */
#define URING_WATCH_MAX 64
/* user_data bits of the ring's own SQEs (a core descriptor's user_data never reaches bit 62). */
#define URING_TAG_WATCH (1ull << 63)
#define URING_TAG_CANCEL (1ull << 62)
#define URING_TAG_INTERNAL (URING_TAG_WATCH | URING_TAG_CANCEL)
/* A core SQE's user_data: the descriptor's user_data in bits 0..31, its iovec block + 1 in bits 32..55 (0:
 * none), and bit 61 on an ACCEPT, whose new fd the reap sets TCP_NODELAY on. */
#define URING_TAG_ACCEPT (1ull << 61)
#define URING_IOV_TAG(user_data) ((uint32_t)((user_data) >> 32) & 0xffffffu)

enum uring_watch_state {
    WATCH_FREE = 0,
    WATCH_IDLE,    /* watched; no poll in the kernel */
    WATCH_ARMED,   /* a multishot POLL_ADD (POLLIN) is in the kernel */
    WATCH_DROPPED, /* unwatched while armed: the slot is free once the cancelled poll completes */
    WATCH_FAILED,  /* its poll failed (the fd is not pollable): never armed again */
};

struct uring_watch {
    int32_t fd;
    uint8_t state;    /* enum uring_watch_state */
};

struct uring {
    int handle;
    int32_t owner_tid;
    napi_env env;
    napi_ref memory_ref;      /* keeps the SharedArrayBuffer alive while the kernel may write into it */
    uint8_t *mem_base;
    uint64_t mem_bytes;       /* grows through uringSetMemory; every range is checked against it */

    bool fallback;
    char reason[160];         /* why the fallback is in use */
    uint32_t entries;         /* SQ size */
    uint32_t outstanding_max; /* 2 * entries: accepted-but-unreaped completions never exceed it */
    uint32_t kernel_pending;  /* SQEs written to the SQ whose CQE is not reaped yet */
    uint64_t submit_calls;    /* io_uring_enter calls that handed SQEs to the kernel (uringInfo) */

    /* Software completions: bad descriptors, failed submissions, and every result in fallback mode. */
    struct wstor_uring_cqe *soft;
    uint32_t soft_head;
    uint32_t soft_count;

    int fd;
    bool ext_arg;             /* the kernel takes a timeout on io_uring_enter (5.11+) */
    bool deferred_taskrun;    /* IORING_SETUP_DEFER_TASKRUN: completions post only when we enter */
    void *sq_map;
    size_t sq_map_bytes;
    void *cq_map;             /* == sq_map with IORING_FEAT_SINGLE_MMAP */
    size_t cq_map_bytes;      /* 0 when cq_map is sq_map */
    struct io_uring_sqe *sqes;
    size_t sqes_bytes;
    uint32_t *sq_khead, *sq_ktail;
    uint32_t sq_mask;
    uint32_t sq_tail;         /* ours; published to *sq_ktail right before io_uring_enter */
    uint32_t *cq_khead, *cq_ktail;
    uint32_t cq_mask;
    struct io_uring_cqe *cqes;

    /* READV/WRITEV/SENDMSG need real struct iovec (and SENDMSG a struct msghdr) alive until completion: one
     * block of 64 (and one msghdr) per vector op in flight, its index + 1 carried in URING_IOV_TAG. */
    struct iovec *iov_table;  /* entries * WSTOR_URING_IOV_MAX */
    struct msghdr *msg_table; /* entries: block i's msghdr */
    uint32_t *pin_table;      /* entries * WSTOR_URING_IOV_MAX: guest region handles an external vector pinned */
    uint8_t *pin_count;       /* entries: how many of its block's pins are held */
    uint32_t *iov_free;       /* stack of free block indexes */
    uint32_t iov_free_count;

    /* The reactor's sleep (uring_sleep.c). */
    struct uring_watch watches[URING_WATCH_MAX];
    uint32_t internal_pending; /* the ring's own SQEs (polls and cancels) whose final CQE is not consumed */
    uint64_t sleeps;           /* uringWait calls that entered the kernel to wait */
};

int wstor_ring_enter(const struct uring *r, uint32_t to_submit, uint32_t min_complete, uint32_t flags, void *arg,
                     size_t arg_bytes);
/* The calling thread's ring for `value`, or NULL after throwing (EBADF, EPERM). */
struct uring *wstor_uring_lookup(napi_env env, napi_value value, const char *fn);

/* A completion of the ring's own (URING_TAG_INTERNAL): consumed here, never handed to the core. True
 * when it is a watched fd's poll that fired (not a cancel, a cancelled poll or a failure). */
bool wstor_sleep_cqe(struct uring *r, const struct io_uring_cqe *cqe);
/* Before the ring closes: cancel every armed poll (their CQEs then come and are consumed). */
void wstor_sleep_cancel_all(struct uring *r);

#endif
