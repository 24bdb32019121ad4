// Seeded corruption of Blobstore images (issue 14): a store with a thick blob whose md takes three
// pages, a thin one, a snapshot with its origin and a clone, unloaded cleanly (or left dirty), then per
// seed a few bytes or bits of its super block, masks or md pages changed, often with the checksums
// recomputed as a forger would. Each image is loaded (for writing, or read-only) and every outcome
// must be a clear error or a store whose blobs read their own data or are refused: never a trap, a
// stall, or a blob that opens and reads another's data. A load for writing is then used (a new blob,
// a thin claim) and loaded again; a read-only load, and a refused one, must not have written a byte.
// `runCorruption(seed)` is shared by the CI test and the soak command; a failing seed replays exactly.
import { BlobHarness, OP, PAGE, SB, MDP, DESC, blobIdOf, pageOf, pattern, seal, sealMasks, findDescriptor } from '../helpers/blob-harness.js';
import { descriptorSpan } from '../helpers/blob-image.js';

const CLUSTER = 64 << 10;
const UNITS = CLUSTER / PAGE;
const ENOENT = -2;

class Rng {
  private x: number;
  constructor(seed: number) { this.x = (Math.imul(seed, 2654435761) >>> 0) || 1; }
  next(): number { let x = this.x; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.x = x >>> 0; return this.x; }
  below(n: number): number { return this.next() % n; }
  chance(p: number): boolean { return this.next() / 2 ** 32 < p; }
  pick<T>(items: readonly T[]): T { return items[this.below(items.length)]; }
}

export class CorruptionFailure extends Error {
  constructor(readonly seed: number, readonly variant: string, message: string) {
    super(`seed ${seed} (${variant}): ${message} (replay: WSTOR_CORRUPT_SEED=${seed})`);
  }
}

/** What a blob is in the pristine image: its data, its chain of md pages, what it reads through. */
interface Truth { id: bigint; name: string; clusters: number; data: Uint8Array; pages: number[]; parent: bigint }

/** Where the pristine image has its regions (a mutation may have changed what the super block says). */
interface Geometry { maskStart: number; maskLen: number; mdStart: number; mdLen: number }

export interface Fixture { b: BlobHarness; clean: boolean; pristine: Uint8Array; geometry: Geometry; truths: Truth[]; liveBlocks: number }

/** The chain of md pages of the blob whose first page is md page `index`, as the image has it. */
function chainOf(b: BlobHarness, index: number): number[] {
  const pages = [index];
  for (let p = b.page(b.mdPageAt(index)).getUint32(MDP.next, true); p !== 0xffffffff && pages.length < 64; p = b.page(b.mdPageAt(p)).getUint32(MDP.next, true)) pages.push(p);
  return pages;
}

function writeAll(b: BlobHarness, id: bigint, writes: [number, number, number][]): void {
  b.open(id);
  b.channel();
  for (const [offset, units, seed] of writes) if (b.write(offset, units, seed) !== 0) throw new Error(`fixture: write to ${id} failed`);
  b.putChannel();
  b.ok(OP.close);
}

