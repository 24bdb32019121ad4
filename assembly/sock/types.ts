// The socket layer's structures: an op the caller owns (SockOp) and a thread's channel (SockChannel).

/** Descriptors staged per channel per submit (and completions reaped per poll). */
export const STAGE_SLOTS: u32 = 128;

export const OP_IDLE: u32 = 0;      // the caller's: not submitted, or its callback has run
export const OP_PENDING: u32 = 1;   // on the channel's pending list (new, a retry, or no room in the ring)
export const OP_KERNEL: u32 = 2;    // in the ring (the kernel, or the addon's fallback queue)
export const OP_DONE: u32 = 3;      // ended; its callback runs at the channel's next poll
export const OP_WAITING: u32 = 4;   // a cancel that ended while ops of its fd are still in the ring

/**
 * One socket operation. Caller-owned storage (4-byte aligned at least, as every struct here is),
 * valid until its callback. The caller sets cb and ctx; `res` is the result when cb(op) runs.
 */
@unmanaged export class SockOp {
  cb: usize;          // (op: usize) => void, on the submitting thread
  ctx: usize;
  res: i32;
  // the socket layer's own
  kind: u8;           // a wire.OP_* socket op
  state: u32;
  fd: i32;
  buf: usize;         // RECV: the buffer; SENDMSG: {u32 base, u32 len} pairs
  len: u32;           // RECV: bytes; SENDMSG: pairs
  channel: usize;     // SockChannel
  next: usize;        // the list its state names
  prev: usize;        // (kernel list only: removal in any order)
  cancelNext: usize;  // a cancel's place in the channel's cancel set, from submit to callback
}

/** One thread's socket channel: an io_device context, so the thread's ops share one staging area. */
@unmanaged export class SockChannel {
  descs: usize;       // STAGE_SLOTS descriptors
  cqes: usize;        // STAGE_SLOTS completions
  stagedOps: usize;   // STAGE_SLOTS SockOp pointers, in descriptor order
  poller: usize;
  pending: usize;     // SockOp list (next), in submit order
  pendingTail: usize;
  kernel: usize;      // SockOp list (next/prev), every op this channel has in the ring
  inKernel: u32;
  done: usize;        // SockOp list (next): callbacks for the next poll
  doneTail: usize;
  cancels: usize;     // SockOp list (cancelNext): cancels not yet called back
}
