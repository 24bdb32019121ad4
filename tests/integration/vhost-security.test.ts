// Issue 14, "a guest reaches beyond its own disk": a raw vhost-user client (tests/helpers/
// vhost-user-client.ts) acting as a hostile guest against a real engine. Each test here failed
// before its fix: a refused chain answered through a stale status address, messages of the wrong
// size that were silently dropped, a call fd nobody reads, sockets that followed the umask, and
// refusals that stopped being logged after the sixteenth on a reactor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Engine, WstorError } from '../../host/index.js';
import { RpcClient } from '../../host/rpc/index.js';
import type { Report } from '../../host/index.js';
import { VhostUserClient, MSG, BLK, USER_BASE } from '../helpers/vhost-user-client.js';
import { reportsMatching } from '../helpers/engine.js';

const MiB = 1 << 20;
const OK = 0, IOERR = 1;

interface Target { engine: Engine; dir: string; reports: Report[]; stop(): Promise<void> }

async function target(opts: { logLevel?: 'notice' | 'info' } = {}): Promise<Target> {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 512 << 20, logLevel: opts.logLevel ?? 'notice', onReport: (r) => reports.push(r) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-sec-'));
  engine.vhost.socketDir = dir;
  return {
    engine, dir, reports,
    async stop() { await engine.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

const le = VhostUserClient.le;

test('SET_FEATURES, SET_PROTOCOL_FEATURES and SET_STATUS of the wrong size close the connection, with or without need_reply', async () => {
  const t = await target();
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 1024 });
    await t.engine.vhost.createBlk('vb', 'm0');
    const SET_STATUS = 39;
    for (const request of [MSG.SET_FEATURES, MSG.SET_PROTOCOL_FEATURES, SET_STATUS]) {
      for (const size of [0, 4, 16]) {
        for (const needReply of [false, true]) {
          const c = await VhostUserClient.connect(path.join(t.dir, 'vb'));
          try {
            await c.setup();                      // REPLY_ACK negotiated: a reply could be asked for
            c.send(request, new Uint8Array(size), { needReply });
            assert.ok(await c.closedByPeer(), `message ${request} with ${size} payload bytes (need_reply ${needReply}) closes the connection`);
          } finally { c.close(); }
        }
      }
    }
    const wrongSize = await reportsMatching(t.reports, /a payload of the wrong size \(message (2|16|39)\)/, 18);
    assert.equal(wrongSize.length, 18, 'each one is reported as a payload of the wrong size');
  } finally { await t.stop(); }
});

/** Every byte of a bdev, read through a guest of its own controller (64 KiB at a time). */
async function readWhole(c: VhostUserClient, bytes: number): Promise<Uint8Array> {
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 64 * 1024) {
    const r = await c.request(0, BLK.IN, BigInt(at / 512), { readBytes: 64 * 1024 });
    assert.equal(r.status, OK, `read at ${at}`);
    out.set(r.data, at);
  }
  return out;
}

const nonZero = (b: Uint8Array) => [...b.keys()].filter((i) => b[i] !== 0).slice(0, 8);

