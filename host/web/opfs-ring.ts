// The ring between one reactor and the OPFS worker: the core's file-bdev descriptors and completions
// (assembly/bdev/uring/wire.ts) in a SharedArrayBuffer of their own, as io_uring's SQ and CQ are
// between a reactor and the kernel. The reactor side is the core's uring_submit/uring_reap imports;
// the worker side takes descriptors, runs them on its sync access handles and posts completions.

import type { UringHandlers } from '../core-abi.js';

/** Descriptor and completion sizes: the wire's (assembly/bdev/uring/wire.ts DESC_BYTES, CQE_BYTES). */
export const DESC_BYTES = 32;
export const CQE_BYTES = 8;
/** Requests in flight per reactor (submitted, completion not yet reaped): the core stages 256 per poll. */
export const RING_SLOTS = 256;

// Header words (Int32), each written by one side only.
const SQ_HEAD = 0;        // worker: descriptors taken
const SQ_TAIL = 1;        // reactor: descriptors published
const CQ_HEAD = 2;        // reactor: completions reaped
const CQ_TAIL = 3;        // worker: completions published
const HEADER_BYTES = 64;
const SQ_OFFSET = HEADER_BYTES;
const CQ_OFFSET = SQ_OFFSET + RING_SLOTS * DESC_BYTES;
export const RING_BYTES = CQ_OFFSET + RING_SLOTS * CQE_BYTES;

// The bell all reactors ring when the worker sleeps (Int32 words of its own buffer).
const BELL = 0;
const SLEEPING = 1;
export const BELL_BYTES = 8;

/** Counters run modulo 2^32: the distance from `from` to `to`. */
const distance = (to: number, from: number): number => (to - from) >>> 0;

/** The reactor's side: the core's block-I/O imports over `ring`, waking the worker through `bell`. */
export function ringSubmitter(ring: SharedArrayBuffer, bell: SharedArrayBuffer, memory: WebAssembly.Memory): UringHandlers {
  const header = new Int32Array(ring, 0, HEADER_BYTES / 4);
  const sq = new Uint8Array(ring, SQ_OFFSET, RING_SLOTS * DESC_BYTES);
  const cq = new Uint8Array(ring, CQ_OFFSET, RING_SLOTS * CQE_BYTES);
  const bellWords = new Int32Array(bell);
  // Refreshed only when the memory grew (the core passes its size): see uring-host.ts for why.
  let view = new Uint8Array(memory.buffer);
  return {
    submit(descs, count, memoryBytes) {
      if (memoryBytes > view.byteLength) view = new Uint8Array(memory.buffer);
      const tail = header[SQ_TAIL];                     // ours alone
      const inFlight = distance(tail, Atomics.load(header, CQ_HEAD));
      assertRing(inFlight <= RING_SLOTS, `reactor ring holds ${inFlight} requests, more than its ${RING_SLOTS} slots`);
      const accepted = Math.min(count, RING_SLOTS - inFlight);
      if (descs + accepted * DESC_BYTES > view.byteLength) return -14;          // -EFAULT: a core bug
      for (let i = 0; i < accepted; i++) {
        const slot = ((tail + i) >>> 0) % RING_SLOTS;
        sq.set(view.subarray(descs + i * DESC_BYTES, descs + (i + 1) * DESC_BYTES), slot * DESC_BYTES);
      }
      if (accepted === 0) return 0;
      Atomics.store(header, SQ_TAIL, (tail + accepted) | 0);
      // Published before we look: either the worker's re-check sees it or we see it asleep (both
      // sides use sequentially consistent atomics: the reactor doorbell's argument, ARCHITECTURE.md).
      if (Atomics.load(bellWords, SLEEPING) !== 0) {
        Atomics.add(bellWords, BELL, 1);
        Atomics.notify(bellWords, BELL);
      }
      return accepted;
    },
    reap(cqes, max) {
      const head = header[CQ_HEAD];
      const ready = Math.min(max, distance(Atomics.load(header, CQ_TAIL), head));
      if (ready === 0) return 0;
      if (cqes + ready * CQE_BYTES > view.byteLength) view = new Uint8Array(memory.buffer);
      for (let i = 0; i < ready; i++) {
        const slot = ((head + i) >>> 0) % RING_SLOTS;
        view.set(cq.subarray(slot * CQE_BYTES, (slot + 1) * CQE_BYTES), cqes + i * CQE_BYTES);
      }
      Atomics.store(header, CQ_HEAD, (head + ready) | 0);
      return ready;
    },
  };
}

