// The blob-level I/O freeze (assembly/blob/freeze.ts) through the deterministic harness: the store's md
// thread and an I/O thread polled by hand, so "in flight" and "held back" are exact states, not timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, type Harness } from '../helpers/core.js';
import { BlobOp as OP } from '../helpers/opcodes.js';

const MiB = 1 << 20;

/** A ctx block (tests/core/blob-hooks.ts): words 0 op, 1 rc, 2 completions, 3 store, 4 blob, 7.. args, 13 channel. */
interface Fx { h: Harness; md: number; io: number; mdCtx: number; blob: number; store: number }

function send(h: Harness, thread: number, ctx: number, code: number, args: number[] = []): number {
  h.setU32(ctx, code, 0);
  args.forEach((v, i) => h.setU32(ctx, v >>> 0, 7 + i));
  const before = h.u32(ctx, 2);
  h.core.hbs_send(thread, ctx);
  return before;
}
const doneSince = (h: Harness, ctx: number, before: number) => h.u32(ctx, 2) !== before;
/** Run an op on `thread`, polling both threads until it completes; returns rc. */
function run(f: Fx, thread: number, ctx: number, code: number, args: number[] = []): number {
  const before = send(f.h, thread, ctx, code, args);
  f.h.pollUntil(`op ${code} to complete`, () => doneSince(f.h, ctx, before));
  return f.h.i32(ctx, 1);
}
/** A ctx for I/O from the I/O thread, with its own channel there. */
function ioCtx(f: Fx): number {
  const ctx = f.h.core.hbs_ctx_new();
  f.h.setU32(ctx, f.store, 3);
  f.h.setU32(ctx, f.blob, 4);
  assert.equal(run(f, f.io, ctx, OP.channel), 0);
  return ctx;
}
const fillUnits = (h: Harness, ptr: number, n: number, seed: number) => new Uint8Array(h.memory.buffer, ptr, n).forEach((_, i, a) => { a[i] = (i * 13 + seed) & 0xff; });
const holds = (h: Harness, ptr: number, n: number, seed: number) => new Uint8Array(h.memory.buffer, ptr, n).every((v, i) => v === ((i * 13 + seed) & 0xff));

/** A store on a malloc bdev, one open thin blob of 4 clusters of 1 MiB (256 units of 4 KiB each). */
async function setup(): Promise<Fx> {
  const h = await newHarness();
  const md = h.core.h_thread_create(0, -1, 1024);
  const io = h.core.h_thread_create(1, -1, 1024);
  h.core.hb_set_app_thread(md);
  const bdev = h.core.hb_malloc_create(4096, 16384);
  const mdCtx = h.core.hbs_ctx_new();
  const f: Fx = { h, md, io, mdCtx, blob: 0, store: 0 };
  assert.equal(run(f, md, mdCtx, OP.init, [bdev, MiB, 0]), 0);
  f.store = h.u32(mdCtx, 11);
  h.setU32(mdCtx, f.store, 3);
  assert.equal(run(f, md, mdCtx, OP.create, [4, 1]), 0);
  h.setU32(mdCtx, h.u32(mdCtx, 11), 5);
  h.setU32(mdCtx, h.u32(mdCtx, 12), 6);
  assert.equal(run(f, md, mdCtx, OP.open), 0);
  f.blob = h.u32(mdCtx, 11);
  h.setU32(mdCtx, f.blob, 4);
  return f;
}

test('I/O started on a frozen blob waits, and runs only after the last of nested freezes is lifted', async () => {
  const f = await setup();
  const { h } = f;
  const io = ioCtx(f);
  const buf = h.scratch(8192);
  fillUnits(h, buf, 8192, 5);
  assert.equal(run(f, f.io, io, OP.write, [buf, 0, 2]), 0);

  assert.equal(run(f, f.md, f.mdCtx, OP.freeze), 0, 'nothing in flight: the freeze holds at once');
  assert.equal(run(f, f.md, f.mdCtx, OP.freeze), 0, 'freezes nest');
  new Uint8Array(h.memory.buffer, buf, 8192).fill(0);
  const read = send(h, f.io, io, OP.read, [buf, 0, 2]);
  h.pollAll();
  assert.ok(!doneSince(h, io, read), 'a read started while frozen does not run');
  assert.equal(h.core.hbs_blob_queued(f.blob), 1, 'it waits in the blob queue');
  assert.equal(h.core.hbs_blob_inflight(f.blob), 0, 'and is not in flight');

  assert.equal(run(f, f.md, f.mdCtx, OP.unfreeze), 0);
  h.pollAll();
  assert.ok(!doneSince(h, io, read), 'one freeze is still held');
  assert.equal(run(f, f.md, f.mdCtx, OP.unfreeze), 0);
  h.pollUntil('the read', () => doneSince(h, io, read));
  assert.ok(doneSince(h, io, read), 'the last unfreeze restarts it');
  assert.equal(h.i32(io, 1), 0);
  assert.ok(holds(h, buf, 8192, 5), 'and it reads the data');
  assert.equal(h.core.hbs_blob_queued(f.blob), 0);
  assert.equal(h.core.hbs_blob_inflight(f.blob), 0);
});

