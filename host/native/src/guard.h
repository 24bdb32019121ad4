/*
 * Guest memory that can shrink under its mapping: a SIGBUS inside a guarded mapping is repaired, not fatal.
 *
 * Contract (guard.c has the how):
 * - A guarded mapping is a range of the Wasm memory that mapIntoMemory mapped over a guest's file (an unsealed
 *   memfd, a tmpfs or hugetlbfs file: anything the guest can ftruncate, or that can fail to fault a page in).
 * - When an access inside one faults with SIGBUS (from any thread: a reactor's Wasm, the main thread's copy),
 *   the handler maps anonymous zero pages over the whole mapping (MAP_FIXED, one raw syscall), stores the
 *   mapping's value in its flag word (a u32 in the Wasm memory, which the core reads), and returns: the access
 *   runs again on the zero pages. The core then ends that guest's session; nobody else notices.
 * - A SIGBUS anywhere else goes to whoever handled SIGBUS before (on Node 20 nobody does: it kills the process,
 *   as it always did). The handler is installed once, on the first guarded mapping.
 * - wstor_guard_disarm must run before a guarded range is unmapped or mapped over, so that a late fault can
 *   never repair pages the range no longer owns; it waits (bounded) for a repair under way.
 */
#ifndef WSTOR_GUARD_H
#define WSTOR_GUARD_H
#include <stddef.h>
#include <stdint.h>

/* Guarded mappings at once: 8 regions and an inflight region per session, for ~450 sessions. */
#define WSTOR_GUARD_SLOTS 4096

/* Guard [start, start + length); on a SIGBUS inside it *flag becomes value (non-zero). 0, -ENOSPC (every slot
 * taken), or -errno from installing the handler. */
int wstor_guard_arm(uint8_t *start, uint64_t length, uint32_t *flag, uint32_t value);

/* [start, start + length) is about to be unmapped or mapped over: no guard inside it repairs anything any more
 * (faults already under way still retry harmlessly until the range is replaced). */
void wstor_guard_disarm(uint8_t *start, uint64_t length);

/* A new mapping now owns [start, start + length): guards of earlier mappings there are forgotten, so that a
 * SIGBUS in the new one is not taken for a late fault of an old one. */
void wstor_guard_forget(uint8_t *start, uint64_t length);

/* Guarded mappings now, and repairs made since the process started (for tests and reports). */
uint32_t wstor_guard_armed(void);
uint32_t wstor_guard_repairs(void);

#endif
