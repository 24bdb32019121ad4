// vhost-user-blk with real reactors, a real unix socket and real fd passing, driven by a scripted
// client that plays QEMU and the guest (tests/helpers/vhost-user-client.ts): the handshake, every
// request type, hostile guests (loops, addresses outside memory, wrong sizes, messages out of
// order), and controller deletion that never stalls another controller on the same reactor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, WstorError } from '../../host/index.js';
import { VhostUserClient, MSG, BLK } from '../helpers/vhost-user-client.js';

const MiB = 1 << 20;
const OK = 0, IOERR = 1, UNSUPP = 2;

async function target(): Promise<{ engine: Engine; dir: string }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 512 << 20, logLevel: 'fatal' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-'));
  engine.vhost.socketDir = dir;
  engine.bdev.createMalloc('m0', { blockCount: (64 * MiB) / 4096 });
  return { engine, dir };
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

test('a guest writes, reads, flushes, discards and asks for the id; bad requests get IOERR or UNSUPP', async () => {
  const { engine, dir } = await target();
  try {
    await engine.vhost.createBlk('vb0', 'm0', { cpumask: '0x2' });
    const c = await VhostUserClient.connect(path.join(dir, 'vb0'));
    const { features, config } = await c.setup();
    assert.ok(features & (1n << 32n), 'VERSION_1 offered');
    assert.ok(features & (1n << 13n), 'DISCARD offered (malloc supports unmap)');
    const cfg = new DataView(config.buffer, config.byteOffset);
    assert.equal(cfg.getBigUint64(0, true), BigInt((64 * MiB) / 512), 'capacity in sectors');
    assert.equal(cfg.getUint32(20, true), 4096, 'blk_size');
    const data = pattern(12288, 5);
    assert.equal((await c.request(0, BLK.OUT, 16n, { data, segments: 3 })).status, OK);
    const back = await c.request(0, BLK.IN, 16n, { readBytes: 12288, segments: 2 });
    assert.equal(back.status, OK);
    assert.deepEqual(back.data, data, 'what was written reads back');
    assert.equal(back.usedLen, 12288 + 1, 'used length: data and status');
    assert.equal((await c.request(0, BLK.FLUSH, 0n)).status, OK);
    const id = await c.request(0, BLK.GET_ID, 0n, { readBytes: 20 });
    assert.equal(new TextDecoder().decode(id.data).replace(/\0+$/, ''), 'vb0');
    const seg = VhostUserClient.le([16, 8], [8, 4], [0, 4]);     // sectors 16..23: the first 4 KiB written
    assert.equal((await c.request(0, BLK.DISCARD, 0n, { data: seg })).status, OK);
    assert.ok((await c.request(0, BLK.IN, 16n, { readBytes: 4096 })).data.every((b) => b === 0), 'discarded blocks read as zeroes');
    assert.equal((await c.request(0, 99, 0n, { readBytes: 512 })).status, UNSUPP, 'an unknown type');
    assert.equal((await c.request(0, BLK.IN, 3n, { readBytes: 4096 })).status, IOERR, 'not aligned to the 4 KiB block');
    assert.equal((await c.request(0, BLK.IN, BigInt((64 * MiB) / 512), { readBytes: 4096 })).status, IOERR, 'past the end');
    // EVENT_IDX: no interrupt while the used index has not passed used_event; one once it has.
    assert.ok(features & (1n << 29n), 'EVENT_IDX offered (and taken by this client)');
    c.interrupts(0);
    c.setUsedEvent(0, c.usedIdx(0) + 100);
    await c.request(0, BLK.FLUSH, 0n);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.interrupts(0), 0, 'used_event far ahead: no interrupt');
    c.setUsedEvent(0, c.usedIdx(0));
    await c.request(0, BLK.FLUSH, 0n);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.interrupts(0), 1, 'used_event reached: one interrupt');
    // Coalescing: at most one interrupt per 60 ms (threshold 0: always on).
    engine.vhost.setCoalescing('vb0', 60_000, 0);
    await new Promise((r) => setTimeout(r, 70));
    c.setUsedEvent(0, c.usedIdx(0));
    await c.request(0, BLK.FLUSH, 0n);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.interrupts(0), 1, 'the first completion after a quiet spell interrupts at once');
    c.setUsedEvent(0, c.usedIdx(0));
    await c.request(0, BLK.FLUSH, 0n);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.interrupts(0), 0, 'the next one, 10 ms later, waits');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(c.interrupts(0), 1, 'and is signalled once the delay has passed');
    engine.vhost.setCoalescing('vb0', 0, 0);
    const [info] = engine.vhost.list('vb0');
    assert.equal(info.connected, true);
    assert.ok(info.requests >= 9);
    c.close();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('queues are spread over the reactors: each ring is served by the worker on its own reactor', async () => {
  const { engine, dir } = await target();
  try {
    await engine.vhost.createBlk('vq', 'm0', { cpumask: '0x1' });
    const c = await VhostUserClient.connect(path.join(dir, 'vq'));
    await c.setup(2);
    for (let i = 0; i < 8; i++) {
      assert.equal((await c.request(0, BLK.OUT, BigInt(i * 8), { data: pattern(4096, i) })).status, OK);
      assert.equal((await c.request(1, BLK.IN, BigInt(i * 8), { readBytes: 4096 })).status, OK);
    }
    const back = await c.request(1, BLK.IN, 56n, { readBytes: 4096 });
    assert.deepEqual(back.data, pattern(4096, 7), 'queue 1 reads what queue 0 wrote');
    const [info] = engine.vhost.list('vq');
    assert.deepEqual(info.workers.map((w) => w.reactor), [0, 1], 'one worker per reactor, starting with the controller\'s');
    assert.deepEqual(info.workers.map((w) => w.requests), [8, 9], 'queue 0 on reactor 0, queue 1 on reactor 1');
    c.close();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile guests: loops, addresses outside memory and broken messages never stall or crash the controller', async () => {
  const { engine, dir } = await target();
  try {
    await engine.vhost.createBlk('vb1', 'm0');
    const sock = path.join(dir, 'vb1');
    let c = await VhostUserClient.connect(sock);
    await c.setup();
    // A descriptor loop: 0 -> 1 -> 0.
    c.writeDesc(0, 0, { addr: 0x400000n, len: 16, flags: 1, next: 1 });
    c.writeDesc(0, 1, { addr: 0x401000n, len: 512, flags: 1 | 2, next: 0 });
    c.publish(0, 0);
    assert.deepEqual(await c.used(0), { id: 0, len: 0 }, 'the looping chain comes back unused');
    // A buffer past the end of guest memory.
    c.writeDesc(0, 2, { addr: 0x400000n, len: 16, flags: 1, next: 3 });
    c.writeDesc(0, 3, { addr: BigInt(c.guestBytes - 100), len: 4096, flags: 2, next: 0 });
    c.publish(0, 2);
    assert.deepEqual(await c.used(0), { id: 2, len: 0 });
    // A head index past the queue.
    c.publish(0, 5000);
    assert.equal((await c.used(0)).len, 0);
    assert.equal((await c.request(0, BLK.OUT, 8n, { data: pattern(4096, 1) })).status, OK, 'the ring still serves good requests');
    // A message of the wrong size ends the session; the controller takes the next guest.
    c.send(MSG.SET_VRING_NUM, VhostUserClient.le([0, 4]));
    assert.ok(await c.closedByPeer(), 'a malformed message closes the connection');
    c.close();
    c = await VhostUserClient.connect(sock);
    await c.setup();
    assert.equal((await c.request(0, BLK.IN, 8n, { readBytes: 4096 })).status, OK, 'a new guest is served');
    // A memory table whose fds do not match its regions, and a vring past the queues offered.
    c.send(MSG.SET_MEM_TABLE, VhostUserClient.le([2, 4], [0, 4], [0, 8], [MiB, 8], [0, 8], [0, 8], [2 * MiB, 8], [MiB, 8], [2 * MiB, 8], [0, 8]), { needReply: true });
    assert.ok(await c.closedByPeer());
    c.close();
    c = await VhostUserClient.connect(sock);
    await c.setup();
    c.send(MSG.SET_VRING_NUM, VhostUserClient.le([64, 4], [128, 4]));
    assert.ok(await c.closedByPeer(), 'a vring index past the queues closes the connection');
    c.close();
    c = await VhostUserClient.connect(sock);
    c.send(MSG.GET_CONFIG, VhostUserClient.le([0, 4], [200, 4], [0, 4]));
    assert.ok(await c.closedByPeer(), 'GET_CONFIG whose size does not match closes the connection');
    c.close();
    c = await VhostUserClient.connect(sock);
    c.send(77);
    assert.ok(await c.closedByPeer(), 'an unknown request closes the connection');
    c.close();
    // Overlapping regions (two fds for two regions that share guest addresses).
    c = await VhostUserClient.connect(sock);
    c.send(MSG.SET_MEM_TABLE, VhostUserClient.le([2, 4], [0, 4], [0, 8], [MiB, 8], [0x10000000, 8], [0, 8], [MiB / 2, 8], [MiB, 8], [0x20000000, 8], [0, 8]),
      { fds: [c.memfd, c.memfd], needReply: true });
    assert.ok(await c.closedByPeer(), 'overlapping regions close the connection');
    c.close();
    // A kick before the ring has a size and addresses (messages out of order).
    c = await VhostUserClient.connect(sock);
    c.send(MSG.SET_VRING_KICK, VhostUserClient.le([0, 8]), { fds: [c.memfd] });
    assert.ok(await c.closedByPeer(), 'a kick before SET_VRING_NUM/ADDR closes the connection');
    c.close();
    // A new memory table while a request is in flight on a running ring.
    c = await VhostUserClient.connect(sock);
    await c.setup();
    c.send(MSG.SET_MEM_TABLE, VhostUserClient.le([1, 4], [0, 4], [0, 8], [c.guestBytes, 8], [0x7f0000000000n, 8], [0, 8]), { fds: [c.memfd], needReply: true });
    assert.ok(await c.closedByPeer(), 'SET_MEM_TABLE while the ring runs closes the connection');
    c.close();
    // A new kick fd for a running ring: its reactor watches the old one (its sleep ends on it).
    c = await VhostUserClient.connect(sock);
    await c.setup();
    const kick = c.native.eventfdCreate();
    c.send(MSG.SET_VRING_KICK, VhostUserClient.le([0, 8]), { fds: [kick] });
    c.native.closeFd(kick);
    assert.ok(await c.closedByPeer(), 'SET_VRING_KICK on a running ring closes the connection');
    c.close();
    c = await VhostUserClient.connect(sock);
    await c.setup();
    assert.equal((await c.request(0, BLK.IN, 8n, { readBytes: 4096 })).status, OK, 'and the controller serves on');
    c.close();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an idle controller looks at its socket rarely, and a guest that connects is still answered at once', async () => {
  const { engine, dir } = await target();
  try {
    await engine.vhost.createBlk('vb0', 'm0', { cpumask: '0x2' });
    await new Promise((r) => setTimeout(r, 300));             // past the quiet threshold (100 ms)
    const before = engine.reactorStats()[1];
    await new Promise((r) => setTimeout(r, 500));
    const loops = engine.reactorStats()[1].loops - before.loops;
    // Every 10 ms when quiet (and the reactor's own 10 ms sleep cap): ~100 loops; every 250 µs would be 2,000.
    assert.ok(loops < 600, `reactor 1 ran ${loops} loops in 500 ms with an idle controller`);
    const started = performance.now();
    const c = await VhostUserClient.connect(path.join(dir, 'vb0'));
    await c.setup();
    assert.equal((await c.request(0, BLK.IN, 0n, { readBytes: 4096 })).status, OK);
    assert.ok(performance.now() - started < 2_000, 'the handshake is not slowed to one message per 10 ms poll');
    c.close();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a bdev hot-removed under a busy guest: requests fail with IOERR, nothing stalls or leaks, the controller can go', async () => {
  const reports: { level: string; message: string }[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 512 << 20, logLevel: 'notice', onReport: (r) => reports.push(r) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-'));
  try {
    engine.vhost.socketDir = dir;
    engine.bdev.createMalloc('m0', { blockCount: (64 * MiB) / 4096 });
    await engine.vhost.createBlk('vb0', 'm0', { cpumask: '0x1' });
    const c = await VhostUserClient.connect(path.join(dir, 'vb0'));
    await c.setup(2);
    let stop = false;
    const statuses: number[] = [];
    // Two queues (served on both reactors), each with 8 requests in flight all along.
    const load = (q: number) => (async () => {
      for (let i = 0; !stop; i++) {
        const batch = Array.from({ length: 8 }, (_, j) => c.submit(q, (i + j) % 2 ? BLK.IN : BLK.OUT, BigInt(((i * 8 + j) % 512) * 8),
          (i + j) % 2 ? { readBytes: 4096 } : { data: pattern(4096, i + j) }));
        // Each used element's own request's status: completions need not come in submission order
        // (the removal aborts some while others finish), and one not yet answered still reads 0xee.
        for (let k = 0; k < batch.length; k++) {
          const u = await c.used(q);
          const p = batch.find((b) => b.head === u.id);
          assert.ok(p, 'a used element for a request we made');
          statuses.push(c.statusOf(p.status));
        }
        // Completions already there resolve without a timer: let the event loop (and its timers) run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    const loads = [load(0), load(1)];
    for (const until = performance.now() + 10_000; statuses.length < 100 && performance.now() < until;) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // SPDK's hot remove: the busy guest does not hold the removal up (its requests fail meanwhile).
    const removed = await Promise.race([engine.bdev.delete('m0').then(() => true), new Promise((r) => setTimeout(() => r(false), 5_000))]);
    const removedAt = statuses.length;
    if (!removed) stop = true;
    assert.ok(removed, 'bdev_delete completed within 5 s under a busy guest');
    // Enough answers after the removal to judge them (a count, not a time: a loaded machine is slow).
    for (const until = performance.now() + 10_000; statuses.length < removedAt + 64 + 100 && performance.now() < until;) {
      await new Promise((r) => setTimeout(r, 10));
    }
    stop = true;
    await Promise.all(loads);
    assert.ok(statuses.slice(0, removedAt).filter((x) => x === OK).length > 20, 'requests succeeded before the removal');
    const after = statuses.slice(removedAt + 64);
    assert.ok(after.length > 20, `the guest kept getting answers after the removal (${after.length})`);
    const notIoerr = after.map((x, i) => ({ at: removedAt + 64 + i, status: x })).filter((e) => e.status !== IOERR);
    assert.deepEqual(notIoerr, [], 'and each fails with IOERR');
    await engine.vhost.delete('vb0', { force: true });
    c.close();
    await engine.stop();
    const bad = reports.filter((r) => r.level === 'error' || r.level === 'fatal');
    assert.deepEqual(bad, [], 'no error at removal, delete or stop (a channel or descriptor left behind would be reported)');
  } finally {
    await engine.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('deleting a controller: refused while its guest is connected, forced disconnects it; the other controller on that reactor never stalls', async () => {
  const { engine, dir } = await target();
  try {
    engine.bdev.createMalloc('m1', { blockCount: (16 * MiB) / 4096 });
    await engine.vhost.createBlk('A', 'm0', { cpumask: '0x2' });
    await engine.vhost.createBlk('B', 'm1', { cpumask: '0x2' });
    const a = await VhostUserClient.connect(path.join(dir, 'A'));
    const b = await VhostUserClient.connect(path.join(dir, 'B'));
    await a.setup();
    await b.setup();
    let stop = false;
    const latencies: number[] = [];
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const t = performance.now();
        const r = await a.request(0, i % 2 ? BLK.IN : BLK.OUT, BigInt((i % 64) * 8), i % 2 ? { readBytes: 4096 } : { data: pattern(4096, i) });
        latencies.push(performance.now() - t);
        assert.equal(r.status, OK);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(engine.vhost.delete('B'), (e: WstorError) => e.code === 'EBUSY' && /force/.test(e.message));
    assert.equal(engine.vhost.list('B')[0].connected, true);
    await engine.vhost.delete('B', { force: true });
    assert.ok(await b.closedByPeer(), 'the forced delete disconnected B\'s guest');
    assert.equal(fs.existsSync(path.join(dir, 'B')), false, 'its socket is gone');
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await load;
    latencies.sort((x, y) => x - y);
    assert.ok(latencies.length > 20, `A kept working (${latencies.length} requests)`);
    assert.ok(latencies[latencies.length - 1] < 500, `A never stalled (worst ${latencies[latencies.length - 1].toFixed(1)} ms)`);
    assert.deepEqual(engine.vhost.list().map((c) => c.name), ['A']);
    await assert.rejects(engine.vhost.delete('B'), (e: WstorError) => e.code === 'ENODEV');
    a.close(); b.close();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
