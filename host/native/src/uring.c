/*
 * Per-reactor io_uring over Wasm memory: the core's descriptors in, completions out, no promise, no copy.
 * Owns the handle table, the ring's syscalls and mmaps, the descriptor checks and the synchronous fallback.
 *
 * Contract with the caller (the JS host of one reactor), documented once here:
 * - Every descriptor uringSubmit accepts yields exactly one completion through uringReap. A descriptor that
 *   fails its checks is still accepted: it completes at once, through the software completion queue, with
 *   res = -EINVAL (unknown op, reserved field not 0, iovcnt out of 1..64 or not 0 for a non-vector op) or
 *   -EFAULT (a buffer, the iovec array or an iovec entry not inside the memory). Nothing is submitted for it
 *   and no memory outside the Wasm memory is read or written. Submission then goes on with the next one.
 *   An external vector (WSTOR_URING_F_EXTERNAL) names guest regions instead (guestmem.h): an entry outside its
 *   region is -EFAULT, a handle naming none -EBADF; the regions stay pinned (mapped) until the completion.
 * - uringSubmit accepts fewer than asked, without blocking, when the SQ is full, when every iovec block is
 *   in use, or when accepted-but-unreaped completions would exceed the CQ size (cq_entries, 2 * entries).
 * - uringReap makes no syscall while completions are posted; it enters the kernel (without waiting) when the
 *   CQ is empty and I/O is in flight, which is what posts completions under DEFER_TASKRUN, and to retry SQEs
 *   the kernel refused with EAGAIN/EBUSY (then stranded).
 *   It hands out software completions first, then the kernel's: completion order is not submission order.
 * - Fallback mode (io_uring_setup failed, or forceFallback) runs each descriptor synchronously inside
 *   uringSubmit, on the calling thread, and queues its result: same API and limits, but it blocks while the
 *   syscall runs (a read of an empty pipe would block the reactor).
 * - Socket ops (ACCEPT, RECV, SENDMSG, CANCEL_FD, CLOSE, CONNECT; uring.h) follow the same rules. An accepted
 *   fd is CLOEXEC and nonblocking, with TCP_NODELAY set before its completion is handed out. In fallback mode
 *   every socket op is nonblocking (MSG_DONTWAIT, a poll before accept4, a connect of a nonblocking socket
 *   polled for its end): -EAGAIN comes back instead of a blocked reactor, and the caller retries (a CONNECT
 *   with the same fd and address until it ends); CANCEL_FD cancels nothing (res 0), as nothing is ever in
 *   flight there.
 * - uringDestroy waits up to URING_DESTROY_WAIT_MS for I/O the kernel holds; if some is still in flight it
 *   throws EBUSY and the ring stays open and usable. Completions not yet reaped are dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "args.h"
#include "guestmem.h"
#include "uring.h"
#include "uring_ring.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

/* Bounds, chosen here (TIGER_STYLE: everything has one). */
#define URING_HANDLES 64                    /* rings per process: one per reactor, plus spares */
#define URING_ENTRIES_MAX 4096              /* SQ size; caps the iovec table at 4096 * 64 * 16 B = 4 MiB */
#define URING_DESTROY_WAIT_MS 1000          /* uringDestroy's wait for in-flight I/O before EBUSY */
#define URING_WAIT_SLICE_MS 100             /* one timed io_uring_enter inside that wait */
#define URING_GENERATIONS (1u << 24)        /* handle = generation * URING_HANDLES + slot, below 2^30 */


_Static_assert(sizeof(struct io_uring_sqe) == 64, "64-byte SQEs (no IORING_SETUP_SQE128)");
_Static_assert(sizeof(struct io_uring_cqe) == 16, "16-byte CQEs (no IORING_SETUP_CQE32)");

/* gettid is a real syscall; every call checks it, so ask the kernel once per thread. */
static int32_t self_tid(void) {
    static _Thread_local int32_t tid;
    if (tid == 0) tid = (int32_t)syscall(SYS_gettid);
    return tid;
}

/* ---- handle table, shared by every worker of the process (the addon is loaded once) ---- */

struct slot {
    uint64_t state;       /* (handle << 32) | owner tid, 0 when free: read by any thread, atomically */
    struct uring *ring;   /* written under slots_lock; read without it only by the owner thread */
    uint32_t generation;  /* under slots_lock: a destroyed handle stays invalid after its slot is reused */
};
static struct slot slots[URING_HANDLES];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static int slot_claim(struct uring *r) {
    int handle = -1;
    pthread_mutex_lock(&slots_lock);
    for (uint32_t i = 0; i < URING_HANDLES && handle < 0; i++) {
        struct slot *s = &slots[i];
        if (s->ring != NULL) continue;
        handle = (int)(s->generation * URING_HANDLES + i);
        s->generation = (s->generation + 1) % URING_GENERATIONS;
        s->ring = r;
        r->handle = handle;
        __atomic_store_n(&s->state, ((uint64_t)handle << 32) | (uint32_t)r->owner_tid, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&slots_lock);
    return handle;
}

static void slot_release(struct uring *r) {
    struct slot *s = &slots[r->handle % URING_HANDLES];
    __atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&slots_lock);
    s->ring = NULL;
    pthread_mutex_unlock(&slots_lock);
}

/* The caller's ring, or NULL after throwing EBADF (no such ring) or EPERM (another thread's ring). The
 * owner check reads only the slot's atomic state, so another thread never dereferences a ring its owner
 * may be freeing (LESSONS 5). */
