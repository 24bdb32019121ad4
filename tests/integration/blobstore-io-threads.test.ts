// Node API blob I/O on I/O threads spread over the reactors (host/blobstore.ts, assembly/app/bs-io.ts):
// it runs on every reactor, many reads and writes at once keep their data, close and resize wait for
// I/O in flight, and an unload gives back the I/O threads' channels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestEngine, type TestEngine } from '../helpers/engine.js';
import { WstorError } from '../../host/index.js';
import type { BlobHandle, BlobStore } from '../../host/index.js';

const UNIT = 4096;

/** A 4 KiB block whose bytes name the block and the pass that wrote it. */
function pattern(block: number, pass: number): Uint8Array {
  const b = new Uint8Array(UNIT);
  for (let i = 0; i < UNIT; i++) b[i] = (block * 7 + pass * 131 + i) & 0xff;
  b[0] = pass; b[1] = block & 0xff; b[2] = block >> 8;
  return b;
}

/** Run `ops` with at most `depth` in flight. */
async function pool(ops: (() => Promise<void>)[], depth: number): Promise<void> {
  let next = 0;
  const worker = async () => { while (next < ops.length) await ops[next++](); };
  await Promise.all(Array.from({ length: depth }, worker));
}

/** A store with 64 KiB clusters on a new malloc bdev m0 of `blocks` 4 KiB blocks. */
async function mallocStore(t: TestEngine, blocks: number): Promise<BlobStore> {
  t.engine.bdev.createMalloc('m0', { blockCount: blocks });
  return t.engine.blobstore.init('m0', { clusterSize: 64 << 10 });
}

function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

test('Node API blob I/O runs on I/O threads on every reactor, not on the app thread', async () => {
  await withTestEngine(async (t) => {
    const bs = await mallocStore(t, 8192);
    const blob = await bs.open(await bs.create({ size: 4 << 20 }));
    await Promise.all(Array.from({ length: 16 }, (_, i) => blob.write(i * UNIT, pattern(i, 1))));
    await Promise.all(Array.from({ length: 16 }, async (_, i) => assert.deepEqual(await blob.read(i * UNIT, UNIT), pattern(i, 1))));
    const per = t.engine.blobstore.ioPerReactor;
    assert.equal(per.length, 2);
    assert.equal(per[0] + per[1], 32);
    assert.ok(per[1] >= 8, `reactor 1 ran ${per[1]} of 32 I/Os`);
    assert.ok(per[0] >= 8, `reactor 0 ran ${per[0]} of 32 I/Os`);
    await blob.close();
    await bs.unload();
  }, { reactors: 2 });
});

test('many concurrent Node API reads and writes on 2 reactors keep their data (thick and thin blobs)', async () => {
  await withTestEngine(async (t) => {
    const bs = await mallocStore(t, 32768);
    const BLOCKS = 2048;                                  // 8 MiB per blob
    const blobs: BlobHandle[] = [];
    blobs.push(await bs.open(await bs.create({ size: BLOCKS * UNIT })));
    blobs.push(await bs.open(await bs.create({ size: BLOCKS * UNIT, thin: true })));
    // Two handles of the thin blob: the same blob, one gate.
    blobs.push(await bs.open(blobs[1].id));
    const expect = blobs.slice(0, 2).map(() => new Array<number>(BLOCKS).fill(0));   // pass that wrote each block, 0 = zeroes
    for (const pass of [1, 2]) {
      const ops: (() => Promise<void>)[] = [];
      for (const [k, order] of [shuffled(BLOCKS, pass * 17), shuffled(BLOCKS, pass * 31)].entries()) {
        for (const block of order) {
          if (pass === 2 && block % 3 !== 0) continue;     // the second pass rewrites a third
          const handle = k === 1 && block % 2 === 1 ? blobs[2] : blobs[k];
          if (pass === 2 && block % 9 === 0) {
            ops.push(() => (block % 2 === 0 ? handle.writeZeroes(block * UNIT, UNIT) : handle.unmap(block * UNIT, UNIT)));
            expect[k][block] = 0;
          } else {
            ops.push(() => handle.write(block * UNIT, pattern(block, pass)));
            expect[k][block] = pass;
          }
        }
      }
      await pool(ops, 256);
    }
    const zero = new Uint8Array(UNIT);
    const reads: (() => Promise<void>)[] = [];
    for (let k = 0; k < 2; k++) {
      for (let block = 0; block < BLOCKS; block++) {
        reads.push(async () => {
          const got = await blobs[k === 1 && block % 5 === 0 ? 2 : k].read(block * UNIT, UNIT);
          const want = expect[k][block] === 0 ? zero : pattern(block, expect[k][block]);
          assert.ok(Buffer.from(got).equals(want), `blob ${k} block ${block}: pass ${got[0]} read, pass ${expect[k][block]} expected`);
        });
      }
    }
    await pool(reads, 256);
    const per = t.engine.blobstore.ioPerReactor;
    assert.ok(per[0] > 1000 && per[1] > 1000, `I/Os per reactor ${per.join(', ')}`);
    for (const b of blobs) await b.close();
    await bs.unload();
  }, { reactors: 2, memoryBytes: 256 << 20 });
});