/** Build the store once per variant; every seed starts from its pristine image. */
export async function buildFixture(clean: boolean): Promise<Fixture> {
  const b = await BlobHarness.create(1024);                  // 4 MiB: 64 clusters, 64 md pages
  b.init(CLUSTER);
  const thick = b.ok(OP.create, [3, 0]);
  writeAll(b, thick, [[0, 3 * UNITS, 1]]);
  b.open(thick);
  const name = b.h.scratch(8), value = b.h.scratch(3000);
  new Uint8Array(b.h.memory.buffer, value, 3000).set(pattern(3000, 6));
  for (const n of ['owner', 'big0', 'big1', 'big2']) {
    new TextEncoder().encodeInto(n, new Uint8Array(b.h.memory.buffer, name, 8));
    b.ok(OP.setXattr, [name, n.length, value, n === 'owner' ? 5 : 3000]);
  }
  b.ok(OP.close);
  const thin = b.ok(OP.create, [4, 1]);
  writeAll(b, thin, [[UNITS, UNITS, 2], [3 * UNITS + 3, 5, 3]]);
  const origin = b.ok(OP.create, [2, 0]);
  writeAll(b, origin, [[0, 2 * UNITS, 4]]);
  b.open(origin);
  const snap = b.ok(OP.snapshot);
  b.ok(OP.close);
  writeAll(b, origin, [[2, 3, 5]]);                         // copy on write of its cluster 0
  const clone = b.ok(OP.clone, [], snap);
  writeAll(b, clone, [[UNITS + 1, 2, 7]]);
  const named: [string, bigint][] = [['thick', thick], ['thin', thin], ['origin', origin], ['snapshot', snap], ['clone', clone]];
  const truths: Truth[] = named.map(([n, id]) => {
    b.open(id);
    b.channel();
    const clusters = b.h.core.hbs_blob_clusters(b.blob);
    const data = b.read(0, clusters * UNITS);
    if (typeof data === 'number') throw new Error(`fixture: reading ${n} failed: ${data}`);
    b.putChannel();
    b.ok(OP.close);
    return { id, name: n, clusters, data, pages: [], parent: 0n };
  });
  b.ok(clean ? OP.unload : OP.abandon);
  for (const t of truths) {
    t.pages = chainOf(b, pageOf(t.id));
    const head = b.page(b.mdPageAt(pageOf(t.id)));
    const at = findDescriptor(head, DESC.parent);
    t.parent = at < 0 ? 0n : head.getBigUint64(at + 8, true);
  }
  if (truths[0].pages.length < 3) throw new Error('fixture: the thick blob\'s md should take three pages');
  const sb = b.superBlock();
  const geometry: Geometry = { maskStart: sb.getUint32(SB.maskStart, true), maskLen: sb.getUint32(SB.maskLen, true),
    mdStart: sb.getUint32(SB.mdStart, true), mdLen: sb.getUint32(SB.mdLen, true) };
  const f: Fixture = { b, clean, pristine: b.image().slice(), geometry, truths, liveBlocks: -1 };
  // One run on the image as it is warms what the core keeps between operations (cached I/O requests,
  // buffers); from then on a run must end with as many heap blocks as it started with.
  runCorruption(f, 0);
  return f;
}

// ---- mutations ----

const INTERESTING_U32 = [0, 1, 2, 3, 4, 7, 63, 64, 65, 255, 4096, 65536, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];