struct uring *wstor_uring_lookup(napi_env env, napi_value value, const char *fn) {
    double d = -1;
    if (napi_get_value_double(env, value, &d) != napi_ok) {
        wstor_throw_errno(env, EINVAL, "%s: the handle must be a number returned by uringCreate", fn);
        return NULL;
    }
    if (!(d >= 0 && d < (double)URING_GENERATIONS * URING_HANDLES) || d != (double)(int)d) {
        wstor_throw_errno(env, EBADF, "%s: %g is not a ring handle", fn, d);
        return NULL;
    }
    int handle = (int)d;
    struct slot *s = &slots[handle % URING_HANDLES];
    uint64_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    int32_t owner = (int32_t)(uint32_t)state;
    if (owner == 0 || (int)(state >> 32) != handle) {
        wstor_throw_errno(env, EBADF, "%s: ring %d is not open (never created, or destroyed)", fn, handle);
        return NULL;
    }
    if (owner != self_tid()) {
        wstor_throw_errno(env, EPERM, "%s: ring %d belongs to thread %d, not to this thread (%d); io_uring rings are "
                    "per reactor thread (LESSONS 4): use this reactor's own ring", fn, handle, owner, self_tid());
        return NULL;
    }
    return s->ring;
}

/* ---- arguments ---- */

static bool arg_force_fallback(napi_env env, napi_value options, const char *fn, bool *force) {
    napi_valuetype type = napi_undefined;
    napi_value value;
    *force = false;
    napi_typeof(env, options, &type);
    if (type == napi_undefined || type == napi_null) return true;
    if (type != napi_object || napi_get_named_property(env, options, "forceFallback", &value) != napi_ok) {
        wstor_throw_errno(env, EINVAL, "%s: options must be an object like { forceFallback: true }", fn);
        return false;
    }
    napi_typeof(env, value, &type);
    if (type == napi_undefined) return true;
    if (type != napi_boolean || napi_get_value_bool(env, value, force) != napi_ok) {
        wstor_throw_errno(env, EINVAL, "%s: options.forceFallback must be a boolean", fn);
        return false;
    }
    return true;
}

/* ---- the kernel ring: setup, mapping, teardown ---- */

int wstor_ring_enter(const struct uring *r, uint32_t to_submit, uint32_t min_complete, uint32_t flags,
                      void *arg, size_t arg_bytes) {
    long rc = syscall(__NR_io_uring_enter, r->fd, to_submit, min_complete, flags, arg, arg_bytes);
    return rc < 0 ? -errno : (int)rc;
}

static void ring_unmap(struct uring *r) {
    if (r->sqes != NULL) munmap(r->sqes, r->sqes_bytes);
    if (r->cq_map != NULL && r->cq_map_bytes != 0) munmap(r->cq_map, r->cq_map_bytes);
    if (r->sq_map != NULL) munmap(r->sq_map, r->sq_map_bytes);
    r->sqes = NULL;
    r->cq_map = r->sq_map = NULL;
}

static void *ring_mmap(int fd, size_t bytes, off_t what) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, what);
    return p == MAP_FAILED ? NULL : p;
}

/* Maps the SQ ring, CQ ring (one mapping when the kernel shares them) and SQE array; 0 or an errno. */
static int ring_map(struct uring *r, const struct io_uring_params *p) {
    size_t sq_bytes = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
    size_t cq_bytes = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
    bool single = (p->features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && cq_bytes > sq_bytes) sq_bytes = cq_bytes;
    if ((r->sq_map = ring_mmap(r->fd, sq_bytes, IORING_OFF_SQ_RING)) == NULL) return errno;
    r->sq_map_bytes = sq_bytes;
    if (single) {
        r->cq_map = r->sq_map;
    } else {
        if ((r->cq_map = ring_mmap(r->fd, cq_bytes, IORING_OFF_CQ_RING)) == NULL) return errno;
        r->cq_map_bytes = cq_bytes;
    }
    r->sqes_bytes = p->sq_entries * sizeof(struct io_uring_sqe);
    if ((r->sqes = ring_mmap(r->fd, r->sqes_bytes, IORING_OFF_SQES)) == NULL) return errno;

    uint8_t *sq = r->sq_map, *cq = r->cq_map;
    r->sq_khead = (uint32_t *)(sq + p->sq_off.head);
    r->sq_ktail = (uint32_t *)(sq + p->sq_off.tail);
    r->sq_mask = *(uint32_t *)(sq + p->sq_off.ring_mask);
    r->sq_tail = *r->sq_ktail;
    /* The SQ array indirection is unused: SQE i always sits at ring index i, set once here. */
    uint32_t *array = (uint32_t *)(sq + p->sq_off.array);
    for (uint32_t i = 0; i < p->sq_entries; i++) array[i] = i;
    r->cq_khead = (uint32_t *)(cq + p->cq_off.head);
    r->cq_ktail = (uint32_t *)(cq + p->cq_off.tail);
    r->cq_mask = *(uint32_t *)(cq + p->cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
    return 0;
}

/* 0, or an errno with r->reason saying what failed (the caller then falls back). */
static int ring_setup_kernel(struct uring *r, uint32_t entries) {
    /* Newest flags first; older kernels refuse unknown ones with EINVAL. SUBMIT_ALL keeps one SQE that fails
     * at prep from stranding the rest of the batch; SINGLE_ISSUER has the kernel enforce what slot_lookup
     * enforces. DEFER_TASKRUN (6.1+) leaves completion work queued until this thread asks for events, instead
     * of signalling the thread at every interrupt: ring_reap asks whenever the CQ is empty with I/O in
     * flight, and ring_wait_idle waits in the kernel, so no completion is left unposted. Measured: O_DIRECT
     * 4 KiB randread qd 32 went from ~0.95 to ~1.05 x fio's io_uring engine (which sets the same flags). */
    static const uint32_t flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_SUBMIT_ALL, 0,
    };
    struct io_uring_params p;
    int fd = -1, err = 0;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]) && fd < 0; i++) {
        memset(&p, 0, sizeof(p));
        /* The core's completions never exceed 2 * entries (outstanding_max); the rest of the CQ is room
         * for the ring's own READs and cancels (uring_sleep.c), so they can never overflow it. */
        p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = 2 * entries + 2 * URING_WATCH_MAX;
        fd = (int)syscall(__NR_io_uring_setup, entries, &p);
        err = fd < 0 ? errno : 0;
        if (fd < 0 && err != EINVAL) break;
    }
    if (fd < 0) {
        snprintf(r->reason, sizeof(r->reason), "io_uring_setup: %s", strerror(err));
        return err;
    }
    r->fd = fd;
    err = ring_map(r, &p);
    if (err != 0) {
        snprintf(r->reason, sizeof(r->reason), "mmap of the io_uring rings: %s", strerror(err));
        ring_unmap(r);
        close(fd);
        r->fd = -1;
        return err;
    }
    r->entries = p.sq_entries;
    r->outstanding_max = 2 * p.sq_entries;
    URING_ASSERT(p.cq_entries >= r->outstanding_max + 2 * URING_WATCH_MAX);
    r->ext_arg = (p.features & IORING_FEAT_EXT_ARG) != 0;
    r->deferred_taskrun = (p.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    return 0;
}

