// Runs in Chromium (served from build/): the steps the browser tests drive through page.evaluate,
// each with the engine's browser entry and its promise API. Every step returns plain data.
import { Engine, WstorError, createWebPlatform } from '../../../host/web/index.js';

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

export interface OpfsStore { file: string; sizeBytes?: number; seed: number; length: number }

/**
 * A blobstore on an OPFS bdev: a blob written with a pattern and closed (so durable), then either
 * unloaded cleanly or left as it is (`unload` false: the tab closes on a dirty store).
 */
export async function opfsWrite(s: OpfsStore & { unload: boolean }): Promise<{ id: string; kind: string; blockCount: number }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 96 * MiB, logLevel: 'error' });
  let stop = true;
  try {
    await engine.bdev.createOpfs('o0', { file: s.file, sizeBytes: s.sizeBytes });
    const info = engine.bdev.info('o0');
    const bs = await engine.blobstore.init('o0', { clusterSize: MiB });
    const id = await bs.create({ size: 4 * MiB });
    const blob = await bs.open(id);
    await blob.write(0, pattern(s.length, s.seed));
    await blob.close();
    if (s.unload) await bs.unload();
    else stop = false;           // as a tab that closes: nothing unloaded, nothing stopped
    return { id: String(id), kind: info.kind, blockCount: info.blockCount };
  } finally {
    if (stop) await engine.stop();
  }
}

/** Load the store from the OPFS file again and compare the blob with what was written. */
export async function opfsVerify(s: OpfsStore & { id: string }): Promise<{ mismatch: number; blobs: number; bytes: number }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 96 * MiB, logLevel: 'error' });
  try {
    await engine.bdev.createOpfs('o0', { file: s.file });
    const bs = await engine.blobstore.load('o0');
    const blob = await bs.open(BigInt(s.id));
    const back = await blob.read(0, s.length);
    await blob.close();
    const blobs = (await bs.list()).length;
    await bs.unload();
    return { mismatch: firstDifference(pattern(s.length, s.seed), back), blobs, bytes: engine.bdev.info('o0').blockCount * engine.bdev.info('o0').blockSize };
  } finally {
    await engine.stop();
  }
}

/** How bad OPFS requests are refused: each a WstorError with its code. */
export async function opfsRefusals(file: string): Promise<Record<string, { code: string; message: string }>> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 32 * MiB, logLevel: 'error' });
  const out: Record<string, { code: string; message: string }> = {};
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try { await fn(); out[what] = { code: 'none', message: 'accepted' }; } catch (err) { out[what] = describe(err); }
  };
  try {
    await attempt('missing', () => engine.bdev.createOpfs('a', { file: `${file}-missing` }));
    await attempt('badName', () => engine.bdev.createOpfs('b', { file: 'dir/file', sizeBytes: MiB }));
    await attempt('unaligned', () => engine.bdev.createOpfs('c', { file, sizeBytes: MiB + 100 }));
    await attempt('overQuota', () => engine.bdev.createOpfs('d', { file: `${file}-huge`, sizeBytes: 2 ** 50 }));
    await attempt('first', () => engine.bdev.createOpfs('e', { file, sizeBytes: MiB }));
    await attempt('sameFile', () => engine.bdev.createOpfs('f', { file }));
    // The first bdev holds the file's one access handle: a second engine cannot open it.
    const other = await Engine.start({ reactors: 1, memoryBytes: 32 * MiB, logLevel: 'error' });
    try {
      await attempt('busy', () => other.bdev.createOpfs('g', { file }));
    } finally {
      await other.stop();
    }
    await engine.bdev.delete('e');
    // Deleting the bdev closed its handle: the file opens again (never shrunk).
    await attempt('shrink', () => engine.bdev.createOpfs('h', { file, sizeBytes: 4096 }));
    await attempt('reopened', () => engine.bdev.createOpfs('i', { file }));
    return out;
  } finally {
    await engine.stop();
  }
}

/** A reactor that traps: what the page sees (the engine's error, its reports) and what stop() says. */
export async function trapOnReactor(): Promise<{ error: string; reports: string[]; stop: { code: string; message: string } }> {
  const reports: string[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 64 * MiB, core: 'core-test', logLevel: 'error', onReport: (r) => reports.push(`${r.level}: ${r.message}`) });
  const hooks = engine.core as unknown as { t_thread_create(reactor: number): number; t_trap(thread: number): void };
  hooks.t_trap(hooks.t_thread_create(1));
  for (let i = 0; i < 500 && !engine.error; i++) await new Promise((r) => setTimeout(r, 10));
  const error = engine.error?.message ?? 'no error within 5 s';
  let stop = { code: 'none', message: 'stop resolved' };
  try { await engine.stop(); } catch (err) { stop = describe(err); }
  return { error, reports, stop };
}

/** One platform for two engines in turn, each with an OPFS bdev: the second starts afresh. */
export async function platformReused(file: string): Promise<number[]> {
  const platform = createWebPlatform();
  const blocks: number[] = [];
  for (let i = 0; i < 2; i++) {
    const engine = await Engine.start({ reactors: 2, memoryBytes: 32 * MiB, logLevel: 'error', platform });
    try {
      await engine.bdev.createOpfs('o0', { file, sizeBytes: MiB });
      blocks.push(engine.bdev.info('o0').blockCount);
    } finally {
      await engine.stop();
    }
  }
  return blocks;
}

/** Engine.start on a page that is not cross-origin isolated: what it says. */
export async function startUnisolated(): Promise<{ isolated: boolean; code: string; message: string }> {
  try {
    const engine = await Engine.start({ reactors: 1, memoryBytes: 32 * MiB, logLevel: 'error' });
    await engine.stop();
    return { isolated: globalThis.crossOriginIsolated === true, code: 'none', message: 'started' };
  } catch (err) {
    return { isolated: globalThis.crossOriginIsolated === true, ...describe(err) };
  }
}

/**
 * A plugin bdev made in the page (checked and metered with binaryen from the page's import map) and
 * run by both reactors' Workers: ChaCha20 over malloc, a blobstore on it, written and read back.
 */
export async function pluginRoundTrip(): Promise<{ mismatch: number; kind: string; fuel: number }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 96 * MiB, logLevel: 'error' });
  try {
    engine.bdev.createMalloc('m0', { blockCount: 8192 });
    const module = new Uint8Array(await (await fetch('/plugins/chacha20.wasm')).arrayBuffer());
    await engine.bdev.createPlugin('c0', 'm0', { module, config: { key: '00'.repeat(32) } });
    const bs = await engine.blobstore.init('c0', { clusterSize: MiB });
    const blob = await bs.open(await bs.create({ size: 2 * MiB }));
    const data = pattern(MiB, 3);
    await blob.write(0, data);
    const back = await blob.read(0, data.length);
    await blob.close();
    await bs.unload();
    const info = engine.bdev.info('c0');
    return { mismatch: firstDifference(data, back), kind: info.kind, fuel: info.plugin?.limits.fuel ?? 0 };
  } finally {
    await engine.stop();
  }
}
