// The NVMe-oF target core's lifecycle under stress (assembly/nvme): on an engine with two reactors, for
// N cycles, two hosts connect an admin queue and an I/O queue on each reactor through the fake
// transport (tests/core/nvmf-hooks.ts, closing a connection when the core asks, as a real one does)
// and run reads and writes whose data is checked, while the app thread adds and removes a namespace
// and hosts, deletes and recreates the subsystem, controllers are reset and queues close at random
// points. Every command must complete exactly once with a status the core documents for what happened
// in its cycle (a command the transport dropped because its connection was closing counts as its
// end: the core never saw it), no reactor may trap, nothing may stall, and the heap's blocks in use
// must be back to their baseline after teardown.
//
// Replay: WSTOR_NVMF_STRESS_SEED (default 1; printed on failure) and WSTOR_NVMF_STRESS_CYCLES
// (default 4000, about 20 s on the 2-vCPU VM; WSTOR_SOAK=1, `npm run soak:nvmf`, runs 40000).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestEngine, sleep, type TestEngine } from '../helpers/engine.js';
import {
  connectSqe, connectData, propertySetSqe, setFeaturesSqe, asyncEventRequestSqe, readSqe, writeSqe, setSqeCid, decodeCqe,
  statusText, PROP, FEATURE,
} from '../helpers/nvme-tcp-sqe.js';
import { STATUS, LIMITS, CC_ENABLE, SUBNQN, TCP, IPV4 } from '../helpers/nvmf-target.js';

const SOAK = process.env.WSTOR_SOAK === '1';
const SEED = Number(process.env.WSTOR_NVMF_STRESS_SEED ?? 1);
const CYCLES = Number(process.env.WSTOR_NVMF_STRESS_CYCLES ?? (SOAK ? 40_000 : 4000));
const HOSTS = ['nqn.2016-06.io.wstor:stress-host-a', 'nqn.2016-06.io.wstor:stress-host-b'];
const BLOCK_BYTES = 512;
const NS_BLOCKS = 1024;               // each namespace's bdev: 512 KiB
const IO_PER_QUEUE = 8;
const MAX_IO_BLOCKS = 8;
const STALL_MS = 10_000;              // a wait longer than this is a stall
const HEAP_SETTLE_MS = 5_000;
const REPORTS_KEPT = 50;               // the last reports, shown with a failure
const NS_ATTRIBUTE_NOTICE = 0x02 | (0x04 << 16);

