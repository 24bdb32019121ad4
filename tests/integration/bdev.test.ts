// The bdev Node API with real reactors: creation errors, hot remove while I/O runs, statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, WstorError } from '../../host/index.js';
import { EVENT_PERF_JOB_DONE } from '../../host/core-abi.js';

test('bad bdev requests are refused with errors that say what to do', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  try {
    assert.throws(() => engine.bdev.createMalloc('m', { blockSize: 1000, blockCount: 8 }), /block size 1000 must be a power of two/);
    assert.throws(() => engine.bdev.createMalloc('bad name!', { blockCount: 8 }), /must be 1-255 characters/);
    engine.bdev.createMalloc('m0', { blockCount: 8 });
    assert.throws(() => engine.bdev.createMalloc('m0', { blockCount: 8 }), /already exists/);
    assert.throws(() => engine.bdev.createMalloc('huge', { blockCount: 1 << 20 }), (e: WstorError) => e.code === 'ENOMEM');
    assert.throws(() => engine.bdev.createFile('f', { path: '/nonexistent/x.img' }), /cannot open \/nonexistent\/x.img/);
    await assert.rejects(engine.bdev.createError('e0', 'nope'), /no bdev named nope/);
    await assert.rejects(engine.bdev.delete('nope'), /no bdev named nope/);
    assert.throws(() => engine.bdev.injectError('m0', 'read', 'failure', 1), /is it an error bdev/);
  } finally {
    await engine.stop();
  }
});

test('hot remove while two reactors do I/O: the I/O stops with errors, nothing hangs, the bdev goes', async () => {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    const { id } = { id: engine.bdev.createMalloc('hot0', { blockCount: 4096 }) };
    const core = engine.core as unknown as Record<string, (...a: number[]) => number>;
    const done = new Promise<void>((resolve) => {
      let n = 0;
      engine.onEvent((e) => { if (e.kind === EVENT_PERF_JOB_DONE && ++n === 2) resolve(); });
    });
    const run = core.perf_start(id, 2, 4, 50, 64, 4096, 60_000, 3, 0);
    assert.ok(run > 0);
    await new Promise((r) => setTimeout(r, 200));
    const before = core.perf_stat(run, 0, 0) + core.perf_stat(run, 1, 0);
    assert.ok(before > 0, 'I/O was running');
    await engine.bdev.delete('hot0');        // resolves only once both jobs closed their descriptors
    await done;
    const errors = core.perf_stat(run, 0, 2) + core.perf_stat(run, 1, 2);
    assert.ok(errors >= 2, 'each job saw its next submission refused');
    assert.throws(() => engine.bdev.info('hot0'), /no bdev named hot0/);
    core.perf_free(run);
  } finally {
    await engine.stop();
  }
});

test('statistics of a bdev through the Node API', async () => {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20 });
  const file = path.join(os.tmpdir(), `wstor-bdev-api-${process.pid}.img`);
  fs.writeFileSync(file, Buffer.alloc(1 << 20));
  try {
    const { id } = engine.bdev.createFile('file0', { path: file, direct: true });
    assert.deepEqual(engine.bdev.info('file0').ioTypes, ['read', 'write', 'flush', 'unmap', 'write_zeroes', 'reset']);
    const core = engine.core as unknown as Record<string, (...a: number[]) => number>;
    const done = new Promise<void>((resolve) => engine.onEvent((e) => { if (e.kind === EVENT_PERF_JOB_DONE) resolve(); }));
    const run = core.perf_start(id, 1, 1, 0, 8, 4096, 300, 1, 0);
    await done;
    const ios = core.perf_stat(run, 0, 0);
    const s = engine.bdev.stats('file0');
    assert.equal(s.ops.write, ios, 'every perf write is counted');
    assert.equal(s.bytes.write, ios * 4096);
    assert.equal(s.errors.write, 0);
    assert.equal(s.histogram.reduce((a, b) => a + b, 0), ios, 'the histogram holds every I/O');
    assert.ok(s.latencyNs.max >= s.latencyNs.min);
    core.perf_free(run);
    await engine.bdev.delete('file0');
  } finally {
    await engine.stop();
    fs.rmSync(file, { force: true });
  }
});