test('close waits for the blob\'s I/O in flight; I/O started after close fails with EBADF', async () => {
  await withTestEngine(async (t) => {
    const bs = await mallocStore(t, 8192);
    const id = await bs.create({ size: 4 << 20, thin: true });
    for (let round = 0; round < 5; round++) {
      const blob = await bs.open(id);
      const order: string[] = [];
      const writes = Array.from({ length: 200 }, (_, i) => blob.write((i % 1024) * UNIT, pattern(i % 1024, round + 1)).then(() => { order.push('io'); }));
      const closed = blob.close().then(() => { order.push('close'); });
      const late = blob.read(0, UNIT);
      await Promise.all([...writes, closed]);
      await assert.rejects(late, (e: WstorError) => e.code === 'EBADF');
      assert.equal(order.indexOf('close'), 200, 'close resolved after every write');
    }
    const blob = await bs.open(id);
    for (let i = 0; i < 200; i++) assert.deepEqual(await blob.read(i * UNIT, UNIT), pattern(i, 5));
    await blob.close();
    await bs.unload();
  }, { reactors: 2 });
});

test('resize and snapshot wait for I/O in flight on the blob; its data stays', async () => {
  await withTestEngine(async (t) => {
    const bs = await mallocStore(t, 16384);
    const blob = await bs.open(await bs.create({ size: 64 << 10, thin: true }));
    const ops: Promise<unknown>[] = [];
    let size = 64 << 10;
    for (let step = 0; step < 32; step++) {
      const base = size / UNIT;
      size += 128 << 10;                       // grows past its capacity: the cluster map is reallocated
      ops.push(blob.resize(size));
      for (let i = 0; i < 32; i++) ops.push(blob.write((base + i) * UNIT, pattern(base + i, 3)));
      if (step % 8 === 7) ops.push(blob.snapshot());
    }
    await Promise.all(ops);
    // Every step wrote blocks [base, base + 32) where base = 16 + 32 * step.
    for (let step = 0; step < 32; step++) {
      const base = 16 + 32 * step;
      for (let i = 0; i < 32; i++) assert.deepEqual(await blob.read((base + i) * UNIT, UNIT), pattern(base + i, 3), `step ${step} block ${base + i}`);
    }
    await blob.close();
    await bs.unload();
  }, { reactors: 2, memoryBytes: 256 << 20 });
});

test('unload gives back the I/O threads\' channels: the store\'s bdev can then be deleted, and loaded again', async () => {
  await withTestEngine(async (t) => {
    let bs = await mallocStore(t, 8192);
    const id = await bs.create({ size: 1 << 20 });
    let blob = await bs.open(id);
    await Promise.all(Array.from({ length: 8 }, (_, i) => blob.write(i * UNIT, pattern(i, 4))));
    await blob.close();
    await bs.unload();
    // Loaded again, the I/O threads take new channels.
    bs = await t.engine.blobstore.load('m0');
    blob = await bs.open(id);
    for (let i = 0; i < 8; i++) assert.deepEqual(await blob.read(i * UNIT, UNIT), pattern(i, 4));
    await blob.close();
    await bs.unload();
    const deleted = t.engine.bdev.delete('m0');
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('bdev delete waits: a channel on it is still held')), 5000));
    await Promise.race([deleted, timeout]);
    assert.deepEqual(t.reports.filter((r) => r.level === 'error' || r.level === 'warn').map((r) => r.message), []);
  }, { reactors: 2 });
});

