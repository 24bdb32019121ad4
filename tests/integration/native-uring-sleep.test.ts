// The reactor's sleep inside its io_uring (host/native/src/uring_sleep.c): a wait ends on a watched
// eventfd written by another thread, on a completion of the ring's own I/O, or on its timeout; the
// ring's own polls never reach the core's completions; watches are checked and bounded; no wake is
// lost over many rounds of arm, fire and drain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNative, type NativeAddon } from '../../host/native/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const addonPath = path.join(root, 'host', 'native', 'build', 'Release', 'wstor_native.node');
const loaded = loadNative();
assert.ok(loaded, 'the native addon is built (npm run build:native)');
const addon: NativeAddon = loaded;

const CQE_AT = 64 << 10;
const DESC_AT = 0;
const BUF_AT = 1 << 20;

function ring(forceFallback = false) {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
  const handle = addon.uringCreate(new Uint8Array(memory.buffer), 32, { forceFallback });
  return { memory, handle, view: new DataView(memory.buffer) };
}

function code(fn: () => unknown): string {
  try { fn(); } catch (err) { return (err as { code: string }).code; }
  return 'no error';
}

/** Runs `source` (CommonJS) in a worker with the addon at workerData.addonPath. */
function inWorker(source: string, data: Record<string, unknown>): Worker {
  return new Worker(source, { eval: true, workerData: { addonPath, ...data } });
}

test('a wait ends at its timeout when nothing happens', () => {
  const r = ring();
  try {
    const efd = addon.eventfdCreate();
    addon.uringWatch(r.handle, efd);
    const started = performance.now();
    assert.equal(addon.uringWait(r.handle, 30_000), 0);
    const took = performance.now() - started;
    assert.ok(took >= 25 && took < 2_000, `a 30 ms wait took ${took} ms`);
    assert.equal(addon.uringInfo(r.handle).sleeps, 1);
    addon.closeFd(efd);
  } finally {
    addon.uringDestroy(r.handle);
  }
});

test('another thread writing a watched eventfd ends the wait; one write, one wake', async () => {
  const r = ring();
  const efd = addon.eventfdCreate();
  try {
    addon.uringWatch(r.handle, efd);
    const worker = inWorker(`
      const { workerData } = require('node:worker_threads');
      const addon = require(workerData.addonPath);
      setTimeout(() => addon.eventfdWrite(workerData.efd, 3), 50);
    `, { efd });
    const started = performance.now();
    assert.equal(addon.uringWait(r.handle, 5_000_000), 1, 'woken, not timed out');
    const took = performance.now() - started;
    assert.ok(took < 4_000, `woken after ${took} ms`);
    await new Promise((resolve) => worker.once('exit', resolve));
    assert.equal(addon.uringWait(r.handle, 20_000), 0, 'one write wakes one wait (the counter stays, the poll fires per write)');
    addon.eventfdWrite(efd, 1);
    assert.equal(addon.uringWait(r.handle, 5_000_000), 1, 'the next write wakes the next wait');
    assert.equal(addon.eventfdRead(efd), 4, 'the counter is left alone: it only means "look again"');
    assert.equal(addon.uringReap(r.handle, CQE_AT, 16), 0, 'the ring\'s own polls are not the core\'s completions');
  } finally {
    addon.closeFd(efd);
    addon.uringDestroy(r.handle);
  }
});

