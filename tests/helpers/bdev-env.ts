// A bdev client on the deterministic harness, for tests of bdev modules: an app thread (requests that
// create bdevs run there) and an I/O thread that opens a bdev and takes a channel, then runs the ops of
// tests/core/bdev-hooks.ts one at a time.
import assert from 'node:assert/strict';
import { newHarness, type Harness, type HarnessOptions } from './core.js';
import { writeCoreString, EVENT_REQUEST_DONE } from '../../host/core-abi.js';

import { BdevOp as OP, BdevWord as W } from './opcodes.js';

export { OP, W };
export const IO = { read: 0, write: 1, flush: 2, unmap: 3, writeZeroes: 4, reset: 5 } as const;

export interface Env { h: Harness; app: number; thread: number }

export async function env(options: HarnessOptions = {}): Promise<Env> {
  const h = await newHarness(options);
  const app = h.core.h_thread_create(0, -1, 256);
  h.core.hb_set_app_thread(app);
  return { h, app, thread: h.core.h_thread_create(1, -1, 1024) };
}

/** Post a request with id `req` through `post`, run the app thread, return the request's value. */
export function request(e: Env, post: (req: number) => number): number {
  const req = 1000 + e.h.events.length;
  assert.equal(post(req), 0);
  e.h.pollUntil(`request ${req}`, () => e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req));
  const done = e.h.events.find((x) => x.kind === EVENT_REQUEST_DONE && x.a === req);
  assert.ok(done, 'request completed');
  assert.equal(done!.b, 0, `request failed with ${done!.b}: ${e.h.messages('error').join('; ')}`);
  return done!.c;
}

export function name(e: Env, text: string): number { return writeCoreString(e.h.core, e.h.memory, text); }

/** A client of bdev `id` on the env's thread: open + channel. */
export function client(e: Env, id: number, write = true) {
  const ctx = e.h.core.hb_ctx_new();
  e.h.setU32(ctx, id, W.bdev);
  const c = {
    ctx,
    /** Send an op, then poll until its completion ran (or the deadline). Returns the submit rc. */
    run(op: number, f: Partial<Record<keyof typeof W, number>> = {}, waitDone = true, polls = 100_000): number {
      const before = e.h.u32(ctx, W.done);
      e.h.setU32(ctx, op, W.op);
      for (const [k, v] of Object.entries(f)) e.h.setU32(ctx, v!, W[k as keyof typeof W]);
      e.h.core.hb_send_op(e.thread, ctx);
      e.h.core.h_poll(e.thread, 1);
      const rc = e.h.i32(ctx, W.rc);
      const isIo = (op >= OP.read && op <= OP.reset) || op === OP.readv || op === OP.writev || op === OP.readLent;
      if (waitDone && isIo && rc === 0) e.h.pollUntil(`op ${op} to complete`, () => e.h.u32(ctx, W.done) !== before, polls);
      return rc;
    },
    lastOk: () => e.h.u32(ctx, W.status) === 1,
  };
  assert.equal(c.run(OP.open, { flag: write ? 1 : 0 }), 0);
  assert.equal(c.run(OP.getChannel), 0);
  return c;
}

export function bytes(h: Harness, ptr: number, n: number) { return new Uint8Array(h.memory.buffer, ptr, n); }
export function aligned(h: Harness, n: number): number { const p = h.scratch(n + 4096); return Math.ceil(p / 4096) * 4096; }