test('blob I/O completions come back through the shared completion queue, none lost; a failure still comes as an error with its reason', () => withTestEngine(async (t) => {
  const core = t.core as unknown as { completions_queued(): number };
  const bs = await mallocStore(t, 4096);
  const blob = await bs.open(await bs.create({ size: 8 << 20 }));
  const before = core.completions_queued();
  const BLOCKS = 2048, OPS = 20_000;
  const ops: (() => Promise<void>)[] = [];
  const written = new Map<number, number>();
  for (let i = 0; i < OPS; i++) {
    const block = (i * 7919) % BLOCKS;
    if (i % 2 === 0) {
      ops.push(async () => { await blob.write(block * UNIT, pattern(block, i)); written.set(block, i); });
    } else {
      ops.push(async () => { await blob.read(block * UNIT, UNIT); });
    }
  }
  const started = performance.now();
  await pool(ops, 64);
  const took = performance.now() - started;
  const queued = core.completions_queued() - before;
  assert.ok(queued >= OPS * 0.95, `${queued} of ${OPS} completions came through the queue`);
  assert.ok(took < 60_000, `${OPS} operations, 64 in flight, took ${took.toFixed(0)} ms (a lost wake-up would cost 1 s each)`);
  for (const [block, pass] of [...written].slice(0, 200)) assert.deepEqual(await blob.read(block * UNIT, UNIT), pattern(block, pass));
  await blob.close();
  await bs.unload();
  // A failing I/O is an event, so the report that explains it comes first and names it.
  t.engine.bdev.createMalloc('m1', { blockCount: 1024 });
  await t.engine.bdev.createError('e1', 'm1');
  const bs2 = await t.engine.blobstore.init('e1', { clusterSize: 64 << 10 });
  const b2 = await bs2.open(await bs2.create({ size: 1 << 20 }));
  t.engine.bdev.injectError('e1', 'read', 'failure', 1);
  await assert.rejects(b2.read(0, UNIT), (e: WstorError) => e.code === 'EIO' && /reading blob/.test(e.message));
  assert.deepEqual(await b2.read(0, UNIT), new Uint8Array(UNIT), 'the next read succeeds');
  await b2.close();
  await bs2.unload();
}));

test('the host\'s completion doorbell rings once per reactor turn, not once per completion', () => withTestEngine(async (t) => {
  // Reads held 20 ms by a delay bdev come due in a few poller turns while the host's drain is
  // waiting on the doorbell but its thread is busy (here: a synchronous spin), as when the host and
  // the reactor share a CPU. A ring per completion bumped the bell once per read, and in that case
  // each ring was a wake-up of the host that preempted the reactor.
  const core = t.core as unknown as { completions_block(): number };
  t.engine.bdev.createMalloc('m0', { blockCount: 4096 });
  await t.engine.bdev.createDelay('slow', 'm0', { avgReadUs: 20_000, p99ReadUs: 20_000, avgWriteUs: 0, p99WriteUs: 0 });
  const bs = await t.engine.blobstore.init('slow', { clusterSize: 64 << 10 });
  const blob = await bs.open(await bs.create({ size: 4 << 20 }));
  await blob.write(0, new Uint8Array(4 << 20).fill(7));
  const bell = new Int32Array(t.engine.memory.buffer, core.completions_block(), 4);
  const READS = 256;
  const before = Atomics.load(bell, 1);
  const reads = Array.from({ length: READS }, (_, i) => blob.read(i * UNIT, UNIT));
  await new Promise((resolve) => setTimeout(resolve, 1));      // the drain is now waiting on the bell
  const spinUntil = performance.now() + 100;
  while (performance.now() < spinUntil) { /* the host is busy while the reads come due */ }
  for (const r of await Promise.all(reads)) assert.equal(r[0], 7);
  const rings = Atomics.load(bell, 1) - before;
  assert.ok(rings <= READS / 8, `${rings} doorbell rings for ${READS} reads that came due in a few turns`);
  await blob.close();
  await bs.unload();
}));
