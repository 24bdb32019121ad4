// A poll group's data buffers: `count` units of `unitBytes`, made once, taken and given back on the
// group's thread only, with a wait list for requests that find too few free. A connection may hold
// at most `perConnMax` units, so a host that stops reading stalls only itself.

import { heapAlloc, heapAllocZeroed, heapFree, fatal, EINVAL } from "../../runtime";
import { sendMsg } from "../../thread";
import { contextThread } from "../../runtime/context";
import { TcpReq, TcpConn, REQ_WAIT_BUFFER } from "./types";

@unmanaged export class TcpBufPool {
  unitBytes: u32;
  count: u32;
  free: u32;
  perConnMax: u32;
  stack: usize;             // free unit addresses, `free` of them
  storage: usize;
  thread: usize;            // the only thread that touches it
  waitHead: usize;          // TcpReq FIFO (through next)
  waitTail: usize;
  waiters: u32;
  drainPosted: u32;
  ready: usize;             // (req: usize) => void: a waiter got its units
}
export type BufReadyFn = (req: usize) => void;

/** 0 when out of memory. `ready` is called (from a message) for each waiter once it holds its units. */
export function bufPoolCreate(unitBytes: u32, count: u32, perConnMax: u32, ready: BufReadyFn): usize {
  assert(unitBytes >= 4096 && (unitBytes & 4095) == 0 && count > 0 && perConnMax > 0 && perConnMax <= count,
    "bufPoolCreate: units are 4 KiB multiples; a connection may hold at most the whole pool");
  const pool = changetype<TcpBufPool>(heapAllocZeroed(offsetof<TcpBufPool>()));
  if (changetype<usize>(pool) == 0) return 0;
  const stack = heapAlloc(<usize>count << 2);
  const storage = heapAlloc(<usize>unitBytes * <usize>count);
  if (stack == 0 || storage == 0) {
    heapFree(stack); heapFree(storage); heapFree(changetype<usize>(pool));
    return 0;
  }
  for (let i: u32 = 0; i < count; i++) store<usize>(stack + (<usize>i << 2), storage + <usize>i * <usize>unitBytes);
  pool.unitBytes = unitBytes;
  pool.count = count;
  pool.free = count;
  pool.perConnMax = perConnMax;
  pool.stack = stack;
  pool.storage = storage;
  pool.thread = contextThread();
  pool.ready = changetype<usize>(ready);
  return changetype<usize>(pool);
}

/** Every unit must be back and nobody waiting (the group closed its connections first). */
export function bufPoolDestroy(p: usize): void {
  const pool = changetype<TcpBufPool>(p);
  if (pool.free != pool.count || pool.waiters != 0) {
    fatal(-EINVAL, "nvmf_tcp: buffer pool destroyed with %d units out", 0, 0, <f64>(pool.count - pool.free));
  }
  assert(pool.drainPosted == 0, "bufPoolDestroy: a drain message is still on its way");
  heapFree(pool.stack);
  heapFree(pool.storage);
  heapFree(p);
}

export function bufUnitsFor(pool: usize, bytes: u32): u32 {
  const unit = changetype<TcpBufPool>(pool).unitBytes;
  return (bytes + unit - 1) / unit;
}

/**
 * Give `r` buffers for its `length` bytes now (true), or queue it (false: `ready` runs later). A
 * request never overtakes a waiter that only the pool holds up (so a large one is not starved by
 * small ones); waiters held up by their own connection's cap are no one else's concern.
 */
export function bufPoolTake(p: usize, r: TcpReq): bool {
  const pool = changetype<TcpBufPool>(p);
  assert(contextThread() == pool.thread, "bufPoolTake: not on the pool's thread");
  assert(r.units == 0 && r.length > 0, "bufPoolTake: the request holds no buffers and moves data");
  if (capAllows(pool, r) && poolAllows(pool, r) && !poolHoldsUpSomeone(pool)) {
    grant(pool, r);
    return true;
  }
  r.state = REQ_WAIT_BUFFER;
  r.next = 0;
  if (pool.waitTail != 0) changetype<TcpReq>(pool.waitTail).next = changetype<usize>(r); else pool.waitHead = changetype<usize>(r);
  pool.waitTail = changetype<usize>(r);
  pool.waiters++;
  return false;
}

