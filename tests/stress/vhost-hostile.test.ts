// The hostile-guest soak (issue 14): raw vhost-user sessions on several controllers send seeded random
// malformed messages, fds of every kind and descriptor chains (loops, addresses outside guest memory,
// lengths that overflow, bad sizes, indirect tables, avail indexes that jump, memory files that shrink)
// at one target, while a well-behaved guest on another controller writes patterns and reads them back.
// The target process and every reactor must live, nothing may trap, every byte the good guest reads
// must be what it wrote, and every hostile session must be closed by the target or still answer it.
//
// Replay: WSTOR_VHOST_SOAK_SEED (default 1) and WSTOR_VHOST_SOAK_SESSIONS (hostile sessions in all;
// default 300, about 5 s here; `npm run soak:vhost` runs 2000). A failure names the controller and session:
// each session's actions come from its own generator seeded by (seed, controller, session).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import type { Report } from '../../host/index.js';
import { VhostUserClient, MSG, BLK, USER_BASE } from '../helpers/vhost-user-client.js';

const SEED = Number(process.env.WSTOR_VHOST_SOAK_SEED ?? 1);
const SESSIONS = Number(process.env.WSTOR_VHOST_SOAK_SESSIONS ?? 300);
const MiB = 1 << 20;
const HOSTILE = 4;                         // controllers H0..H3, over both reactors
const GOOD_BLOCKS = 2048;                  // the good guest's disk: 8 MiB of 4 KiB blocks
const DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4;
const le = VhostUserClient.le;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, chance: (p) => next() < p, pick: (xs) => xs[int(xs.length)], bytes: (n) => Uint8Array.from({ length: n }, () => int(256)) };
}
interface Rng { int(n: number): number; chance(p: number): boolean; pick<T>(xs: readonly T[]): T; bytes(n: number): Uint8Array }

type Outcome = 'answered' | 'closed' | 'silent';

// ---- fds a hostile guest may attach ----

interface FdKit { dir: string; fifo: string; file: string; listenFd: number; listenPath: string }

function makeFdKit(dir: string, native: VhostUserClient['native']): FdKit {
  const fifo = path.join(dir, 'hostile.fifo');
  execFileSync('mkfifo', [fifo]);
  const file = path.join(dir, 'hostile.file');
  fs.writeFileSync(file, new Uint8Array(64 * 1024));
  const listenPath = path.join(dir, 'hostile.sock');
  return { dir, fifo, file, listenPath, listenFd: native.unixListen(listenPath) };
}

/** A fresh fd of a random kind (the caller closes it after sending: the target gets its own copy). */
function randomFd(rng: Rng, kit: FdKit, native: VhostUserClient['native']): number {
  switch (rng.int(7)) {
    case 0: return native.eventfdCreate();
    case 1: return native.memfdCreate('hostile', (1 + rng.int(4)) * 65536);
    case 2: return fs.openSync(kit.fifo, 'r+');
    case 3: return fs.openSync(kit.file, 'r+');
    case 4: return fs.openSync('/dev/null', 'r+');
    case 5: {
      const fd = native.unixConnect(kit.listenPath);
      const accepted = native.unixAccept(kit.listenFd);      // keep the backlog empty
      if (accepted >= 0) native.closeFd(accepted);
      return fd;
    }
    default: return fs.openSync(kit.dir, 'r');
  }
}

// ---- random messages ----

const REQUESTS = [1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 25, 31, 32, 34, 36, 37, 38, 39, 40] as const;
const SIZE_OF: Partial<Record<number, number>> = { 2: 8, 5: 40, 8: 8, 9: 40, 10: 8, 11: 8, 12: 8, 13: 8, 14: 8, 16: 8, 18: 8, 24: 24, 25: 16, 31: 24, 32: 24, 37: 40, 38: 40, 39: 8 };

