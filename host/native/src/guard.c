/*
 * Guarded guest mappings and the SIGBUS handler that repairs them (guard.h has the contract).
 *
 * Why: guest memory is mapped into the Wasm memory (docs/ARCHITECTURE.md, vhost-user-blk), so the core's plain
 * loads and stores touch the guest's file. A guest that ftruncates that file, or a hugetlbfs or tmpfs that
 * cannot fault a page in, turns the next access into a SIGBUS, whose default action ended the whole process:
 * every other guest and lvstore with it. Node 20 and V8 leave SIGBUS alone on Linux (V8's Wasm trap handler
 * takes SIGSEGV only), so the handler here owns it and chains to whatever was there before.
 *
 * The table is a fixed array of slots whose state moves by compare-and-swap, so the handler (any thread, any
 * time) reads it without a lock:
 *   FREE -> CLAIMED (arm fills it) -> ARMED -> FIXING (the handler repairs) -> BROKEN
 *   ARMED | BROKEN -> GONE (disarm: the range is being unmapped) -> FREE (forget, or reused by arm)
 * A fault in a BROKEN or GONE range returns at once: its pages are, or are about to be, anonymous, and the
 * access then succeeds. The repair is one raw mmap syscall (the kernel does it whole); nothing in the handler
 * takes a lock or allocates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "guard.h"

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_ARMED, SLOT_FIXING, SLOT_BROKEN, SLOT_GONE };

struct slot {
    _Atomic uint32_t state;
    uint32_t value;           /* stored in *flag by the repair */
    uintptr_t start, end;     /* written while CLAIMED, read only in ARMED and later states */
    uint32_t *flag;
};

static struct slot slots[WSTOR_GUARD_SLOTS];
static _Atomic uint32_t armed, repairs;
static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_errno;

/* A repair takes one mmap; a thread that finds one under way yields while it finishes (bounded all the same). */
#define FIXING_WAIT_YIELDS (1u << 20)

static bool inside(const struct slot *s, uintptr_t a) { return a >= s->start && a < s->end; }
static bool overlaps(const struct slot *s, uintptr_t start, uintptr_t end) { return s->start < end && start < s->end; }

static void say(const char *text) {
    ssize_t rc = write(STDERR_FILENO, text, strlen(text)); /* async-signal-safe; nothing to do if it fails */
    (void)rc;
}

/* Zero pages over the slot's whole range, then its flag. Signal context: raw syscalls only. */
static bool repair_slot(struct slot *s) {
    long p = syscall(SYS_mmap, (void *)s->start, s->end - s->start, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == -1 || (uintptr_t)p != s->start) {
        atomic_store(&s->state, SLOT_ARMED);
        say("wstor: SIGBUS in guarded guest memory, and zero pages could not be mapped over it: stopping\n");
        return false;
    }
    __atomic_store_n(s->flag, s->value, __ATOMIC_RELEASE);
    atomic_fetch_add(&repairs, 1);
    atomic_store(&s->state, SLOT_BROKEN);
    say("wstor: SIGBUS in a guest's memory (its file shrank or could not be faulted in): zero pages put in its "
        "place; its session ends\n");
    return true;
}

/* True when the access at `a` may simply run again (repaired now, or before, or being unmapped). */
static bool repair(uintptr_t a) {
    for (uint32_t i = 0; i < WSTOR_GUARD_SLOTS; i++) {
        struct slot *s = &slots[i];
        uint32_t state = atomic_load(&s->state);
        if (state < SLOT_ARMED || state == SLOT_GONE || !inside(s, a)) continue;
        for (uint32_t waited = 0; waited < FIXING_WAIT_YIELDS; waited++) {
            if (state == SLOT_ARMED) {
                if (atomic_compare_exchange_strong(&s->state, &state, SLOT_FIXING)) return repair_slot(s);
                continue;                              /* state holds what won: look at it */
            }
            if (state == SLOT_BROKEN || state == SLOT_GONE) return true;
            if (state != SLOT_FIXING) break;           /* freed and reused meanwhile: not this range any more */
            syscall(SYS_sched_yield);                  /* another thread repairs it */
            state = atomic_load(&s->state);
        }
        if (atomic_load(&s->state) == SLOT_FIXING) return true; /* still under way: the fault comes back here */
    }
    /* A range disarmed while this fault was on its way: it is being replaced by zero pages. */
    for (uint32_t i = 0; i < WSTOR_GUARD_SLOTS; i++) {
        if (atomic_load(&slots[i].state) == SLOT_GONE && inside(&slots[i], a)) return true;
    }
    return false;
}

