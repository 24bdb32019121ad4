/*
 * crc32cMemory(memory, offset, length, crc): CRC32C (Castagnoli) of a range of the shared Wasm memory
 * with the CPU's instruction (SSE4.2's crc32), continuing `crc` as the core's crc32cUpdate does (pass
 * the previous return value, 0 to start). The core's own slicing-by-8 loop does ~1.5 GB/s in Wasm,
 * which made NVMe/TCP data digests cost as much as the rest of a 4 KiB read (docs/PERFORMANCE.md);
 * the core calls this for long ranges where the host offers it (assembly/runtime/crc32c.ts).
 * Returns the CRC (0 .. 2^32 - 1), -EFAULT when the range leaves the memory, -ENOTSUP without the
 * instruction (crc32cHardware says which, once).
 */
#include <errno.h>
#include <string.h>
#include "args.h"
#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = (uint32_t)~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) { c = _mm_crc32_u8((uint32_t)c, *p++); n--; }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
    }
    for (; n > 0; n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

static bool have_hardware(void) { return __builtin_cpu_supports("sse4.2"); }
#else
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) { (void)p; (void)n; return crc; }
static bool have_hardware(void) { return false; }
#endif

bool wstor_crc32c_hardware(void) { return have_hardware(); }

napi_value wstor_crc32c_memory(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    uint8_t *base;
    size_t bytes;
    uint32_t offset, length, crc;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 4) return wstor_throw_errno(env, EINVAL, "crc32cMemory: (memory, offset, length, crc) expected");
    if (!wstor_arg_bytes(env, argv[0], "crc32cMemory", "memory", &base, &bytes) ||
        !wstor_arg_u32(env, argv[1], "crc32cMemory", "offset", &offset) ||
        !wstor_arg_u32(env, argv[2], "crc32cMemory", "length", &length) ||
        !wstor_arg_u32(env, argv[3], "crc32cMemory", "crc", &crc))
        return NULL;
    double rc;
    if (!have_hardware()) rc = -ENOTSUP;
    else if ((uint64_t)offset + length > bytes) rc = -EFAULT;
    else rc = crc32c_sse42(crc, base + offset, length);
    napi_value v;
    napi_create_double(env, rc, &v);
    return v;
}
