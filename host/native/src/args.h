/* Argument checks shared by the addon's N-API entry points: errno-coded exceptions, integers, and the
 * backing store of the shared Wasm memory. */
#ifndef WSTOR_ARGS_H
#define WSTOR_ARGS_H
#include <stdbool.h>
#include <stdint.h>
#include <node_api.h>

/* Throws an Error whose `code` is the errno's name; returns NULL so callers can `return wstor_throw_errno(...)`. */
__attribute__((format(printf, 3, 4)))
napi_value wstor_throw_errno(napi_env env, int err, const char *fmt, ...);

/* An integer in [0, 2^32), or false after throwing EINVAL naming `name`. */
bool wstor_arg_u32(napi_env env, napi_value value, const char *fn, const char *name, uint32_t *out);

/* value as a JavaScript number (results: a count, a handle, 0 or a negative errno). */
napi_value wstor_number(napi_env env, int64_t value);

/* An integer number that a JavaScript number holds exactly (|d| < 2^53), or false after throwing EINVAL. */
bool wstor_arg_integer(napi_env env, napi_value value, const char *fn, const char *name, double *out);

/* A byte count or offset in [0, 2^53), or false after throwing EINVAL. */
bool wstor_arg_size(napi_env env, napi_value value, const char *fn, const char *name, uint64_t *out);

/* An fd, or -1 in *fd when the integer cannot be one (the caller then returns -EBADF); false after a throw. */
bool wstor_arg_fd(napi_env env, napi_value value, const char *fn, int *fd);

/*
 * Base and current length of a shared Wasm memory, or false after throwing EINVAL. Accepts the
 * WebAssembly.Memory itself, its SharedArrayBuffer, or a Uint8Array over that whole buffer from byte 0.
 * Only a shared buffer is accepted: any other moves or detaches on grow, under I/O or a mapping the
 * kernel still holds. The length is the one this thread sees now (another thread may have grown it since).
 */
bool wstor_memory_from_arg(napi_env env, napi_value value, const char *fn, uint8_t **base, uint64_t *bytes);

/*
 * The bytes of a Uint8Array argument (any buffer: the cheap check for a call made a million times a
 * second with a view the host made itself), or false after throwing EINVAL naming `name`.
 */
bool wstor_arg_bytes(napi_env env, napi_value value, const char *fn, const char *name, uint8_t **data, size_t *length);

#endif
