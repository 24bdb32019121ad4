// Many bdevs behind a raw RPC client: bdev_get_bdevs grows linearly with the bdev count and a long answer
// lets other connections' calls through meanwhile; a batch of such answers is bounded by the connection's
// output limit (the rest error answers naming it); each small malloc bdev costs the engine about its
// size, not a page and a histogram; and statistics of closed channels add up in their small form and whole.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTarget, type TestTarget } from '../helpers/target.js';
import { RawClient } from '../helpers/rpc.js';
import { EVENT_PERF_JOB_DONE } from '../../host/core-abi.js';

let t: TestTarget;
before(async () => { t = await startTarget({ engine: { reactors: 1, memoryBytes: 512 << 20 }, server: { maxOutputBytes: 4 << 20 } }); });
after(async () => { await t.stop(); });

const PAGE = 65536;
interface Answer { id: unknown; result?: unknown[]; error?: { code: number; message: string } }

/** Create null bdevs nfrom..nto-1 through the Node API and wait until each was examined. */
async function nullBdevs(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) t.engine.bdev.createNull(`n${i}`, { blockSize: 4096, blockCount: 16 });
  await t.engine.bdev.waitForExamine();
}

/** The median time of bdev_get_bdevs as the server makes it (the method table, before encoding). */
async function medianMs(count: number): Promise<number> {
  const ms: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    const list = (await t.methods.call('bdev_get_bdevs', {})) as unknown[];
    ms.push(performance.now() - t0);
    assert.equal(list.length, count);
  }
  return ms.sort((a, b) => a - b)[3];
}

test('bdev_get_bdevs grows linearly with the bdevs; a long one lets other connections through; a batch of them stays bounded', async () => {
  const raw = await t.connect();
  const other = await t.connect();
  try {
    await nullBdevs(0, 1500);
    const small = await medianMs(1500);
    await nullBdevs(1500, 6000);
    const large = await medianMs(6000);
    // Linear is 4 times; the list walk per lookup made it 16 (1 s at 12k bdevs).
    assert.ok(large < 8 * small + 10, `6000 bdevs took ${large.toFixed(1)} ms, 1500 took ${small.toFixed(1)} ms`);

    raw.send({ jsonrpc: '2.0', id: 'big', method: 'bdev_get_bdevs' });
    other.send({ jsonrpc: '2.0', id: 'quick', method: 'spdk_get_version' });
    const [quick] = (await other.take(1)) as Answer[];
    assert.equal(raw.values.length, 0, 'the other connection was answered while the long answer was being made');
    assert.equal(quick.id, 'quick');
    assert.equal(((await raw.take(1)) as Answer[])[0].result!.length, 6000);

    // 16 answers of 6,000 bdevs (about 3 MB each) in one batch: as many as fit 4 MiB, the rest refused by name.
    raw.send(Array.from({ length: 16 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'bdev_get_bdevs' })));
    const [answers] = (await raw.take(1, 30_000)) as Answer[][];
    assert.equal(answers.length, 16);
    assert.ok(answers.filter((a) => a.result).length <= 1);
    for (const a of answers.filter((x) => x.error)) {
      assert.equal(a.error!.code, -90);
      assert.match(a.error!.message, /(larger than 4194304 bytes, the most one answer may be|would pass its limit of 4194304 bytes)/);
    }
    assert.ok(t.server.stats.queuedBytesPeak <= 4 << 20);
    assert.deepEqual(((await raw.call('spdk_get_version', {}, 'after')) as { id: string }).id, 'after', 'the connection is still served');
  } finally {
    raw.socket.destroy();
    other.socket.destroy();
  }
});

test('a 4 KiB malloc bdev costs the engine a few KiB (its data, its records, a closed channel\'s statistics), not 75 KB', async () => {
  const raw = await t.connect();
  try {
    const pages0 = t.engine.core.heap_pages_in_use();
    const count = 2000;
    for (let i = 0; i < count; i++) {
      const a = (await raw.call('bdev_malloc_create', { name: `m${i}`, block_size: 4096, num_blocks: 1 }, i)) as Answer;
      assert.equal(a.error, undefined);
    }
    await t.engine.bdev.waitForExamine();
    await new Promise((r) => setTimeout(r, 200));              // the examine's channels are released by message
    const perBdev = ((t.engine.core.heap_pages_in_use() - pages0) * PAGE) / count;
    assert.ok(perBdev < 8 << 10, `${perBdev.toFixed(0)} bytes per 4 KiB malloc bdev`);
    const stats = t.engine.bdev.stats('m0');
    assert.equal(stats.ops.read, 1, 'the examine read it once, through a channel since closed');
    assert.equal(stats.histogram.reduce((a, b) => a + b, 0), 1, 'that read is in the histogram');
  } finally {
    raw.socket.destroy();
  }
});

test('statistics of closed channels add up, kept as a few buckets and then as the whole histogram', async () => {
  const id = t.engine.bdev.createMalloc('stats0', { blockSize: 4096, blockCount: 256 });
  await t.engine.bdev.waitForExamine();
  const core = t.engine.core as unknown as Record<string, (...a: number[]) => number>;
  let ios = 1;                                                 // the examine's read
  for (const round of [1, 2]) {
    const done = new Promise<void>((resolve) => { const off = t.engine.onEvent((e) => { if (e.kind === EVENT_PERF_JOB_DONE) { off(); resolve(); } }); });
    const run = core.perf_start(id, 1, 2, 50, 16, 4096, 200, round, 0);
    assert.ok(run > 0);
    await done;
    ios += core.perf_stat(run, 0, 0);
    core.perf_free(run);
    await new Promise((r) => setTimeout(r, 100));              // its channel is released by message
    const s = t.engine.bdev.stats('stats0');
    assert.equal(s.ops.read + s.ops.write, ios, `round ${round}: every I/O is counted`);
    assert.equal(s.histogram.reduce((a, b) => a + b, 0), ios, `round ${round}: the histogram holds every I/O`);
    assert.ok(s.histogram.filter((n) => n > 0).length > 8, 'more buckets than are kept inline');
  }
});
