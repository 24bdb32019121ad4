// Runtime stress (issue 2): one worker thread per reactor allocating, tagging, verifying and freeing
// blocks, and exchanging sequence-numbered messages that carry blocks to be freed on another reactor.
// Every corruption, lost or duplicated message is counted; the host checks the counts are 0.

import { heapAlloc, heapAllocZeroed, heapFree, heapBlockBytes, heapLiveBlocksOf, host_event, MAX_ARENAS } from "../../assembly/runtime";
import {
  threadCreateOn, sendMsg, pollerRegister, pollerUnregister, threadExit, threadOverflowTotal, POLLER_BUSY,
} from "../../assembly/thread";
import { EVENT_TEST } from "../../assembly/runtime";

const LIVE_SLOTS: u32 = 256;
const OPS_PER_POLL: u32 = 64;
const LARGE_EVERY: u32 = 128;        // one allocation in this many takes the large (page run) path
const LARGE_MAX_BYTES: u32 = 40000;
const SMALL_MAX_BYTES: u32 = 1024;
// Messages a worker may have sent a peer that the peer has not yet run. Each poll sends more than a
// poll receives (8 messages, SPDK's batch), so without a bound the queues (and the blocks they carry)
// would grow until memory ran out: real senders are bounded by their request pools the same way. Twice
// the default ring, so both the ring and its overflow carry messages.
const SEND_WINDOW: u32 = 8192;

@unmanaged class StressWorker {
  index: u32;
  workerCount: u32;
  opsTarget: u32;
  ops: u32;
  rng: u32;
  errors: u32;
  allocFailures: u32;
  msgsSent: u32;
  msgsReceived: u32;
  blocksSentAway: u32;
  finsSent: u32;
  finsReceived: u32;
  finished: u32;
  overflowed: u32;     // messages to this worker that went through its ring's overflow (read at its finish)
  heldBack: u32;       // data messages not sent: the peer had SEND_WINDOW of ours still to run
  thread: usize;
  poller: usize;
  workers: usize;      // StressWorker* per index, then the start gate (u32)
  live: usize;         // LIVE_SLOTS block pointers
  sentSeq: usize;      // u32 per peer
  recvSeq: usize;      // u32 per sender
}

@unmanaged class StressMsg {
  target: usize;       // receiving StressWorker
  sender: u32;
  seq: u32;
  block: usize;        // a tagged block for the receiver to verify and free, or 0
  fin: u32;            // 1: the sender's last message; seq = how many it sent
}

function rand(w: StressWorker): u32 {
  let x = w.rng;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  w.rng = x;
  return x;
}

function fillBlock(block: usize, bytes: u32, tag: u32): void {
  store<u32>(block, tag);
  store<u32>(block, bytes, 4);
  for (let off: u32 = 8; off + 4 <= bytes; off += 4) store<u32>(block + off, tag ^ off);
}

/** Verify a block's tag pattern, then free it (on whatever reactor we are). */
function checkAndFree(w: StressWorker, block: usize): void {
  const tag = load<u32>(block);
  const bytes = load<u32>(block, 4);
  let ok = bytes >= 8 && <usize>bytes <= heapBlockBytes(block);
  for (let off: u32 = 8; ok && off + 4 <= bytes; off += 4) ok = load<u32>(block + off) == (tag ^ off);
  if (!ok) w.errors++;
  heapFree(block);
}

function peerOf(w: StressWorker, r: u32): u32 {
  const p = r % (w.workerCount - 1);
  return p >= w.index ? p + 1 : p;
}

function workerAt(w: StressWorker, i: u32): StressWorker { return changetype<StressWorker>(load<usize>(w.workers + (<usize>i << 2))); }

/**
 * Send a message (optionally carrying `block`) to peer. A data message past the send window, or one
 * there is no memory for, is not sent (its block is freed here).
 */
