// Issue 4's comparisons with what a Node user would pick instead: 4 KiB random writes and reads into
// 1 GiB of data persisted to files, through the blob Node API (one promise per I/O, QD in flight),
// against:
//   fs       fs.promises on one file per blob (FileHandle.read/write, the same QD in flight; both
//            sides read into buffers the caller reuses: FileHandle.read, blob.readv);
//   lmdb     lmdb-js: one 4 KiB value per block (async put, QD in flight; get is synchronous);
//   sqlite   better-sqlite3: one row per 4 KiB block, UPDATE/SELECT by id (synchronous calls).
//            better-sqlite3 has no incremental BLOB I/O (sqlite3_blob_open is not exposed), so a row
//            per block is its nearest way to write into the middle of a large value.
// No side flushes: wstor's file bdev is buffered and unflushed, lmdb runs with noSync, SQLite with
// journal_mode=WAL and synchronous=OFF. Each side is written in full first; rounds alternate wstor
// and the other side; medians and ratios are printed.
// lmdb and better-sqlite3 are not installed by `npm ci`: `npm run bench:blob-compare` installs them
// into bench/compare (better-sqlite3 compiles SQLite, about a minute) and runs all three.
// wstor's store file is a file bdev mapped into the engine's memory by default (--mode mmap: reads
// and writes are copies through the page cache, as lmdb's reads are); --mode buffered uses io_uring
// on the page cache, --mode direct O_DIRECT.
// wstor reads into and writes from buffers in the engine's memory by default (--buffers engine:
// engine.buffers.alloc, no staging copy, as an SPDK program uses DMA buffers); --buffers node uses
// ordinary Uint8Arrays, which the data path copies through staging buffers.
// Usage: node build/bench/blob-vs-fs.js [--against fs,lmdb,sqlite] [--rounds N] [--seconds S]
//        [--dir DIR] [--reactors N (default 1)] [--mode mmap|buffered|direct] [--buffers engine|node]
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Engine } from '../host/index.js';
import type { BlobHandle } from '../host/index.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '3'));
const seconds = Number(arg('--seconds', '3'));
const reactors = Number(arg('--reactors', '1'));
const against = arg('--against', 'fs').split(',');
const mode = arg('--mode', 'mmap');
if (!['mmap', 'buffered', 'direct'].includes(mode)) throw new Error(`--mode ${mode}: use mmap, buffered or direct`);
const buffers = arg('--buffers', 'engine');
if (!['engine', 'node'].includes(buffers)) throw new Error(`--buffers ${buffers}: use engine or node`);
const dir = fs.mkdtempSync(path.join(arg('--dir', '/var/tmp'), 'wstor-vs-'));
const QD = 32;
const BLOBS = 64;
const BLOB_BYTES = 16 << 20;                      // 64 × 16 MiB = 1 GiB
const IO = 4096;
const BLOCKS = BLOB_BYTES / IO;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** QD workers issue `one()` back to back until the time is up; IOPS. */
async function drive(one: () => Promise<unknown> | unknown): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => { while (performance.now() < end) { await one(); done++; } };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: QD }, worker));
  return done / ((performance.now() - t0) / 1000);
}

const randomBlock = () => Math.floor(Math.random() * BLOCKS);
const randomIndex = () => Math.floor(Math.random() * BLOBS);
const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
const payload = new Uint8Array(IO).fill(0x5a);

/** One way of keeping the data: filled in full by `open`, then random 4 KiB writes and reads. */
interface Side {
  name: string;
  write(): Promise<unknown> | unknown;
  read(): Promise<unknown> | unknown;
  close(): Promise<void> | void;
}

/** The packages `npm run bench:blob-compare` installs into bench/compare. */
function comparePackage(name: string): unknown {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const modules = path.resolve(here, '..', '..', 'bench', 'compare', 'node_modules');
  try {
    return createRequire(path.join(modules, 'x.js'))(name);
  } catch (err) {
    throw new Error(`${name} is not installed in bench/compare (run npm run bench:blob-compare, or npm install --prefix bench/compare): ${(err as Error).message}`);
  }
}

async function fsSide(): Promise<Side> {
  const handles: fs.promises.FileHandle[] = [];
  for (let i = 0; i < BLOBS; i++) {
    const fh = await fs.promises.open(path.join(dir, `blob-${i}.bin`), 'w+');
    for (let off = 0; off < BLOB_BYTES; off += chunk.length) await fh.write(chunk, 0, chunk.length, off);
    handles.push(fh);
  }
  const readBuf = Buffer.alloc(IO * QD);
  let slot = 0;
  return {
    name: 'fs.promises',
    write: () => handles[randomIndex()].write(payload, 0, IO, randomBlock() * IO),
    read: () => { const s = (slot++ % QD) * IO; return handles[randomIndex()].read(readBuf, s, IO, randomBlock() * IO); },
    async close() { for (const fh of handles) await fh.close(); },
  };
}

interface LmdbDb { put(key: number, value: Uint8Array): Promise<boolean>; getBinary(key: number): Buffer | undefined; close(): Promise<void>; }

