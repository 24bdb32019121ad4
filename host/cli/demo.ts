// `wstor demo` (npm start): start an engine, pass work between reactors by message, then put a
// blobstore on a RAM disk and use it (thick and thin blobs, I/O, list, resize, xattrs, a snapshot and a
// clone); print each step.
import '../platform-node.js';        // Node is the default platform of the engine it starts
import { Engine } from '../engine.js';
import type { BlobHandle, BlobStore } from '../blobstore.js';
import { EVENT_DEMO_DONE, EVENT_DEMO_STEP } from '../core-abi.js';
import { WstorError } from '../errors.js';
import { UsageError, parseFlags, parseSize, usageText, type FlagSpec } from './args.js';
import { formatBytes, hexId } from './bs.js';

const BDEV_NAME = 'Malloc0';
const BDEV_BYTES = 64 << 20;
const BLOCK_BYTES = 4096;
const CLUSTER_BYTES = 1 << 20;
const THICK_BYTES = 4 << 20;
const THIN_BYTES = 8 << 20;
const THIN_RESIZED_BYTES = 16 << 20;
/** What the walk-through writes to each blob, from its start. */
const PATTERN_BYTES = 2 << 20;
/** The RAM disk lives in the shared memory, with the runtime and the I/O buffers above it. */
const MEMORY_MIN_BYTES = BDEV_BYTES + (32 << 20);

const SPECS: FlagSpec[] = [
  { name: 'reactors', short: 'r', kind: 'integer', help: 'number of reactors', default: 2 },
  { name: 'cpus', short: 'm', kind: 'string', help: 'pin reactors to these CPUs: core mask (0x3) or list ([0-1])' },
  { name: 'rounds', kind: 'integer', help: 'requests the app thread sends', default: 5 },
  { name: 'mem', kind: 'string', help: `shared memory size, at least ${MEMORY_MIN_BYTES >> 20}MiB (the RAM disk lives in it)`, default: '128MiB' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
];

export const demoUsage = usageText('demo [options]',
  'Starts an engine, sends work from an app thread on reactor 0 to a worker thread on the last\n' +
  'reactor by message, and prints each completion as it comes back. Then puts a blobstore on a\n' +
  '64 MiB RAM disk: a thick and a thin blob, a pattern written and read back, the store\'s list,\n' +
  'a resize and an xattr; unloads it and stops the engine.', SPECS);

export async function demoCommand(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, SPECS);
  if (flags.help) { process.stdout.write(demoUsage); return 0; }
  const rounds = flags.rounds as number;
  const memoryBytes = parseSize(flags.mem as string, '--mem');
  if (memoryBytes < MEMORY_MIN_BYTES) {
    throw new UsageError(`--mem ${flags.mem}: the blobstore part needs at least ${MEMORY_MIN_BYTES >> 20}MiB ` +
      `(a ${formatBytes(BDEV_BYTES)} RAM disk in the shared memory, and room above it)`);
  }
  const startedAt = performance.now();
  const engine = await Engine.start({
    reactors: flags.cpus ? undefined : (flags.reactors as number),
    cpus: flags.cpus as string | undefined,
    memoryBytes,
  });
  const say = (text: string) => process.stdout.write(`${text}\n`);
  const pinned = engine.pins ? `pinned to CPUs ${engine.pins.join(',')}` : `sharing this process's CPUs`;
  say(`engine up: ${engine.reactorCount} reactors (${pinned}), ${engine.memory.buffer.byteLength >> 20} MiB shared memory committed, ` +
    `started in ${(performance.now() - startedAt).toFixed(0)} ms`);
  let errors: number, mismatches: number;
  try {
    errors = await passMessages(engine, rounds, say);
    mismatches = await useBlobstore(engine, say);
  } catch (err) {
    await engine.stop().catch(() => undefined);
    throw err;
  }
  await engine.stop();
  const stats = engine.reactorStats();
  stats.forEach((s, i) => say(`reactor ${i}: ${s.loops} loops, ${s.sleeps} sleeps, ${s.wakesNotified} doorbell wakes`));
  if (errors !== 0) say(`engine stopped; ${errors} answers were wrong`);
  else if (mismatches !== 0) say(`engine stopped; ${mismatches} blob(s) read back something else than was written`);
  else say('engine stopped cleanly');
  return errors === 0 && mismatches === 0 ? 0 : 1;
}

