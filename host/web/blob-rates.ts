// Blob write and read rates through the promise API on any bdev (the demo page's perf button, and
// bench/browser.ts in Chromium and in Node alike): a store, one thick blob, writes over all of it,
// then reads at random offsets, a fixed number in flight. Portable: no Node, no DOM.
import type { Engine } from '../engine.js';

export interface BlobRateOptions {
  /** Bytes per write and read (a multiple of 4096). */
  ioBytes: number;
  /** The blob's size: the writes cover it once; as many reads follow. */
  blobBytes: number;
  /** Requests in flight. */
  queueDepth: number;
  /** The store's cluster size (default 1 MiB). */
  clusterBytes?: number;
}

export interface BlobRates {
  ioBytes: number;
  writeOpsPerSec: number; writeMiBPerSec: number;
  readOpsPerSec: number; readMiBPerSec: number;
  /** Reads whose bytes were not what the writes put there (must be 0). */
  mismatches: number;
}

/** Each I/O's bytes start with its offset, so a read can tell whether it got the right block. */
function stamp(buffer: Uint8Array, offset: number): void {
  new DataView(buffer.buffer, buffer.byteOffset, 8).setFloat64(0, offset, true);
}

async function inFlight(count: number, depth: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async () => { while (next < count) await one(next++); };
  await Promise.all(Array.from({ length: Math.min(depth, count) }, lane));
  return (performance.now() - started) / 1000;
}

/** Measure on a fresh store on `bdev` (initialised: whatever was on it is gone); unloads it after. */
export async function measureBlobRates(engine: Engine, bdev: string, o: BlobRateOptions): Promise<BlobRates> {
  if (o.ioBytes % 4096 !== 0 || o.blobBytes % o.ioBytes !== 0) throw new RangeError('ioBytes must be a multiple of 4096 and divide blobBytes');
  const store = await engine.blobstore.init(bdev, { clusterSize: o.clusterBytes ?? 1 << 20 });
  try {
    const blob = await store.open(await store.create({ size: o.blobBytes }));
    const count = o.blobBytes / o.ioBytes;
    const data = new Uint8Array(o.ioBytes).map((_, i) => (i * 13) & 0xff);
    const writeSeconds = await inFlight(count, o.queueDepth, async (i) => {
      const buffer = data.slice();
      stamp(buffer, i * o.ioBytes);
      await blob.write(i * o.ioBytes, buffer);
    });
    let mismatches = 0;
    let seed = 0x9e3779b9;
    const readSeconds = await inFlight(count, o.queueDepth, async () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      const offset = (seed % count) * o.ioBytes;
      const back = await blob.read(offset, o.ioBytes);
      if (new DataView(back.buffer, back.byteOffset, 8).getFloat64(0, true) !== offset) mismatches++;
    });
    await blob.close();
    const mib = (bytes: number, s: number) => bytes / (1 << 20) / s;
    return {
      ioBytes: o.ioBytes,
      writeOpsPerSec: count / writeSeconds, writeMiBPerSec: mib(o.blobBytes, writeSeconds),
      readOpsPerSec: count / readSeconds, readMiBPerSec: mib(o.blobBytes, readSeconds),
      mismatches,
    };
  } finally {
    await store.unload();
  }
}
