/*
 * Guest regions mapped outside the Wasm memory (guestmem.h has the contract): the slot table, pins, the
 * copies between a region and the Wasm memory, and windows of a region mapped into the Wasm memory.
 *
 * A slot's state word moves by compare-and-swap, so pins need no lock:
 *   FREE (0) -> BUSY (claimed by a map) -> LIVE(handle) -> RETIRED(handle) (unmap) -> BUSY (release) -> FREE
 * A pin counts itself first, then checks the state: a pin that finds anything but LIVE(its handle) takes itself
 * back. Whoever drops the count to 0 on a RETIRED slot (the unmap itself, or the last unpin) releases it, and
 * the CAS RETIRED -> BUSY lets exactly one of them do so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "args.h"
#include "guard.h"
#include "guestmem.h"
#include "vhost.h"

#define STATE_LIVE 1u
#define STATE_RETIRED 2u
#define STATE_BUSY 3u
#define STATE_KIND(s) ((uint32_t)((s) & 3u))
#define STATE_OF(handle, kind) (((uint64_t)(handle) << 2) | (kind))
#define SLOT_MASK (WSTOR_GUESTMEM_SLOTS - 1u)

_Static_assert(((uint64_t)WSTOR_GUESTMEM_GENERATIONS << WSTOR_GUESTMEM_SLOT_BITS) == (1ull << 31), "handles below 2^31");

/* A broken invariant here would let one guest's I/O land in another's memory: stop at once. */
#define GUESTMEM_ASSERT(cond, ...)                                                                  \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "wstor native guestmem.c:%d: invariant broken: %s: ", __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

struct region {
    _Atomic uint64_t state;
    _Atomic uint32_t pins;
    uint32_t generation;      /* only the claimer (state BUSY) writes it */
    uint8_t *addr;            /* written while BUSY, read only after a pin saw LIVE */
    uint64_t length, fd_offset;
    int fd;                   /* our own dup of the guest's fd: windows are mapped from it */
};

static struct region regions[WSTOR_GUESTMEM_SLOTS];
static _Atomic uint32_t retired_count; /* retired, still pinned: the mapping waits for its last I/O */

/* ---- pins ---- */

static void release(struct region *r, uint64_t retired) {
    if (!atomic_compare_exchange_strong(&r->state, &retired, STATE_BUSY)) return; /* someone else does it */
    wstor_guard_disarm(r->addr, r->length);
    int rc = munmap(r->addr, r->length);
    GUESTMEM_ASSERT(rc == 0, "munmap of a guest region at %p (%llu bytes) failed: %s", (void *)r->addr,
                    (unsigned long long)r->length, strerror(errno));
    wstor_guard_forget(r->addr, r->length);
    close(r->fd);
    r->addr = NULL;
    atomic_fetch_sub(&retired_count, 1);
    atomic_store(&r->state, 0);
}

static void unpin_slot(struct region *r) {
    uint32_t before = atomic_fetch_sub(&r->pins, 1);
    GUESTMEM_ASSERT(before > 0, "a pin dropped that was never taken");
    if (before != 1) return;
    uint64_t s = atomic_load(&r->state);
    if (STATE_KIND(s) == STATE_RETIRED) release(r, s);
}

/* The region `handle` names, pinned, with [offset, offset + length) inside it: 0, -EBADF or -EFAULT. */
static int region_pin(uint32_t handle, uint64_t offset, uint64_t length, struct region **out) {
    if ((handle >> WSTOR_GUESTMEM_SLOT_BITS) == 0 || handle >= (1u << 31)) return -EBADF;
    struct region *r = &regions[handle & SLOT_MASK];
    atomic_fetch_add(&r->pins, 1);
    if (atomic_load(&r->state) != STATE_OF(handle, STATE_LIVE)) {
        unpin_slot(r);
        return -EBADF;
    }
    if (offset > r->length || length > r->length - offset) {
        unpin_slot(r);
        return -EFAULT;
    }
    *out = r;
    return 0;
}

int wstor_guestmem_pin(uint32_t handle, uint64_t offset, uint64_t length, uint8_t **addr) {
    struct region *r;
    int rc = region_pin(handle, offset, length, &r);
    if (rc == 0) *addr = r->addr + offset;
    return rc;
}

void wstor_guestmem_unpin(uint32_t handle) {
    struct region *r = &regions[handle & SLOT_MASK];
    GUESTMEM_ASSERT((handle >> WSTOR_GUESTMEM_SLOT_BITS) != 0, "unpin of handle %u, which is no region", handle);
    unpin_slot(r);
}

/* ---- map and unmap ---- */

/* A FREE slot, now BUSY with its next generation: its handle, or 0 when every slot is taken. */
static uint32_t slot_claim(void) {
    for (uint32_t i = 0; i < WSTOR_GUESTMEM_SLOTS; i++) {
        uint64_t free_state = 0;
        if (!atomic_compare_exchange_strong(&regions[i].state, &free_state, STATE_BUSY)) continue;
        struct region *r = &regions[i];
        r->generation = r->generation + 1 >= WSTOR_GUESTMEM_GENERATIONS ? 1 : r->generation + 1;
        return (r->generation << WSTOR_GUESTMEM_SLOT_BITS) | i;
    }
    return 0;
}

