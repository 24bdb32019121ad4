// The thin clone's first-write path alone: one 4 KiB write into every cluster of a clone, each of
// which copies the snapshot's 1 MiB cluster first. With --against DIR (another built checkout), its
// engine runs in this same process and the rounds alternate between the two builds, so both see the
// same machine at the same time (other load on a shared VM moves both alike).
// Usage: node build/bench/blob-cow-first.js [--rounds N] [--clusters N] [--against /path/to/checkout]
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '7'));
const clusters = Number(arg('--clusters', '256'));
const against = arg('--against', '');
const QD = 32;
const IO = 4096;
const CLUSTER = 1 << 20;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** The parts of the Node API this bench uses, as both builds have them. */
interface Blob { write(offset: number, data: Uint8Array): Promise<unknown>; snapshot(): Promise<bigint>; close(): Promise<void>; id: bigint }
interface Store { create(o: { size: number }): Promise<bigint>; open(id: bigint): Promise<Blob>; clone(id: bigint): Promise<bigint>; delete(id: bigint): Promise<void>; unload(): Promise<void> }
interface EngineLike { bdev: { createMalloc(name: string, o: { blockCount: number }): unknown }; blobstore: { init(bdev: string, o: { clusterSize: number }): Promise<Store> }; stop(): Promise<void> }
interface Build { name: string; engine: EngineLike; store: Store; copiesPerSec: number[] }

async function startBuild(name: string, root: string): Promise<Build> {
  const mod = await import(pathToFileURL(path.join(root, 'build', 'host', 'index.js')).href) as
    { Engine: { start(o: object): Promise<EngineLike> } };
  const engine = await mod.Engine.start({ reactors: 1, memoryBytes: (2 * clusters + 128) << 20, logLevel: 'error' });
  engine.bdev.createMalloc('m0', { blockCount: ((2 * clusters + 64) * CLUSTER) / IO });
  const store = await engine.blobstore.init('m0', { clusterSize: CLUSTER });
  return { name, engine, store, copiesPerSec: [] };
}

/** A clone of a snapshot of a thick blob, written once in each cluster (QD 32): cluster copies per second. */
async function round(b: Build): Promise<number> {
  const origin = await b.store.open(await b.store.create({ size: clusters * CLUSTER }));
  const snapId = await origin.snapshot();
  const clone = await b.store.open(await b.store.clone(snapId));
  const payload = new Uint8Array(IO).fill(9);
  let next = 0;
  const worker = async () => {
    while (next < clusters) {
      const c = next++;
      await clone.write(c * CLUSTER + Math.floor(Math.random() * (CLUSTER / IO)) * IO, payload);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: QD }, worker));
  const perSec = clusters / ((performance.now() - t0) / 1000);
  for (const blob of [clone, origin]) await blob.close();
  for (const id of [clone.id, origin.id, snapId]) await b.store.delete(id);
  return perSec;
}

async function main() {
  const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  const builds = [await startBuild('this build', here)];
  if (against) builds.push(await startBuild(`--against ${against}`, against));
  try {
    for (const b of builds) await round(b);                 // warm-up (V8 tiers up), not counted
    for (let n = 0; n < rounds; n++) {
      const order = n % 2 === 0 ? builds : [...builds].reverse();
      for (const b of order) b.copiesPerSec.push(await round(b));
      console.log(`  round ${n + 1}: ${builds.map((b) => `${b.name} ${b.copiesPerSec.at(-1)!.toFixed(0)}`).join(', ')} first writes/s`);
    }
    console.log(`${clusters} first 4 KiB writes into a clone (each copies a 1 MiB cluster), QD ${QD}, medians of ${rounds}:`);
    for (const b of builds) console.log(`  ${b.name}: ${median(b.copiesPerSec).toFixed(0)} first writes/s (${(median(b.copiesPerSec) / 1024).toFixed(2)} GiB/s copied)`);
    if (builds.length === 2) console.log(`  ratio this / against: ${(median(builds[0].copiesPerSec) / median(builds[1].copiesPerSec)).toFixed(2)}x`);
    for (const b of builds) await b.store.unload();
  } finally {
    for (const b of builds) await b.engine.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