/* The guest regions a vector pinned (external vectors only); pins_put drops them. */
struct pins {
    uint32_t *handles;
    uint8_t count;
};

static void pins_put(struct pins *p) {
    for (uint8_t i = 0; i < p->count; i++) wstor_guestmem_unpin(p->handles[i]);
    p->count = 0;
}

/* Pins of completions never reaped (the ring goes with them posted, or unposted at exit): dropped, so their
 * regions are not kept mapped forever. */
static void pins_drop_all(struct uring *r) {
    for (uint32_t i = 0; r->pin_table != NULL && r->pin_count != NULL && i < r->entries; i++) {
        struct pins p = { .handles = &r->pin_table[(size_t)i * WSTOR_URING_IOV_MAX], .count = r->pin_count[i] };
        pins_put(&p);
        r->pin_count[i] = 0;
    }
}

static void ring_free(struct uring *r) {
    pins_drop_all(r);
    ring_unmap(r);
    if (r->fd >= 0) close(r->fd);
    free(r->soft);
    free(r->iov_table);
    free(r->pin_table);
    free(r->pin_count);
    free(r->msg_table);
    free(r->iov_free);
    free(r);
}

static uint32_t round_up_pow2(uint32_t n) {
    uint32_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

/* A ring in io_uring mode, or in fallback mode if asked or if the kernel refuses; NULL only without memory. */
static struct uring *ring_new(uint32_t entries, bool force_fallback) {
    struct uring *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->fd = -1;
    r->owner_tid = self_tid();
    entries = round_up_pow2(entries); /* as the kernel does, so both modes report the same size */
    if (force_fallback) snprintf(r->reason, sizeof(r->reason), "forceFallback was requested");
    if (force_fallback || ring_setup_kernel(r, entries) != 0) {
        r->fallback = true;
        r->entries = entries;
        r->outstanding_max = 2 * entries; /* the kernel's default CQ size, so limits match across modes */
    }
    r->soft = calloc(r->outstanding_max, sizeof(*r->soft));
    if (!r->fallback) {
        r->iov_table = calloc((size_t)r->entries * WSTOR_URING_IOV_MAX, sizeof(struct iovec));
        r->pin_table = calloc((size_t)r->entries * WSTOR_URING_IOV_MAX, sizeof(uint32_t));
        r->pin_count = calloc(r->entries, sizeof(uint8_t));
        r->msg_table = calloc(r->entries, sizeof(struct msghdr));
        r->iov_free = calloc(r->entries, sizeof(uint32_t));
    }
    if (r->soft == NULL || (!r->fallback && (r->iov_table == NULL || r->pin_table == NULL || r->pin_count == NULL ||
                                             r->msg_table == NULL || r->iov_free == NULL))) {
        ring_free(r);
        return NULL;
    }
    for (uint32_t i = 0; !r->fallback && i < r->entries; i++) r->iov_free[r->iov_free_count++] = r->entries - 1 - i;
    return r;
}

/* ---- software completion queue and iovec blocks ---- */

static uint32_t ring_outstanding(const struct uring *r) {
    return r->kernel_pending + r->soft_count;
}

static void soft_push(struct uring *r, uint32_t user_data, int32_t res) {
    URING_ASSERT(ring_outstanding(r) <= r->outstanding_max && r->soft_count < r->outstanding_max);
    struct wstor_uring_cqe *c = &r->soft[(r->soft_head + r->soft_count) % r->outstanding_max];
    c->user_data = user_data;
    c->res = res;
    r->soft_count++;
}

static struct iovec *iov_peek(const struct uring *r) {
    return &r->iov_table[(size_t)r->iov_free[r->iov_free_count - 1] * WSTOR_URING_IOV_MAX];
}

static uint32_t iov_take(struct uring *r) {
    URING_ASSERT(r->iov_free_count > 0);
    return r->iov_free[--r->iov_free_count] + 1;
}

/* The pins of the block iov_peek gives (the one iov_take takes next). */
static struct pins pins_peek(const struct uring *r) {
    uint32_t block = r->iov_free[r->iov_free_count - 1];
    return (struct pins){ .handles = &r->pin_table[(size_t)block * WSTOR_URING_IOV_MAX], .count = 0 };
}

/* A vector op completed (or will never be submitted): its iovec block back, and its guest regions unpinned. */
static void iov_give_back(struct uring *r, uint32_t tag) {
    if (tag == 0) return;
    URING_ASSERT(tag <= r->entries && r->iov_free_count < r->entries);
    struct pins p = { .handles = &r->pin_table[(size_t)(tag - 1) * WSTOR_URING_IOV_MAX], .count = r->pin_count[tag - 1] };
    pins_put(&p);
    r->pin_count[tag - 1] = 0;
    r->iov_free[r->iov_free_count++] = tag - 1;
}

/* ---- descriptors ---- */

static bool is_vector(uint8_t op) {
    return op == WSTOR_URING_READV || op == WSTOR_URING_WRITEV || op == WSTOR_URING_SENDMSG;
}

static bool is_socket_op(uint8_t op) {
    return op >= WSTOR_URING_ACCEPT && op <= WSTOR_URING_CONNECT;
}

/* The largest sockaddr a CONNECT names (struct sockaddr_storage). */
#define URING_SOCKADDR_MAX 128

static bool mem_range_ok(const struct uring *r, uint64_t offset, uint64_t bytes) {
    return offset <= r->mem_bytes && bytes <= r->mem_bytes - offset;
}

/* Reads shared memory once: the core on other threads writes it too, so only the copy is checked and used. */
static void mem_copy_in(void *dst, const uint8_t *src, size_t bytes) {
    memcpy(dst, src, bytes);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the compiler may not re-read src in place of dst */
}

/*
 * An external vector (WSTOR_URING_F_EXTERNAL) into iov: each entry's region pinned (into *pins), or the
 * errno with none left pinned. The entries are read once, from our copy.
 */
static int ext_vector(const struct uring *r, const struct wstor_uring_desc *d, struct iovec *iov, struct pins *pins) {
    if (!mem_range_ok(r, d->buf, (uint64_t)d->iovcnt * WSTOR_URING_EXT_IOVEC_BYTES)) return EFAULT;
    struct wstor_uring_ext_iovec entries[WSTOR_URING_IOV_MAX];
    mem_copy_in(entries, r->mem_base + d->buf, (size_t)d->iovcnt * WSTOR_URING_EXT_IOVEC_BYTES);
    for (uint32_t i = 0; i < d->iovcnt; i++) {
        const struct wstor_uring_ext_iovec *e = &entries[i];
        uint8_t *at = NULL;
        int rc = 0;
        if (e->handle == 0) {
            if (mem_range_ok(r, e->offset, e->len)) at = r->mem_base + e->offset;
            else rc = -EFAULT;
        } else if ((rc = wstor_guestmem_pin(e->handle, e->offset, e->len, &at)) == 0) {
            pins->handles[pins->count++] = e->handle;
        }
        if (rc != 0) {
            pins_put(pins);
            return -rc;
        }
        iov[i].iov_base = at;
        iov[i].iov_len = e->len;
    }
    return 0;
}

/* 0, or the errno the descriptor completes with. For a vector op, fills iov with real addresses (and, for an
 * external one, pins its regions into *pins). */
static int desc_check(const struct uring *r, const struct wstor_uring_desc *d, struct iovec *iov, struct pins *pins) {
    if (d->op >= WSTOR_URING_OP_COUNT || (d->flags & ~WSTOR_URING_F_ALL) != 0 || d->reserved1 != 0) return EINVAL;
    bool external = (d->flags & WSTOR_URING_F_EXTERNAL) != 0;
    if (external && d->op != WSTOR_URING_READV && d->op != WSTOR_URING_WRITEV) return EINVAL;
    if (is_socket_op(d->op)) {
        /* No file offset on a socket; only RECV and CONNECT have a buffer (and a recv of 0 bytes would read
         * as "closed"). */
        bool has_buf = d->op == WSTOR_URING_RECV || d->op == WSTOR_URING_CONNECT;
        if (d->offset != 0 || (!is_vector(d->op) && d->iovcnt != 0) || (has_buf ? d->len == 0 : d->len != 0) ||
            (!has_buf && !is_vector(d->op) && d->buf != 0) || (d->op == WSTOR_URING_CONNECT && d->len > URING_SOCKADDR_MAX))
            return EINVAL;
        if (has_buf) return mem_range_ok(r, d->buf, d->len) ? 0 : EFAULT;
    }
    if (!is_vector(d->op)) {
        if (d->iovcnt != 0) return EINVAL;
        if (d->op == WSTOR_URING_READ || d->op == WSTOR_URING_WRITE)
            return mem_range_ok(r, d->buf, d->len) ? 0 : EFAULT;
        return 0;
    }
    if (d->iovcnt == 0 || d->iovcnt > WSTOR_URING_IOV_MAX) return EINVAL;
    if (external) return ext_vector(r, d, iov, pins);
    if (!mem_range_ok(r, d->buf, (uint64_t)d->iovcnt * WSTOR_URING_IOVEC_BYTES)) return EFAULT;
    struct wstor_uring_iovec pairs[WSTOR_URING_IOV_MAX];
    mem_copy_in(pairs, r->mem_base + d->buf, (size_t)d->iovcnt * WSTOR_URING_IOVEC_BYTES);
    for (uint32_t i = 0; i < d->iovcnt; i++) {
        if (!mem_range_ok(r, pairs[i].buf, pairs[i].len)) return EFAULT;
        iov[i].iov_base = r->mem_base + pairs[i].buf;
        iov[i].iov_len = pairs[i].len;
    }
    return 0;
}

/* A SENDMSG's header over `iov`, flags in the SQE (io_uring ignores msg_flags). */
static void msghdr_fill(struct msghdr *msg, struct iovec *iov, uint16_t iovcnt) {
    memset(msg, 0, sizeof(*msg));
    msg->msg_iov = iov;
    msg->msg_iovlen = iovcnt;
}

static void sqe_fill(struct io_uring_sqe *sqe, const struct wstor_uring_desc *d, uint8_t *base,
                     struct iovec *iov, struct msghdr *msg, uint32_t iov_tag) {
    memset(sqe, 0, sizeof(*sqe));
    sqe->fd = d->fd;
    sqe->off = d->offset;
    sqe->user_data = ((uint64_t)iov_tag << 32) | d->user_data;
    switch (d->op) {
    case WSTOR_URING_ACCEPT:
        sqe->opcode = IORING_OP_ACCEPT;
        sqe->accept_flags = SOCK_CLOEXEC | SOCK_NONBLOCK;
        sqe->user_data |= URING_TAG_ACCEPT;
        break;
    case WSTOR_URING_RECV:
        sqe->opcode = IORING_OP_RECV;
        sqe->addr = (uint64_t)(uintptr_t)(base + d->buf);
        sqe->len = d->len;
        break;
    case WSTOR_URING_SENDMSG:
        sqe->opcode = IORING_OP_SENDMSG;
        msghdr_fill(msg, iov, d->iovcnt);
        sqe->addr = (uint64_t)(uintptr_t)msg;
        sqe->len = 1; /* one msghdr */
        sqe->msg_flags = MSG_NOSIGNAL;
        break;
    case WSTOR_URING_CANCEL_FD:
        sqe->opcode = IORING_OP_ASYNC_CANCEL;
        sqe->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
        break;
    case WSTOR_URING_CLOSE:
        sqe->opcode = IORING_OP_CLOSE;
        break;
    case WSTOR_URING_CONNECT:
        /* The kernel copies the sockaddr when it prepares the SQE; the core keeps it until the completion anyway. */
        sqe->opcode = IORING_OP_CONNECT;
        sqe->addr = (uint64_t)(uintptr_t)(base + d->buf);
        sqe->off = d->len; /* IORING_OP_CONNECT carries addrlen in off */
        break;
    case WSTOR_URING_READ:
    case WSTOR_URING_WRITE:
        sqe->opcode = d->op == WSTOR_URING_READ ? IORING_OP_READ : IORING_OP_WRITE;
        sqe->addr = (uint64_t)(uintptr_t)(base + d->buf);
        sqe->len = d->len;
        break;
    case WSTOR_URING_READV:
    case WSTOR_URING_WRITEV:
        sqe->opcode = d->op == WSTOR_URING_READV ? IORING_OP_READV : IORING_OP_WRITEV;
        sqe->addr = (uint64_t)(uintptr_t)iov;
        sqe->len = d->iovcnt;
        break;
    case WSTOR_URING_FSYNC:
    case WSTOR_URING_FDATASYNC:
        sqe->opcode = IORING_OP_FSYNC;
        sqe->off = 0; /* with len 0: the whole file */
        sqe->fsync_flags = d->op == WSTOR_URING_FDATASYNC ? IORING_FSYNC_DATASYNC : 0;
        break;
    case WSTOR_URING_PUNCH_HOLE:
    case WSTOR_URING_ZERO_RANGE:
        /* IORING_OP_FALLOCATE carries the length in addr and the mode in len. */
        sqe->opcode = IORING_OP_FALLOCATE;
        sqe->addr = d->len;
        sqe->len = FALLOC_FL_KEEP_SIZE |
                   (d->op == WSTOR_URING_PUNCH_HOLE ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
        break;
    default:
        URING_ASSERT(!"desc_check lets only known ops through");
    }
}

/* An accepted connection's last step, in both modes: TCP_NODELAY (a socket that is not TCP has no such
 * option and keeps its fd). The fd, or -errno after closing it. */
static int32_t accept_finish(int32_t res) {
    if (res < 0) return res;
    int one = 1;
    if (setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 || errno == EOPNOTSUPP || errno == ENOPROTOOPT)
        return res;
    int err = errno;
    close(res);
    return -err;
}

/* Fallback accept: never blocks, even on a blocking listener (-EAGAIN when nobody is waiting). */
static int fallback_accept(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int ready = poll(&p, 1, 0);
    if (ready < 0) return -1;
    if (ready == 0 || (p.revents & POLLNVAL) != 0) {
        errno = ready == 0 ? EAGAIN : EBADF;
        return -1;
    }
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

/* Fallback connect of a nonblocking socket, never waiting: the first call starts it, each retry (the same fd
 * and address) looks whether it ended. 0 connected, -EAGAIN still under way, else its -errno. */
static int32_t fallback_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (connect(fd, addr, len) == 0 || errno == EISCONN) return 0;
    if (errno != EINPROGRESS && errno != EALREADY) return -errno;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int ready = poll(&p, 1, 0);
    if (ready < 0) return -errno;
    if (ready == 0) return -EAGAIN;
    /* It ended: SO_ERROR says how (and clears itself, so it is read once). */
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) return -errno;
    return err == 0 ? 0 : -err;
}

/* Fallback: the same operation, synchronously; the result as io_uring would report it. */
static int32_t fallback_run(const struct uring *r, const struct wstor_uring_desc *d, struct iovec *iov) {
    struct msghdr msg;
    uint8_t *buf = r->mem_base + d->buf;
    bool at_position = d->offset == UINT64_MAX; /* io_uring's "use the file position" */
    off_t off = (off_t)d->offset;
    int fd = d->fd;
    ssize_t rc = -1;
    switch (d->op) {
    case WSTOR_URING_READ: rc = at_position ? read(fd, buf, d->len) : pread(fd, buf, d->len, off); break;
    case WSTOR_URING_WRITE: rc = at_position ? write(fd, buf, d->len) : pwrite(fd, buf, d->len, off); break;
    case WSTOR_URING_READV: rc = at_position ? readv(fd, iov, d->iovcnt) : preadv(fd, iov, d->iovcnt, off); break;
    case WSTOR_URING_WRITEV: rc = at_position ? writev(fd, iov, d->iovcnt) : pwritev(fd, iov, d->iovcnt, off); break;
    case WSTOR_URING_FSYNC: rc = fsync(fd); break;
    case WSTOR_URING_FDATASYNC: rc = fdatasync(fd); break;
    case WSTOR_URING_PUNCH_HOLE:
        rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, d->len);
        break;
    case WSTOR_URING_ZERO_RANGE:
        rc = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, d->len);
        break;
    case WSTOR_URING_ACCEPT:
        rc = fallback_accept(fd);
        return rc < 0 ? -errno : accept_finish((int32_t)rc);
    case WSTOR_URING_RECV: rc = recv(fd, buf, d->len, MSG_DONTWAIT); break;
    case WSTOR_URING_SENDMSG:
        msghdr_fill(&msg, iov, d->iovcnt);
        rc = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        break;
    case WSTOR_URING_CANCEL_FD:
        /* Nothing of this ring is ever in the kernel here; a bad fd is still an error, as for the kernel. */
        return fcntl(fd, F_GETFD) < 0 ? -errno : 0;
    case WSTOR_URING_CLOSE: rc = close(fd); break;
    case WSTOR_URING_CONNECT: {
        struct sockaddr_storage ss;
        mem_copy_in(&ss, buf, d->len);
        return fallback_connect(fd, (const struct sockaddr *)&ss, (socklen_t)d->len);
    }
    default:
        URING_ASSERT(!"desc_check lets only known ops through");
    }
    return rc < 0 ? -errno : (int32_t)rc;
}

