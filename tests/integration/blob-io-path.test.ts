// The blob Node API's data path (host/blob-io.ts): pooled staging buffers, reads cut from shared
// ArrayBuffers, one promise per I/O, request ids that wrap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, WstorError } from '../../host/index.js';
import { withBlob } from '../helpers/blob.js';


const block = (n: number, size = 4096) => new Uint8Array(size).map((_, i) => (n * 7 + i * 13) & 0xff);

test('reads in flight together each resolve with their own bytes, which later reads never overwrite', async () => {
  await withBlob(async (blob) => {
    const blocks = 2048;
    for (let b = 0; b < blocks; b += 64) {
      await Promise.all(Array.from({ length: 64 }, (_, j) => blob.write((b + j) * 4096, block(b + j))));
    }
    // Many rounds of 256 reads in flight: results of one round are kept and checked after the next
    // rounds ran, so a result that shared bytes with a later read (or a staging buffer) would change.
    const kept: { n: number; data: Uint8Array }[] = [];
    for (let round = 0; round < 40; round++) {
      const ns = Array.from({ length: 256 }, (_, i) => (round * 257 + i * 31) % blocks);
      const got = await Promise.all(ns.map((n) => blob.read(n * 4096, 4096)));
      got.forEach((data, i) => { if (i % 16 === 0) kept.push({ n: ns[i], data }); assert.deepEqual(data, block(ns[i])); });
    }
    for (const { n, data } of kept) {
      assert.equal(data.length, 4096);
      assert.deepEqual(data, block(n));
    }
    // A size larger than one staging slot.
    const big = new Uint8Array(3 * 4096).map((_, i) => (i * 3) & 0xff);
    await blob.write(1 << 20, big);
    assert.deepEqual(await blob.read(1 << 20, big.length), big);
    assert.deepEqual(await blob.read((1 << 20) + 4096, 4096), big.subarray(4096, 8192));
  });
});

test('a data call with bad arguments or on a closed blob returns a rejected promise, never throws', async () => {
  await withBlob(async (blob) => {
    const calls: [string, () => Promise<unknown>][] = [
      ['read misaligned', () => blob.read(1, 4096)],
      ['write of no bytes', () => blob.write(0, new Uint8Array(0))],
      ['readv of nothing', () => blob.readv(0, [])],
      ['writev misaligned', () => blob.writev(0, [new Uint8Array(100)])],
    ];
    for (const [what, call] of calls) {
      let p: Promise<unknown> | undefined;
      assert.doesNotThrow(() => { p = call(); }, what);
      await assert.rejects(p!, (e: WstorError) => e.code === 'EINVAL' && /blob \d+: offset|non-empty array/.test(e.message), what);
    }
    await assert.rejects(blob.read((16 << 20), 4096), (e: WstorError) => e.code === 'EINVAL' || e.code === 'ERANGE');
  });
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('m1', { blockCount: 2048 });
    const bs = await engine.blobstore.init('m1', { clusterSize: 1 << 20 });
    const blob = await bs.open(await bs.create({ size: 1 << 20 }));
    await blob.close();
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => { p = blob.write(0, new Uint8Array(4096)); });
    await assert.rejects(p!, (e: WstorError) => e.code === 'EBADF');
    await bs.unload();
  } finally {
    await engine.stop();
  }
});

test('request ids wrap before they leave 31 bits, skipping ids still in flight', async () => {
  await withBlob(async (blob, engine) => {
    await blob.write(0, block(1));
    const internals = engine as unknown as { nextRequestId: number; pending: Map<number, unknown> };
    // Ids near 2^32 would reach the core as u32 and come back wrapped (to 0, 1, ...): a request
    // whose completion matches no pending id never settles.
    internals.nextRequestId = 2 ** 32 - 8;
    const placeholder = { what: 'held', reportSeq: 0, resolve() {}, reject() {} };
    internals.pending.set(1, placeholder);       // id 1 is "in flight": the wrap must skip it
    try {
      const reads = Array.from({ length: 32 }, () => blob.read(0, 4096));
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('a request never completed')), 5000).unref());
      const got = await Promise.race([Promise.all(reads), timeout]) as Uint8Array[];
      for (const data of got) assert.deepEqual(data, block(1));
      assert.equal(internals.pending.get(1), placeholder);
      assert.ok(internals.nextRequestId > 2 && internals.nextRequestId < 64, `ids restarted from 1 (next ${internals.nextRequestId})`);
    } finally {
      internals.pending.delete(1);
    }
  });
});

test('the staging buffers are reused: 20 000 I/Os leave the shared heap as they found it', async () => {
  await withBlob(async (blob, engine) => {
    const core = engine.core as unknown as { heap_live_blocks_all(): number };
    const data = block(3);
    const round = () => Promise.all(Array.from({ length: 64 }, (_, i) => (i & 1 ? blob.read(i * 4096, 4096) : blob.write(i * 4096, data))));
    await round();                                 // the pool takes its slots here
    const before = core.heap_live_blocks_all();
    for (let i = 0; i < 312; i++) await round();
    // The reactor keeps up to 64 finished blob requests for reuse (assembly/blob/io.ts): more may stay
    // than after the first round, never more than that, whatever the number of I/Os.
    const grown = core.heap_live_blocks_all() - before;
    assert.ok(grown >= 0 && grown <= 64, `${grown} more blocks live after 20 000 I/Os`);
  }, { reactors: 1 });
});