/* Maps fd [fd_offset, + length) anywhere, guarded: the new handle, or -errno (nothing left behind). */
static int64_t region_map(int fd, uint64_t fd_offset, uint64_t length, uint32_t *flag, uint32_t value) {
    int rc = wstor_vhost_fd_mappable(fd, fd_offset, length, 0);
    if (rc < 0) return rc;
    uint32_t handle = slot_claim();
    if (handle == 0) return -ENOSPC;
    struct region *r = &regions[handle & SLOT_MASK];
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) {
        rc = -errno;
        atomic_store(&r->state, 0);
        return rc;
    }
    void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, own, (off_t)fd_offset);
    if (p == MAP_FAILED || (rc = wstor_guard_arm(p, length, flag, value)) != 0) {
        rc = p == MAP_FAILED ? -errno : rc;
        if (p != MAP_FAILED) munmap(p, length);
        close(own);
        atomic_store(&r->state, 0);
        return rc;
    }
    r->addr = p;
    r->length = length;
    r->fd_offset = fd_offset;
    r->fd = own;
    atomic_store(&r->state, STATE_OF(handle, STATE_LIVE));
    return handle;
}

/* The guard word every region needs (argv[0] the memory, argv[1..2] its offset and value): 0, -errno, or 1
 * after a throw. */
static int guard_word(napi_env env, napi_value *argv, const char *fn, uint32_t **flag, uint32_t *value) {
    uint8_t *base;
    uint64_t bytes;
    uint32_t offset;
    if (!wstor_memory_from_arg(env, argv[0], fn, &base, &bytes) || !wstor_arg_u32(env, argv[1], fn, "guardOffset", &offset) ||
        !wstor_arg_u32(env, argv[2], fn, "guardValue", value))
        return 1;
    if (offset % sizeof(uint32_t) != 0 || *value == 0) return -EINVAL;
    if ((uint64_t)offset + sizeof(uint32_t) > bytes) return -EFAULT;
    *flag = (uint32_t *)(base + offset);
    return 0;
}

/* guestRegionMap(memory, guardOffset, guardValue, fd, fdOffset, length): a handle (>= 1), or -errno (index.ts). */
napi_value wstor_guestmem_region_map(napi_env env, napi_callback_info info) {
    static const char fn[] = "guestRegionMap";
    size_t argc = 6;
    napi_value argv[6];
    uint32_t *flag = NULL, value = 0;
    int fd;
    uint64_t fd_offset, length;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 6) return wstor_throw_errno(env, EINVAL, "%s: takes memory, guardOffset, guardValue, fd, fdOffset, length", fn);
    int rc = guard_word(env, argv, fn, &flag, &value);
    if (rc == 1 || !wstor_arg_fd(env, argv[3], fn, &fd) || !wstor_arg_size(env, argv[4], fn, "fdOffset", &fd_offset) ||
        !wstor_arg_size(env, argv[5], fn, "length", &length))
        return NULL;
    if (rc < 0) return wstor_number(env, rc);
    if (fd < 0) return wstor_number(env, -EBADF);
    if (length == 0 || length > WSTOR_GUESTMEM_BYTES_MAX) return wstor_number(env, -EINVAL);
    return wstor_number(env, region_map(fd, fd_offset, length, flag, value));
}

/* guestRegionUnmap(handle): 0 (retired now; unmapped once its last pin goes), or -EBADF (no such region). */
napi_value wstor_guestmem_region_unmap(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    uint32_t handle;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || !wstor_arg_u32(env, argv[0], "guestRegionUnmap", "handle", &handle)) return NULL;
    if ((handle >> WSTOR_GUESTMEM_SLOT_BITS) == 0 || handle >= (1u << 31)) return wstor_number(env, -EBADF);
    struct region *r = &regions[handle & SLOT_MASK];
    uint64_t live = STATE_OF(handle, STATE_LIVE);
    if (!atomic_compare_exchange_strong(&r->state, &live, STATE_OF(handle, STATE_RETIRED)))
        return wstor_number(env, -EBADF);
    atomic_fetch_add(&retired_count, 1);
    /* Count ourselves as a pin for a moment: the drop to 0 (ours or a late I/O's) releases it, once. */
    atomic_fetch_add(&r->pins, 1);
    unpin_slot(r);
    return wstor_number(env, 0);
}

/* ---- copies and windows ---- */

/* (memory, handle, offset, ptr, len) of guestRead/guestWrite: both ends checked and the region pinned (0),
 * -errno, or 1 after a throw. `memory` is the host's own Uint8Array over the whole shared memory (the cheap
 * check, as copy.c's: these run for every request's header and status, and malloc's data): a view made
 * before the memory grew refuses what lies past its end (-EFAULT); the host makes a new one then. */