/** Give back the request's buffers; waiters that now fit are served from a message (never re-entered here). */
export function bufPoolGive(p: usize, r: TcpReq): void {
  const pool = changetype<TcpBufPool>(p);
  assert(contextThread() == pool.thread, "bufPoolGive: not on the pool's thread");
  const conn = changetype<TcpConn>(r.conn);
  assert(conn.unitsHeld >= r.units && pool.free + r.units <= pool.count, "bufPoolGive: more units given back than taken");
  for (let i: u32 = 0; i < r.units; i++) {
    store<usize>(pool.stack + (<usize>pool.free << 2), <usize>load<u32>(r.iovs + (<usize>i << 3)));
    pool.free++;
  }
  conn.unitsHeld -= r.units;
  r.units = 0;
  if (pool.waiters > 0 && pool.drainPosted == 0) {
    pool.drainPosted = 1;
    sendMsg(pool.thread, drain, p);
  }
}

/** Take `r` off the wait list (its connection is closing). */
export function bufPoolCancel(p: usize, r: TcpReq): void {
  const pool = changetype<TcpBufPool>(p);
  let prev: usize = 0;
  let at = pool.waitHead;
  for (let n: u32 = 0; at != 0 && n < pool.waiters; n++) {
    if (at == changetype<usize>(r)) {
      unlink(pool, prev, r);
      return;
    }
    prev = at;
    at = changetype<TcpReq>(at).next;
  }
  assert(false, "bufPoolCancel: the request is not waiting");
}

function unitsOf(pool: TcpBufPool, r: TcpReq): u32 { return (r.length + pool.unitBytes - 1) / pool.unitBytes; }
function capAllows(pool: TcpBufPool, r: TcpReq): bool {
  return changetype<TcpConn>(r.conn).unitsHeld + unitsOf(pool, r) <= pool.perConnMax;
}
function poolAllows(pool: TcpBufPool, r: TcpReq): bool { return unitsOf(pool, r) <= pool.free; }

/** A waiter its connection's cap lets through is waiting for the pool alone (bounded by the list). */
function poolHoldsUpSomeone(pool: TcpBufPool): bool {
  let at = pool.waitHead;
  for (let n: u32 = 0; at != 0 && n < pool.waiters; n++) {
    if (capAllows(pool, changetype<TcpReq>(at))) return true;
    at = changetype<TcpReq>(at).next;
  }
  return false;
}

function grant(pool: TcpBufPool, r: TcpReq): void {
  const units = unitsOf(pool, r);
  let left = r.length;
  for (let i: u32 = 0; i < units; i++) {
    pool.free--;
    const unit = load<usize>(pool.stack + (<usize>pool.free << 2));
    const len = min(left, pool.unitBytes);
    store<u32>(r.iovs + (<usize>i << 3), <u32>unit);
    store<u32>(r.iovs + (<usize>i << 3), len, 4);
    left -= len;
  }
  r.units = units;
  changetype<TcpConn>(r.conn).unitsHeld += units;
}

function unlink(pool: TcpBufPool, prev: usize, r: TcpReq): void {
  if (prev == 0) pool.waitHead = r.next; else changetype<TcpReq>(prev).next = r.next;
  if (pool.waitTail == changetype<usize>(r)) pool.waitTail = prev;
  r.next = 0;
  pool.waiters--;
}

/**
 * Serve waiters in order: one its cap holds up is passed over, the first the pool cannot serve yet
 * stops the walk (bounded by the wait list's length). The served are unlinked first and told after
 * the walk: a `ready` may close a connection, which edits the list.
 */
function drain(p: usize): void {
  const pool = changetype<TcpBufPool>(p);
  pool.drainPosted = 0;
  let prev: usize = 0;
  let at = pool.waitHead;
  let servedHead: usize = 0;
  let servedTail: usize = 0;
  const n = pool.waiters;
  for (let i: u32 = 0; i < n && at != 0; i++) {
    const r = changetype<TcpReq>(at);
    const next = r.next;
    if (!capAllows(pool, r)) {
      prev = at;
    } else if (poolAllows(pool, r)) {
      unlink(pool, prev, r);
      grant(pool, r);
      if (servedTail != 0) changetype<TcpReq>(servedTail).next = at; else servedHead = at;
      servedTail = at;
    } else {
      break;
    }
    at = next;
  }
  // Still REQ_WAIT_BUFFER, holding units, on no list: a close in between leaves them to
  // reqBuffersReady, which releases a request whose connection is ending.
  while (servedHead != 0) {
    const r = changetype<TcpReq>(servedHead);
    servedHead = r.next;
    r.next = 0;
    changetype<BufReadyFn>(pool.ready)(changetype<usize>(r));
  }
}