/** One mutation of the image; returns the md pages it touched (md region indexes), for the oracle. */
function mutate(f: Fixture, rng: Rng, log: string[]): number[] {
  const b = f.b;
  const sb = b.superBlock();
  const image = b.image();
  const { maskStart, maskLen, mdStart, mdLen } = f.geometry;
  const region = rng.below(100);
  if (region < 25) {                                            // the super block
    const kind = rng.below(3);
    if (kind === 0) {
      // A geometry field nudged to a value that still looks sane: half, double, or a step off.
      const field = rng.pick([SB.cluster, SB.mdLen, SB.totalClusters, SB.clusterMaskBits, SB.maskLen, SB.mdStart]);
      const old = sb.getUint32(field, true);
      const value = rng.pick([old >>> 1, old * 2, old + 1, old - 1, old + 16, Math.max(1, old - 16)]) >>> 0;
      sb.setUint32(field, value, true);
      log.push(`super block field at ${field}: ${old} -> ${value}`);
    } else if (kind === 1) {
      const field = rng.pick(Object.values(SB).filter((o) => o !== SB.crc));
      const value = rng.pick(INTERESTING_U32);
      sb.setUint32(field, value, true);
      log.push(`super block field at ${field} = ${value}`);
    } else {
      for (let n = 1 + rng.below(4); n > 0; n--) { const bit = rng.below(4092 * 8); image[bit >> 3] ^= 1 << (bit & 7); log.push(`super block bit ${bit}`); }
    }
    if (rng.chance(0.7)) { seal(sb); log.push('super block resealed'); }
    return [];
  }
  if (region < 45) {                                            // the masks
    const bytes = Math.min(maskLen, 3) * PAGE;
    for (let n = 1 + rng.below(3); n > 0; n--) {
      // Mostly the bytes that hold bits (the first few of each mask page), sometimes anywhere.
      const page = rng.below(Math.max(1, Math.min(maskLen, 3)));
      const at = rng.chance(0.8) ? page * PAGE + rng.below(16) : rng.below(bytes);
      const bit = rng.below(8);
      image[(maskStart * PAGE) + at] ^= 1 << bit;
      log.push(`mask byte ${at} bit ${bit}`);
    }
    if (rng.chance(0.6)) { sealMasks(b, f.geometry.maskStart, f.geometry.maskLen); log.push('masks resealed'); }
    return [];
  }
  // An md page: mostly one a blob uses, sometimes any page of the region (a phantom blob can appear).
  const used = f.truths.flatMap((t) => t.pages);
  const index = rng.chance(0.75) ? rng.pick(used) : rng.below(mdLen);
  const page = b.page(mdStart + index);
  const kind = rng.below(8);
  switch (kind) {
    case 0: for (let n = 1 + rng.below(6); n > 0; n--) { const bit = rng.below(4092 * 8); image[(mdStart + index) * PAGE + (bit >> 3)] ^= 1 << (bit & 7); } break;
    case 1: page.setUint32(MDP.next, rng.chance(0.5) ? rng.below(mdLen + 4) : rng.pick([index, 0xffffffff, ...used]), true); break;
    case 2: page.setBigUint64(MDP.id, rng.chance(0.5) ? blobIdOf(rng.below(mdLen)) : BigInt(rng.next()), true); break;
    case 3: page.setUint32(MDP.sequence, rng.pick([0, 1, 2, 3, 0xffffffff]), true); break;
    case 4: {                                                   // a descriptor's type, length or payload
      const at = MDP.descriptors + 8 * rng.below(24);
      const field = rng.below(3);
      if (field === 0) page.setUint8(at, rng.below(8));
      else if (field === 1) page.setUint32(at + 4, rng.pick(INTERESTING_U32), true);
      else page.setUint32(at + 8 + 4 * rng.below(4), rng.chance(0.5) ? rng.pick(INTERESTING_U32) : rng.below(70), true);
      break;
    }
    case 5: {                                                   // the parent: itself, another blob, none, or garbage
      const at = findDescriptor(page, DESC.parent);
      const parent = rng.pick([blobIdOf(index), ...f.truths.map((t) => t.id), 0n, BigInt(rng.next())]);
      if (at > 0) page.setBigUint64(at + 8, parent, true);
      else {
        let end = MDP.descriptors;
        while (end + 16 <= MDP.next && page.getUint8(end) !== DESC.end) end += descriptorSpan(page.getUint32(end + 4, true));
        if (end + 16 <= MDP.next) { page.setUint8(end, DESC.parent); page.setUint32(end + 4, 8, true); page.setBigUint64(end + 8, parent, true); }
      }
      break;
    }
    case 6: {                                                   // an extent moved onto another cluster
      const at = findDescriptor(page, DESC.extents);
      if (at > 0) page.setUint32(at + 16 + 8 * rng.below(2), rng.below(70), true);
      break;
    }
    default: {                                                  // a copy of a blob's first page at another index: a phantom
      const from = rng.pick(f.truths);
      const to = rng.below(mdLen);
      image.copyWithin((mdStart + to) * PAGE, (mdStart + pageOf(from.id)) * PAGE, (mdStart + pageOf(from.id) + 1) * PAGE);
      b.page(mdStart + to).setBigUint64(MDP.id, blobIdOf(to), true);
      seal(b.page(mdStart + to));
      log.push(`md page ${to} = a copy of ${from.name}'s first page`);
      return [to];
    }
  }
  log.push(`md page ${index}: mutation ${kind}`);
  if (rng.chance(0.7)) { seal(page); log.push(`md page ${index} resealed`); }
  return [index];
}