/** A payload for `request`: right-sized and shaped most of the time, with fields that are often wrong. */
function randomPayload(rng: Rng, request: number): Uint8Array {
  const want = SIZE_OF[request] ?? 0;
  const size = rng.pick([want, want, want, 0, 4, Math.max(0, want - 1), want + 1, rng.int(300), 4097 + rng.int(100)]);
  const p = rng.bytes(size);
  const dv = new DataView(p.buffer);
  if (size >= 8 && rng.chance(0.7)) dv.setUint32(0, rng.pick([0, 1, 7, 8, 255, 256, 0xffffffff]), true);          // index / nregions / offset
  if (size >= 8 && rng.chance(0.5)) dv.setUint32(4, rng.pick([0, 1, 2, 128, 256, 32768, 65536, 0xffffffff]), true); // num / size
  for (let at = 8; at + 8 <= size; at += 8) {
    if (rng.chance(0.5)) dv.setBigUint64(at, rng.pick([0n, 1n, 4096n, BigInt(MiB), USER_BASE, USER_BASE + 0x1000n, (1n << 64n) - 4096n, 1n << 63n]), true);
  }
  return p;
}

async function randomMessages(c: VhostUserClient, rng: Rng, kit: FdKit, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const request = rng.chance(0.9) ? rng.pick(REQUESTS) : rng.int(0x10000);
    const payload = randomPayload(rng, request);
    const fds = Array.from({ length: rng.chance(0.3) ? 1 + rng.int(2) : 0 }, () => randomFd(rng, kit, c.native)).filter((fd) => fd >= 0);
    try {
      c.send(request, payload, { fds, needReply: rng.chance(0.5) });
    } catch { return; }                      // the target closed already: EPIPE
    finally { for (const fd of fds) c.native.closeFd(fd); }
  }
}

/**
 * A message that is well formed but wrong for a running session (QEMU never sends these with rings
 * running), or carries a fd the target must refuse: each must close the session or be answered.
 */
async function outOfOrder(c: VhostUserClient, rng: Rng, kit: FdKit): Promise<void> {
  const q = rng.int(2);
  const memfd = c.native.memfdCreate('hostile-table', MiB);
  const table = le([1, 4], [0, 4], [0, 8], [MiB, 8], [USER_BASE + 0x4000_0000n, 8], [0, 8]);
  const fd = randomFd(rng, kit, c.native);
  const attacks: (() => void)[] = [
    () => c.send(MSG.SET_MEM_TABLE, table, { fds: [memfd], needReply: true }),
    () => c.send(MSG.REM_MEM_REG, le([0, 8], [0, 8], [c.guestBytes, 8], [USER_BASE, 8], [0, 8]), { fds: [memfd], needReply: true }),
    () => c.send(MSG.ADD_MEM_REG, le([0, 8], [64 * MiB, 8], [2 * MiB, 8], [USER_BASE + 0x1000_0000n, 8], [0, 8]), { fds: [memfd], needReply: true }),
    () => c.send(MSG.SET_VRING_NUM, le([q, 4], [rng.pick([0, 3, 256, 65536]), 4]), { needReply: true }),
    () => c.send(MSG.SET_VRING_ADDR, le([q, 4], [0, 4], [USER_BASE + BigInt(rng.int(1 << 30)), 8], [USER_BASE, 8], [USER_BASE, 8], [0, 8]), { needReply: true }),
    () => c.send(MSG.SET_VRING_BASE, le([q, 4], [rng.int(1 << 17), 4]), { needReply: true }),
    () => c.send(MSG.SET_VRING_KICK, le([q, 8]), { fds: [fd], needReply: true }),
    () => c.send(MSG.SET_VRING_CALL, le([q, 8]), { fds: [fd], needReply: true }),
    () => c.send(MSG.SET_VRING_ERR, le([q, 8]), { fds: [fd], needReply: true }),
    () => c.send(MSG.GET_VRING_BASE, le([q, 4], [0, 4])),
    () => c.send(34, new Uint8Array(0), { needReply: true }),               // RESET_DEVICE
    () => c.send(MSG.SET_INFLIGHT_FD, le([MiB, 8], [0, 8], [2 | (128 << 16), 4], [0, 4]), { fds: [memfd], needReply: true }),
    () => c.send(MSG.GET_INFLIGHT_FD, le([0, 8], [0, 8], [rng.pick([0, 1, 65, 0xffff]) | (rng.pick([0, 128, 3, 65535]) << 16), 4], [0, 4])),
  ];
  try {
    for (let i = 0; i < 1 + rng.int(3); i++) rng.pick(attacks)();
  } catch { /* closed already */ } finally {
    c.native.closeFd(memfd);
    if (fd >= 0) c.native.closeFd(fd);
  }
}

