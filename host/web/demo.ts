// The demo page's script (`wstor web`): an engine in this tab, a blobstore on an OPFS file that
// outlives the tab, buttons to write, verify, snapshot and list blobs, and blob rates on OPFS and in
// memory. Every failure is shown on the page (a reactor's trap too).
import { Engine, WstorError } from './index.js';
import type { BlobStore, Report } from './index.js';
import { measureBlobRates, type BlobRates } from './blob-rates.js';

const MiB = 1 << 20;
const BDEV = 'opfs0';
const BLOB_BYTES = 4 * MiB;
/** The xattr holding the seed a blob's pattern was written with (so a later load can verify it). */
const SEED_XATTR = 'demo_seed';

const $ = (id: string) => document.getElementById(id)!;
let engine: Engine | null = null;
let store: BlobStore | null = null;

function log(text: string, error = false): void {
  const line = document.createElement('div');
  line.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  if (error) line.className = 'error';
  $('log').append(line);
}

function onReport(r: Report): void {
  log(`${r.level} [${r.source === 'control' ? 'host' : `reactor ${r.source}`}] ${r.message}`, r.level === 'error' || r.level === 'fatal');
}

function pattern(seed: number): Uint8Array {
  const bytes = new Uint8Array(BLOB_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + seed * 7 + (i >>> 12)) & 0xff;
  return bytes;
}

function button(label: string, action: () => Promise<void>): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = label;
  b.dataset.action = label;
  b.onclick = async () => {
    for (const other of document.querySelectorAll('button')) other.disabled = true;
    try {
      await action();
    } catch (err) {
      const e = err as Error;
      log(`${label}: ${e instanceof WstorError ? `${e.code}: ` : ''}${e.message}`, true);
    } finally {
      for (const other of document.querySelectorAll('button')) other.disabled = false;
      $('status').textContent = status();
    }
  };
  return b;
}

function status(): string {
  if (!engine) return 'no engine';
  if (engine.error) return `engine stopped: ${engine.error.message.split('\n')[0]}`;
  return `engine up: ${engine.reactorCount} reactors in Workers; ${store ? `store on OPFS file ${fileName()}` : 'no store open'}`;
}

function fileName(): string { return ($('file') as HTMLInputElement).value; }

function needStore(): BlobStore {
  if (!store) throw new WstorError('ENODEV', 'open the store first');
  return store;
}

async function openStore(): Promise<void> {
  if (store) { log('the store is open already'); return; }
  await engine!.bdev.createOpfs(BDEV, { file: fileName(), sizeBytes: Number(($('size') as HTMLInputElement).value) * MiB });
  const found = await engine!.blobstore.probe(BDEV);
  store = found ?? await engine!.blobstore.init(BDEV, { clusterSize: MiB });
  log(found ? `loaded the store on ${fileName()}: ${found.ids().length} blobs` : `made a new store on ${fileName()}`);
  await listBlobs();
}

async function writeBlob(): Promise<void> {
  const s = needStore();
  const seed = Math.floor(Math.random() * 1e6);
  const id = await s.create({ size: BLOB_BYTES });
  const blob = await s.open(id);
  const started = performance.now();
  await blob.write(0, pattern(seed));
  await blob.setXattr(SEED_XATTR, String(seed));
  await blob.close();
  log(`blob ${id}: wrote ${BLOB_BYTES / MiB} MiB in ${(performance.now() - started).toFixed(1)} ms (closed, so durable)`);
  await listBlobs();
}

/** The seed a blob was written with: its own xattr, or for a snapshot its clone's (nothing changed since). */
async function seedOf(s: BlobStore, id: bigint, clones: Map<bigint, bigint>): Promise<number | null> {
  const blob = await s.open(clones.get(id) ?? id);
  try {
    const seed = await blob.getXattr(SEED_XATTR);
    return seed ? Number(new TextDecoder().decode(seed)) : null;
  } finally {
    await blob.close();
  }
}

async function verifyBlobs(): Promise<void> {
  const s = needStore();
  const list = await s.list();
  const clones = new Map(list.filter((b) => b.parent !== undefined).map((b) => [b.parent!, b.id]));
  for (const { id } of list) {
    const seed = await seedOf(s, id, clones);
    if (seed === null) { log(`blob ${id}: no ${SEED_XATTR} (not written by this page)`); continue; }
    const blob = await s.open(id);
    try {
      const back = await blob.read(0, BLOB_BYTES);
      const want = pattern(seed);
      const bad = back.findIndex((b, i) => b !== want[i]);
      log(bad < 0 ? `blob ${id}: all ${BLOB_BYTES} bytes as written` : `blob ${id}: differs at byte ${bad}`, bad >= 0);
    } finally {
      await blob.close();
    }
  }
}