// ---- the oracle ----

/** Blobs whose own md pages, or an ancestor's, were changed: they may read anything but must not trap. */
function touchedBlobs(f: Fixture, pages: Set<number>): Set<bigint> {
  const touched = new Set<bigint>();
  const byId = new Map(f.truths.map((t) => [t.id, t]));
  for (const t of f.truths) {
    for (let a: Truth | undefined = t, hops = 0; a !== undefined && hops < f.truths.length; a = byId.get(a.parent), hops++) {
      if (a.pages.some((p) => pages.has(p))) { touched.add(t.id); break; }
    }
  }
  return touched;
}

interface Outcome { refused: boolean; readOnly: boolean; opened: number; refusedBlobs: number }

/** Run one seed on a fixture (restored to its pristine image first). */
export function runCorruption(f: Fixture, seed: number): Outcome {
  const b = f.b;
  const variant = f.clean ? 'clean' : 'dirty';
  const rng = new Rng(seed);
  const log: string[] = [];
  const fail = (msg: string): never => {
    throw new CorruptionFailure(seed, variant, `${msg}; mutations: ${log.join(', ')}; reports: ${b.h.reports.slice(-4).map((r) => r.message).join(' | ')}`);
  };
  b.image().set(f.pristine);
  const touchedPages = new Set<number>();
  // Seed 0 changes nothing: the fixture's own check that the untouched image passes every step.
  for (let n = seed === 0 ? 0 : 1 + rng.below(3); n > 0; n--) for (const p of mutate(f, rng, log)) touchedPages.add(p);
  const touched = touchedBlobs(f, touchedPages);
  const readOnly = rng.chance(0.25);
  const corrupted = b.image().slice();
  const from = b.h.reports.length;
  let rc: number;
  try {
    rc = b.load({ readOnly });
  } catch (err) {
    return fail(`the load trapped or stalled: ${(err as Error).message}`);
  }
  const since = () => b.h.reports.slice(from);
  if (rc !== 0) {
    if (rc > 0 || !since().some((r) => r.level === 'error')) fail(`the load failed with ${rc} and no error saying why`);
    if (!Buffer.from(b.image()).equals(Buffer.from(corrupted))) fail('a refused load wrote to the device');
    checkLeaks(f, fail);
    return { refused: true, readOnly, opened: 0, refusedBlobs: 0 };
  }
  const outcome: Outcome = { refused: false, readOnly, opened: 0, refusedBlobs: 0 };
  const expected = new Map(f.truths.map((t) => [t.id, t.data]));
  // A blob refused at the first look is not part of the store: its id may name a new blob later.
  const gone = new Set<bigint>();
  const check = (when: string) => {
    for (const t of f.truths) {
      if (gone.has(t.id)) continue;
      const before = b.h.reports.length;
      let orc: number;
      try { orc = b.open(t.id); } catch (err) { return fail(`${when}: opening ${t.name} trapped or stalled: ${(err as Error).message}`); }
      if (orc !== 0) {
        if (orc > 0) fail(`${when}: opening ${t.name} failed with ${orc}`);
        // Refused: said so, at the load (it names the blob or its first page) or by the open itself.
        const named = new RegExp(`(blob ${t.id}\\b|md page ${pageOf(t.id)}\\b|blob at md page ${pageOf(t.id)}\\b)`);
        const said = b.h.reports.slice(from).some((r) => named.test(r.message)) || b.h.reports.length > before;
        if (!said && !(orc === ENOENT && touched.has(t.id))) fail(`${when}: ${t.name} is gone (${orc}) and nothing said so`);
        if (when === 'first look') { outcome.refusedBlobs++; gone.add(t.id); }
        continue;
      }
      if (when === 'first look') outcome.opened++;
      b.channel();
      const data = b.read(0, t.clusters * UNITS);
      b.putChannel();
      b.ok(OP.close);
      if (typeof data === 'number' || touched.has(t.id)) continue;      // a read may fail; a forged blob may read anything
      const want = expected.get(t.id)!;
      if (data.length !== want.length || !Buffer.from(data).equals(Buffer.from(want))) fail(`${when}: ${t.name} opened and read data that is not its own`);
    }
  };
  check('first look');
  // A flag this build does not know in the super block's read-only set loads it read-only, asked or not.
  const forcedReadOnly = since().some((r) => /uses a read-only-compatible feature this build does not know: loaded read-only/.test(r.message));
  if (readOnly || forcedReadOnly) {
    b.ok(OP.unload);
    if (!Buffer.from(b.image()).equals(Buffer.from(corrupted))) fail('a read-only load wrote to the device');
    checkLeaks(f, fail);
    return outcome;
  }
  // Use the store: a new thick blob takes free clusters, a thin one claims one; nothing else may change.
  const fresh = b.op(OP.create, [2, 0]);
  if (fresh === 0) writeChecked(b, b.value(), [[0, 2 * UNITS, 11]], fail);
  const thin = f.truths.find((t) => t.name === 'thin')!;
  if (!touched.has(thin.id) && b.open(thin.id) === 0) {
    b.channel();
    if (b.write(0, UNITS, 12) === 0) {
      const data = expected.get(thin.id)!.slice();
      data.set(pattern(UNITS * PAGE, 12), 0);
      expected.set(thin.id, data);
    }
    b.putChannel();
    b.ok(OP.close);
  }
  check('after new writes');
  b.ok(OP.unload);
  const again = b.h.reports.length;
  const rc2 = b.load();
  if (rc2 !== 0) fail(`the store this run unloaded does not load again (${rc2})`);
  if (b.h.reports.slice(again).some((r) => /masks disagree|fail their checksum|not unloaded cleanly/.test(r.message))) {
    fail(`the masks this run's unload wrote do not hold up: ${b.h.reports.slice(again).map((r) => r.message).join(' | ')}`);
  }
  check('after a clean reload');
  b.ok(OP.unload);
  checkLeaks(f, fail);
  return outcome;
}