static int copy_args(napi_env env, napi_callback_info info, const char *fn, uint8_t **wasm, uint8_t **guest,
                     uint32_t *length, uint32_t *handle) {
    size_t argc = 5;
    napi_value argv[5];
    uint8_t *base;
    uint64_t bytes, offset;
    uint32_t ptr;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 5) {
        wstor_throw_errno(env, EINVAL, "%s: takes memory, handle, offset, ptr, len", fn);
        return 1;
    }
    size_t view_bytes;
    if (!wstor_arg_bytes(env, argv[0], fn, "memory", &base, &view_bytes) || !wstor_arg_u32(env, argv[1], fn, "handle", handle) ||
        !wstor_arg_size(env, argv[2], fn, "offset", &offset) || !wstor_arg_u32(env, argv[3], fn, "ptr", &ptr) ||
        !wstor_arg_u32(env, argv[4], fn, "len", length))
        return 1;
    bytes = view_bytes;
    if ((uint64_t)ptr + *length > bytes) return -EFAULT;
    *wasm = base + ptr;
    return wstor_guestmem_pin(*handle, offset, *length, guest);
}

static napi_value copy_call(napi_env env, napi_callback_info info, const char *fn, bool into_guest) {
    uint8_t *wasm, *guest;
    uint32_t length, handle;
    int rc = copy_args(env, info, fn, &wasm, &guest, &length, &handle);
    if (rc == 1) return NULL;
    if (rc == 0) {
        if (into_guest) memcpy(guest, wasm, length);
        else memcpy(wasm, guest, length);
        wstor_guestmem_unpin(handle);
    }
    return wstor_number(env, rc);
}

/* guestRead(memory, handle, offset, ptr, len): region [offset, + len) into Wasm [ptr, + len). 0 or -errno. */
napi_value wstor_guestmem_read(napi_env env, napi_callback_info info) { return copy_call(env, info, "guestRead", false); }

/* guestWrite(memory, handle, offset, ptr, len): Wasm [ptr, + len) into region [offset, + len). 0 or -errno. */
napi_value wstor_guestmem_write(napi_env env, napi_callback_info info) { return copy_call(env, info, "guestWrite", true); }

/*
 * guestWindowMap(memory, guardOffset, guardValue, wasmOffset, length, handle, regionOffset): region [regionOffset,
 * + length) mapped over Wasm [wasmOffset, + length) as well (the same pages, shared), guarded. 0 or -errno:
 * -EINVAL (length 0, or a range not in whole host pages), -EFAULT (outside the memory or the region), -EBADF
 * (no such region). Undone with unmapFromMemory; the window keeps its pages after the region is unmapped.
 */
napi_value wstor_guestmem_window_map(napi_env env, napi_callback_info info) {
    static const char fn[] = "guestWindowMap";
    size_t argc = 7;
    napi_value argv[7];
    uint32_t *flag = NULL, value = 0, handle;
    uint8_t *base;
    uint64_t bytes, wasm_offset, length, region_offset;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 7) return wstor_throw_errno(env, EINVAL, "%s: takes memory, guardOffset, guardValue, wasmOffset, length, handle, regionOffset", fn);
    int rc = guard_word(env, argv, fn, &flag, &value);
    if (rc == 1 || !wstor_memory_from_arg(env, argv[0], fn, &base, &bytes) ||
        !wstor_arg_size(env, argv[3], fn, "wasmOffset", &wasm_offset) || !wstor_arg_size(env, argv[4], fn, "length", &length) ||
        !wstor_arg_u32(env, argv[5], fn, "handle", &handle) || !wstor_arg_size(env, argv[6], fn, "regionOffset", &region_offset))
        return NULL;
    if (rc < 0) return wstor_number(env, rc);
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (length == 0 || wasm_offset % page != 0 || length % page != 0 || region_offset % page != 0) return wstor_number(env, -EINVAL);
    if (wasm_offset > bytes || length > bytes - wasm_offset) return wstor_number(env, -EFAULT);
    struct region *r;
    rc = region_pin(handle, region_offset, length, &r);
    if (rc < 0) return wstor_number(env, rc);
    rc = wstor_vhost_map_file_over(base + wasm_offset, length, r->fd, r->fd_offset + region_offset, flag, value);
    unpin_slot(r);
    return wstor_number(env, rc);
}

/* guestMemStats(): { mapped, retired }: regions mapped now (live or retired), and retired ones awaiting their last pin. */
napi_value wstor_guestmem_stats(napi_env env, napi_callback_info info) {
    (void)info;
    uint32_t mapped = 0;
    for (uint32_t i = 0; i < WSTOR_GUESTMEM_SLOTS; i++) {
        uint32_t kind = STATE_KIND(atomic_load(&regions[i].state));
        if (kind == STATE_LIVE || kind == STATE_RETIRED) mapped++;
    }
    napi_value out;
    napi_create_object(env, &out);
    napi_set_named_property(env, out, "mapped", wstor_number(env, mapped));
    napi_set_named_property(env, out, "retired", wstor_number(env, atomic_load(&retired_count)));
    return out;
}