/* Not ours: as if we were not there. A default or ignored SIGBUS kills the process (a fault comes back at
 * once; a sent one is raised again once this handler returns). */
static void chain(int sig, siginfo_t *info, void *context) {
    if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != NULL) {
        previous.sa_sigaction(sig, info, context);
        return;
    }
    if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &dfl, NULL);
    if (info->si_code <= 0) raise(sig);
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    int saved = errno;
    bool handled = info->si_code > 0 && repair((uintptr_t)info->si_addr); /* a fault, not a kill(2) */
    errno = saved;
    if (!handled) chain(sig, info, context);
}

static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous) != 0) install_errno = errno;
}

int wstor_guard_arm(uint8_t *start, uint64_t length, uint32_t *flag, uint32_t value) {
    pthread_once(&install_once, install);
    if (install_errno != 0) return -install_errno;
    /* Free slots first: a GONE one may still be looked at by a fault on its way. */
    for (uint32_t from = SLOT_FREE; ; from = SLOT_GONE) {
        for (uint32_t i = 0; i < WSTOR_GUARD_SLOTS; i++) {
            uint32_t want = from;
            if (!atomic_compare_exchange_strong(&slots[i].state, &want, SLOT_CLAIMED)) continue;
            slots[i].start = (uintptr_t)start;
            slots[i].end = (uintptr_t)start + length;
            slots[i].flag = flag;
            slots[i].value = value;
            atomic_fetch_add(&armed, 1);
            atomic_store(&slots[i].state, SLOT_ARMED); /* seq_cst: the fields are visible first */
            return 0;
        }
        if (from == SLOT_GONE) return -ENOSPC;
    }
}

void wstor_guard_disarm(uint8_t *start, uint64_t length) {
    uintptr_t from = (uintptr_t)start, to = from + length;
    for (uint32_t i = 0; i < WSTOR_GUARD_SLOTS; i++) {
        struct slot *s = &slots[i];
        uint32_t state = atomic_load(&s->state);
        if (state < SLOT_ARMED || state == SLOT_GONE || !overlaps(s, from, to)) continue;
        for (uint32_t waited = 0; ; waited++) {
            if (state == SLOT_ARMED || state == SLOT_BROKEN) {
                if (atomic_compare_exchange_strong(&s->state, &state, SLOT_GONE)) {
                    atomic_fetch_sub(&armed, 1);
                    break;
                }
                continue;                              /* state holds what won: look at it */
            }
            if (state != SLOT_FIXING) break;           /* another disarm took it */
            if (waited >= FIXING_WAIT_YIELDS) {
                fprintf(stderr, "wstor native guard.c: a SIGBUS repair at %p never finished\n", (void *)s->start);
                abort();
            }
            sched_yield();
            state = atomic_load(&s->state);
        }
    }
}

void wstor_guard_forget(uint8_t *start, uint64_t length) {
    uintptr_t from = (uintptr_t)start, to = from + length;
    for (uint32_t i = 0; i < WSTOR_GUARD_SLOTS; i++) {
        uint32_t want = SLOT_GONE;
        if (atomic_load(&slots[i].state) == SLOT_GONE && overlaps(&slots[i], from, to))
            atomic_compare_exchange_strong(&slots[i].state, &want, SLOT_FREE);
    }
}

uint32_t wstor_guard_armed(void) { return atomic_load(&armed); }
uint32_t wstor_guard_repairs(void) { return atomic_load(&repairs); }