// ---- random descriptor chains on a set-up session ----

/** One random chain at descriptors [d0, ...): what the target must answer (one used element for `head`). */
function randomChain(c: VhostUserClient, rng: Rng): number {
  const n = c.ringSize;
  const d0 = rng.int(n - 48);                                 // room for the longest chain below (42)
  const data = () => 4 * MiB + rng.int((c.guestBytes - 5 * MiB) / 4096) * 4096;   // never over our rings
  const kind = rng.int(12);
  if (kind === 0) return n + rng.int(1000);                   // a head index past the queue
  const pieces: { addr: bigint; len: number; flags: number }[] = [];
  const hdr = data();
  c.bytes(hdr, 16).set(le([rng.pick([BLK.IN, BLK.OUT, BLK.FLUSH, BLK.GET_ID, BLK.DISCARD, BLK.WRITE_ZEROES, rng.int(64)]), 4],
    [0, 4], [BigInt(rng.pick([0, 8, 3, 8 * rng.int(2048), 1 << 30, 2 ** 53])), 8]));
  pieces.push({ addr: BigInt(hdr), len: rng.pick([16, 16, 16, 8, 0, 4096]), flags: 0 });
  const dataPieces = rng.int(kind === 1 ? 40 : 4);            // kind 1: more pieces than a chain may have
  const direction = rng.chance(0.5) ? DESC_WRITE : 0;           // mixed only now and then (walked first, it hides the rest)
  for (let i = 0; i < dataPieces; i++) {
    pieces.push({ addr: BigInt(data()), len: rng.pick([512, 4096, 1000, 65536]), flags: rng.chance(0.1) ? DESC_WRITE - direction : direction });
  }
  pieces.push({ addr: BigInt(data()), len: 1, flags: rng.chance(0.9) ? DESC_WRITE : 0 });
  switch (kind) {
    case 2: pieces[rng.int(pieces.length)].addr = BigInt(c.guestBytes - rng.int(100)); break;        // past guest memory
    case 3: pieces[rng.int(pieces.length)].addr = (1n << 64n) - BigInt(rng.int(4096)); break;        // wraps
    case 4: pieces[rng.int(pieces.length)].len = 0xffffffff; break;                                  // overflows
    case 5: pieces[rng.int(pieces.length)].flags = rng.int(8); break;                                // any flags
    default: break;
  }
  for (let i = 0; i < pieces.length; i++) {
    const last = i === pieces.length - 1;
    const next = kind === 6 && last ? d0 : kind === 7 && last ? n + rng.int(100) : d0 + i + 1;       // a loop; next past the table
    const flags = pieces[i].flags | (last && kind !== 6 && kind !== 7 ? 0 : DESC_NEXT);
    c.writeDesc(0, d0 + i, { addr: pieces[i].addr, len: pieces[i].len, flags, next: next & 0xffff });
  }
  if (kind === 8) {                                           // an indirect table, sometimes nested or mis-sized
    const table = data();
    for (let i = 0; i < 4; i++) {
      const entry = c.bytes(table + 16 * i, 16);
      const view = new DataView(entry.buffer, entry.byteOffset, 16);
      view.setBigUint64(0, BigInt(i === 0 ? hdr : data()), true);
      view.setUint32(8, i === 0 ? 16 : rng.pick([1, 512, 4096]), true);
      view.setUint16(12, (i < 3 ? DESC_NEXT : DESC_WRITE) | (rng.chance(0.2) ? DESC_INDIRECT : 0), true);
      view.setUint16(14, rng.chance(0.9) ? i + 1 : rng.int(10), true);
    }
    c.writeDesc(0, d0, { addr: BigInt(table), len: rng.pick([64, 64, 0, 7, 16 * 40000, 48]), flags: DESC_INDIRECT | (rng.chance(0.2) ? DESC_NEXT : 0), next: d0 + 1 });
  }
  return d0;
}

