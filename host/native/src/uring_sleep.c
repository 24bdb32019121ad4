/*
 * A reactor's sleep inside its own io_uring. A reactor with nothing to do waits in io_uring_enter for
 * the first of: a completion of its block I/O, a poll on one of its watched fds (its wake eventfd, which
 * other reactors write, and the kick eventfds of the vhost rings it serves), or a timeout (its next
 * timed poller). One wait covers all three, so I/O in flight no longer needs a spinning reactor.
 *
 * Contract with the caller (the JS host of one reactor):
 * - uringWatch(fd) checks that fd is an eventfd and returns a watch id. The caller unwatches before it
 *   closes the fd: a poll armed on a closed fd number could otherwise fire for whatever reuses it.
 * - uringWait arms a multishot POLLIN on every watch not armed yet and waits. An eventfd wakes its poll
 *   queue on every write, so each write posts a completion (or joins one not yet consumed) and the
 *   counter is never read: it carries nothing but "look again", and the caller then polls everything it
 *   serves. A poll the kernel ends (no IORING_CQE_F_MORE) is armed again at the next wait; if the
 *   counter is not 0 then, it fires at once: one extra look, never a lost one.
 * - The ring's own completions (user_data bit 63 or 62) are consumed here and by uringReap, never handed
 *   to the core; the CQ is sized with room for them (uring.c), so they never crowd out the core's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "args.h"
#include "uring_ring.h"

/* Waits longer than this are cut (the core caps its sleeps far below it anyway). */
#define SLEEP_MAX_US 10000000u

static struct io_uring_sqe *sqe_next(struct uring *r) {
    uint32_t used = r->sq_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    if (used == r->entries) return NULL;
    struct io_uring_sqe *sqe = &r->sqes[r->sq_tail & r->sq_mask];
    memset(sqe, 0, sizeof(*sqe));
    r->sq_tail++;
    r->internal_pending++;
    return sqe;
}

/* Hands every SQE not yet taken to the kernel, and waits for `wait_for` completions up to `timeout`. */
static int sq_enter(struct uring *r, uint32_t wait_for, const struct __kernel_timespec *timeout) {
    uint32_t unsubmitted = r->sq_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    __atomic_store_n(r->sq_ktail, r->sq_tail, __ATOMIC_RELEASE); /* SQE contents before the tail */
    if (timeout == NULL) return wstor_ring_enter(r, unsubmitted, 0, 0, NULL, 0);
    struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)timeout };
    return wstor_ring_enter(r, unsubmitted, wait_for, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
}

static bool watch_arm(struct uring *r, uint32_t id) {
    struct io_uring_sqe *sqe = sqe_next(r);
    if (sqe == NULL) return false;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = r->watches[id].fd;
    sqe->poll32_events = POLLIN;
    sqe->len = IORING_POLL_ADD_MULTI;
    sqe->user_data = URING_TAG_WATCH | id;
    r->watches[id].state = WATCH_ARMED;
    return true;
}

static void watch_cancel(struct uring *r, uint32_t id) {
    struct io_uring_sqe *sqe = sqe_next(r);
    if (sqe == NULL) { /* the SQ is full of submitted-but-untaken entries: hand them over and retry */
        (void)sq_enter(r, 0, NULL);
        sqe = sqe_next(r);
    }
    URING_ASSERT(sqe != NULL);
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = URING_TAG_WATCH | id;
    sqe->user_data = URING_TAG_CANCEL | id;
    r->watches[id].state = WATCH_DROPPED;
}

bool wstor_sleep_cqe(struct uring *r, const struct io_uring_cqe *cqe) {
    bool last = (cqe->flags & IORING_CQE_F_MORE) == 0; /* the SQE's final completion */
    URING_ASSERT(r->internal_pending > 0);
    if (last) r->internal_pending--;
    if ((cqe->user_data & URING_TAG_CANCEL) != 0) return false; /* the cancelled poll reports for itself */
    uint32_t id = (uint32_t)(cqe->user_data & 0xffff);
    URING_ASSERT(id < URING_WATCH_MAX);
    struct uring_watch *w = &r->watches[id];
    URING_ASSERT(w->state == WATCH_ARMED || w->state == WATCH_DROPPED);
    if (w->state == WATCH_DROPPED) {
        if (last) w->state = WATCH_FREE;
        return false;
    }
    if (cqe->res < 0 && cqe->res != -ECANCELED) {
        /* Not pollable after all (or the caller closed it early): never armed again, or every wait
         * would return at once. The reactor still wakes on its other watches and its timeout. */
        fprintf(stderr, "wstor native: the poll of watched fd %d failed (%s); it no longer wakes its reactor\n", w->fd,
                strerror(-cqe->res));
        w->state = WATCH_FAILED;
        return false;
    }
    if (last) w->state = WATCH_IDLE; /* ended by the kernel: armed again at the next wait */
    return cqe->res > 0;
}

void wstor_sleep_cancel_all(struct uring *r) {
    if (r->fallback) return;
    for (uint32_t id = 0; id < URING_WATCH_MAX; id++) {
        if (r->watches[id].state == WATCH_ARMED) watch_cancel(r, id);
        else r->watches[id].state = WATCH_FREE;
    }
    (void)sq_enter(r, 0, NULL);
}

