/* Files for file bdevs: what Node's fs cannot do. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include "args.h"
#include "file.h"

/*
 * fileAllocate(fd, bytes): give every byte of [0, bytes) disk blocks now (fallocate mode 0: holes get
 * unwritten extents, data is kept, the size grows if it was smaller). 0, or -errno (-EOPNOTSUPP: the
 * file system cannot). A file bdev mapped into the memory needs it: a store through the mapping into
 * a hole allocates at fault time, and a full disk there is a SIGBUS, not an error the core can report.
 */
napi_value wstor_file_allocate(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], out;
    int32_t fd;
    double bytes;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
        napi_get_value_double(env, argv[1], &bytes) != napi_ok || !(bytes >= 0 && bytes <= 9007199254740991.0))
        return wstor_throw_errno(env, EINVAL, "fileAllocate(fd, bytes): fd must be an integer, bytes a safe integer >= 0");
    int rc = 0;
    if (bytes > 0) {
        do rc = fallocate(fd, 0, 0, (off_t)bytes); while (rc != 0 && errno == EINTR);
        if (rc != 0) rc = -errno;
    }
    napi_create_int32(env, rc, &out);
    return out;
}