async function snapshotLast(): Promise<void> {
  const s = needStore();
  const id = (await s.list()).filter((b) => !b.snapshot).at(-1)?.id;
  if (id === undefined) throw new WstorError('ENOENT', 'write a blob first: there is nothing to snapshot');
  const blob = await s.open(id);
  try {
    log(`blob ${id}: snapshot ${await blob.snapshot()}`);
  } finally {
    await blob.close();
  }
  await listBlobs();
}

async function listBlobs(): Promise<void> {
  const rows = (await needStore().list()).map((b) =>
    `<tr><td>${b.id}</td><td>${b.size / MiB} MiB</td><td>${b.allocatedBytes / MiB} MiB</td><td>${b.thin ? 'thin' : 'thick'}</td><td>${b.snapshot ? 'snapshot' : ''}</td></tr>`);
  $('blobs').innerHTML = `<tr><th>id</th><th>size</th><th>allocated</th><th>kind</th><th></th></tr>${rows.join('')}`;
}

async function closeStore(removeFile: boolean): Promise<void> {
  if (store) { await store.unload(); store = null; }
  if (engine!.bdev.exists(BDEV)) await engine!.bdev.delete(BDEV);
  $('blobs').innerHTML = '';
  if (removeFile) {
    await engine!.platform.opfs!.remove(fileName());
    log(`deleted OPFS file ${fileName()}`);
  } else {
    log('store unloaded cleanly');
  }
}

/** Rates on a scratch OPFS file and on a malloc bdev of the same size, one after the other. */
async function perf(): Promise<void> {
  const o = { ioBytes: 64 * 1024, blobBytes: 32 * MiB, queueDepth: 16 };
  const rows: [string, BlobRates][] = [];
  await engine!.bdev.createOpfs('perf_opfs', { file: 'wstor-perf-scratch.img', sizeBytes: 48 * MiB });
  try { rows.push(['OPFS', await measureBlobRates(engine!, 'perf_opfs', o)]); } finally { await engine!.bdev.delete('perf_opfs'); }
  await engine!.platform.opfs!.remove('wstor-perf-scratch.img');
  engine!.bdev.createMalloc('perf_malloc', { blockCount: (48 * MiB) / 4096 });
  try { rows.push(['malloc', await measureBlobRates(engine!, 'perf_malloc', o)]); } finally { await engine!.bdev.delete('perf_malloc'); }
  const cell = (n: number) => `<td>${n.toFixed(0)}</td>`;
  $('rates').innerHTML = `<tr><th>bdev (${o.ioBytes / 1024} KiB, ${o.queueDepth} in flight)</th><th>write MiB/s</th><th>write ops/s</th><th>read MiB/s</th><th>read ops/s</th></tr>` +
    rows.map(([name, r]) => `<tr><td>${name}</td>${cell(r.writeMiBPerSec)}${cell(r.writeOpsPerSec)}${cell(r.readMiBPerSec)}${cell(r.readOpsPerSec)}</tr>`).join('');
  const bad = rows.reduce((n, [, r]) => n + r.mismatches, 0);
  log(`perf done${bad ? `: ${bad} reads came back wrong` : ''}`, bad > 0);
}

async function main(): Promise<void> {
  const controls = $('controls');
  controls.innerHTML = '<label>OPFS file <input id="file" value="wstor-demo.img"></label> ' +
    '<label>size MiB <input id="size" type="number" value="64" min="4" style="width:5em"></label><br>';
  controls.append(button('open store', openStore), button('write blob', writeBlob), button('read & verify', verifyBlobs),
    button('snapshot', snapshotLast), button('list blobs', listBlobs), button('unload', () => closeStore(false)),
    button('delete store', () => closeStore(true)), button('perf', perf));
  engine = await Engine.start({ reactors: 2, memoryBytes: 192 * MiB, logLevel: 'warn', onReport });
  $('status').textContent = status();
  document.title = 'wstor ready';
}

main().catch((err: Error) => {
  $('status').textContent = `could not start the engine: ${err.message}`;
  $('status').className = 'error';
  document.title = 'wstor failed';
});
