// Benchmark hooks (compiled into build/core-test.wasm; driven by bench/messages.ts). Each benchmark
// runs as messages on threads of real reactors and reports with EVENT_TEST(BENCH_*, value, extra).

import {
  heapAlloc, heapAllocZeroed, heapFree, host_event, host_clock_us, spscCreate, spscEnqueue, spscDequeue,
} from "../../assembly/runtime";
import { threadCreateOn, sendMsg, sendMsgs, threadGet, threadPending, DEFAULT_RING_SIZE } from "../../assembly/thread";
import { EVENT_TEST } from "../../assembly/runtime";

const BENCH_SPSC: f64 = 1;
const BENCH_MSGS: f64 = 2;
const BENCH_PINGPONG: f64 = 3;
const BENCH_ALLOC: f64 = 4;

export function b_thread(reactor: i32): usize { return threadCreateOn(reactor, "bench_thread"); }

// ---- raw SPSC ring between two reactors: the baseline (no threads, no message dispatch) ----
@unmanaged class SpscRun { ring: usize; count: u32; }

function spscProduce(ctx: usize): void {
  const run = changetype<SpscRun>(ctx);
  for (let i: u32 = 0; i < run.count; i++) {
    while (!spscEnqueue(run.ring, i, 0)) {}
  }
}

function spscConsume(ctx: usize): void {
  const run = changetype<SpscRun>(ctx);
  while (!spscDequeue(run.ring)) {}
  const start = host_clock_us();   // from the first item: the producer's start-up is not counted
  for (let i: u32 = 1; i < run.count; i++) {
    while (!spscDequeue(run.ring)) {}
  }
  const elapsedUs = host_clock_us() - start;
  host_event(EVENT_TEST, BENCH_SPSC, elapsedUs, <f64>(run.count - 1));
}

/** Raw SPSC: producer thread `p` (one reactor) sends `count` entries to consumer thread `c` (another). */
export function b_spsc(p: usize, c: usize, count: u32): i32 {
  const run = changetype<SpscRun>(heapAllocZeroed(offsetof<SpscRun>()));
  run.ring = spscCreate(4096);
  run.count = count;
  sendMsg(c, spscConsume, changetype<usize>(run));
  sendMsg(p, spscProduce, changetype<usize>(run));
  return 0;
}

// ---- engine messages: send_msg from a thread on one reactor to a thread on another ----
@unmanaged class MsgRun { consumer: usize; count: u32; batch: u32; received: u32; fullRetries: u32; start: f64; ctxs: usize; }

function countMsg(ctx: usize): void {
  const run = changetype<MsgRun>(ctx);
  const n = ++run.received;
  if (n == 1) run.start = host_clock_us();
  if (n == run.count) host_event(EVENT_TEST, BENCH_MSGS, host_clock_us() - run.start, <f64>(run.count - 1));
}

// Sends cannot fail (a full ring overflows to the heap), so the producer holds itself back instead:
// every FLOW_EVERY messages it waits while the consumer's ring is nearly full. The bench measures
// the ring, as before, not the overflow path.
const FLOW_EVERY: u32 = 256;
const FLOW_ROOM: u32 = DEFAULT_RING_SIZE - 2 * FLOW_EVERY;

function holdBack(run: MsgRun): void {
  while (threadPending(run.consumer) > FLOW_ROOM) run.fullRetries++;
}

function msgProduce(ctx: usize): void {
  const run = changetype<MsgRun>(ctx);
  if (run.batch <= 1) {
    for (let i: u32 = 0; i < run.count; i++) {
      if (i % FLOW_EVERY == 0) holdBack(run);
      sendMsg(run.consumer, countMsg, ctx);
    }
  } else {
    assert(run.batch <= FLOW_EVERY);
    let sinceCheck: u32 = FLOW_EVERY;
    for (let i: u32 = 0; i < run.count; i += run.batch) {
      const n = min(run.batch, run.count - i);
      if (sinceCheck >= FLOW_EVERY) { holdBack(run); sinceCheck = 0; }
      sendMsgs(run.consumer, countMsg, run.ctxs, n);
      sinceCheck += n;
    }
  }
}

/** `count` messages from thread p to thread c, one send per message (batch 1) or `batch` per claim. */
export function b_msgs(p: usize, c: usize, count: u32, batch: u32): i32 {
  const run = changetype<MsgRun>(heapAllocZeroed(offsetof<MsgRun>()));
  run.consumer = c;
  run.count = count;
  run.batch = batch;
  if (batch > 1) {
    run.ctxs = heapAlloc(<usize>batch << 2);
    for (let i: u32 = 0; i < batch; i++) store<usize>(run.ctxs + (<usize>i << 2), changetype<usize>(run));
  }
  sendMsg(p, msgProduce, changetype<usize>(run));
  return 0;
}

// ---- round trip: a ping from A to B and the pong back, `count` times, `gapUs` apart ----
@unmanaged class PingRun { a: usize; b: usize; count: u32; done: u32; gapUs: f64; sentAt: f64; samples: usize; }