test('a completion of the ring\'s I/O ends the wait', async () => {
  const r = ring();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-sleep-'));
  const fifo = path.join(dir, 'data.fifo');
  execFileSync('mkfifo', [fifo]);
  const fd = fs.openSync(fifo, fs.constants.O_RDWR);      // a read on it waits for a writer's bytes
  try {
    const v = r.view;
    v.setUint8(DESC_AT, 0);                                // READ
    v.setUint8(DESC_AT + 1, 0);
    v.setUint16(DESC_AT + 2, 0, true);
    v.setInt32(DESC_AT + 4, fd, true);
    v.setUint32(DESC_AT + 8, BUF_AT, true);
    v.setUint32(DESC_AT + 12, 64, true);
    v.setBigUint64(DESC_AT + 16, 0xffffffffffffffffn, true);
    v.setUint32(DESC_AT + 24, 77, true);
    v.setUint32(DESC_AT + 28, 0, true);
    assert.equal(addon.uringSubmit(r.handle, DESC_AT, 1), 1);
    const worker = inWorker(`
      const { workerData } = require('node:worker_threads');
      const fs = require('node:fs');
      setTimeout(() => fs.writeFileSync(workerData.fifo, 'wake up'), 50);
    `, { fifo });
    const started = performance.now();
    let woke = 0;
    while (woke === 0 && performance.now() - started < 5_000) woke = addon.uringWait(r.handle, 5_000_000);
    assert.equal(woke, 1);
    assert.ok(performance.now() - started < 4_000);
    assert.equal(addon.uringReap(r.handle, CQE_AT, 16), 1);
    assert.deepEqual([v.getUint32(CQE_AT, true), v.getInt32(CQE_AT + 4, true)], [77, 7]);
    await new Promise((resolve) => worker.once('exit', resolve));
  } finally {
    fs.closeSync(fd);
    addon.uringDestroy(r.handle);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('watches are checked and bounded', () => {
  const r = ring();
  const file = path.join(os.tmpdir(), `wstor-sleep-${process.pid}`);
  const plain = fs.openSync(file, 'w');
  const fds: number[] = [];
  try {
    assert.equal(code(() => addon.uringWatch(r.handle, plain)), 'EINVAL', 'only eventfds (a poll fire reads 8 bytes from it)');
    assert.equal(code(() => addon.uringWatch(r.handle, 987654)), 'EINVAL', 'a closed fd');
    assert.equal(code(() => addon.uringUnwatch(r.handle, 5)), 'EINVAL', 'not a watch');
    assert.equal(code(() => addon.uringUnwatch(r.handle, 64)), 'EINVAL');
    const ids = new Set<number>();
    for (let i = 0; i < 64; i++) {
      fds.push(addon.eventfdCreate());
      ids.add(addon.uringWatch(r.handle, fds[i]));
    }
    assert.equal(ids.size, 64);
    fds.push(addon.eventfdCreate());
    assert.equal(code(() => addon.uringWatch(r.handle, fds[64])), 'ENOSPC');
    addon.uringUnwatch(r.handle, 10);
    assert.equal(addon.uringWatch(r.handle, fds[64]), 10, 'a freed id is used again');
    assert.equal(addon.uringWait(r.handle, 1_000), 0, 'all 64 armed, none fired');
  } finally {
    for (const fd of fds) addon.closeFd(fd);
    fs.closeSync(plain);
    fs.rmSync(file);
    addon.uringDestroy(r.handle);
  }
  const f = ring(true);
  try {
    const efd = addon.eventfdCreate();
    assert.equal(code(() => addon.uringWatch(f.handle, efd)), 'ENOSYS', 'a fallback ring cannot sleep');
    assert.equal(code(() => addon.uringWait(f.handle, 10)), 'ENOSYS');
    addon.closeFd(efd);
  } finally {
    addon.uringDestroy(f.handle);
  }
});

test('an fd unwatched while its poll is armed wakes nothing, even when its number is reused', () => {
  const r = ring();
  try {
    const old = addon.eventfdCreate();
    const id = addon.uringWatch(r.handle, old);
    assert.equal(addon.uringWait(r.handle, 5_000), 0, 'armed, then timed out');
    addon.uringUnwatch(r.handle, id);
    addon.closeFd(old);
    const reused = addon.eventfdCreate();
    addon.eventfdWrite(reused, 1);
    assert.equal(addon.uringWait(r.handle, 20_000), 0, 'the cancelled poll did not wake the wait');
    assert.equal(addon.eventfdRead(reused), 1, 'nobody read the new fd');
    assert.equal(addon.uringReap(r.handle, CQE_AT, 16), 0);
    addon.closeFd(reused);
  } finally {
    addon.uringDestroy(r.handle);
  }
});

test('no wake is lost over 20000 rounds with a writer on another thread', async () => {
  const r = ring();
  const efd = addon.eventfdCreate();
  addon.uringWatch(r.handle, efd);
  // Round i: the waiter publishes i + 1 and waits; the worker, seeing it, writes the eventfd once.
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const ROUNDS = 20_000;
  const worker = inWorker(`
    const { workerData } = require('node:worker_threads');
    const addon = require(workerData.addonPath);
    const round = new Int32Array(workerData.shared);
    for (let i = 0; i < workerData.rounds; i++) {
      while (Atomics.load(round, 0) === i) Atomics.wait(round, 0, i, 5000);
      if (Atomics.load(round, 1) === 1) break;
      if (i % 3 === 0) for (let spin = 0; spin < (i % 200); spin++) {}   // land at different points of the arm
      addon.eventfdWrite(workerData.efd, 1);
    }
  `, { efd, shared: shared.buffer, rounds: ROUNDS });
  let timedOut = 0;
  try {
    for (let i = 0; i < ROUNDS; i++) {
      Atomics.store(shared, 0, i + 1);
      Atomics.notify(shared, 0);
      // The worker writes once per round and each write fires the watch once, so each round's wait
      // ends by that round's write; one that needs its 2 s timeout is a lost wake.
      if (addon.uringWait(r.handle, 2_000_000) === 0) { timedOut++; break; }
    }
  } finally {
    Atomics.store(shared, 1, 1);
    Atomics.add(shared, 0, 1);
    Atomics.notify(shared, 0);
    await new Promise((resolve) => worker.once('exit', resolve));
    addon.closeFd(efd);
    addon.uringDestroy(r.handle);
  }
  assert.equal(timedOut, 0, `${timedOut} of ${ROUNDS} rounds were not woken by their write`);
});

