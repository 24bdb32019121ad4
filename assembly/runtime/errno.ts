// errno values the core returns, negated (SPDK's convention: 0 or a positive count is success).
export const EPERM: i32 = 1;
export const ENOENT: i32 = 2;
export const EIO: i32 = 5;
export const EBADF: i32 = 9;
export const EAGAIN: i32 = 11;
export const ENOMEM: i32 = 12;
export const EBUSY: i32 = 16;
export const EEXIST: i32 = 17;
export const ENODEV: i32 = 19;
export const EINVAL: i32 = 22;
export const ENOSPC: i32 = 28;
export const ERANGE: i32 = 34;
export const ENOSYS: i32 = 38;
export const ENODATA: i32 = 61;
export const ENOTSUP: i32 = 95;
export const ETIMEDOUT: i32 = 110;
export const ECANCELED: i32 = 125;