// ---- one hostile session ----

type Scenario = 'messages' | 'chains' | 'midflight' | 'shrink';

async function hostileSession(socket: string, rng: Rng, kit: FdKit, dir: string, where: string): Promise<Outcome> {
  const scenario: Scenario = rng.pick(['messages', 'messages', 'chains', 'chains', 'chains', 'midflight', 'midflight', 'shrink']);
  const memoryFile = scenario === 'shrink' ? path.join(dir, `${where}.mem`) : undefined;
  const c = await VhostUserClient.connect(socket, { guestBytes: 8 * MiB, queueSize: 128, memoryFile });
  try {
    if (scenario === 'messages') {
      if (rng.chance(0.5)) await c.setup(1, { eventIdx: rng.chance(0.5) });
      await randomMessages(c, rng, kit, 1 + rng.int(20));
      return await c.liveness();
    }
    await c.setup(1 + rng.int(2), { eventIdx: rng.chance(0.5) });
    if (scenario === 'shrink') {
      await c.request(0, BLK.OUT, 0n, { data: rng.bytes(4096) });
      const keep = rng.pick([0, 0, 4096, 4 * MiB]);
      c.shrinkMemory(keep);
      // To nothing: the worker polling the ring faults at once and the session must end. A part kept
      // may hold the rings (the target need not notice): then it must still answer.
      if (keep === 0) return await c.closedByPeer(5000) ? 'closed' : 'silent';
      return await c.liveness();
    }
    if (scenario === 'midflight') {
      for (let i = 0; i < rng.int(4); i++) c.submit(0, BLK.OUT, BigInt(8 * rng.int(512)), { data: rng.bytes(4096) });
      if (rng.chance(0.7)) await outOfOrder(c, rng, kit);
      else await randomMessages(c, rng, kit, 1 + rng.int(4));
      return await c.liveness();
    }
    const chains = 1 + rng.int(30);
    for (let i = 0; i < chains; i++) {
      const head = randomChain(c, rng);
      c.publish(0, head);
      let used: { id: number; len: number };
      try { used = await c.used(0, 3000); } catch { return c.closedByPeer(100).then((closed) => (closed ? 'closed' : 'silent')); }
      assert.equal(used.id, head, `${where}: the used element answers the chain published`);
    }
    if (rng.chance(0.2)) c.jumpAvail(0, 200 + rng.int(1000));  // the ring stops; the session must still answer
    return await c.liveness();
  } finally {
    c.close();
  }
}

/** Wait (bounded) until the controller let the last session go: it takes one guest at a time. */
async function reaped(engine: Engine, name: string): Promise<void> {
  for (const until = Date.now() + 10_000; Date.now() < until;) {
    if (!engine.vhost.list(name)[0].connected) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.fail(`controller ${name} did not let a closed session go within 10 s`);
}

// ---- the good guest ----

const pattern = (block: number, version: number) => {
  const out = new Uint8Array(4096);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 4096; i += 8) { dv.setUint32(i, block, true); dv.setUint32(i + 4, version * 2654435761 + i, true); }
  return out;
};