function sendTo(w: StressWorker, peer: u32, block: usize, fin: bool): bool {
  if (!fin) {
    const ran = atomic.load<u32>(workerAt(w, peer).recvSeq + (<usize>w.index << 2));
    if (load<u32>(w.sentSeq + (<usize>peer << 2)) - ran >= SEND_WINDOW) {
      w.heldBack++;
      if (block != 0) checkAndFree(w, block);
      return false;
    }
  }
  const msg = changetype<StressMsg>(heapAlloc(offsetof<StressMsg>()));
  if (changetype<usize>(msg) == 0) { w.allocFailures++; if (block != 0) checkAndFree(w, block); return false; }
  const seqCell = w.sentSeq + (<usize>peer << 2);
  msg.target = changetype<usize>(workerAt(w, peer));
  msg.sender = w.index;
  msg.seq = load<u32>(seqCell);
  msg.block = block;
  msg.fin = fin ? 1 : 0;
  sendMsg(workerAt(w, peer).thread, receiveMsg, changetype<usize>(msg));
  if (!fin) store<u32>(seqCell, msg.seq + 1);
  w.msgsSent++;
  if (block != 0) w.blocksSentAway++;
  return true;
}

function receiveMsg(ctx: usize): void {
  const msg = changetype<StressMsg>(ctx);
  const w = changetype<StressWorker>(msg.target);
  const seqCell = w.recvSeq + (<usize>msg.sender << 2);
  if (msg.fin != 0) {
    if (load<u32>(seqCell) != msg.seq) w.errors++;      // a message went missing
    w.finsReceived++;
  } else {
    if (msg.seq != load<u32>(seqCell)) w.errors++;      // lost, duplicated or reordered
    atomic.store<u32>(seqCell, msg.seq + 1);            // the sender reads it for its window
    w.msgsReceived++;
  }
  if (msg.block != 0) checkAndFree(w, msg.block);
  heapFree(ctx);
}

function oneOp(w: StressWorker): void {
  const r = rand(w);
  const slot = r % LIVE_SLOTS;
  const cell = w.live + (<usize>slot << 2);
  const block = load<usize>(cell);
  if (block != 0) {
    store<usize>(cell, 0);
    if (w.workerCount > 1 && ((r >> 9) & 3) == 0) sendTo(w, peerOf(w, r >> 12), block, false);
    else checkAndFree(w, block);
  } else {
    const bytes = (r >> 8) % LARGE_EVERY == 0 ? 8 + (r >> 4) % LARGE_MAX_BYTES : 8 + (r >> 12) % SMALL_MAX_BYTES;
    const fresh = heapAlloc(bytes);
    if (fresh == 0) { w.allocFailures++; return; }
    fillBlock(fresh, bytes, (w.index << 24) | (w.ops & 0xffffff));
    store<usize>(cell, fresh);
  }
  if (w.workerCount > 1 && (r & 3) == 0) sendTo(w, peerOf(w, r >> 16), 0, false);
}

function finish(w: StressWorker): void {
  for (let i: u32 = 0; i < LIVE_SLOTS; i++) {
    const block = load<usize>(w.live + (<usize>i << 2));
    if (block != 0) checkAndFree(w, block);
  }
  heapFree(w.live);
  w.live = 0;
  w.finished = 1;
  w.overflowed = threadOverflowTotal(w.thread);
  pollerUnregister(w.poller);
  host_event(EVENT_TEST, <f64>w.index, <f64>w.errors, <f64>w.ops);
  threadExit();
}

/** Nonzero once every worker's begin message is queued (see t_stress_start). */
function startGate(w: StressWorker): usize { return w.workers + (<usize>w.workerCount << 2); }

