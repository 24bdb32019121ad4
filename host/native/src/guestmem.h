/*
 * Guest memory outside the Wasm memory: a process-wide table of guest regions, each a guest's file mapped
 * shared and read-write wherever the kernel puts it (any size), named by a handle the core keeps.
 *
 * Contract (guestmem.c has the how):
 * - A handle is a number in [1, 2^31): slot + generation, so a handle whose region was unmapped never names
 *   the region that reuses its slot. Handle 0 is never a region (the uring iovec uses it for Wasm memory).
 * - Every access goes through wstor_guestmem_pin with the whole range checked against the region (no
 *   overflow: offset and length are u64). A pinned region stays mapped until unpinned, whatever else
 *   happens: guestRegionUnmap retires it at once (every later pin fails with -EBADF), and the mapping and
 *   its fd go when the last pin is dropped (an I/O in flight completes into the pages it was given).
 * - Every region is guarded (guard.h): a SIGBUS in it puts zero pages there and the guard value in the
 *   guard word, as for mappings inside the Wasm memory.
 * - Pin and unpin are lock-free (any thread, on the data path); map and unmap take a mutex (control plane).
 */
#ifndef WSTOR_GUESTMEM_H
#define WSTOR_GUESTMEM_H
#include <stdint.h>
#include <node_api.h>

/* Regions at once, over every guest of the process: 256 guests with 16 regions each, or fewer with more. */
#define WSTOR_GUESTMEM_SLOT_BITS 12
#define WSTOR_GUESTMEM_SLOTS (1u << WSTOR_GUESTMEM_SLOT_BITS)
/* Handles stay below 2^31 (a positive i32 for the core): generations wrap inside 19 bits, never at 0. */
#define WSTOR_GUESTMEM_GENERATIONS (1u << (31 - WSTOR_GUESTMEM_SLOT_BITS))
/* A region's bytes: below 2^53, so every offset in it is exact as a JavaScript number (and an f64 in the core). */
#define WSTOR_GUESTMEM_BYTES_MAX ((1ull << 53) - 1)

/* The address of [offset, offset + length) of region `handle`, pinned (*addr set), or -EBADF (no such region:
 * never mapped, or unmapped), -EFAULT (the range leaves the region). Length 0 is a valid empty range. */
int wstor_guestmem_pin(uint32_t handle, uint64_t offset, uint64_t length, uint8_t **addr);
/* Drops one pin taken by wstor_guestmem_pin on `handle` (its last one on a retired region unmaps it). */
void wstor_guestmem_unpin(uint32_t handle);

napi_value wstor_guestmem_region_map(napi_env env, napi_callback_info info);
napi_value wstor_guestmem_region_unmap(napi_env env, napi_callback_info info);
napi_value wstor_guestmem_read(napi_env env, napi_callback_info info);
napi_value wstor_guestmem_write(napi_env env, napi_callback_info info);
napi_value wstor_guestmem_window_map(napi_env env, napi_callback_info info);
napi_value wstor_guestmem_stats(napi_env env, napi_callback_info info);

#endif