async function goodGuest(c: VhostUserClient, rng: Rng, stop: () => boolean): Promise<{ ios: number; written: Map<number, number> }> {
  const written = new Map<number, number>();
  let ios = 0;
  for (let v = 1; !stop(); v++) {
    const q = v % 2;
    const block = rng.int(GOOD_BLOCKS);
    assert.equal((await c.request(q, BLK.OUT, BigInt(block * 8), { data: pattern(block, v) })).status, 0, `good write of block ${block}`);
    written.set(block, v);
    const check = rng.chance(0.5) ? block : [...written.keys()][rng.int(written.size)];
    const back = await c.request(1 - q, BLK.IN, BigInt(check * 8), { readBytes: 4096 });
    assert.equal(back.status, 0, `good read of block ${check}`);
    assert.deepEqual(back.data, pattern(check, written.get(check)!), `block ${check} reads back version ${written.get(check)}`);
    ios += 2;
  }
  return { ios, written };
}

test(`hostile guests (seed ${SEED}, ${SESSIONS} sessions): the target and every reactor live, the good guest's data is all correct, every hostile session is closed or answered`, { timeout: 60 * 60_000 }, async (t) => {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 768 << 20, logLevel: 'error', onReport: (r) => reports.push(r) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-soak-'));
  let kit: FdKit | undefined;
  try {
    engine.vhost.socketDir = dir;
    engine.bdev.createMalloc('good', { blockCount: GOOD_BLOCKS });
    await engine.vhost.createBlk('G', 'good', { cpumask: '0x1' });
    for (let h = 0; h < HOSTILE; h++) {
      engine.bdev.createMalloc(`h${h}`, { blockCount: 1024 });
      await engine.vhost.createBlk(`H${h}`, `h${h}`, { cpumask: h % 2 ? '0x2' : '0x1' });
    }
    const good = await VhostUserClient.connect(path.join(dir, 'G'));
    await good.setup(2);                         // its two rings on both reactors
    kit = makeFdKit(dir, good.native);
    let hostileDone = false;
    const goodRun = goodGuest(good, prng(SEED ^ 0x600d), () => hostileDone);
    const outcomes: Record<Outcome, number> = { answered: 0, closed: 0, silent: 0 };
    const silent: string[] = [];
    await Promise.all(Array.from({ length: HOSTILE }, async (_, h) => {
      for (let i = h; i < SESSIONS; i += HOSTILE) {
        const where = `H${h} session ${i} (WSTOR_VHOST_SOAK_SEED=${SEED})`;
        const outcome = await hostileSession(path.join(dir, `H${h}`), prng(SEED * 1_000_003 + i), kit!, dir, `h${h}-s${i}`);
        outcomes[outcome]++;
        if (outcome === 'silent') silent.push(where);
        await reaped(engine, `H${h}`);
      }
    }));
    hostileDone = true;
    const { ios, written } = await goodRun;
    const levels = reports.reduce<Record<string, number>>((n, r) => ({ ...n, [r.level]: (n[r.level] ?? 0) + 1 }), {});
    t.diagnostic(`sessions: ${JSON.stringify(outcomes)}; good guest: ${ios} verified I/Os; reports: ${JSON.stringify(levels)}`);
    assert.deepEqual(silent, [], 'every hostile session was closed by the target or still answered it');
    assert.equal(outcomes.answered + outcomes.closed, SESSIONS);
    assert.ok(ios > 20, `the good guest kept working (${ios} verified I/Os)`);
    for (const [block, version] of written) {      // and its whole disk is as it left it
      const back = await good.request(0, BLK.IN, BigInt(block * 8), { readBytes: 4096 });
      assert.deepEqual(back.data, pattern(block, version), `block ${block} at the end`);
    }
    const before = engine.reactorStats().map((r) => r.loops);
    await new Promise((r) => setTimeout(r, 100));
    engine.reactorStats().forEach((r, i) => assert.ok(r.loops > before[i], `reactor ${i} still runs`));
    assert.deepEqual(reports.filter((r) => r.level === 'fatal').map((r) => r.message), [], 'nothing trapped');
    good.close();
    await engine.stop();                           // rejects (EREACTORTRAP) if a reactor had trapped
  } finally {
    await engine.stop().catch(() => undefined);
    if (kit && kit.listenFd >= 0) VhostUserClient.closeFd(kit.listenFd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