/** The app thread on reactor 0 sends requests to a worker on the last reactor; resolves with the count of wrong answers. */
async function passMessages(engine: Engine, rounds: number, say: (text: string) => void): Promise<number> {
  const worker = engine.reactorCount - 1;
  say(`app_thread runs on reactor 0; demo_worker runs on reactor ${worker}`);
  say(`the app thread sends ${rounds} requests "sum of squares 1..n" by message; the worker answers by message`);
  let unlisten: () => void = () => undefined;
  const finished = new Promise<{ totalUs: number; errors: number }>((resolve) => {
    unlisten = engine.onEvent((e) => {
      if (e.kind === EVENT_DEMO_STEP) {
        say(`  request ${e.a}: computed on reactor ${e.b} -> ${e.c}, completion delivered to app_thread on reactor ${e.reactor}`);
      } else if (e.kind === EVENT_DEMO_DONE) {
        resolve({ totalUs: e.b, errors: e.c });
      }
    });
  });
  const rc = engine.core.demo_start(rounds, worker);
  if (rc < 0) throw WstorError.fromErrno(rc, 'starting the demo');
  const { totalUs, errors } = await finished;
  unlisten();
  say(`${rounds} round trips in ${totalUs} us (mean ${(totalUs / Math.max(rounds, 1)).toFixed(1)} us per round trip)`);
  return errors;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every block of the pattern says whose it is: "wstor blob 0x100000000 block 17", repeated. */
function pattern(id: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let block = 0; block * BLOCK_BYTES < bytes; block++) {
    const text = encoder.encode(`wstor blob ${hexId(id)} block ${block}\n`);
    const base = block * BLOCK_BYTES;
    for (let i = 0; i < BLOCK_BYTES && base + i < bytes; i++) out[base + i] = text[i % text.length];
  }
  return out;
}

