// Issue 4's load-time figure: a store with 100,000 blobs on a file, loaded after a clean unload and
// after a dirty stop (the engine stopped without unloading: recovery replays every md page).
// Usage: node build/bench/blob-load.js [--blobs N] [--file PATH]
import fs from 'node:fs';
import os from 'node:os';
import { Engine } from '../host/index.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const blobs = Number(arg('--blobs', '100000'));
const file = arg('--file', '/var/tmp/wstor-blob-load.img');

async function withEngine<T>(fn: (e: Engine) => Promise<T>, logLevel: 'error' | 'fatal' = 'error'): Promise<T> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 1024 << 20, logLevel });
  try { return await fn(engine); } finally { await engine.stop(); }
}

async function main() {
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 1 << 30);
  const mdPages = blobs + 1024;
  let t0 = performance.now();
  await withEngine(async (e) => {
    e.bdev.createFile('f', { path: file });
    const bs = await e.blobstore.init('f', { clusterSize: 1 << 20, mdPages });
    for (let done = 0; done < blobs; done += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, blobs - done) }, () => bs.create({ size: 0, thin: true })));
    }
    await bs.unload();
    await e.bdev.delete('f');
  });
  const createSeconds = (performance.now() - t0) / 1000;
  // Clean load, then leave it dirty: stop the engine without unloading.
  const clean = await withEngine(async (e) => {
    e.bdev.createFile('f', { path: file });
    t0 = performance.now();
    await e.blobstore.load('f');
    return performance.now() - t0;          // no unload: the store stays marked dirty on disk
  }, 'fatal');                              // the stop then reports the store's channels as leaked: meant here
  const dirty = await withEngine(async (e) => {
    e.bdev.createFile('f', { path: file });
    t0 = performance.now();
    const bs = await e.blobstore.load('f');
    const ms = performance.now() - t0;
    await bs.unload();
    await e.bdev.delete('f');
    return ms;
  });
  console.log(`${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}; ${blobs} blobs, ${mdPages} md pages (${(mdPages * 4096 / 2 ** 20).toFixed(0)} MiB of metadata) on a 1 GiB file`);
  console.log(`created ${blobs} blobs through the Node API in ${createSeconds.toFixed(1)} s (${Math.round(blobs / createSeconds)} /s, durable each)`);
  console.log(`load after a clean unload: ${clean.toFixed(0)} ms`);
  console.log(`load after a dirty stop (recovery from every md page): ${dirty.toFixed(0)} ms`);
  fs.rmSync(file, { force: true });
}

await main();