async function lmdbSide(): Promise<Side> {
  const lmdb = comparePackage('lmdb') as { open(o: object): LmdbDb };
  const db = lmdb.open({ path: path.join(dir, 'lmdb'), noSync: true, encoding: 'binary', keyEncoding: 'uint32', mapSize: 4 * 2 ** 30 });
  const keys = BLOBS * BLOCKS;
  const blocks = chunk.length / IO;
  for (let k = 0; k < keys; k += blocks) {
    const puts: Promise<boolean>[] = [];
    for (let j = 0; j < blocks; j++) puts.push(db.put(k + j, chunk.subarray(j * IO, (j + 1) * IO)));
    await Promise.all(puts);
  }
  return {
    name: 'lmdb',
    write: () => db.put(randomIndex() * BLOCKS + randomBlock(), payload),
    read: () => db.getBinary(randomIndex() * BLOCKS + randomBlock()),
    close: () => db.close(),
  };
}

interface SqliteStatement { run(...p: unknown[]): unknown; get(...p: unknown[]): unknown; }
interface SqliteDb { pragma(s: string): unknown; exec(s: string): void; prepare(s: string): SqliteStatement; transaction(f: () => void): () => void; close(): void; }

async function sqliteSide(): Promise<Side> {
  const Database = comparePackage('better-sqlite3') as new (file: string) => SqliteDb;
  const db = new Database(path.join(dir, 'blocks.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE blocks (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO blocks (id, data) VALUES (?, ?)');
  const blocks = chunk.length / IO;
  for (let k = 0; k < BLOBS * BLOCKS; k += blocks) {
    db.transaction(() => { for (let j = 0; j < blocks; j++) insert.run(k + j, chunk.subarray(j * IO, (j + 1) * IO)); })();
  }
  const update = db.prepare('UPDATE blocks SET data = ? WHERE id = ?');
  const select = db.prepare('SELECT data FROM blocks WHERE id = ?');
  return {
    name: 'better-sqlite3',
    write: () => update.run(payload, randomIndex() * BLOCKS + randomBlock()),
    read: () => select.get(randomIndex() * BLOCKS + randomBlock()),
    close: () => db.close(),
  };
}

const SIDES: Record<string, () => Promise<Side>> = { fs: fsSide, lmdb: lmdbSide, sqlite: sqliteSide };

async function main() {
  for (const a of against) if (!SIDES[a]) throw new Error(`--against ${a}: use fs, lmdb or sqlite (comma-separated)`);
  // wstor: a blobstore on one file bdev, 64 thick blobs of 16 MiB.
  const storeFile = path.join(dir, 'store.img');
  fs.writeFileSync(storeFile, '');
  fs.truncateSync(storeFile, BLOBS * BLOB_BYTES + (256 << 20));   // storeBytes
  const storeBytes = BLOBS * BLOB_BYTES + (256 << 20);
  const engine = await Engine.start({ reactors, memoryBytes: (mode === 'mmap' ? storeBytes : 0) + (512 << 20), logLevel: 'error' });
  try {
    engine.bdev.createFile('f0', { path: storeFile, mmap: mode === 'mmap', direct: mode === 'direct' });
    const bs = await engine.blobstore.init('f0', { clusterSize: 1 << 20 });
    const blobs: BlobHandle[] = [];
    for (let i = 0; i < BLOBS; i++) {
      const blob = await bs.open(await bs.create({ size: BLOB_BYTES }));
      for (let off = 0; off < BLOB_BYTES; off += chunk.length) await blob.write(off, chunk);
      blobs.push(blob);
    }
    // Reads land in caller-owned buffers, as the fs side's do (FileHandle.read into readBuf slots).
    const callerBuffer = () => (buffers === 'engine' ? engine.buffers.alloc(IO) : new Uint8Array(IO));
    const readBufs = Array.from({ length: QD }, callerBuffer);
    const wstorPayload = callerBuffer();
    wstorPayload.set(payload);
    let slot = 0;
    const wstor = {
      write: () => blobs[randomIndex()].write(randomBlock() * IO, wstorPayload),
      read: () => blobs[randomIndex()].readv(randomBlock() * IO, [readBufs[slot++ % QD]]),
    };
    console.log(`4 KiB random I/O into 1 GiB (${BLOBS} blobs of ${BLOB_BYTES >> 20} MiB), QD ${QD} in flight, ${seconds} s per run, ` +
      `${reactors} reactor(s), store file ${mode}, ${buffers} buffers, ${os.cpus().length} CPUs, Node ${process.versions.node}:`);
    for (const a of against) {
      const other = await SIDES[a]();
      const r = { oW: [] as number[], wW: [] as number[], oR: [] as number[], wR: [] as number[] };
      for (let n = 0; n < rounds; n++) {
        r.oW.push(await drive(other.write)); r.wW.push(await drive(wstor.write));
        r.oR.push(await drive(other.read)); r.wR.push(await drive(wstor.read));
        const k = (x: number[]) => `${(x.at(-1)! / 1e3).toFixed(1)} k`;
        console.log(`  round ${n + 1}: write ${other.name} ${k(r.oW)} vs wstor ${k(r.wW)}; read ${other.name} ${k(r.oR)} vs wstor ${k(r.wR)} IOPS`);
      }
      const line = (what: string, ox: number[], wx: number[]) =>
        console.log(`${what}: ${other.name} ${(median(ox) / 1e3).toFixed(1)} k IOPS, wstor ${(median(wx) / 1e3).toFixed(1)} k IOPS: ` +
          `${(median(wx) / median(ox)).toFixed(2)}x (median of ${rounds})`);
      line('randwrite', r.oW, r.wW);
      line('randread ', r.oR, r.wR);
      await other.close();
    }
    for (const b of blobs) await b.close();
    await bs.unload();
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
