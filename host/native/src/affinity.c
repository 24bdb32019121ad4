/*
 * CPU affinity for reactors (LESSONS 1): a reactor may be pinned only to CPUs the process already
 * may use. The host checks that; this file only reads and sets the calling thread's mask.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "affinity.h"

static napi_value throw_errno(napi_env env, const char *what, int err) {
    char message[256];
    snprintf(message, sizeof(message), "%s: %s", what, strerror(err));
    napi_throw_error(env, "EAFFINITY", message);
    return NULL;
}

/* getThreadAffinity(): number[] of CPUs the calling thread may run on. */
napi_value wstor_get_thread_affinity(napi_env env, napi_callback_info info) {
    (void)info;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return throw_errno(env, "sched_getaffinity", errno);
    napi_value result;
    napi_create_array(env, &result);
    uint32_t n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        napi_value v;
        napi_create_int32(env, cpu, &v);
        napi_set_element(env, result, n++, v);
    }
    return result;
}

/* setThreadAffinity(cpus: number[]): pins the calling thread (not the process) to those CPUs. */
napi_value wstor_set_thread_affinity(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    bool is_array = false;
    if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
        napi_throw_type_error(env, "EINVAL", "setThreadAffinity expects an array of CPU numbers");
        return NULL;
    }
    uint32_t length = 0;
    napi_get_array_length(env, argv[0], &length);
    if (length == 0) {
        napi_throw_range_error(env, "EINVAL", "setThreadAffinity: empty CPU list");
        return NULL;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint32_t i = 0; i < length; i++) {
        napi_value v;
        int32_t cpu = -1;
        napi_get_element(env, argv[0], i, &v);
        if (napi_get_value_int32(env, v, &cpu) != napi_ok || cpu < 0 || cpu >= CPU_SETSIZE) {
            napi_throw_range_error(env, "EINVAL", "setThreadAffinity: CPU number out of range");
            return NULL;
        }
        CPU_SET(cpu, &set);
    }
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return throw_errno(env, "sched_setaffinity", errno);
    return NULL;
}

/* getThreadId(): the kernel's id of the calling thread (for logs and tests). */
napi_value wstor_get_thread_id(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value v;
    napi_create_int32(env, (int32_t)syscall(SYS_gettid), &v);
    return v;
}
