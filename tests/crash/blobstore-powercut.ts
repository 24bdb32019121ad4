// Power-cut simulation for the Blobstore (issue 4): a seeded random workload on a store over a crash
// bdev, a cut at a random point (unflushed writes dropped, kept or torn), an abandoned store, a load
// (recovery), then checks against what was durable. `runCut(seed)` is shared by the CI test and the
// soak command; a failing seed is printed and replays exactly.
import { newHarness, type Harness } from '../helpers/core.js';
import { writeCoreString, EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import { BlobOp as OP } from '../helpers/opcodes.js';

const UNIT = 4096;
const UNITS_PER_CLUSTER = 16;          // 64 KiB clusters: many clusters on a small device

interface BlobModel { id: bigint; clusters: number; xattr: string; blocks: Map<number, number>; snapshot?: boolean }

class Rng {
  private x: number;
  constructor(seed: number) { this.x = (seed >>> 0) || 1; }
  next(): number { let x = this.x; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.x = x >>> 0; return this.x; }
  below(n: number): number { return this.next() % n; }
}

export class CutFailure extends Error {
  constructor(readonly seed: number, message: string) { super(`seed ${seed}: ${message} (replay: WSTOR_CRASH_SEED=${seed})`); }
}

const copy = (m: BlobModel): BlobModel => ({ ...m, blocks: new Map(m.blocks) });

export async function runCut(seed: number): Promise<{ ops: number; cut: string; snapshotsDiscarded: number; copyUps: number }> {
  const h: Harness = await newHarness();
  const rng = new Rng(Math.imul(seed, 2654435761));
  const t = h.core.h_thread_create(0, -1, 4096);
  h.core.hb_set_app_thread(t);
  const fail = (msg: string): never => { throw new CutFailure(seed, `${msg}; reports: ${h.messages('error').slice(-3).join(' | ')}`); };
  /** Poll `on` until `done` (bounded); a stall fails with the seed to replay. */
  const settle = (on: Harness, what: string, done: () => boolean): void => {
    try { on.pollUntil(what, done); } catch (err) { fail((err as Error).message); }
  };
  const base = h.core.hb_malloc_create(UNIT, 2048);         // 8 MiB
  let reqSeq = 1;
  const request = (post: (r: number) => number): number => {
    const req = reqSeq++;
    if (post(req) !== 0) fail('request not posted');
    const found = () => h.events.find((x) => x.kind === EVENT_REQUEST_DONE && x.a === req);
    settle(h, 'the request', () => found() !== undefined);
    const e = found()!;
    if (e.b !== 0) fail(`request failed: ${e.b}`);
    return e.c;
  };
  const crash = request((r) => h.core.bdev_crash_create(r, writeCoreString(h.core, h.memory, 'crash0'), base, 16));
  const ctx = h.core.hbs_ctx_new();
  const send = (code: number, args: number[] = [], id?: bigint) => {
    h.setU32(ctx, code, 0);
    args.forEach((v, i) => h.setU32(ctx, v >>> 0, 7 + i));
    if (id !== undefined) { h.setU32(ctx, Number(id & 0xffffffffn), 5); h.setU32(ctx, Number(id >> 32n), 6); }
    const before = h.u32(ctx, 2);
    h.core.hbs_send(t, ctx);
    return before;
  };
  const wait = (before: number, code: number): number => {
    settle(h, `op ${code}`, () => h.u32(ctx, 2) !== before);
    return h.i32(ctx, 1);
  };
  const trace = process.env.WSTOR_CRASH_TRACE ? (m: string) => console.log(`# [seed ${seed}] ${m}`) : () => {};
  const run = (code: number, args: number[] = [], id?: bigint) => {
    const rc = wait(send(code, args, id), code);
    trace(`op ${code} ${args.join(',')} ${id ?? ''} -> ${rc} ${value()}`);
    return rc;
  };
  const value = () => BigInt(h.u32(ctx, 11)) | (BigInt(h.u32(ctx, 12)) << 32n);
  const buf = h.scratch(UNIT);
  const clusterBuf = h.scratch(UNIT * UNITS_PER_CLUSTER);
  const name = h.scratch(16);
  new TextEncoder().encodeInto('tag', new Uint8Array(h.memory.buffer, name, 16));
  const val = h.scratch(64);

  if (run(OP.init, [crash, UNITS_PER_CLUSTER * UNIT, 0]) !== 0) fail('init');
  h.setU32(ctx, Number(value()), 3);

  // durable: what must survive the cut; current: what the workload believes now.
  const durable = new Map<string, BlobModel>();
  const current = new Map<string, BlobModel>();
  const opsBeforeCut = 5 + rng.below(30);
  let opsDone = 0;
  let copyUps = 0;                          // inflates, decouples and snapshot deletes that did something
  for (let n = 0; n < opsBeforeCut; n++) {
    const choice = rng.below(13);
    const ids = [...current.keys()];
    if (choice === 12) {
      // Inflate or decouple: the data stays as it was; the md (new parent) is synced on the way.
      const writable = ids.filter((k) => !current.get(k)!.snapshot);
      if (writable.length === 0) continue;
      const m = current.get(writable[rng.below(writable.length)])!;
      if (run(OP.open, [], m.id) !== 0) fail(`open of live blob ${m.id}`);
      h.setU32(ctx, Number(value()), 4);
      const rc = run(rng.below(2) === 0 ? OP.inflate : OP.decouple);
      if (rc !== 0 && rc !== -22 && rc !== -28) fail(`inflate/decouple of blob ${m.id}: ${rc}`);   // EINVAL: no parent; ENOSPC
      if (rc === 0) copyUps++;
      if (run(OP.close) !== 0) fail(`close of blob ${m.id}`);
      durable.set(String(m.id), copy(m));
      opsDone++;
      continue;
    }
    if (choice === 11) {
      // A clone of a snapshot: reads what the snapshot holds; durable once it completes.
      const snaps = ids.filter((k) => current.get(k)!.snapshot);
      if (snaps.length === 0) continue;
      const sm = current.get(snaps[rng.below(snaps.length)])!;
      if (run(OP.clone, [], sm.id) !== 0) continue;
      const m: BlobModel = { id: value(), clusters: sm.clusters, xattr: '', blocks: new Map(sm.blocks) };
      current.set(String(m.id), m);
      durable.set(String(m.id), copy(m));
      opsDone++;
      continue;
    }
    if (choice === 10 && ids.length > 0) {
      // A snapshot takes the origin's data as it is; the origin's md is synced on the way (durable).
      const m = current.get(ids[rng.below(ids.length)])!;
      if (m.snapshot) continue;
      if (run(OP.open, [], m.id) !== 0) fail(`open of live blob ${m.id}`);
      h.setU32(ctx, Number(value()), 4);
      const rc = run(OP.snapshot);
      if (rc === 0) {
        const snap: BlobModel = { id: value(), clusters: m.clusters, xattr: '', blocks: new Map(m.blocks), snapshot: true };
        current.set(String(snap.id), snap);
        durable.set(String(snap.id), copy(snap));
        durable.set(String(m.id), copy(m));
      }
      h.setU32(ctx, h.u32(ctx, 4), 4);
      if (run(OP.close) !== 0) fail(`close of blob ${m.id}`);
      durable.set(String(m.id), copy(m));
      opsDone++;
      continue;
    }
    if (choice < 2 || ids.length === 0) {
      const clusters = 1 + rng.below(6);
      if (run(OP.create, [clusters, rng.below(2)]) !== 0) continue;   // ENOSPC is fine
      const m: BlobModel = { id: value(), clusters, xattr: '', blocks: new Map() };
      current.set(String(m.id), m);
      durable.set(String(m.id), copy(m));                              // durable once create completes
    } else {
      const m = current.get(ids[rng.below(ids.length)])!;
      if (choice === 9) {
        const rc = run(OP.deleteBlob, [], m.id);
        if (rc === -16 && m.snapshot) { opsDone++; continue; }        // a snapshot with two or more clones stays
        if (rc !== 0) fail(`delete of closed blob ${m.id}: ${rc}`);
        if (m.snapshot) copyUps++;                                     // its one clone took its clusters
        // A deleted snapshot's one clone reads the same data as before: its model does not change.
        current.delete(String(m.id));
        durable.delete(String(m.id));                                  // delete is durable when it completes
        opsDone++;
        continue;
      }
      if (run(OP.open, [], m.id) !== 0) fail(`open of live blob ${m.id}`);
      h.setU32(ctx, Number(value()), 4);
      run(OP.channel);
      if (choice < 6 && rng.below(4) === 0) {
        // A whole cluster at once: a thin cluster it claims is filled with this data, not zeroes or a copy.
        const first = rng.below(m.clusters) * UNITS_PER_CLUSTER;
        const b = 1 + rng.below(250);
        new Uint8Array(h.memory.buffer, clusterBuf, UNIT * UNITS_PER_CLUSTER).fill(b);
        if (run(OP.write, [clusterBuf, first, UNITS_PER_CLUSTER]) === 0) for (let u = 0; u < UNITS_PER_CLUSTER; u++) m.blocks.set(first + u, b);
      } else if (choice < 6) {
        const unit = rng.below(m.clusters * UNITS_PER_CLUSTER);
        const b = 1 + rng.below(250);
        new Uint8Array(h.memory.buffer, buf, UNIT).fill(b);
        if (run(OP.write, [buf, unit, 1]) === 0) m.blocks.set(unit, b);
      } else if (choice < 7) {
        const text = `v${rng.below(1000)}`;
        new TextEncoder().encodeInto(text, new Uint8Array(h.memory.buffer, val, 64));
        if (run(OP.setXattr, [name, 3, val, text.length]) === 0) m.xattr = text;
      } else if (choice < 8) {
        const clusters = 1 + rng.below(8);
        if (run(OP.resize, [clusters]) === 0) {
          for (const u of [...m.blocks.keys()]) if (u >= clusters * UNITS_PER_CLUSTER) m.blocks.delete(u);
          m.clusters = clusters;
        }
      } else if (run(OP.sync) === 0) {
        durable.set(String(m.id), copy(m));   // sync flushes the bdev: md and every earlier write are durable
      }
      if (run(OP.close) === 0) durable.set(String(m.id), copy(m));    // close syncs: durable too
      else fail(`close of blob ${m.id}`);
    }
    opsDone++;
  }
  // Kept up to date by every op above, the clone index must be what the md pages say (read back
  // through the crash bdev's cache, so unflushed md counts, as it does for the live store).
  if (run(OP.verifyIndex) !== 0) fail(`before the cut, the clone index differs from the disk in ${value()} places`);
  // The cut lands between operations, or in the middle of one more write (its outcome may go either way).
  let midOp = '';
  const live = [...current.keys()];
  const writable = live.filter((k) => !current.get(k)!.snapshot);
  const snapshots = live.filter((k) => current.get(k)!.snapshot);
  if (snapshots.length > 0 && rng.below(4) === 0) {
    // The cut lands inside the delete of a snapshot: it exists afterwards or not (not checked), and
    // its clone reads the same either way (checked with the other blobs). Half the time every writable
    // blob is open, so a clone among them is too (and any snapshot it reads through): the delete then
    // freezes the open clone and changes its map in memory as it goes.
    const m = current.get(snapshots[rng.below(snapshots.length)])!;
    if (rng.below(2) === 0) for (const k of writable) if (run(OP.open, [], current.get(k)!.id) !== 0) fail(`open of live blob ${k}`);
    const late = h.core.hbs_ctx_new();
    h.setU32(late, h.u32(ctx, 3), 3);
    h.setU32(late, Number(m.id & 0xffffffffn), 5); h.setU32(late, Number(m.id >> 32n), 6);
    h.setU32(late, OP.deleteBlob, 0);
    h.core.hbs_send(t, late);
    for (let i = rng.below(60); i > 0; i--) h.core.h_poll(t, 0);
    durable.delete(String(m.id));
    midOp = `, in the delete of snapshot ${m.id}`;
  } else if (writable.length > 0 && rng.below(3) === 0) {
    // The cut lands inside a snapshot, an inflate or a decouple: afterwards the blob reads the same
    // either way, and a snapshot exists or not (it is not checked; the cluster accounting below is).
    const m = current.get(writable[rng.below(writable.length)])!;
    const [lateOp, lateName] = ([[OP.snapshot, 'snapshot'], [OP.inflate, 'inflate'], [OP.decouple, 'decouple']] as const)[rng.below(3)];
    if (run(OP.open, [], m.id) === 0) {
      h.setU32(ctx, Number(value()), 4);
      const late = h.core.hbs_ctx_new();
      for (const i of [3, 4, 13]) h.setU32(late, h.u32(ctx, i), i);
      h.setU32(late, lateOp, 0);
      h.core.hbs_send(t, late);
      for (let i = rng.below(40); i > 0; i--) h.core.h_poll(t, 0);
      midOp = `, in a ${lateName} of blob ${m.id}`;
    }
  } else if (live.length > 0 && rng.below(2) === 0) {
    const m = current.get(live[rng.below(live.length)])!;
    if (run(OP.open, [], m.id) === 0) {
      h.setU32(ctx, Number(value()), 4);
      run(OP.channel);
      const unit = rng.below(m.clusters * UNITS_PER_CLUSTER);
      new Uint8Array(h.memory.buffer, buf, UNIT).fill(251);
      const late = h.core.hbs_ctx_new();
      for (const i of [3, 4, 13]) h.setU32(late, h.u32(ctx, i), i);
      h.setU32(late, OP.write, 0);
      h.setU32(late, buf, 7); h.setU32(late, unit, 8); h.setU32(late, 1, 9);
      h.core.hbs_send(t, late);
      for (let i = rng.below(20); i > 0; i--) h.core.h_poll(t, 0);
      midOp = `, in a write of blob ${m.id} unit ${unit}`;
      durable.get(String(m.id))?.blocks.set(unit, -1);               // old or new: either is right
    }
  }
  const mode = rng.below(2) === 0 ? 0 : 2;
  const cutReq = reqSeq++;
  if (h.core.bdev_crash_cut(cutReq, crash, mode, seed) !== 0) fail('cut not posted');
  settle(h, 'the cut', () => h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === cutReq));

  // The power is gone: the whole instance with it (in-flight work included). A fresh instance gets a
  // device holding exactly what reached the base bdev, and loads the store from it.
  const DEVICE_BYTES = 2048 * UNIT;
  const image = new Uint8Array(h.memory.buffer, h.core.hb_malloc_data(base), DEVICE_BYTES).slice();
  const h2: Harness = await newHarness();
  const t2 = h2.core.h_thread_create(0, -1, 4096);
  h2.core.hb_set_app_thread(t2);
  const base2 = h2.core.hb_malloc_create(UNIT, 2048);
  new Uint8Array(h2.memory.buffer, h2.core.hb_malloc_data(base2), DEVICE_BYTES).set(image);
  const ctx2 = h2.core.hbs_ctx_new();
  const run2 = (code: number, args: number[] = [], id?: bigint): number => {
    h2.setU32(ctx2, code, 0);
    args.forEach((v, i) => h2.setU32(ctx2, v >>> 0, 7 + i));
    if (id !== undefined) { h2.setU32(ctx2, Number(id & 0xffffffffn), 5); h2.setU32(ctx2, Number(id >> 32n), 6); }
    const before = h2.u32(ctx2, 2);
    h2.core.hbs_send(t2, ctx2);
    settle(h2, `op ${code} after the cut`, () => h2.u32(ctx2, 2) !== before);
    return h2.i32(ctx2, 1);
  };
  const value2 = () => BigInt(h2.u32(ctx2, 11)) | (BigInt(h2.u32(ctx2, 12)) << 32n);
  const fail2 = (msg: string): never => { throw new CutFailure(seed, `${msg} (${mode === 0 ? 'drop all' : 'random'}${midOp}); reports: ${h2.messages('error').slice(-3).join(' | ')}`); };
  const buf2 = h2.scratch(UNIT);
  const name2 = h2.scratch(16);
  new TextEncoder().encodeInto('tag', new Uint8Array(h2.memory.buffer, name2, 16));

  if (run2(OP.load, [base2]) !== 0) fail2('load after the cut');
  const loaded = Number(value2());
  h2.setU32(ctx2, loaded, 3);
  // The clone index recovery built must be what the md pages on disk say (rebuilt and compared in the core).
  const indexChecked = () => { if (run2(OP.verifyIndex) !== 0) fail2(`the clone index differs from the disk in ${value2()} places`); };
  indexChecked();
  for (const m of durable.values()) {
    if (run2(OP.open, [], m.id) !== 0) fail2(`blob ${m.id} (synced) is missing after recovery`);
    const blob = Number(value2());
    h2.setU32(ctx2, blob, 4);
    const clusters = h2.core.hbs_blob_clusters(blob);
    if (clusters !== m.clusters) fail2(`blob ${m.id}: ${clusters} clusters after recovery, ${m.clusters} synced`);
    if (m.xattr) {
      if (run2(OP.getXattr, [name2, 3]) !== 0) fail2(`blob ${m.id}: xattr tag missing`);
      const v = value2();
      const got = new TextDecoder().decode(new Uint8Array(h2.memory.buffer, Number(v & 0xffffffffn), Number(v >> 32n)).slice());
      if (got !== m.xattr) fail2(`blob ${m.id}: xattr tag is ${got}, synced ${m.xattr}`);
    }
    run2(OP.channel);
    for (const [unit, b] of m.blocks) {
      if (b < 0) continue;
      if (run2(OP.read, [buf2, unit, 1]) !== 0) fail2(`blob ${m.id}: read of unit ${unit} failed`);
      const bytes = new Uint8Array(h2.memory.buffer, buf2, UNIT);
      if (!bytes.every((x) => x === b)) fail2(`blob ${m.id}: unit ${unit} holds ${bytes[0]}, ${b} was written before a sync`);
    }
    run2(OP.close);
  }
  // No leak, no sharing: the clusters marked used are exactly the metadata's and the blobs'.
  let referenced = h2.core.hbs_first_data_cluster(loaded);
  for (let p = h2.core.bs_next_blob(loaded, 0); p >= 0; p = h2.core.bs_next_blob(loaded, p + 1)) {
    const id = (1n << 32n) | BigInt(p);
    if (run2(OP.open, [], id) !== 0) fail2(`recovered blob ${id} cannot be opened`);
    const blob = Number(value2());
    referenced += h2.core.hbs_blob_allocated(blob);
    h2.setU32(ctx2, blob, 4);
    run2(OP.close);
  }
  const used = h2.core.hbs_used_clusters(loaded);
  if (used !== referenced) fail2(`${used} clusters marked used, ${referenced} referenced (a leak or a double claim)`);
  if (h2.messages('error').some((x) => /claims a cluster/.test(x))) fail2('a cluster claimed by two blobs');
  indexChecked();
  if (run2(OP.unload) !== 0) fail2('unload after recovery');
  const snapshotsDiscarded = h2.messages('notice').filter((x) => /snapshot at md page \d+ was interrupted/.test(x)).length;
  return { ops: opsDone, cut: `${mode === 0 ? 'drop all unflushed writes' : 'random keep/drop/tear'}${midOp}`, snapshotsDiscarded, copyUps };
}

export async function runCuts(from: number, count: number): Promise<{ ops: number; snapshotsDiscarded: number; copyUps: number }> {
  let ops = 0, snapshotsDiscarded = 0, copyUps = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = await runCut(seed);
    ops += r.ops;
    snapshotsDiscarded += r.snapshotsDiscarded;
    copyUps += r.copyUps;
  }
  return { ops, snapshotsDiscarded, copyUps };
}
