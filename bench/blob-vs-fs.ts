// Issue 4's comparison with what a Node user would pick instead: 4 KiB random writes and reads into
// 1 GiB of blob data persisted to a file, through the Node API (one promise per I/O, QD in flight),
// against fs.promises on one file per blob (FileHandle.read/write, the same QD in flight). Both hold
// the same data (written in full first) in files under --dir, page cache hot, no fsync on either.
// Rounds alternate the two; medians and the ratio are printed.
// Usage: node build/bench/blob-vs-fs.js [--rounds N] [--seconds S] [--dir DIR] [--reactors N (default 1)]
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Engine } from '../host/index.js';
import type { BlobHandle } from '../host/index.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '3'));
const seconds = Number(arg('--seconds', '3'));
const reactors = Number(arg('--reactors', '1'));
const dir = fs.mkdtempSync(path.join(arg('--dir', '/var/tmp'), 'wstor-vs-fs-'));
const QD = 32;
const BLOBS = 64;
const BLOB_BYTES = 16 << 20;                      // 64 × 16 MiB = 1 GiB
const IO = 4096;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** QD workers issue `one(i)` back to back until the time is up; IOPS. */
async function drive(one: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => { while (performance.now() < end) { await one(); done++; } };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: QD }, worker));
  return done / ((performance.now() - t0) / 1000);
}

const randomOffset = () => Math.floor(Math.random() * (BLOB_BYTES / IO)) * IO;
const randomIndex = () => Math.floor(Math.random() * BLOBS);

async function main() {
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
  const payload = new Uint8Array(IO).fill(0x5a);

  // fs.promises: a file per blob.
  const handles: fs.promises.FileHandle[] = [];
  for (let i = 0; i < BLOBS; i++) {
    const fh = await fs.promises.open(path.join(dir, `blob-${i}.bin`), 'w+');
    for (let off = 0; off < BLOB_BYTES; off += chunk.length) await fh.write(chunk, 0, chunk.length, off);
    handles.push(fh);
  }
  const readBuf = Buffer.alloc(IO * QD);
  let slot = 0;
  const fsWrite = () => handles[randomIndex()].write(payload, 0, IO, randomOffset());
  const fsRead = () => { const s = (slot++ % QD) * IO; return handles[randomIndex()].read(readBuf, s, IO, randomOffset()); };

  // wstor: a blobstore on one file bdev, 64 thick blobs of 16 MiB.
  const storeFile = path.join(dir, 'store.img');
  fs.writeFileSync(storeFile, '');
  fs.truncateSync(storeFile, BLOBS * BLOB_BYTES + (256 << 20));
  const engine = await Engine.start({ reactors, memoryBytes: 512 << 20, logLevel: 'error' });
  try {
    engine.bdev.createFile('f0', { path: storeFile });
    const bs = await engine.blobstore.init('f0', { clusterSize: 1 << 20 });
    const blobs: BlobHandle[] = [];
    for (let i = 0; i < BLOBS; i++) {
      const blob = await bs.open(await bs.create({ size: BLOB_BYTES }));
      for (let off = 0; off < BLOB_BYTES; off += chunk.length) await blob.write(off, chunk);
      blobs.push(blob);
    }
    const wsWrite = () => blobs[randomIndex()].write(randomOffset(), payload);
    const wsRead = () => blobs[randomIndex()].read(randomOffset(), IO);

    const r = { fsW: [] as number[], wsW: [] as number[], fsR: [] as number[], wsR: [] as number[] };
    for (let n = 0; n < rounds; n++) {
      r.fsW.push(await drive(fsWrite)); r.wsW.push(await drive(wsWrite));
      r.fsR.push(await drive(fsRead)); r.wsR.push(await drive(wsRead));
      const k = (x: number[]) => `${(x.at(-1)! / 1e3).toFixed(1)} k`;
      console.log(`  round ${n + 1}: write fs.promises ${k(r.fsW)} vs wstor ${k(r.wsW)}; read fs.promises ${k(r.fsR)} vs wstor ${k(r.wsR)} IOPS`);
    }
    const line = (what: string, fsx: number[], wsx: number[]) =>
      console.log(`${what}: fs.promises ${(median(fsx) / 1e3).toFixed(1)} k IOPS, wstor ${(median(wsx) / 1e3).toFixed(1)} k IOPS: ${(median(wsx) / median(fsx)).toFixed(2)}x (median of ${rounds})`);
    console.log(`4 KiB random I/O into 1 GiB (${BLOBS} blobs of ${BLOB_BYTES >> 20} MiB), QD ${QD} promises in flight, ${seconds} s per run, ${reactors} reactor(s), ${os.cpus().length} CPUs:`);
    line('randwrite', r.fsW, r.wsW);
    line('randread ', r.fsR, r.wsR);
    for (const b of blobs) await b.close();
    await bs.unload();
  } finally {
    await engine.stop();
    for (const fh of handles) await fh.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
