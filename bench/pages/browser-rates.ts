// Runs in Chromium for bench/browser.ts: one round of the blob workload (host/web/blob-rates.ts) on a
// fresh engine, on an OPFS bdev or a malloc bdev.
import { Engine } from '../../host/web/index.js';
import { measureBlobRates, type BlobRateOptions, type BlobRates } from '../../host/web/blob-rates.js';

const MiB = 1 << 20;
const SCRATCH = 'wstor-bench.img';

export async function round(kind: 'opfs' | 'malloc', o: BlobRateOptions & { reactors: number }): Promise<BlobRates> {
  const bdevBytes = o.blobBytes + 16 * MiB;          // room for the store's metadata beside the blob
  const engine = await Engine.start({ reactors: o.reactors, memoryBytes: bdevBytes + 128 * MiB, logLevel: 'error' });
  try {
    if (kind === 'opfs') await engine.bdev.createOpfs('b0', { file: SCRATCH, sizeBytes: bdevBytes });
    else engine.bdev.createMalloc('b0', { blockCount: bdevBytes / 4096 });
    const rates = await measureBlobRates(engine, 'b0', o);
    await engine.bdev.delete('b0');
    if (kind === 'opfs') await engine.platform.opfs!.remove(SCRATCH);
    return rates;
  } finally {
    await engine.stop();
  }
}
