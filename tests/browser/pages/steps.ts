// Runs in Chromium (served from build/): the steps the browser tests drive through page.evaluate,
// each with the engine's browser entry and its promise API. Every step returns plain data.
import { Engine, WstorError } from '../../../host/web/index.js';

const MiB = 1 << 20;

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >>> 9)) & 0xff;
  return bytes;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** What a failure looked like, for the test to assert on. */
export function describe(err: unknown): { code: string; message: string } {
  return err instanceof WstorError ? { code: err.code, message: err.message } : { code: 'unexpected', message: String((err as Error)?.stack ?? err) };
}

export function isolated(): boolean {
  return globalThis.crossOriginIsolated === true;
}

/** Two reactors, a malloc bdev, a blobstore on it: write, read back, snapshot, list. */
export async function mallocRoundTrip(): Promise<{ reactors: number; mismatch: number; blobs: number; bdevKind: string; ids: string[] }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 96 * MiB, logLevel: 'error' });
  try {
    engine.bdev.createMalloc('m0', { blockCount: 8192 });
    const bs = await engine.blobstore.init('m0', { clusterSize: MiB });
    const id = await bs.create({ size: 4 * MiB });
    const blob = await bs.open(id);
    const data = pattern(MiB + 4096, 1);
    await blob.write(4096, data);
    const back = await blob.read(4096, data.length);
    const snap = await blob.snapshot();
    await blob.close();
    const blobs = (await bs.list()).length;
    await bs.unload();
    return { reactors: engine.reactorCount, mismatch: firstDifference(data, back), blobs, bdevKind: engine.bdev.info('m0').kind, ids: [String(id), String(snap)] };
  } finally {
    await engine.stop();
  }
}

/** What the Node-only parts say here. */
export async function nodeOnlyRefusals(): Promise<{ vhost: { code: string; message: string }; file: { code: string; message: string } }> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 32 * MiB, logLevel: 'error' });
  try {
    let vhost = { code: 'none', message: '' }, file = { code: 'none', message: '' };
    try { engine.vhost.list(); } catch (err) { vhost = describe(err); }
    try { engine.bdev.createFile('f0', { path: '/tmp/x' }); } catch (err) { file = describe(err); }
    return { vhost, file };
  } finally {
    await engine.stop();
  }
}