/* Consumes the ring's own completions at the head of the CQ. True when a watch fired or the core has
 * completions waiting (software ones, or a kernel one now at the head). */
static bool consume_own_completions(struct uring *r) {
    uint32_t head = *r->cq_khead;
    uint32_t tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);
    bool fired = false;
    while (head != tail && (r->cqes[head & r->cq_mask].user_data & URING_TAG_INTERNAL) != 0) {
        fired |= wstor_sleep_cqe(r, &r->cqes[head & r->cq_mask]);
        head++;
    }
    __atomic_store_n(r->cq_khead, head, __ATOMIC_RELEASE);
    return fired || head != tail || r->soft_count > 0;
}

/* 1: something happened (look again); 0: the timeout passed. */
static int sleep_wait(struct uring *r, uint32_t timeout_us) {
    if (consume_own_completions(r)) return 1;
    for (uint32_t id = 0; id < URING_WATCH_MAX; id++) {
        if (r->watches[id].state == WATCH_IDLE && !watch_arm(r, id)) break; /* SQ full: the timeout bounds the wait */
    }
    if (timeout_us > SLEEP_MAX_US) timeout_us = SLEEP_MAX_US;
    struct __kernel_timespec ts = { .tv_sec = timeout_us / 1000000, .tv_nsec = (long long)(timeout_us % 1000000) * 1000 };
    r->sleeps++;
    int rc = sq_enter(r, 1, &ts);
    /* -ETIME: the timeout; -EINTR: a signal; -EBUSY/-EAGAIN: the kernel could not take the SQEs now (they
     * stay queued and go with the next enter). Either way the caller looks again. */
    (void)rc;
    return consume_own_completions(r) ? 1 : 0;
}

/* ---- N-API entry points ---- */

static struct uring *sleep_args(napi_env env, napi_callback_info info, const char *fn, const char *name, uint32_t *value) {
    size_t argc = 2;
    napi_value argv[2];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    struct uring *r = wstor_uring_lookup(env, argv[0], fn);
    if (r == NULL || !wstor_arg_u32(env, argv[1], fn, name, value)) return NULL;
    if (r->fallback || !r->ext_arg) {
        wstor_throw_errno(env, ENOSYS, "%s: ring %d cannot sleep in the kernel (%s); its reactor sleeps on its doorbell",
                          fn, r->handle, r->fallback ? r->reason : "the kernel has no timed io_uring_enter (5.11+)");
        return NULL;
    }
    return r;
}

static bool is_eventfd(int fd) {
    char link[64], target[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* uringWatch(handle, fd): a watch id (0..63) whose eventfd wakes uringWait. Throws EINVAL (not an eventfd),
 * ENOSPC (all watches in use), ENOSYS (this ring cannot sleep). */
napi_value wstor_uring_watch(napi_env env, napi_callback_info info) {
    static const char fn[] = "uringWatch";
    uint32_t fd;
    struct uring *r = sleep_args(env, info, fn, "fd", &fd);
    if (r == NULL) return NULL;
    if (fd > INT32_MAX || !is_eventfd((int)fd)) return wstor_throw_errno(env, EINVAL, "%s: fd %u is not an open eventfd", fn, fd);
    for (uint32_t id = 0; id < URING_WATCH_MAX; id++) {
        if (r->watches[id].state != WATCH_FREE) continue;
        r->watches[id].fd = (int32_t)fd;
        r->watches[id].state = WATCH_IDLE;
        napi_value result;
        napi_create_uint32(env, id, &result);
        return result;
    }
    return wstor_throw_errno(env, ENOSPC, "%s: all %d watches of ring %d are in use", fn, URING_WATCH_MAX, r->handle);
}

/* uringUnwatch(handle, id): the fd no longer wakes the ring; the caller may close it on return. */
napi_value wstor_uring_unwatch(napi_env env, napi_callback_info info) {
    static const char fn[] = "uringUnwatch";
    uint32_t id;
    struct uring *r = sleep_args(env, info, fn, "id", &id);
    if (r == NULL) return NULL;
    uint8_t state = id < URING_WATCH_MAX ? r->watches[id].state : WATCH_FREE;
    if (state == WATCH_FREE || state == WATCH_DROPPED) return wstor_throw_errno(env, EINVAL, "%s: %u is not a watch of ring %d", fn, id, r->handle);
    if (state == WATCH_ARMED) {
        watch_cancel(r, id);
        (void)sq_enter(r, 0, NULL); /* the cancel is in the kernel before the caller closes the fd */
    } else {
        r->watches[id].state = WATCH_FREE;
    }
    return NULL;
}

/* uringWait(handle, timeoutUs): 1 when a completion or a watched fd is ready, 0 after the timeout. */
napi_value wstor_uring_wait(napi_env env, napi_callback_info info) {
    uint32_t timeout_us;
    struct uring *r = sleep_args(env, info, "uringWait", "timeoutUs", &timeout_us);
    if (r == NULL) return NULL;
    napi_value result;
    napi_create_int32(env, sleep_wait(r, timeout_us), &result);
    return result;
}