/** xorshift32 with a splitmix start: a small generator whose run a seed names. */
function generator(seed: number) {
  let x = (Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
  return { int: (n: number) => Math.floor(next() * n), chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof generator>;

/** Block `lba`'s contents whenever anyone writes it: its number, then bytes that follow from it. */
function blockPattern(nsid: number, lba: number): Buffer {
  const b = Buffer.alloc(BLOCK_BYTES);
  b.writeUInt32LE(lba, 0);
  b.writeUInt32LE(nsid, 4);
  for (let i = 8; i < BLOCK_BYTES; i++) b[i] = (i * 13 + lba * 7 + nsid) & 0xff;
  return b;
}

// ---- the fake transport, driven from this thread ----

interface Queue { q: number; host: number; admin: boolean; closeAsked: boolean }
interface Cmd {
  req: number; queue: Queue; what: string; allowed: number[]; base: number; bytes: number;
  io?: { write: boolean; nsid: number; slba: number; nlb: number; writtenBefore: boolean[] };
}

class Stress {
  readonly core: TestEngine['core'];
  private cid = 1;
  constructor(readonly t: TestEngine, readonly ops: number, readonly threads: number[], readonly listener: number) { this.core = t.core; }

  bytesOf(ptr: number, n: number): Uint8Array { return new Uint8Array(this.t.engine.memory.buffer, ptr, n); }

  queue(thread: number, host: number, admin: boolean): Queue {
    const q = this.core.hc_qpair_new(this.ops, thread, this.listener, 0, 0) >>> 0;
    return { q, host, admin, closeAsked: false };
  }

  /** Hand `sqe` (with `data`, or room for `bytes`) to the core on the queue's thread; the command's record. */
  submit(queue: Queue, what: string, sqe: Buffer, allowed: number[], data?: Uint8Array, bytes = 0): Cmd {
    const size = data ? data.length : bytes;
    const req = this.core.hc_req_new(queue.q, size > 0 ? 1 : 0, size) >>> 0;
    setSqeCid(sqe, this.cid++ & 0xffff);
    this.bytesOf(this.core.hc_req_sqe(req) >>> 0, 64).set(sqe);
    const base = new DataView(this.t.engine.memory.buffer).getUint32(this.core.hc_req_iovs(req) >>> 0, true);
    if (data) this.bytesOf(base, data.length).set(data);
    this.core.hc_exec(req);
    return { req, queue, what, allowed, base, bytes: size };
  }

  finished(c: Cmd): boolean { return this.core.hc_req_completions(c.req) + this.core.hc_req_dropped(c.req) > 0; }
  status(c: Cmd): number { return decodeCqe(this.bytesOf(this.core.hc_req_cqe(c.req) >>> 0, 16).slice()).status; }
  dw0(c: Cmd): number { return decodeCqe(this.bytesOf(this.core.hc_req_cqe(c.req) >>> 0, 16).slice()).dw0; }

  close(queue: Queue): void {
    if (queue.closeAsked) return;
    queue.closeAsked = true;
    this.core.hc_close(queue.q);
  }

  /** Poll (sleeping between looks) until `done`; a stall (described by `detail`) or a reactor's trap throws. */
  async until(what: string, done: () => boolean, detail: () => string = () => ''): Promise<void> {
    const end = Date.now() + STALL_MS;
    while (!done()) {
      if (this.t.engine.error) throw this.t.engine.error;
      if (Date.now() > end) throw new Error(`stalled for ${STALL_MS} ms waiting for ${what}${detail()}`);
      await sleep(1);
    }
    if (this.t.engine.error) throw this.t.engine.error;
  }
}

// ---- the target's configuration, changed on the app thread ----

interface Names { sub: number; serial: number; model: number; hosts: number[] }

class Target {
  sub = 0;
  ns2 = false;                         // namespace 2 is in the subsystem
  allowed = [true, true];              // hosts on the subsystem's list
  private pending: Promise<unknown>[] = [];
  constructor(readonly s: Stress, readonly names: Names, readonly bdevs: number[]) {}

  private control(what: string, post: (id: number) => number): Promise<number> {
    const p = this.s.t.engine.request(what, post);
    this.pending.push(p);
    return p;
  }
  /** Every change posted so far has ended (each must have succeeded). */
  async settle(): Promise<void> { const all = this.pending; this.pending = []; await Promise.all(all); }

  async create(rng: Rng): Promise<void> {
    const core = this.s.core, n = this.names;
    this.sub = await this.s.t.engine.request('subsystem create', (r) => core.nvmf_subsystem_create(r, n.sub, n.serial, n.model, 0, 0, 1, 0xffef)) >>> 0;
    this.control('listener add', (r) => core.nvmf_subsystem_listener_add(r, this.sub, this.s.listener));
    this.allowed.forEach((on, h) => { if (on) this.control('host add', (r) => core.nvmf_host_add(r, this.sub, n.hosts[h])); });
    this.control('ns 1 add', (r) => core.nvmf_ns_add(r, this.sub, this.bdevs[0], 1, 0, 0, 0));
    this.ns2 = rng.chance(0.5);
    if (this.ns2) this.control('ns 2 add', (r) => core.nvmf_ns_add(r, this.sub, this.bdevs[1], 2, 0, 0, 0));
    await this.settle();
  }
  toggleNs2(): void {
    const sub = this.sub;
    if (this.ns2) this.control('ns 2 remove', (r) => this.s.core.nvmf_ns_remove(r, sub, 2));
    else this.control('ns 2 add', (r) => this.s.core.nvmf_ns_add(r, sub, this.bdevs[1], 2, 0, 0, 0));
    this.ns2 = !this.ns2;
  }
  toggleHost(h: number): void {
    const sub = this.sub, nqn = this.names.hosts[h];
    if (this.allowed[h]) this.control('host remove', (r) => this.s.core.nvmf_host_remove(r, sub, nqn));
    else this.control('host add', (r) => this.s.core.nvmf_host_add(r, sub, nqn));
    this.allowed[h] = !this.allowed[h];
  }
  delete(): void {
    const sub = this.sub;
    this.control('subsystem delete', (r) => this.s.core.nvmf_subsystem_delete(r, sub));
    this.sub = 0;
  }
}

// ---- one cycle ----

/** What happened in a cycle, which decides the statuses its commands may end with. */
interface Events { deleted: boolean; ns2Changed: boolean; ns2AtStart: boolean; reset: boolean[] }

interface Written { blocks: boolean[][] }   // per namespace (index nsid - 1), per block: a write of it succeeded

async function cycle(s: Stress, target: Target, rng: Rng, written: Written, n: number): Promise<void> {
  if (target.sub === 0) await target.create(rng);
  if (rng.chance(0.1)) { target.toggleHost(rng.int(2)); await target.settle(); }
  const queues: Queue[] = [];
  const cmds: Cmd[] = [];
  const ev: Events = { deleted: false, ns2Changed: false, ns2AtStart: target.ns2, reset: [false, false] };

  // Admin Connect for each host, on a reactor of its choosing; refused only for a host not on the list.
  const admins = HOSTS.map((hostnqn, h) => {
    const queue = s.queue(s.threads[rng.int(2)], h, true);
    queues.push(queue);
    const expect = target.allowed[h] ? STATUS.SUCCESS : STATUS.CONNECT_INVALID_HOST;
    const data = connectData({ hostId: Buffer.alloc(16, 0x10 + h), cntlid: 0xffff, subnqn: SUBNQN, hostnqn });
    return s.submit(queue, 'admin Connect', connectSqe({ qid: 0, queueEntries: LIMITS.maxAqDepth, katoMs: 0 }), [expect], data);
  });
  await s.until('admin Connects', () => admins.every((c) => s.finished(c)), () => unfinished(s, admins));
  cmds.push(...admins);
  const live = HOSTS.map((_, h) => s.status(admins[h]) === STATUS.SUCCESS);

  // Enable, turn namespace notices on, hold an AER; then an I/O queue on each reactor.
  const enables: Cmd[] = [];
  HOSTS.forEach((_, h) => {
    if (!live[h]) return;
    const q = admins[h].queue;
    enables.push(s.submit(q, 'CC.EN', propertySetSqe(PROP.CC, CC_ENABLE, 4), [STATUS.SUCCESS]));
    cmds.push(s.submit(q, 'AEC', setFeaturesSqe(FEATURE.ASYNC_EVENT_CONFIG, 1 << 8), [STATUS.SUCCESS]));
    cmds.push(s.submit(q, 'AER', asyncEventRequestSqe(), [STATUS.SUCCESS, STATUS.ABORTED_SQ_DELETION]));
  });
  await s.until('CC.EN', () => enables.every((c) => s.finished(c)), () => unfinished(s, enables));
  cmds.push(...enables);
  const ioConnects: Cmd[] = [];
  const ioQueues: Queue[] = [];
  HOSTS.forEach((hostnqn, h) => {
    if (!live[h]) return;
    const cntlid = s.dw0(admins[h]) & 0xffff;
    for (const thread of s.threads) {
      const queue = s.queue(thread, h, false);
      queues.push(queue);
      ioQueues.push(queue);
      const data = connectData({ hostId: Buffer.alloc(16, 0x10 + h), cntlid, subnqn: SUBNQN, hostnqn });
      ioConnects.push(s.submit(queue, 'I/O Connect', connectSqe({ qid: 1 + s.threads.indexOf(thread), queueEntries: 32 }), [STATUS.SUCCESS], data));
    }
  });
  await s.until('I/O Connects', () => ioConnects.every((c) => s.finished(c)), () => unfinished(s, ioConnects));
  cmds.push(...ioConnects);

  // The storm: I/O in chunks, mixed at random with the app thread's changes, resets and closes.
  const steps: (() => void)[] = [];
  for (const queue of ioQueues) {
    for (let i = 0; i < IO_PER_QUEUE; i++) steps.push(() => { if (!queue.closeAsked) cmds.push(io(s, queue, rng, written)); });
    if (rng.chance(0.12)) steps.push(() => s.close(queue));
  }
  HOSTS.forEach((_, h) => {
    if (!live[h]) return;
    const admin = admins[h].queue;
    if (rng.chance(0.1)) steps.push(() => {
      if (admin.closeAsked) return;
      ev.reset[h] = true;
      // Dropped if the subsystem's delete has the transport closing the queue already.
      cmds.push(s.submit(admin, 'CC=0', propertySetSqe(PROP.CC, 0, 4), [STATUS.SUCCESS]));
    });
    if (rng.chance(0.12)) steps.push(() => s.close(admin));
  });
  if (rng.chance(0.3)) steps.push(() => { if (!ev.deleted) { ev.ns2Changed = true; target.toggleNs2(); } });
  if (rng.chance(0.1)) steps.push(() => { if (!ev.deleted) target.toggleHost(rng.int(2)); });
  if (rng.chance(0.08)) steps.push(() => { if (!ev.deleted) { ev.deleted = true; target.delete(); } });
  for (let i = steps.length - 1; i > 0; i--) { const j = rng.int(i + 1); [steps[i], steps[j]] = [steps[j], steps[i]]; }
  const pause = rng.chance(0.3) ? rng.int(steps.length) : -1;
  for (let i = 0; i < steps.length; i++) {
    if (i === pause) await sleep(rng.int(2));
    steps[i]();
  }

  // Every connection ends; then every command must have ended exactly once.
  for (const queue of queues) s.close(queue);
  // A command posted before a close the core began may reach its connection after the close is done
  // (the transport drops it then): wait for each command's end as well.
  await s.until('every queue to close and every command to end',
    () => queues.every((queue) => s.core.hc_conn_idle(queue.q) === 1) && cmds.every((c) => s.finished(c)), () => unfinished(s, cmds));
  await target.settle();
  check(s, cmds, queues, ev, written, n);
  for (const c of cmds) s.core.hc_req_free(c.req);
  for (const queue of queues) s.core.hc_qpair_free(queue.q);
}

/** For a stall's message: the commands that have not ended, with their queue's state. */
function unfinished(s: Stress, cmds: Cmd[]): string {
  const left = cmds.filter((c) => !s.finished(c));
  const q = (c: Cmd) => `qpair state ${s.core.hc_qpair_state(c.queue.q)}, ${s.core.hc_qpair_outstanding(c.queue.q)} held by the core, closed ${s.core.hc_conn_closed(c.queue.q)}`;
  return left.length === 0 ? '' : `: ${left.length} not ended, first ${left.slice(0, 4).map((c) => `${c.what} (${q(c)})`).join('; ')}`;
}

/** A read or a write of 1..MAX_IO_BLOCKS blocks of namespace 1 or 2 at a random place. */
function io(s: Stress, queue: Queue, rng: Rng, written: Written): Cmd {
  const nsid = 1 + rng.int(2), nlb = 1 + rng.int(MAX_IO_BLOCKS), slba = rng.int(NS_BLOCKS - nlb + 1), write = rng.chance(0.5);
  const writtenBefore = written.blocks[nsid - 1].slice(slba, slba + nlb);
  const info = { write, nsid, slba, nlb, writtenBefore };
  const allowed = [STATUS.SUCCESS, STATUS.INVALID_NAMESPACE, STATUS.COMMAND_SEQUENCE_ERROR];
  if (write) {
    const data = Buffer.concat(Array.from({ length: nlb }, (_, i) => blockPattern(nsid, slba + i)));
    return { ...s.submit(queue, 'Write', writeSqe(nsid, slba, nlb), allowed, data), io: info };
  }
  return { ...s.submit(queue, 'Read', readSqe(nsid, slba, nlb), allowed, undefined, nlb * BLOCK_BYTES), io: info };
}

function check(s: Stress, cmds: Cmd[], queues: Queue[], ev: Events, written: Written, n: number): void {
  const problem = (what: string) => { throw new Error(`cycle ${n}: ${what}`); };
  for (const queue of queues) {
    const asked = s.core.hc_conn_disconnects(queue.q);
    if (asked > 1) problem(`the core asked a ${queue.admin ? 'admin' : 'I/O'} queue to disconnect ${asked} times`);
    if (s.core.hc_qpair_outstanding(queue.q) !== 0) problem('a closed queue still holds requests');
  }
  for (const c of cmds) {
    const completions = s.core.hc_req_completions(c.req), dropped = s.core.hc_req_dropped(c.req);
    if (completions + dropped !== 1) problem(`${c.what} completed ${completions} times (dropped by the transport: ${dropped})`);
    if (dropped === 1) continue;     // its connection was closing: the core never saw it
    const status = s.status(c);
    if (!c.allowed.includes(status)) problem(`${c.what}: ${statusText(status)}, expected one of ${c.allowed.map(statusText).join(', ')}`);
    if (c.what === 'AER' && status === STATUS.SUCCESS && s.dw0(c) !== NS_ATTRIBUTE_NOTICE) problem(`AER answered with 0x${s.dw0(c).toString(16)}`);
    if (c.io) checkIo(s, c, status, ev, problem);
  }
  // Writes count as done for the next cycles only: within one, a read may overtake a write.
  for (const c of cmds) {
    if (c.io?.write && s.core.hc_req_dropped(c.req) === 0 && s.status(c) === STATUS.SUCCESS) {
      for (let i = 0; i < c.io.nlb; i++) written.blocks[c.io.nsid - 1][c.io.slba + i] = true;
    }
  }
}

function checkIo(s: Stress, c: Cmd, status: number, ev: Events, problem: (what: string) => never): void {
  const { write, nsid, slba, nlb, writtenBefore } = c.io!;
  const reset = ev.reset[c.queue.host];
  if (status === STATUS.COMMAND_SEQUENCE_ERROR && !reset) problem(`${c.what}: Command Sequence Error without a controller reset`);
  const ns2Steady = !ev.deleted && !ev.ns2Changed;
  if (status === STATUS.INVALID_NAMESPACE && ns2Steady && (nsid === 1 || ev.ns2AtStart)) problem(`${c.what} of namespace ${nsid}: Invalid Namespace, but it was there all along`);
  if (status === STATUS.SUCCESS && nsid === 2 && ns2Steady && !ev.ns2AtStart) problem(`${c.what} of namespace 2 succeeded, but it was not there`);
  if (status !== STATUS.SUCCESS || write) return;
  const data = Buffer.from(s.bytesOf(c.base, nlb * BLOCK_BYTES));
  for (let i = 0; i < nlb; i++) {
    const got = data.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES);
    const zero = got.every((b) => b === 0);
    if (got.equals(blockPattern(nsid, slba + i)) || (zero && !writtenBefore[i])) continue;
    problem(`Read of namespace ${nsid} block ${slba + i}: ${zero ? 'zeroes after a write of it succeeded' : 'data no write put there'}`);
  }
}

// ---- the test ----

/**
 * The heap's blocks in use once they stop changing: a finished delete still has io_channels let go
 * by message on the reactors' threads. Three equal looks 20 ms apart, within HEAP_SETTLE_MS.
 */
async function steadyBlocks(t: TestEngine): Promise<number> {
  const end = Date.now() + HEAP_SETTLE_MS;
  let last = t.core.heap_live_blocks_all(), same = 0;
  while (same < 3 && Date.now() < end) {
    await sleep(20);
    const now = t.core.heap_live_blocks_all();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

function ascii(t: TestEngine, text: string): number {
  const bytes = Buffer.from(`${text}\0`, 'latin1');
  const p = t.core.wstor_alloc(bytes.length) >>> 0;
  new Uint8Array(t.engine.memory.buffer, p, bytes.length).set(bytes);
  return p;
}

test(`NVMe-oF lifecycle stress: ${CYCLES} cycles of connects, I/O, namespace/host/subsystem changes, resets and closes on two reactors`, { timeout: SOAK ? 3_600_000 : 180_000 }, async () => {
  await withTestEngine(async (t) => {
    const core = t.core;
    const threads = [0, 1].map((reactor) => core.t_thread_create(reactor) >>> 0);
    const bdevs = ['sm1', 'sm2'].map((name) => t.engine.bdev.createMalloc(name, { blockSize: BLOCK_BYTES, blockCount: NS_BLOCKS }));
    const ops = core.hc_transport_new(LIMITS.maxQueueDepth, LIMITS.maxAqDepth, LIMITS.maxIoQpairs, LIMITS.inCapsule, LIMITS.maxIo) >>> 0;
    core.hc_transport_auto_close(ops);
    const names: Names = { sub: ascii(t, SUBNQN), serial: ascii(t, 'SPDK00000000000001'), model: ascii(t, 'wstor stress'), hosts: HOSTS.map((h) => ascii(t, h)) };
    const addr = ascii(t, '127.0.0.1'), port = ascii(t, '4420');
    const listener = await t.engine.request('listener add', (r) => core.nvmf_listener_add(r, TCP, IPV4, addr, port));
    const s = new Stress(t, ops, threads, listener);
    const target = new Target(s, names, bdevs);
    // A bdev keeps its closed channels' statistics in one block, made when its first channel goes:
    // a flush (a channel on the app thread, let go after) makes it now for both, whatever the cycles do.
    for (const name of ['sm1', 'sm2']) await t.engine.bdev.flush(name);
    const rng = generator(SEED);
    const written: Written = { blocks: [0, 1].map(() => new Array<boolean>(NS_BLOCKS).fill(false)) };
    let baseline = 0;
    const started = Date.now();
    try {
      // Cycle 0 warms up: what lasts once made (the listener table, the discovery subsystem) exists
      // before the baseline; any block a later cycle leaves behind shows in the count.
      for (let n = 0; n <= CYCLES; n++) {
        await cycle(s, target, rng, written, n);
        const fatal = t.reports.find((r) => r.level === 'fatal');
        if (fatal) throw new Error(`cycle ${n}: fatal report: ${fatal.message}`);
        if (t.reports.length > REPORTS_KEPT) t.reports.splice(0, t.reports.length - REPORTS_KEPT);
        if (n === 0) {
          if (target.sub !== 0) { target.delete(); await target.settle(); }
          baseline = await steadyBlocks(t);
        }
      }
      if (target.sub !== 0) { target.delete(); await target.settle(); }
    } catch (err) {
      console.log(t.reports.slice(-15).map((r) => `${r.level}: ${r.message}`).join("\n"));
      throw new Error(`NVMe-oF stress failed with seed ${SEED} (replay: WSTOR_NVMF_STRESS_SEED=${SEED}): ${(err as Error).message}`, { cause: err });
    }
    const seconds = (Date.now() - started) / 1000;
    const end = Date.now() + HEAP_SETTLE_MS;
    while (core.heap_live_blocks_all() !== baseline && Date.now() < end) await sleep(10);
    assert.equal(core.heap_live_blocks_all(), baseline, `seed ${SEED}: heap blocks in use after teardown vs before the cycles`);
    assert.deepEqual(t.reports.filter((r) => r.level === 'fatal').map((r) => r.message), [], `seed ${SEED}: no fatal report`);
    console.log(`nvmf stress: seed ${SEED}, ${CYCLES} cycles in ${seconds.toFixed(1)} s`);
  }, { reactors: 2 });
});