/* ---- submission and completion ---- */

/* SQEs the kernel will never take (io_uring_enter failed hard) complete with -err, so none is lost. The
 * kernel reads the SQ only inside io_uring_enter (no SQPOLL), so taking the tail back is safe. */
static void ring_fail_unsubmitted(struct uring *r, int err) {
    uint32_t head = __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    for (uint32_t t = head; t != r->sq_tail; t++) {
        uint64_t user_data = r->sqes[t & r->sq_mask].user_data;
        if ((user_data & URING_TAG_INTERNAL) != 0) {
            struct io_uring_cqe failed = { .user_data = user_data, .res = -err };
            (void)wstor_sleep_cqe(r, &failed);
            continue;
        }
        URING_ASSERT(r->kernel_pending > 0);
        r->kernel_pending--;
        iov_give_back(r, URING_IOV_TAG(user_data));
        soft_push(r, (uint32_t)user_data, -err);
    }
    r->sq_tail = head;
    __atomic_store_n(r->sq_ktail, head, __ATOMIC_RELEASE);
}

/* One io_uring_enter for every SQE the kernel has not taken yet, without waiting. EAGAIN/EBUSY/EINTR leave
 * them queued for the next flush (uringSubmit or uringReap). */
static void ring_flush(struct uring *r) {
    uint32_t unsubmitted = r->sq_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    if (unsubmitted == 0) return;
    __atomic_store_n(r->sq_ktail, r->sq_tail, __ATOMIC_RELEASE); /* SQE contents before the tail */
    r->submit_calls++;
    int rc = wstor_ring_enter(r, unsubmitted, 0, 0, NULL, 0);
    if (rc >= 0 || rc == -EAGAIN || rc == -EBUSY || rc == -EINTR) return;
    ring_fail_unsubmitted(r, -rc);
}