test('a freeze completes only once the I/O in flight has completed; I/O started after it waits', async () => {
  const f = await setup();
  const { h } = f;
  const io1 = ioCtx(f), io2 = ioCtx(f);
  const a = h.scratch(4096), b = h.scratch(4096);
  fillUnits(h, a, 4096, 1);
  fillUnits(h, b, 4096, 2);
  // A first write to a thin cluster: it claims on the I/O thread, then needs the md thread to record
  // the claim before its data goes out. Poll only the I/O thread: it stays in flight.
  const w1 = send(h, f.io, io1, OP.write, [a, 300, 1]);
  for (let i = 0; i < 50; i++) h.core.h_poll(f.io, 0);
  assert.ok(!doneSince(h, io1, w1));
  assert.equal(h.core.hbs_blob_inflight(f.blob), 1, 'the write is in flight');

  const fr = send(h, f.md, f.mdCtx, OP.freeze);
  for (let i = 0; i < 50; i++) h.core.h_poll(f.md, 0);
  assert.ok(!doneSince(h, f.mdCtx, fr), 'the freeze waits for the write in flight');

  const w2 = send(h, f.io, io2, OP.write, [b, 600, 1]);
  h.pollUntil('the freeze', () => doneSince(h, f.mdCtx, fr));
  assert.ok(doneSince(h, f.mdCtx, fr), 'the freeze holds once the write in flight completed');
  assert.equal(h.i32(f.mdCtx, 1), 0);
  assert.ok(doneSince(h, io1, w1), 'the write in flight completed');
  assert.equal(h.i32(io1, 1), 0);
  assert.ok(!doneSince(h, io2, w2), 'the write started after the freeze waits');
  assert.equal(h.core.hbs_blob_queued(f.blob), 1);

  assert.equal(run(f, f.md, f.mdCtx, OP.unfreeze), 0);
  h.pollUntil('the held write', () => doneSince(h, io2, w2));
  assert.ok(doneSince(h, io2, w2), 'the held write runs after the unfreeze');
  assert.equal(h.i32(io2, 1), 0);
  const out = h.scratch(4096);
  assert.equal(run(f, f.io, io1, OP.read, [out, 300, 1]), 0);
  assert.ok(holds(h, out, 4096, 1));
  assert.equal(run(f, f.io, io1, OP.read, [out, 600, 1]), 0);
  assert.ok(holds(h, out, 4096, 2), 'both writes landed');
});

for (const [name, code, args] of [['resize', 8, [8]], ['snapshot', 17, []]] as const) {
  test(`${name} waits for the blob's I/O in flight (its map may move or change hands), then lets I/O go on`, async () => {
    const f = await setup();
    const { h } = f;
    const io1 = ioCtx(f);
    const a = h.scratch(4096);
    fillUnits(h, a, 4096, 3);
    const w1 = send(h, f.io, io1, OP.write, [a, 300, 1]);        // a thin first write: stays in flight
    for (let i = 0; i < 50; i++) h.core.h_poll(f.io, 0);
    assert.equal(h.core.hbs_blob_inflight(f.blob), 1, 'the write is in flight');
    const op = send(h, f.md, f.mdCtx, code, [...args]);
    for (let i = 0; i < 200; i++) h.core.h_poll(f.md, 0);
    assert.ok(!doneSince(h, f.mdCtx, op), `the ${name} waits for the write in flight`);
    h.pollUntil(name, () => doneSince(h, f.mdCtx, op));
    assert.ok(doneSince(h, f.mdCtx, op) && doneSince(h, io1, w1), 'both completed');
    assert.equal(h.i32(f.mdCtx, 1), 0, `${name}: ${h.messages('error').join('; ')}`);
    assert.equal(h.i32(io1, 1), 0);
    assert.equal(h.core.hbs_blob_queued(f.blob), 0);
    const out = h.scratch(4096);
    assert.equal(run(f, f.io, io1, OP.read, [out, 300, 1]), 0, 'I/O goes on');
    assert.ok(holds(h, out, 4096, 3), 'the write landed before the map changed');
  });
}