function firstMismatch(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Write the blob's pattern from its start, read it back, say whether it matched; true if it did. */
async function writeAndCheck(blob: BlobHandle, say: (text: string) => void): Promise<boolean> {
  const data = pattern(blob.id, PATTERN_BYTES);
  await blob.write(0, data);
  const at = firstMismatch(await blob.read(0, PATTERN_BYTES), data);
  say(`    blob ${hexId(blob.id)} (${blob.thin ? 'thin' : 'thick'}): ${at < 0 ? 'matched' : `MISMATCH at byte ${at}`}`);
  return at < 0;
}

/**
 * Snapshot `origin`, overwrite its first block, clone the snapshot: the snapshot and the clone keep the
 * old pattern, the origin has the new block. Resolves with how many of the three read back wrong.
 */
async function snapshotAndClone(store: BlobStore, origin: BlobHandle, say: (text: string) => void): Promise<number> {
  const snapId = await origin.snapshot();
  say(`  snapshot of blob ${hexId(origin.id)}: ${hexId(snapId)} (read-only; it took over the clusters, the blob now writes its own)`);
  const before = pattern(origin.id, PATTERN_BYTES);
  const block = new Uint8Array(BLOCK_BYTES).fill(0x2a);
  await origin.write(0, block);
  const snap = await store.open(snapId);
  const cloneId = await store.clone(snapId);
  const clone = await store.open(cloneId);
  let wrong = 0;
  const check = async (blob: BlobHandle, expected: Uint8Array, what: string) => {
    const at = firstMismatch(await blob.read(0, PATTERN_BYTES), expected);
    if (at >= 0) wrong++;
    say(`    ${what} ${hexId(blob.id)}: ${at < 0 ? 'matched' : `MISMATCH at byte ${at}`} (${formatBytes(blob.allocatedBytes)} allocated)`);
  };
  say(`  overwrote the first ${BLOCK_BYTES >> 10} KiB of blob ${hexId(origin.id)} (copy on write: one cluster copied), then cloned the snapshot:`);
  const after = before.slice();
  after.set(block, 0);
  await check(origin, after, 'blob    ');
  await check(snap, before, 'snapshot');
  await check(clone, before, 'clone   ');
  await Promise.all([snap.close(), clone.close()]);
  return wrong;
}

/**
 * The Blobstore on a RAM disk, a step per line: a thick and a thin blob, I/O, the list, a resize and an
 * xattr, then close, unload and delete the bdev. Resolves with how many blobs read back wrong.
 */
async function useBlobstore(engine: Engine, say: (text: string) => void): Promise<number> {
  say(`the Blobstore, on a ${formatBytes(BDEV_BYTES)} RAM disk:`);
  engine.bdev.createMalloc(BDEV_NAME, { blockSize: BLOCK_BYTES, blockCount: BDEV_BYTES / BLOCK_BYTES });
  say(`  created malloc bdev ${BDEV_NAME}: ${BDEV_BYTES / BLOCK_BYTES} blocks of ${BLOCK_BYTES} bytes`);
  const store = await engine.blobstore.init(BDEV_NAME, { clusterSize: CLUSTER_BYTES });
  say(`  initialised a blobstore on ${BDEV_NAME}: ${formatBytes(store.clusterSize)} clusters, ${store.freeClusters} free`);
  const thickId = await store.create({ size: THICK_BYTES });
  say(`  created blob ${hexId(thickId)}: thick, ${formatBytes(THICK_BYTES)} (its clusters allocated now)`);
  const thinId = await store.create({ size: THIN_BYTES, thin: true, xattrs: { name: 'demo-thin' } });
  say(`  created blob ${hexId(thinId)}: thin, ${formatBytes(THIN_BYTES)}, xattr name=demo-thin (clusters allocated on first write)`);
  const thick = await store.open(thickId);
  const thin = await store.open(thinId);
  let mismatches = 0;
  say(`  wrote ${formatBytes(PATTERN_BYTES)} to each ("wstor blob ID block N" in every ${BLOCK_BYTES >> 10} KiB block), read it back:`);
  for (const blob of [thick, thin]) if (!(await writeAndCheck(blob, say))) mismatches++;
  say('  store.list():');
  say(`    ${'id'.padEnd(14)}${'size'.padStart(8)}${'thin'.padStart(6)}${'allocated'.padStart(11)}`);
  for (const b of await store.list()) {
    say(`    ${hexId(b.id).padEnd(14)}${formatBytes(b.size).padStart(8)}${(b.thin ? 'yes' : 'no').padStart(6)}${formatBytes(b.allocatedBytes).padStart(11)}`);
  }
  say(`    (the thin blob has clusters only for the ${formatBytes(PATTERN_BYTES)} written)`);
  await thin.resize(THIN_RESIZED_BYTES);
  say(`  resized blob ${hexId(thinId)} to ${formatBytes(thin.size)}: still ${formatBytes(thin.allocatedBytes)} allocated`);
  const name = await thin.getXattr('name');
  say(`  xattr name of blob ${hexId(thinId)} reads back "${name === undefined ? '(missing)' : decoder.decode(name)}"`);
  mismatches += await snapshotAndClone(store, thick, say);
  await thick.close();
  await thin.close();
  say('  closed both blobs (closing syncs the new size to the md pages)');
  await store.unload();
  say('  unloaded the store: masks and a clean super block written');
  await engine.bdev.delete(BDEV_NAME);
  say(`  deleted ${BDEV_NAME}`);
  return mismatches + (name === undefined ? 1 : 0);
}
