// A blob to test the Node API's data path on: 16 MiB in a store with 1 MiB clusters on a malloc bdev
// (behind a delay bdev when reads should take a while), on an engine that is stopped afterwards.
import { Engine } from '../../host/index.js';
import type { BlobHandle } from '../../host/index.js';

export async function withBlob(fn: (blob: BlobHandle, engine: Engine) => Promise<void>,
  opts: { reactors?: number; readDelayUs?: number } = {}): Promise<void> {
  const engine = await Engine.start({ reactors: opts.reactors ?? 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createMalloc('m0', { blockCount: 8192 });
    let bdev = 'm0';
    if (opts.readDelayUs) {
      const us = opts.readDelayUs;
      await engine.bdev.createDelay('slow', 'm0', { avgReadUs: us, p99ReadUs: us, avgWriteUs: 0, p99WriteUs: 0 });
      bdev = 'slow';
    }
    const bs = await engine.blobstore.init(bdev, { clusterSize: 1 << 20 });
    const blob = await bs.open(await bs.create({ size: 16 << 20 }));
    await fn(blob, engine);
    await blob.close();
    await bs.unload();
  } finally {
    await engine.stop();
  }
}