function stressPoller(ctx: usize): i32 {
  const w = changetype<StressWorker>(ctx);
  if (atomic.load<u32>(startGate(w)) == 0) return POLLER_BUSY;   // busy: an idle reactor could sleep through the gate opening
  for (let i: u32 = 0; i < OPS_PER_POLL && w.ops < w.opsTarget; i++) { oneOp(w); w.ops++; }
  if (w.ops < w.opsTarget) return POLLER_BUSY;
  // Done with work: tell every peer how many messages it should have had from us.
  while (w.finsSent < w.workerCount) {
    if (w.finsSent == w.index) { w.finsSent++; continue; }
    if (!sendTo(w, w.finsSent, 0, true)) return POLLER_BUSY;   // no memory for the message: retry next poll
    w.finsSent++;
  }
  if (w.finsReceived == w.workerCount - 1 && w.finished == 0) finish(w);
  return POLLER_BUSY;
}

function beginMsg(ctx: usize): void {
  const w = changetype<StressWorker>(ctx);
  w.poller = pollerRegister(stressPoller, ctx, 0, "stress_poller");
}

/**
 * Start one stress worker per reactor, each doing opsPerWorker operations. Each emits
 * EVENT_TEST(index, errors, ops) when done. Returns the run handle (array of workers) or 0.
 * No worker sends anything before the gate opens, so every worker does its work alongside the others.
 * `ringSize` (0: the default) sizes each worker's message ring: a tiny one sends most messages through
 * the ring's overflow, whose order the per-sender sequence numbers check.
 */
export function t_stress_start(reactors: u32, opsPerWorker: u32, seed: u32, ringSize: u32): usize {
  const workers = heapAllocZeroed((<usize>reactors + 1) << 2);
  for (let i: u32 = 0; i < reactors; i++) {
    const w = changetype<StressWorker>(heapAllocZeroed(offsetof<StressWorker>()));
    w.index = i;
    w.workerCount = reactors;
    w.opsTarget = opsPerWorker;
    w.rng = (seed ^ (i * 0x9e3779b9)) | 1;
    w.workers = workers;
    w.live = heapAllocZeroed(<usize>LIVE_SLOTS << 2);
    w.sentSeq = heapAllocZeroed(<usize>reactors << 2);
    w.recvSeq = heapAllocZeroed(<usize>reactors << 2);
    w.thread = ringSize == 0 ? threadCreateOn(<i32>i, "stress_worker") : threadCreateOn(<i32>i, "stress_worker", ringSize);
    store<usize>(workers + (<usize>i << 2), changetype<usize>(w));
  }
  for (let i: u32 = 0; i < reactors; i++) {
    const w = changetype<StressWorker>(load<usize>(workers + (<usize>i << 2)));
    if (w.thread == 0) return 0;
    sendMsg(w.thread, beginMsg, changetype<usize>(w));
  }
  atomic.store<u32>(workers + (<usize>reactors << 2), 1);
  return workers;
}

/**
 * A counter of worker `index` (after it finished): 0 errors, 1 ops, 2 sent, 3 received, 4 blocks sent
 * away, 5 alloc failures, 6 messages to it that went through its ring's overflow.
 */
export function t_stress_counter(run: usize, index: u32, which: u32): u32 {
  const w = changetype<StressWorker>(load<usize>(run + (<usize>index << 2)));
  switch (which) {
    case 0: return w.errors;
    case 1: return w.ops;
    case 2: return w.msgsSent;
    case 3: return w.msgsReceived;
    case 4: return w.blocksSentAway;
    case 5: return w.allocFailures;
    default: return w.overflowed;
  }
}

/** Free the run's bookkeeping (after every worker finished). */
export function t_stress_free(run: usize, reactors: u32): void {
  for (let i: u32 = 0; i < reactors; i++) {
    const w = changetype<StressWorker>(load<usize>(run + (<usize>i << 2)));
    heapFree(w.sentSeq);
    heapFree(w.recvSeq);
    heapFree(changetype<usize>(w));
  }
  heapFree(run);
}

/** Live blocks summed over every arena: allocations minus frees, engine-wide. */
export function t_live_blocks_all(): i32 {
  let sum: i32 = 0;
  for (let i: u32 = 0; i < MAX_ARENAS; i++) sum += heapLiveBlocksOf(i);
  return sum;
}