static uint32_t ring_submit(struct uring *r, uint32_t desc_offset, uint32_t count) {
    struct iovec fallback_iov[WSTOR_URING_IOV_MAX];
    uint32_t fallback_pins[WSTOR_URING_IOV_MAX];
    uint32_t sq_room = 0;
    if (!r->fallback) sq_room = r->entries - (r->sq_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE));
    uint32_t accepted = 0;
    for (; accepted < count; accepted++) {
        if (ring_outstanding(r) >= r->outstanding_max) break;
        if (!r->fallback && sq_room == 0) break;
        struct wstor_uring_desc d;
        mem_copy_in(&d, r->mem_base + desc_offset + (uint64_t)accepted * WSTOR_URING_DESC_BYTES, sizeof(d));
        bool vector = is_vector(d.op);
        if (!r->fallback && vector && r->iov_free_count == 0) break;
        struct iovec *iov = r->fallback ? fallback_iov : vector ? iov_peek(r) : NULL;
        struct pins pins = r->fallback || !vector ? (struct pins){ .handles = fallback_pins, .count = 0 } : pins_peek(r);
        int err = desc_check(r, &d, iov, &pins);
        if (err != 0) {
            soft_push(r, d.user_data, -err);
        } else if (r->fallback) {
            soft_push(r, d.user_data, fallback_run(r, &d, iov));
            pins_put(&pins);
        } else {
            uint32_t tag = vector ? iov_take(r) : 0;
            if (vector) r->pin_count[tag - 1] = pins.count;
            struct msghdr *msg = vector ? &r->msg_table[tag - 1] : NULL;
            sqe_fill(&r->sqes[r->sq_tail & r->sq_mask], &d, r->mem_base, iov, msg, tag);
            r->sq_tail++;
            r->kernel_pending++;
            sq_room--;
            if ((d.flags & WSTOR_URING_F_SUBMIT_NOW) != 0) ring_flush(r);
        }
    }
    if (!r->fallback) ring_flush(r);
    return accepted;
}