function pongMsg(ctx: usize): void {
  const run = changetype<PingRun>(ctx);
  const now = host_clock_us();
  store<f64>(run.samples + (<usize>run.done << 3), now - run.sentAt);
  run.done++;
  if (run.done == run.count) {
    host_event(EVENT_TEST, BENCH_PINGPONG, <f64>run.samples, <f64>run.count);
    return;
  }
  // Let B go idle (and, past its spin budget, to sleep) before the next ping.
  while (host_clock_us() - now < run.gapUs) {}
  pingSend(run);
}

function pingMsg(ctx: usize): void {
  sendMsg(changetype<PingRun>(ctx).a, pongMsg, ctx);
}

function pingSend(run: PingRun): void {
  run.sentAt = host_clock_us();
  sendMsg(run.b, pingMsg, changetype<usize>(run));
}

function pingStart(ctx: usize): void { pingSend(changetype<PingRun>(ctx)); }

/** Round trips A -> B -> A; reports a pointer to `count` f64 latencies (microseconds). */
export function b_pingpong(a: usize, b: usize, count: u32, gapUs: f64): i32 {
  const run = changetype<PingRun>(heapAllocZeroed(offsetof<PingRun>()));
  run.a = a; run.b = b; run.count = count; run.gapUs = gapUs;
  run.samples = heapAllocZeroed(<usize>count << 3);
  sendMsg(a, pingStart, changetype<usize>(run));
  return 0;
}

// ---- allocator: alloc/free pairs on one thread ----
@unmanaged class AllocRun { count: u32; size: u32; }

function allocLoop(ctx: usize): void {
  const run = changetype<AllocRun>(ctx);
  const start = host_clock_us();
  let sink: usize = 0;
  for (let i: u32 = 0; i < run.count; i++) {
    const p = heapAlloc(run.size);
    sink ^= p;
    heapFree(p);
  }
  host_event(EVENT_TEST, BENCH_ALLOC, host_clock_us() - start, <f64>(sink & 1));
}

export function b_alloc(t: usize, count: u32, size: u32): i32 {
  const run = changetype<AllocRun>(heapAllocZeroed(offsetof<AllocRun>()));
  run.count = count; run.size = size;
  sendMsg(t, allocLoop, changetype<usize>(run));
  return 0;
}

export function b_current_thread(): usize { return threadGet(); }

// ---- the malloc bdev's comparison: memory.copy of 4 KiB blocks at random over the same span, into one
// buffer (the comparison) or into `buffers` buffers in turn (as a perf job at that queue depth
// reads into one buffer per I/O in flight) ----
import { bdevById, Bdev } from "../../assembly/bdev";
const BENCH_MEMCOPY: f64 = 5;
@unmanaged class CopyRun { base: usize; blocks: u32; count: u32; buf: usize; buffers: u32; }

function copyLoop(ctx: usize): void {
  const run = changetype<CopyRun>(ctx);
  let x: u32 = 0x12345;
  const start = host_clock_us();
  for (let i: u32 = 0; i < run.count; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    memory.copy(run.buf + (<usize>(i % run.buffers) << 12), run.base + (<usize>(x % run.blocks) << 12), 4096);
  }
  host_event(EVENT_TEST, BENCH_MEMCOPY, host_clock_us() - start, <f64>run.count);
  heapFree(run.buf);
  heapFree(ctx);
}

/** `count` random 4 KiB copies out of malloc bdev `bdevId`'s memory into `buffers` buffers in turn, on thread t. */
export function b_memcopy(t: usize, bdevId: u32, count: u32, buffers: u32): i32 {
  const b = changetype<Bdev>(bdevById(bdevId));
  const run = changetype<CopyRun>(heapAllocZeroed(offsetof<CopyRun>()));
  run.base = b.ctx;
  run.blocks = <u32>((b.blockCount << b.blockShift) >> 12);
  run.count = count;
  run.buffers = buffers;
  run.buf = heapAlloc(<usize>buffers << 12);
  sendMsg(t, copyLoop, changetype<usize>(run));
  return 0;
}

// ---- the null bdev's reads: memory.fill of 4 KiB into one of `buffers` buffers chosen at random, as a perf
// job at that queue depth does; its rate bounds null randread IOPS from above on this machine ----
const BENCH_MEMFILL: f64 = 7;
@unmanaged class FillRun { bufs: usize; buffers: u32; count: u32; }

function fillLoop(ctx: usize): void {
  const run = changetype<FillRun>(ctx);
  let x: u32 = 0x12345;
  const start = host_clock_us();
  for (let i: u32 = 0; i < run.count; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    memory.fill(run.bufs + (<usize>(x % run.buffers) << 12), 0, 4096);
  }
  host_event(EVENT_TEST, BENCH_MEMFILL, host_clock_us() - start, <f64>run.count);
  heapFree(run.bufs);
  heapFree(ctx);
}

/** `count` zero-fills of random 4 KiB buffers out of `buffers`, on thread t. */
export function b_memfill(t: usize, buffers: u32, count: u32): i32 {
  const run = changetype<FillRun>(heapAllocZeroed(offsetof<FillRun>()));
  run.bufs = heapAlloc(<usize>buffers << 12);
  run.buffers = buffers;
  run.count = count;
  sendMsg(t, fillLoop, changetype<usize>(run));
  return 0;
}
