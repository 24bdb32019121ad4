// Issue 4's first figure: 4 KiB random writes and reads into a thick 1 GiB blob on a malloc bdev,
// against the same I/O on the raw malloc bdev, both driven by wstor perf's job (the blob through
// perf_start_blob), same reactor, same queue depth, alternating. Also the rates of the Node API's metadata operations.
//
// Where a bdev's memory lies matters on this machine: of two 1 GiB malloc bdevs, the one created first
// reads ~5 % slower, whichever it is. So the comparison runs in two engines, the blob's bdev created
// first in one and second in the other, and the ratio is the median over both.
// Usage: node build/bench/blob.js [--rounds N per placement] [--seconds S]
import os from 'node:os';
import { Engine, type BlobStore } from '../host/index.js';
import { EVENT_PERF_JOB_DONE } from '../host/core-abi.js';

type Core = Record<string, (...a: number[]) => number>;
const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '3'));
const seconds = Number(arg('--seconds', '3'));
const QD = 32;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

type Event = { kind: number; a: number; b: number; c: number };
interface Rates { rw: number[]; bw: number[]; rr: number[]; br: number[] }

/** One engine, its two bdevs created in the given order; the I/O rounds, then `more` on its store. */
async function placement(blobFirst: boolean, more?: (bs: BlobStore) => Promise<void>): Promise<Rates> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 3000 * 2 ** 20 });
  const core = engine.core as unknown as Core;
  const events: Event[] = [];
  engine.onEvent((e) => events.push(e));
  const next = async (pred: (e: Event) => boolean) => {
    for (;;) {
      const i = events.findIndex(pred);
      if (i >= 0) return events.splice(i, 1)[0];
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    // The blobstore claims its bdev: the raw comparison runs on a twin of the same size.
    const blobBdev = () => engine.bdev.createMalloc('m0', { blockCount: (1 << 30) / 4096 + (320 << 20) / 4096 });
    const rawBdev = () => engine.bdev.createMalloc('m1', { blockCount: (1 << 30) / 4096 });
    let bdevId: number;
    if (blobFirst) { blobBdev(); bdevId = rawBdev(); } else { bdevId = rawBdev(); blobBdev(); }
    const bs = await engine.blobstore.init('m0', { clusterSize: 1 << 20 });
    const id = await bs.create({ size: 1 << 30 });
    const blob = await bs.open(id);
    const blobPtr = (blob as unknown as { ptr: number }).ptr;
    // One driver for both sides: wstor perf's job, on the bdev or through blob I/O on the blob.
    const perf = async (start: (workload: number) => number, workload: number) => {
      const run = start(workload);
      if (run <= 0) throw new Error(`perf start failed: ${run}`);
      await next((e) => e.kind === EVENT_PERF_JOB_DONE && e.a === run);
      const iops = core.perf_stat(run, 0, 0) / (core.perf_stat(run, 0, 11) / 1e6);
      core.perf_free(run);
      return iops;
    };
    const raw = (workload: number) => perf((w) => core.perf_start(bdevId, 1, w, 0, QD, 4096, seconds * 1000, 1, 0), workload);
    const viaBlob = (workload: number) => perf((w) => core.perf_start_blob(blobPtr, 1, w, 0, QD, 4096, seconds * 1000, 1), workload);
    const rates: Rates = { rw: [], bw: [], rr: [], br: [] };
    const { rw, bw, rr, br } = rates;
    for (let r = 0; r < rounds; r++) {
      rw.push(await raw(1)); bw.push(await viaBlob(1)); rr.push(await raw(0)); br.push(await viaBlob(0));
      console.log(`  ${blobFirst ? 'blob bdev first' : 'raw bdev first '}, round ${r + 1}: write raw ${(rw.at(-1)! / 1e6).toFixed(2)} M vs blob ${(bw.at(-1)! / 1e6).toFixed(2)} M; read raw ${(rr.at(-1)! / 1e6).toFixed(2)} M vs blob ${(br.at(-1)! / 1e6).toFixed(2)} M`);
    }
    await blob.close();
    if (more) await more(bs);
    await bs.unload();
    return rates;
  } finally {
    await engine.stop();
  }
}

/** The Node API's metadata rates, on a store whose device has room for one 256 MiB blob besides. */
async function metadataRates(bs: BlobStore): Promise<string[]> {
  // Each call is one request to the md thread; some in flight at once.
  const N = 500;
  let t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: N }, () => bs.create({ size: 1 << 20, thin: true })));
  const createPerSec = N / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (const x of ids.slice(0, 200)) { const b = await bs.open(x); await b.close(); }
  const openClosePerSec = 200 / ((performance.now() - t0) / 1000);
  // Thin first writes: one 4 KiB write into each cluster of a fresh thin blob (each one claims,
  // zeroes and records a cluster), all in flight.
  const thinId = await bs.create({ size: 256 << 20, thin: true });
  const thin = await bs.open(thinId);
  const chunk = new Uint8Array(4096).fill(7);
  t0 = performance.now();
  await Promise.all(Array.from({ length: 256 }, (_, c) => thin.write(c << 20, chunk)));
  const firstWritesPerSec = 256 / ((performance.now() - t0) / 1000);
  await thin.close();
  await bs.delete(thinId);                        // its clusters back: the device has room for one such blob
  // Whole-cluster first writes: 1 MiB into each cluster of another fresh thin blob. The claimed
  // cluster is filled with the write's own data (no zeroing first).
  const wholeId = await bs.create({ size: 256 << 20, thin: true });
  const whole = await bs.open(wholeId);
  const cluster = new Uint8Array(1 << 20).fill(9);
  t0 = performance.now();
  for (let c = 0; c < 256; c += 32) await Promise.all(Array.from({ length: 32 }, (_, j) => whole.write((c + j) << 20, cluster)));
  const wholeMiBPerSec = 256 / ((performance.now() - t0) / 1000);
  await whole.close();
  await bs.delete(wholeId);
  for (const x of ids) await bs.delete(x);
  return [
    `create (thin, durable) through the Node API, ${N} in flight: ${Math.round(createPerSec)} /s`,
    `open + close through the Node API, one at a time: ${Math.round(openClosePerSec)} /s`,
    `thin first writes (cluster claim + zero 1 MiB + record + write), 256 in flight: ${Math.round(firstWritesPerSec)} /s`,
    `thin whole-cluster first writes (claim + write 1 MiB + record), 32 in flight: ${Math.round(wholeMiBPerSec)} MiB/s`,
  ];
}

let metadata: string[] = [];
const first = await placement(true, async (bs) => { metadata = await metadataRates(bs); });
const second = await placement(false);
const all = (k: keyof Rates) => [...first[k], ...second[k]];
const ratio = (blob: number[], raw: number[]) => median(blob.map((x, i) => x / raw[i])).toFixed(2);
const line = (what: string, blob: keyof Rates, raw: keyof Rates) =>
  `${what}, thick 1 GiB blob: ${(median(all(blob)) / 1e6).toFixed(2)} M IOPS vs raw malloc ${(median(all(raw)) / 1e6).toFixed(2)} M ` +
  `(${ratio(all(blob), all(raw))} x; blob bdev first ${ratio(first[blob], first[raw])} x, second ${ratio(second[blob], second[raw])} x)`;
console.log(`\n${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}, qd ${QD}, ${rounds} rounds of ${seconds} s per placement, medians`);
console.log(line('4 KiB randwrite', 'bw', 'rw'));
console.log(line('4 KiB randread ', 'br', 'rr'));
for (const m of metadata) console.log(m);