test('a refused chain writes no status through the address its request slot held before: another bdev keeps every byte', async () => {
  const t = await target();
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: (16 * MiB) / 4096 });
    await t.engine.vhost.createBlk('A', 'm0', { cpumask: '0x1' });
    const a = await VhostUserClient.connect(path.join(t.dir, 'A'), { guestBytes: 8 * MiB });
    await a.setup();
    // A fresh pool: the first chain is refused (one descriptor) before any request used the slot.
    const controlByte = new Uint8Array(t.engine.memory.buffer)[0];
    a.writeDesc(0, 100, { addr: 0x300000n, len: 16, flags: 0, next: 0 });
    a.publish(0, 100);
    assert.deepEqual(await a.used(0), { id: 100, len: 0 }, 'a chain without a writable last byte comes back with nothing written');
    assert.equal(new Uint8Array(t.engine.memory.buffer)[0], controlByte, 'the engine\'s byte 0 is untouched');
    // A good request: its slot's status byte is at 4 MiB + 68 KiB of guest memory.
    assert.equal((await a.request(0, BLK.OUT, 0n, { data: new Uint8Array(4096).fill(7) })).status, OK);
    // A smaller memory table (first 4 MiB): the old region's tail goes back to the engine, and a
    // new malloc bdev takes it, so the old status address now lies in another tenant's data.
    await a.stopQueue(0);
    const half = le([1, 4], [0, 4], [0, 8], [4 * MiB, 8], [USER_BASE, 8], [0, 8]);
    assert.equal(await a.acked(MSG.SET_MEM_TABLE, half, [a.memfd]), 0n);
    t.engine.bdev.createMalloc('m1', { blockCount: (4 * MiB) / 4096 });
    await a.restartQueue(0);
    // Refused early, each in its own way: one descriptor; a header under 16 bytes with a status
    // byte; a chain whose last descriptor is readable.
    a.writeDesc(0, 100, { addr: 0x300000n, len: 16, flags: 0, next: 0 });
    a.publish(0, 100);
    assert.deepEqual(await a.used(0), { id: 100, len: 0 });
    a.bytes(0x310000, 1)[0] = 0xee;
    a.writeDesc(0, 101, { addr: 0x300000n, len: 8, flags: 1, next: 102 });
    a.writeDesc(0, 102, { addr: 0x310000n, len: 1, flags: 2, next: 0 });
    a.publish(0, 101);
    assert.deepEqual(await a.used(0), { id: 101, len: 1 }, 'a short header with a status byte is answered there');
    assert.equal(a.bytes(0x310000, 1)[0], IOERR, 'IOERR in this chain\'s own status byte');
    a.writeDesc(0, 103, { addr: 0x300000n, len: 16, flags: 1, next: 104 });
    a.writeDesc(0, 104, { addr: 0x301000n, len: 512, flags: 0, next: 0 });
    a.publish(0, 103);
    assert.deepEqual(await a.used(0), { id: 103, len: 0 }, 'a readable last descriptor: nothing written');
    await t.engine.vhost.createBlk('B', 'm1', { cpumask: '0x2' });
    const b = await VhostUserClient.connect(path.join(t.dir, 'B'));
    await b.setup();
    assert.deepEqual(nonZero(await readWhole(b, 4 * MiB)), [], 'no byte of m1 changed (offsets of the bytes that did)');
    a.close(); b.close();
  } finally { await t.stop(); }
});

test('refused chains are reported within a limit per controller: a noisy guest does not silence another on the same reactor', async () => {
  const t = await target();
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 1024 });
    t.engine.bdev.createMalloc('m1', { blockCount: 1024 });
    await t.engine.vhost.createBlk('A', 'm0', { cpumask: '0x1' });
    await t.engine.vhost.createBlk('B', 'm1', { cpumask: '0x1' });   // both rings' workers on reactor 0
    const a = await VhostUserClient.connect(path.join(t.dir, 'A'));
    const b = await VhostUserClient.connect(path.join(t.dir, 'B'));
    await a.setup();
    await b.setup();
    const refusals = () => t.reports.filter((r) => /chain refused/.test(r.message));
    for (let i = 0; i < 40; i++) {
      a.publish(0, 5000);                      // a head index past the queue
      assert.equal((await a.used(0)).len, 0);
    }
    b.publish(0, 6000);
    assert.equal((await b.used(0)).len, 0);
    // One reactor's reports arrive in order, and each is sent before its chain is answered.
    await reportsMatching(t.reports, /^vhost B: .*chain refused/);
    const after = refusals();
    const fromA = after.length - 1;
    // 40 refusals within a second, or across the start of the next: 10, or up to 20 in two windows.
    assert.ok(fromA >= 10 && fromA <= 20, `a noisy guest's 40 refusals are not all logged (${fromA} were)`);
    assert.match(after[after.length - 1].message, /^vhost B: vring 0: chain refused: head index past the queue$/,
      'the other guest\'s refusal is still logged, naming its controller');
    await new Promise((r) => setTimeout(r, 1100));      // the next second
    a.publish(0, 5000);
    assert.equal((await a.used(0)).len, 0);
    const [last] = await reportsMatching(t.reports, /^vhost A: .*more not reported/);
    assert.match(last.message, new RegExp(`^vhost A: vring 0: chain refused: head index past the queue \\(and ${40 - fromA} more not reported since the last report\\)$`));
    a.close(); b.close();
  } finally { await t.stop(); }
});

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

