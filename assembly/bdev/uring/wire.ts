// The descriptor and completion formats shared with the native addon (host/native/src/uring.h, which
// asserts the same sizes and offsets in C). Little-endian, packed as below.

export const DESC_BYTES: usize = 32;
export const DESC_OP_OFF: usize = 0;         // u8
export const DESC_FLAGS_OFF: usize = 1;      // u8: FLAG_*
export const DESC_IOVCNT_OFF: usize = 2;     // u16: READV/WRITEV only
export const DESC_FD_OFF: usize = 4;         // i32
export const DESC_BUF_OFF: usize = 8;        // u32 Wasm offset (buffer, or {u32 buf, u32 len} pairs)
export const DESC_LEN_OFF: usize = 12;       // u32 bytes
export const DESC_OFFSET_OFF: usize = 16;    // u64 file offset
export const DESC_USER_OFF: usize = 24;      // u32 returned in the completion

export const CQE_BYTES: usize = 8;
export const CQE_USER_OFF: usize = 0;
export const CQE_RES_OFF: usize = 4;

export const OP_READ: u8 = 0;
export const OP_WRITE: u8 = 1;
export const OP_FSYNC: u8 = 2;
export const OP_FDATASYNC: u8 = 3;
export const OP_PUNCH_HOLE: u8 = 4;
export const OP_ZERO_RANGE: u8 = 5;
export const OP_READV: u8 = 6;
export const OP_WRITEV: u8 = 7;
export const IOV_MAX: u32 = 64;

/** Hand the descriptor to the kernel at once rather than at the end of the submit call (device I/O). */
export const FLAG_SUBMIT_NOW: u8 = 0x01;
/** READV/WRITEV: the vector holds external entries (bdev/extiov.ts: {u32 handle, u32 len, u64 offset}). */
export const FLAG_EXTERNAL: u8 = 0x02;

// Socket ops (assembly/sock). Their descriptors keep offset 0; buf, len and iovcnt as noted, else 0.
export const OP_ACCEPT: u8 = 8;      // res = the new fd (CLOEXEC, nonblocking, TCP_NODELAY)
export const OP_RECV: u8 = 9;        // into [buf, buf + len): res = bytes, 0 when the peer closed
export const OP_SENDMSG: u8 = 10;    // iovcnt pairs at buf, MSG_NOSIGNAL: res = bytes sent (may be short)
export const OP_CANCEL_FD: u8 = 11;  // every op of this ring on fd: res = how many
export const OP_CLOSE: u8 = 12;
export const OP_CONNECT: u8 = 13;    // the sockaddr at [buf, buf + len), len 1..128: res = 0