function writeChecked(b: BlobHarness, id: bigint, writes: [number, number, number][], fail: (m: string) => never): void {
  if (b.open(id) !== 0) fail(`a new blob ${id} does not open`);
  b.channel();
  for (const [offset, units, seed] of writes) b.write(offset, units, seed);
  b.putChannel();
  b.ok(OP.close);
}

function checkLeaks(f: Fixture, fail: (m: string) => never): void {
  for (let i = 0; i < 16; i++) f.b.h.core.h_poll(f.b.t, 0);          // deferred releases run
  const live = f.b.h.core.heap_live_blocks();
  if (f.liveBlocks < 0) f.liveBlocks = live;
  else if (live !== f.liveBlocks) fail(`${live - f.liveBlocks} heap blocks left behind (or freed twice)`);
}

export interface Totals { runs: number; refusedLoads: number; readOnly: number; blobsOpened: number; blobsRefused: number }

/** Seeds [first, first + count) on both variants (a clean store, a dirty one). */
export async function runCorruptions(first: number, count: number): Promise<Totals> {
  const totals: Totals = { runs: 0, refusedLoads: 0, readOnly: 0, blobsOpened: 0, blobsRefused: 0 };
  for (const clean of [true, false]) {
    const f = await buildFixture(clean);
    for (let seed = first; seed < first + count; seed++) {
      const o = runCorruption(f, seed);
      totals.runs++;
      if (o.refused) totals.refusedLoads++;
      if (o.readOnly) totals.readOnly++;
      totals.blobsOpened += o.opened;
      totals.blobsRefused += o.refusedBlobs;
    }
  }
  return totals;
}
