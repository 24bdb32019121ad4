/* Argument checks shared by the addon's N-API entry points (args.h says what each accepts). */
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "args.h"

static const char *errno_name(int err) {
    switch (err) {
    case EPERM: return "EPERM";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EIO";
    }
}

napi_value wstor_throw_errno(napi_env env, int err, const char *fmt, ...) {
    char message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    napi_throw_error(env, errno_name(err), message);
    return NULL;
}

bool wstor_arg_u32(napi_env env, napi_value value, const char *fn, const char *name, uint32_t *out) {
    double d = -1;
    if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0 && d <= UINT32_MAX) ||
        d != (double)(uint32_t)d) {
        wstor_throw_errno(env, EINVAL, "%s: %s must be an integer in [0, 2^32)", fn, name);
        return false;
    }
    *out = (uint32_t)d;
    return true;
}

napi_value wstor_number(napi_env env, int64_t value) {
    napi_value result;
    napi_create_int64(env, value, &result);
    return result;
}

#define SAFE_INTEGER_MAX 9007199254740991.0 /* 2^53 - 1: above it a JavaScript number is not exact */

bool wstor_arg_integer(napi_env env, napi_value value, const char *fn, const char *name, double *out) {
    double d = 0;
    if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= -SAFE_INTEGER_MAX && d <= SAFE_INTEGER_MAX) ||
        d != (double)(int64_t)d) {
        wstor_throw_errno(env, EINVAL, "%s: %s must be an integer number", fn, name);
        return false;
    }
    *out = d;
    return true;
}

bool wstor_arg_size(napi_env env, napi_value value, const char *fn, const char *name, uint64_t *out) {
    double d;
    if (!wstor_arg_integer(env, value, fn, name, &d)) return false;
    if (d < 0) {
        wstor_throw_errno(env, EINVAL, "%s: %s must not be negative", fn, name);
        return false;
    }
    *out = (uint64_t)d;
    return true;
}

bool wstor_arg_fd(napi_env env, napi_value value, const char *fn, int *fd) {
    double d;
    if (!wstor_arg_integer(env, value, fn, "fd", &d)) return false;
    *fd = d >= 0 && d <= INT32_MAX ? (int)d : -1;
    return true;
}

/* globalThis[name] if it is a function (a constructor), else NULL. */
static napi_value global_ctor(napi_env env, const char *name) {
    napi_value global, ctor;
    napi_valuetype type = napi_undefined;
    if (napi_get_global(env, &global) != napi_ok || napi_get_named_property(env, global, name, &ctor) != napi_ok ||
        napi_typeof(env, ctor, &type) != napi_ok || type != napi_function)
        return NULL;
    return ctor;
}

static bool is_instance_of(napi_env env, napi_value value, napi_value ctor) {
    bool result = false;
    return ctor != NULL && napi_instanceof(env, value, ctor, &result) == napi_ok && result;
}

static bool is_shared_array_buffer(napi_env env, napi_value buffer) {
    return is_instance_of(env, buffer, global_ctor(env, "SharedArrayBuffer"));
}

/* WebAssembly.Memory, or NULL. WebAssembly is a namespace object, not a constructor. */
static napi_value wasm_memory_ctor(napi_env env) {
    napi_value global, wasm, ctor;
    napi_valuetype type = napi_undefined;
    if (napi_get_global(env, &global) != napi_ok || napi_get_named_property(env, global, "WebAssembly", &wasm) != napi_ok ||
        napi_typeof(env, wasm, &type) != napi_ok || type != napi_object ||
        napi_get_named_property(env, wasm, "Memory", &ctor) != napi_ok || napi_typeof(env, ctor, &type) != napi_ok ||
        type != napi_function)
        return NULL;
    return ctor;
}

/* A WebAssembly.Memory or a SharedArrayBuffer as a Uint8Array over all of it; anything else unchanged. N-API
 * (Node 20) has no accessor for a SharedArrayBuffer's data, but a typed array over one has. */
static napi_value whole_view(napi_env env, napi_value value) {
    napi_value buffer = value, view, u8_ctor;
    napi_valuetype type = napi_undefined;
    if (napi_typeof(env, value, &type) != napi_ok || type != napi_object) return value;
    if (is_instance_of(env, value, wasm_memory_ctor(env)) &&
        napi_get_named_property(env, value, "buffer", &buffer) != napi_ok)
        return value;
    if (!is_shared_array_buffer(env, buffer) || (u8_ctor = global_ctor(env, "Uint8Array")) == NULL ||
        napi_new_instance(env, u8_ctor, 1, &buffer, &view) != napi_ok)
        return value;
    return view;
}

bool wstor_memory_from_arg(napi_env env, napi_value value, const char *fn, uint8_t **base, uint64_t *bytes) {
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0, byte_offset = 0;
    void *data = NULL;
    napi_value buffer;
    value = whole_view(env, value);
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &byte_offset) != napi_ok ||
        type != napi_uint8_array) {
        wstor_throw_errno(env, EINVAL, "%s: memory must be a shared WebAssembly.Memory, its SharedArrayBuffer, "
                          "or a Uint8Array over that whole buffer", fn);
        return false;
    }
    if (byte_offset != 0 || length == 0 || data == NULL) {
        wstor_throw_errno(env, EINVAL, "%s: memory must view the whole Wasm memory from byte 0 "
                          "(new Uint8Array(memory.buffer))", fn);
        return false;
    }
    if (!is_shared_array_buffer(env, buffer)) {
        wstor_throw_errno(env, EINVAL, "%s: memory must be backed by a SharedArrayBuffer (a shared "
                          "WebAssembly.Memory); other buffers move on grow while the kernel may still use them", fn);
        return false;
    }
    *base = data;
    *bytes = length;
    return true;
}

bool wstor_arg_bytes(napi_env env, napi_value value, const char *fn, const char *name, uint8_t **data, size_t *length) {
    bool is_typed = false;
    napi_typedarray_type type;
    napi_value buffer;
    size_t byte_offset;
    void *p = NULL;
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, value, &type, length, &p, &buffer, &byte_offset) != napi_ok ||
        type != napi_uint8_array) {
        wstor_throw_errno(env, EINVAL, "%s: %s must be a Uint8Array", fn, name);
        return false;
    }
    *data = p;
    return true;
}
