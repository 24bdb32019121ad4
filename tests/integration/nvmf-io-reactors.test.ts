// NVMe-oF namespaces on real reactors (assembly/nvme/ns.ts, ns-channels.ts): I/O of one namespace from
// qpairs on two reactors, and a close while it is in flight on both, which must wait for every request
// (each completing once) and release each reactor's channel there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestEngine, sleep, type TestEngine } from '../helpers/engine.js';
import { writeSqe, readSqe } from '../helpers/nvme-tcp-sqe.js';

const PER_REACTOR = 16;

function ascii(t: TestEngine, text: string): number {
  const bytes = Buffer.from(`${text}\0`, 'latin1');
  const p = t.core.wstor_alloc(bytes.length) >>> 0;
  new Uint8Array(t.engine.memory.buffer, p, bytes.length).set(bytes);
  return p;
}

function request(t: TestEngine, qpair: number, sqe: Buffer, bytes: number, tag: number): number {
  const req = t.core.hn_req_new(qpair, 1, bytes, tag) >>> 0;
  new Uint8Array(t.engine.memory.buffer, t.core.hn_req_sqe(req) >>> 0, 64).set(sqe);
  return req;
}

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test('a namespace closed with I/O in flight on two reactors: every request completes once, the close only after', async () => {
  await withTestEngine(async (t) => {
    t.engine.bdev.createMalloc('m0', { blockSize: 512, blockCount: 4096 });
    // Writes held 300 ms: still in flight when the close begins.
    const bdev = await t.engine.bdev.createDelay('slow0', 'm0', { avgReadUs: 0, p99ReadUs: 0, avgWriteUs: 300_000, p99WriteUs: 300_000 });
    const [opened] = await Promise.all([t.nextEvents(1, (e) => e.a === 1), Promise.resolve(t.core.hn_ns_open(bdev, 1, ascii(t, 'nqn.2016-06.io.spdk:r'), 1))]);
    assert.equal(opened[0].b, 0, `nvmfNsOpen: ${opened[0].b}`);
    const ns = opened[0].c >>> 0;
    const qpairs = [0, 1].map((reactor) => t.core.hn_qpair_new(t.core.t_thread_create(reactor) >>> 0) >>> 0);
    const reqs: number[] = [];
    qpairs.forEach((q, k) => {
      for (let i = 0; i < PER_REACTOR; i++) reqs.push(request(t, q, writeSqe(1, (k * PER_REACTOR + i) * 8, 8), 4096, 100 + reqs.length));
    });
    for (const r of reqs) t.core.hn_exec(r, ns);
    await until('every request to be in flight', () => reqs.every((r) => t.core.hn_req_execd(r) === 1));
    assert.equal(t.core.hn_completed(), 0, 'none completed yet (the delay holds them)');
    const closed = t.nextEvents(1, (e) => e.a === 2, 30_000);
    assert.equal(t.core.hn_ns_close(ns, 2), 0);
    const [done] = await closed;
    assert.equal(done.c, reqs.length, 'the close was done only after every request had completed');
    assert.deepEqual(reqs.map((r) => t.core.hn_req_completions(r)), reqs.map(() => 1), 'each completed exactly once');
    assert.deepEqual(reqs.map((r) => t.core.hn_req_status(r)), reqs.map(() => 0), 'and succeeded');
    for (const q of qpairs) assert.equal(t.core.hn_qpair_outstanding(q), 0);
    assert.equal(t.core.bdev_info(bdev, 3), 0, 'the namespace\'s descriptor is closed');
    // The bdev is free again: a new namespace over it reads the data the closed one wrote.
    const again = t.nextEvents(1, (e) => e.a === 3);
    t.core.hn_ns_open(bdev, 1, ascii(t, 'nqn.2016-06.io.spdk:r'), 3);
    const ns2 = (await again)[0].c >>> 0;
    const read = request(t, qpairs[1], readSqe(1, 0, 8), 4096, 50_000);
    const readDone = t.nextEvents(1, (e) => e.a === 50_000);
    t.core.hn_exec(read, ns2);
    assert.equal((await readDone)[0].b, 0);
    const closed2 = t.nextEvents(1, (e) => e.a === 4);
    t.core.hn_ns_close(ns2, 4);
    await closed2;
    const errors = t.reports.filter((r) => r.level === 'error' || r.level === 'fatal');
    assert.deepEqual(errors.map((r) => r.message), []);
  }, { reactors: 2 });
});