static void cqe_store(uint8_t *at, uint32_t user_data, int32_t res) {
    struct wstor_uring_cqe c = { .user_data = user_data, .res = res };
    memcpy(at, &c, sizeof(c));
}

/* Software completions first, then the kernel CQ, read from the mapping: no syscall. */
static uint32_t ring_reap(struct uring *r, uint8_t *out, uint32_t max) {
    uint32_t n = 0;
    if (!r->fallback && r->sq_tail != __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE)) ring_flush(r);
    for (; n < max && r->soft_count > 0; n++) {
        const struct wstor_uring_cqe *c = &r->soft[r->soft_head];
        cqe_store(out + (size_t)n * WSTOR_URING_CQE_BYTES, c->user_data, c->res);
        r->soft_head = (r->soft_head + 1) % r->outstanding_max;
        r->soft_count--;
    }
    if (r->fallback) return n;
    uint32_t head = *r->cq_khead; /* only we write it */
    uint32_t tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE); /* CQE contents after the tail */
    if (head == tail && n == 0 && r->kernel_pending > 0) {
        /* Nothing posted yet but I/O in flight: the kernel holds completions as task work for this
         * thread (always, with DEFER_TASKRUN), which runs only when the thread enters the kernel.
         * Enter, without waiting, so they post now. */
        (void)wstor_ring_enter(r, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
        tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);
    }
    for (; n < max && head != tail; head++) {
        const struct io_uring_cqe *c = &r->cqes[head & r->cq_mask];
        if ((c->user_data & URING_TAG_INTERNAL) != 0) {
            (void)wstor_sleep_cqe(r, c);
            continue;
        }
        n++;
        URING_ASSERT(r->kernel_pending > 0);
        r->kernel_pending--;
        iov_give_back(r, URING_IOV_TAG(c->user_data));
        int32_t res = (c->user_data & URING_TAG_ACCEPT) != 0 ? accept_finish(c->res) : c->res;
        cqe_store(out + (size_t)(n - 1) * WSTOR_URING_CQE_BYTES, (uint32_t)c->user_data, res);
    }
    __atomic_store_n(r->cq_khead, head, __ATOMIC_RELEASE); /* CQE reads before the kernel may reuse them */
    return n;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ring_wait_slice(struct uring *r, uint32_t cqes, int64_t ms) {
    if (r->ext_arg) {
        struct __kernel_timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
        struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };
        /* ETIME or EINTR: the caller looks again, and its deadline bounds the loop. */
        (void)wstor_ring_enter(r, 0, cqes, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
        return;
    }
    struct timespec nap = { .tv_sec = 0, .tv_nsec = 1000000 }; /* pre-5.11: no timed wait, so look every ms */
    nanosleep(&nap, NULL);
}

