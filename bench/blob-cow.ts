// What copy on write costs: 4 KiB random writes through the Node API into a clone of a snapshot
// (each first write to a cluster copies the snapshot's cluster) against the same writes into the
// snapshotted blob's twin that owns its clusters (thick), on one malloc bdev, alternating, and the
// reads of the clone (through the snapshot) against the thick twin's.
// Usage: node build/bench/blob-cow.js [--rounds N] [--writes N]
import { Engine } from '../host/index.js';
import type { BlobHandle } from '../host/index.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '3'));
const writes = Number(arg('--writes', '20000'));
const QD = 32;
const BLOB_BYTES = 256 << 20;
const IO = 4096;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** `count` I/Os, QD in flight; IOPS. */
async function drive(count: number, one: () => Promise<unknown>): Promise<number> {
  let issued = 0;
  const worker = async () => { while (issued < count) { issued++; await one(); } };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: QD }, worker));
  return count / ((performance.now() - t0) / 1000);
}

async function main() {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 1600 << 20, logLevel: 'error' });
  try {
    engine.bdev.createMalloc('m0', { blockCount: (1200 << 20) / IO });
    const bs = await engine.blobstore.init('m0', { clusterSize: 1 << 20 });
    const payload = new Uint8Array(IO).fill(7);
    const offset = () => Math.floor(Math.random() * (BLOB_BYTES / IO)) * IO;
    const r = { thickW: [] as number[], cloneW: [] as number[], thickR: [] as number[], cloneR: [] as number[], copied: [] as number[] };
    for (let n = 0; n < rounds; n++) {
      const origin = await bs.open(await bs.create({ size: BLOB_BYTES }));
      const thick = await bs.open(await bs.create({ size: BLOB_BYTES }));
      const snapId = await origin.snapshot();
      const clone: BlobHandle = await bs.open(await bs.clone(snapId));
      r.thickR.push(await drive(writes, () => thick.read(offset(), IO)));
      r.cloneR.push(await drive(writes, () => clone.read(offset(), IO)));
      r.thickW.push(await drive(writes, () => thick.write(offset(), payload)));
      r.cloneW.push(await drive(writes, () => clone.write(offset(), payload)));
      r.copied.push(clone.allocatedBytes / (1 << 20));
      console.log(`  round ${n + 1}: write thick ${(r.thickW.at(-1)! / 1e3).toFixed(1)} k vs clone ${(r.cloneW.at(-1)! / 1e3).toFixed(1)} k IOPS ` +
        `(${r.copied.at(-1)} clusters copied); read thick ${(r.thickR.at(-1)! / 1e3).toFixed(1)} k vs clone ${(r.cloneR.at(-1)! / 1e3).toFixed(1)} k`);
      for (const b of [clone, thick, origin]) await b.close();
      for (const id of [clone.id, thick.id, origin.id, snapId]) await bs.delete(id);
    }
    const k = (x: number[]) => `${(median(x) / 1e3).toFixed(1)} k IOPS`;
    console.log(`${writes} random 4 KiB I/Os per run into ${BLOB_BYTES >> 20} MiB, 1 MiB clusters, QD ${QD} promises, medians of ${rounds}:`);
    console.log(`write: thick ${k(r.thickW)}, clone (copy on write) ${k(r.cloneW)}: ${(median(r.cloneW) / median(r.thickW)).toFixed(2)}x`);
    console.log(`read:  thick ${k(r.thickR)}, clone (through the snapshot) ${k(r.cloneR)}: ${(median(r.cloneR) / median(r.thickR)).toFixed(2)}x`);
    await bs.unload();
  } finally {
    await engine.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