test('vhost sockets are 0600 whatever the umask, unless another mode is configured; a bad mode is refused by name', async () => {
  const t = await target();
  const umask = process.umask(0);
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 1024 });
    await t.engine.vhost.createBlk('vb0', 'm0');
    assert.equal(modeOf(path.join(t.dir, 'vb0')).toString(8), '600', 'under umask 000 the socket is still 0600');
    t.engine.vhost.socketMode = 0o660;
    await t.engine.vhost.createBlk('vb1', 'm0');
    assert.equal(modeOf(path.join(t.dir, 'vb1')).toString(8), '660', 'the configured mode, exactly');
    for (const bad of [0o1777, -1, 1.5, Number.NaN]) {
      assert.throws(() => { t.engine.vhost.socketMode = bad; }, (e: WstorError) => e.code === 'EINVAL' && /vhost socket mode/.test(e.message) && /0000 to 0777/.test(e.message));
    }
    assert.equal(t.engine.vhost.socketMode, 0o660, 'a refused mode changes nothing');
  } finally {
    process.umask(umask);
    await t.stop();
  }
});

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');

/** `wstor serve` under umask 000 with `args`; resolves once it is ready, with its RPC socket. */
async function serveUnderUmask0(dir: string, args: string[]): Promise<{ rpc: string; stop(): Promise<void> }> {
  const rpc = path.join(dir, 'rpc.sock');
  const child = spawn('/bin/sh', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, CLI, 'serve', '-r', rpc, '--mem', '128MiB', '--no-config', '-S', dir, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 300 && !/ready on/.test(err) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(err, /ready on/, `serve started (stderr: ${err})`);
  return { rpc, async stop() { child.kill('SIGTERM'); assert.equal(await exited, 0, err); } };
}

test('wstor serve: vhost sockets 0600 under umask 000; --vhost-socket-mode sets another; a bad one stops start-up naming it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-mode-'));
  try {
    for (const [args, want] of [[[], '600'], [['--vhost-socket-mode', '0660'], '660']] as const) {
      const s = await serveUnderUmask0(dir, [...args]);
      const c = await RpcClient.connect({ socket: s.rpc });
      await c.call('bdev_malloc_create', { name: 'm0', num_blocks: 256, block_size: 4096 });
      await c.call('vhost_create_blk_controller', { ctrlr: 'vb', dev_name: 'm0' });
      assert.equal(modeOf(path.join(dir, 'vb')).toString(8), want, `serve ${args.join(' ')}`);
      c.close();
      await s.stop();
    }
    for (const bad of ['999', '0o600', 'rw-------', '01777']) {
      const r = spawnSync(process.execPath, [CLI, 'serve', '-r', path.join(dir, 'x.sock'), '--no-config', '--vhost-socket-mode', bad], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, `--vhost-socket-mode ${bad} is a usage error (stderr: ${r.stderr})`);
      assert.match(r.stderr, new RegExp(`--vhost-socket-mode must be an octal mode from 0000 to 0777, e\\.g\\. 0660 \\(got "${bad}"\\)`));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Reads whatever a FIFO holds without waiting (opened nonblocking for reading): bytes drained. */
function drainFifo(fifo: string): number {
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const buf = Buffer.alloc(65536);
  let total = 0;
  try {
    for (;;) {
      let n = 0;
      try { n = fs.readSync(fd, buf); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break; throw e; }
      if (n === 0) break;
      total += n;
    }
  } finally { fs.closeSync(fd); }
  return total;
}

test('a call fd nobody reads (a full pipe) never blocks the reactor: notifications are dropped and counted', { timeout: 120_000 }, async () => {
  const t = await target();
  const fifo = path.join(t.dir, 'call.fifo');
  execFileSync('mkfifo', [fifo]);
  const pipeFd = fs.openSync(fifo, 'r+');            // both ends, blocking, as a careless or hostile guest passes it
  try {
    t.engine.bdev.createMalloc('m0', { blockCount: 1024 });
    t.engine.bdev.createMalloc('m1', { blockCount: 1024 });
    await t.engine.vhost.createBlk('A', 'm0', { cpumask: '0x1' });
    await t.engine.vhost.createBlk('B', 'm1', { cpumask: '0x1' });   // served on the same reactor
    const a = await VhostUserClient.connect(path.join(t.dir, 'A'));
    const b = await VhostUserClient.connect(path.join(t.dir, 'B'));
    await a.setup(1, { eventIdx: false });         // every completion interrupts
    await b.setup();
    assert.equal(await a.acked(MSG.SET_VRING_CALL, le([0, 8]), [pipeFd]), 0n, 'a pipe is an acceptable call fd');
    // A pipe holds 64 KiB: 8192 interrupts of 8 bytes. Each request here completes alone: one each.
    const requests = 10_000;
    const latencies: number[] = [];
    for (let i = 0; i < requests; i++) {
      a.submit(0, BLK.FLUSH, 0n);
      try { a.usedSync(0, 3000); } catch (e) { throw new Error(`request ${i} of the guest with the full pipe did not complete: its reactor is blocked (${(e as Error).message})`); }
      if (i % 1000 === 999) {
        const started = performance.now();
        assert.equal((await b.request(0, BLK.IN, 0n, { readBytes: 4096 })).status, OK);
        latencies.push(performance.now() - started);
      }
    }
    assert.ok(Math.max(...latencies) < 500, `the other controller on that reactor kept answering (worst ${Math.max(...latencies).toFixed(1)} ms)`);
    const [info] = t.engine.vhost.list('A');
    const delivered = drainFifo(fifo) / 8;
    assert.ok(delivered <= 8192, `the pipe holds what it can (${delivered})`);
    assert.equal(info.droppedNotifications, requests - delivered, 'every notification the pipe did not take is counted as dropped');
    const warnings = await reportsMatching(t.reports, /^vhost A: vring 0: a notification was dropped/);
    assert.ok(warnings.length >= 1 && warnings.length <= 40, `warned about, within the limit (${warnings.length} warnings)`);
    assert.match(warnings[warnings.length - 1].message, /\(\d+ dropped on this ring so far\)/);
    // An fd that is neither an eventfd nor a pipe is refused as a call fd.
    const file = path.join(t.dir, 'plain');
    fs.writeFileSync(file, '');
    const plain = fs.openSync(file, 'r+');
    a.send(MSG.SET_VRING_CALL, le([0, 8]), { fds: [plain], needReply: true });
    fs.closeSync(plain);
    assert.ok(await a.closedByPeer(), 'a regular file as call fd closes the connection');
    assert.equal((await reportsMatching(t.reports, /^vhost A: SET_VRING_CALL with an fd that is neither an eventfd nor a pipe/)).length, 1, 'naming what was wrong');
    a.close(); b.close();
  } finally {
    // Before the fix the reactor sat in write() on the full pipe: reading it lets the engine stop.
    const drain = setInterval(() => { try { drainFifo(fifo); } catch { /* gone */ } }, 5);
    try { await t.stop(); } finally { clearInterval(drain); fs.closeSync(pipeFd); }
  }
});