/* True once every SQE the kernel took has its CQE posted (left unreaped), waiting at most
 * URING_DESTROY_WAIT_MS; SQEs it never took are simply never run. */
static bool ring_wait_idle(struct uring *r) {
    if (r->fallback) return true;
    wstor_sleep_cancel_all(r);
    ring_flush(r);
    int64_t deadline = now_ms() + URING_DESTROY_WAIT_MS;
    for (;;) {
        uint32_t unsubmitted = r->sq_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
        uint32_t posted = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE) - *r->cq_khead;
        uint32_t awaited = r->kernel_pending + r->internal_pending - unsubmitted;
        if (posted >= awaited) return true;
        int64_t left_ms = deadline - now_ms();
        if (left_ms <= 0) return false;
        ring_wait_slice(r, awaited, left_ms < URING_WAIT_SLICE_MS ? left_ms : URING_WAIT_SLICE_MS);
    }
}

/* ---- lifetime ---- */

static void ring_env_cleanup(void *arg);

static void ring_dispose(struct uring *r, bool remove_hook) {
    slot_release(r);
    if (remove_hook) napi_remove_env_cleanup_hook(r->env, ring_env_cleanup, r);
    if (r->memory_ref != NULL) napi_delete_reference(r->env, r->memory_ref);
    ring_free(r);
}

/* A worker that ends without uringDestroy (terminate(), an exception) still gives its ring back. Best
 * effort: the thread is going away, and closing the ring fd makes the kernel cancel what is left. */
static void ring_env_cleanup(void *arg) {
    struct uring *r = arg;
    (void)ring_wait_idle(r);
    ring_dispose(r, false);
}

/* ---- N-API entry points ---- */

/* uringCreate(memory: Uint8Array, entries: number, options?: { forceFallback?: boolean }): number */
napi_value wstor_uring_create(napi_env env, napi_callback_info info) {
    static const char fn[] = "uringCreate";
    size_t argc = 3;
    napi_value argv[3];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    uint8_t *base;
    uint64_t bytes;
    uint32_t entries;
    bool force_fallback;
    if (!wstor_memory_from_arg(env, argv[0], fn, &base, &bytes) || !wstor_arg_u32(env, argv[1], fn, "entries", &entries) ||
        !arg_force_fallback(env, argv[2], fn, &force_fallback))
        return NULL;
    if (entries == 0 || entries > URING_ENTRIES_MAX)
        return wstor_throw_errno(env, EINVAL, "%s: entries must be 1..%d, got %u", fn, URING_ENTRIES_MAX, entries);
    struct uring *r = ring_new(entries, force_fallback);
    if (r == NULL) return wstor_throw_errno(env, ENOMEM, "%s: no memory for a ring of %u entries", fn, entries);
    r->env = env;
    r->mem_base = base;
    r->mem_bytes = bytes;
    if (slot_claim(r) < 0) {
        ring_free(r);
        return wstor_throw_errno(env, EMFILE, "%s: all %d ring handles are in use; destroy rings no longer needed",
                           fn, URING_HANDLES);
    }
    napi_create_reference(env, argv[0], 1, &r->memory_ref);
    napi_add_env_cleanup_hook(env, ring_env_cleanup, r);
    napi_value result;
    napi_create_int32(env, r->handle, &result);
    return result;
}