function assertRing(ok: boolean, what: string): void {
  if (!ok) throw new Error(`OPFS ring invariant broken: ${what}`);
}

/** One descriptor as the worker reads it. */
export interface RingRequest {
  op: number; iovcnt: number; fd: number; buf: number; len: number; offset: number; user: number;
}

/** The worker's side of one reactor's ring. */
export class RingConsumer {
  private readonly header: Int32Array;
  private readonly sq: DataView;
  private readonly cq: DataView;

  constructor(ring: SharedArrayBuffer) {
    this.header = new Int32Array(ring, 0, HEADER_BYTES / 4);
    this.sq = new DataView(ring, SQ_OFFSET, RING_SLOTS * DESC_BYTES);
    this.cq = new DataView(ring, CQ_OFFSET, RING_SLOTS * CQE_BYTES);
  }

  /** Descriptors published and not taken yet. */
  waiting(): number {
    return distance(Atomics.load(this.header, SQ_TAIL), this.header[SQ_HEAD]);
  }

  /** Take the oldest waiting descriptor (the caller checked waiting() > 0). */
  take(): RingRequest {
    const head = this.header[SQ_HEAD];
    const d = (head >>> 0) % RING_SLOTS * DESC_BYTES;
    const sq = this.sq;
    const request: RingRequest = {
      op: sq.getUint8(d), iovcnt: sq.getUint16(d + 2, true), fd: sq.getInt32(d + 4, true), buf: sq.getUint32(d + 8, true),
      len: sq.getUint32(d + 12, true), offset: Number(sq.getBigUint64(d + 16, true)), user: sq.getUint32(d + 24, true),
    };
    // Taken before its completion is posted: CQ entries never outnumber taken descriptors, so the
    // reactor's in-flight bound (RING_SLOTS) keeps the CQ from overflowing.
    Atomics.store(this.header, SQ_HEAD, (head + 1) | 0);
    return request;
  }

  complete(user: number, res: number): void {
    const tail = this.header[CQ_TAIL];
    assertRing(distance(tail, Atomics.load(this.header, CQ_HEAD)) < RING_SLOTS, 'completion queue full');
    const c = (tail >>> 0) % RING_SLOTS * CQE_BYTES;
    this.cq.setUint32(c, user, true);
    this.cq.setInt32(c + 4, res, true);
    Atomics.store(this.header, CQ_TAIL, (tail + 1) | 0);
  }
}

/** The worker's sleep: announce it, let the caller look at every ring once more, then wait. */
export class RingBell {
  private readonly words: Int32Array;
  constructor(bell: SharedArrayBuffer) { this.words = new Int32Array(bell); }

  /** Step 1: from here on a submitter rings. Returns the bell's value to wait on. */
  announce(): number {
    Atomics.store(this.words, SLEEPING, 1);
    return Atomics.load(this.words, BELL);
  }

  /**
   * Step 3 (after the re-check found nothing): block until rung or `timeoutMs` passed. A blocking
   * wait wakes in ~10 µs in Chromium; an Atomics.waitAsync wake comes as a task of the worker's event
   * loop, later under load. The caller keeps the timeout short and takes a turn of its event loop after.
   */
  sleep(value: number, timeoutMs: number): void {
    Atomics.wait(this.words, BELL, value, timeoutMs);
    this.wake();
  }

  /** Busy again: submitters stop ringing. */
  wake(): void {
    Atomics.store(this.words, SLEEPING, 0);
  }
}