/* uringSetMemory(handle, memory): after memory.grow, the same base with a larger length. */
napi_value wstor_uring_set_memory(napi_env env, napi_callback_info info) {
    static const char fn[] = "uringSetMemory";
    size_t argc = 2;
    napi_value argv[2];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    struct uring *r = wstor_uring_lookup(env, argv[0], fn);
    uint8_t *base;
    uint64_t bytes;
    if (r == NULL || !wstor_memory_from_arg(env, argv[1], fn, &base, &bytes)) return NULL;
    if (base != r->mem_base)
        return wstor_throw_errno(env, EINVAL, "%s: this view starts at another address than the ring's memory; pass a "
                           "view over the same shared WebAssembly.Memory", fn);
    if (bytes < r->mem_bytes)
        return wstor_throw_errno(env, EINVAL, "%s: the memory shrank from %llu to %llu bytes; Wasm memory only grows",
                           fn, (unsigned long long)r->mem_bytes, (unsigned long long)bytes);
    napi_ref ref;
    if (napi_create_reference(env, argv[1], 1, &ref) != napi_ok)
        return wstor_throw_errno(env, ENOMEM, "%s: could not keep a reference to the memory", fn);
    napi_delete_reference(env, r->memory_ref);
    r->memory_ref = ref;
    r->mem_bytes = bytes;
    return NULL;
}

/*
 * The arguments of uringSubmit and uringReap: (handle, offset, count) naming `count` records of
 * `record_bytes` at `offset` in the memory. NULL (an exception is pending) unless all three are
 * valid and the records lie inside the memory.
 */
static struct uring *ring_region_args(napi_env env, napi_callback_info info, const char *fn, const char *offset_name,
                                      const char *count_name, uint64_t record_bytes, const char *what,
                                      uint32_t *offset, uint32_t *count) {
    size_t argc = 3;
    napi_value argv[3];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    struct uring *r = wstor_uring_lookup(env, argv[0], fn);
    if (r == NULL || !wstor_arg_u32(env, argv[1], fn, offset_name, offset) || !wstor_arg_u32(env, argv[2], fn, count_name, count))
        return NULL;
    uint64_t bytes = (uint64_t)*count * record_bytes;
    if (!mem_range_ok(r, *offset, bytes)) {
        wstor_throw_errno(env, EFAULT, "%s: %s [%u, %llu) are not inside the memory (%llu bytes)", fn, what, *offset,
                    (unsigned long long)(*offset + bytes), (unsigned long long)r->mem_bytes);
        return NULL;
    }
    return r;
}

/* uringSubmit(handle, descOffset, count): how many descriptors were accepted. */
napi_value wstor_uring_submit(napi_env env, napi_callback_info info) {
    uint32_t desc_offset, count;
    struct uring *r = ring_region_args(env, info, "uringSubmit", "descOffset", "count", WSTOR_URING_DESC_BYTES,
                                       "descriptors", &desc_offset, &count);
    if (r == NULL) return NULL;
    napi_value result;
    napi_create_uint32(env, ring_submit(r, desc_offset, count), &result);
    return result;
}

/* uringReap(handle, cqeOffset, max): how many completions were written at cqeOffset. */
napi_value wstor_uring_reap(napi_env env, napi_callback_info info) {
    uint32_t cqe_offset, max;
    struct uring *r = ring_region_args(env, info, "uringReap", "cqeOffset", "max", WSTOR_URING_CQE_BYTES,
                                       "completions", &cqe_offset, &max);
    if (r == NULL) return NULL;
    napi_value result;
    napi_create_uint32(env, ring_reap(r, r->mem_base + cqe_offset, max), &result);
    return result;
}

/* uringInfo(handle): { mode, entries, reason?, inFlight, submitCalls, deferredTaskrun, sleeps } */
napi_value wstor_uring_info(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    struct uring *r = wstor_uring_lookup(env, argv[0], "uringInfo");
    if (r == NULL) return NULL;
    napi_value result, mode, entries, in_flight, reason, submit_calls, deferred;
    napi_create_object(env, &result);
    napi_create_string_utf8(env, r->fallback ? "fallback" : "io_uring", NAPI_AUTO_LENGTH, &mode);
    napi_create_uint32(env, r->entries, &entries);
    napi_create_uint32(env, ring_outstanding(r), &in_flight);
    napi_set_named_property(env, result, "mode", mode);
    napi_set_named_property(env, result, "entries", entries);
    if (r->fallback) {
        napi_create_string_utf8(env, r->reason, NAPI_AUTO_LENGTH, &reason);
        napi_set_named_property(env, result, "reason", reason);
    }
    napi_set_named_property(env, result, "inFlight", in_flight);
    napi_create_double(env, (double)r->submit_calls, &submit_calls);
    napi_set_named_property(env, result, "submitCalls", submit_calls);
    napi_get_boolean(env, r->deferred_taskrun, &deferred);
    napi_set_named_property(env, result, "deferredTaskrun", deferred);
    napi_value sleeps;
    napi_create_double(env, (double)r->sleeps, &sleeps);
    napi_set_named_property(env, result, "sleeps", sleeps);
    return result;
}

/* uringDestroy(handle): waits (bounded) for the kernel's in-flight I/O, then closes and unmaps. */
napi_value wstor_uring_destroy(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    struct uring *r = wstor_uring_lookup(env, argv[0], "uringDestroy");
    if (r == NULL) return NULL;
    if (!ring_wait_idle(r))
        return wstor_throw_errno(env, EBUSY, "uringDestroy: I/O still in flight on ring %d after %d ms; the ring stays "
                           "open: reap, and destroy again once it completes", r->handle, URING_DESTROY_WAIT_MS);
    ring_dispose(r, true);
    return NULL;
}
