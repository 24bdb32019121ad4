// `wstor bs FILE COMMAND` (SPDK's blobcli): one command on the blobstore held in a regular file. Each
// run starts a one-reactor engine, opens FILE as a file bdev, does the command, and unloads cleanly.
// Commands that only read (list, export, xattr without a value, dump, init's look for a store) open
// FILE read-only and load the store read-only: not a byte of FILE changes, not even its mtime.
import fs from 'node:fs';
import '../platform-node.js';        // Node is the default platform of the engine it starts
import { Engine } from '../engine.js';
import type { BlobHandle, BlobInfo, BlobStore } from '../blobstore.js';
import type { Report } from '../core-abi.js';
import { WstorError } from '../errors.js';
import { dumpStore } from './bs-dump.js';
import { UsageError, parseFlags, parseSize, usageText, type FlagSpec, type Flags } from './args.js';

/** The name FILE's bdev gets; core messages that name it are rewritten to name FILE instead. */
const BDEV_NAME = 'bs0';
const BDEV_MENTION = new RegExp(`\\b(bdev )?${BDEV_NAME}\\b`, 'g');
const BLOCK_BYTES = 4096;
const DEFAULT_FILE_BYTES = 64 << 20;
/** Bytes per read or write while importing or exporting: one request in flight at a time. */
const CHUNK_BYTES = 1 << 20;
/** The most the shared memory may grow to; a run commits only what the store's masks and one chunk need. */
const MEMORY_BYTES = 256 << 20;
/** The core's limits on an xattr (assembly/blob/md.ts: XATTR_NAME_MAX, XATTR_VALUE_MAX). */
const XATTR_NAME_MAX_BYTES = 255;
const XATTR_VALUE_MAX_BYTES = 3072;
/** Cluster sizes the core accepts: a power of two from 4 KiB; the super block holds it in 32 bits. */
const CLUSTER_MIN_BYTES = 4096;
const CLUSTER_MAX_BYTES = 2 ** 31;
/** On a terminal the progress bar is redrawn at most this often. */
const PROGRESS_REDRAW_MS = 100;

const SPECS: FlagSpec[] = [
  { name: 'cluster-size', kind: 'string', help: 'init: cluster size, a power of two of at least 4096 (default 1MiB)' },
  { name: 'size', kind: 'string', help: 'init: size of a new FILE (default 64MiB); create: size of the blob' },
  { name: 'force', kind: 'boolean', help: 'init: overwrite a blobstore FILE already holds' },
  { name: 'json', kind: 'boolean', help: 'list: print a JSON array instead of a table' },
  { name: 'all', kind: 'boolean', help: 'dump: also list the empty md pages' },
  { name: 'thin', kind: 'boolean', help: 'create, import: allocate clusters on first write' },
  { name: 'xattr', kind: 'string', help: 'create: set xattr NAME=VALUE on the new blob (repeatable)' },
  { name: 'length', kind: 'string', help: 'export: copy only the first BYTES of the blob' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
];

interface CommandSpec {
  /** The command as the usage shows it, with its arguments and options. */
  synopsis: string;
  /** Names of its positional arguments, in order (optional ones in brackets). */
  args: string[];
  minArgs: number;
  flags: string[];
  summary: string;
}

const COMMANDS = {
  init: { synopsis: 'init [--cluster-size SIZE] [--size SIZE] [--force]', args: [], minArgs: 0, flags: ['cluster-size', 'size', 'force'],
    summary: 'lay out a new, empty blobstore (creates FILE if missing)' },
  list: { synopsis: 'list [--json]', args: [], minArgs: 0, flags: ['json'], summary: 'the blobs: id, size, thin or thick, allocated bytes (reads FILE only)' },
  dump: { synopsis: 'dump [--all]', args: [], minArgs: 0, flags: ['all'], summary: 'the super block, masks and md pages, decoded (reads FILE only)' },
  create: { synopsis: 'create --size SIZE [--thin] [--xattr NAME=VALUE ...]', args: [], minArgs: 0, flags: ['size', 'thin', 'xattr'],
    summary: 'create a blob; prints its id' },
  import: { synopsis: 'import SRC [--thin]', args: ['SRC'], minArgs: 1, flags: ['thin'], summary: 'copy file SRC into a new blob; prints its id' },
  export: { synopsis: 'export ID DST [--length BYTES]', args: ['ID', 'DST'], minArgs: 2, flags: ['length'],
    summary: 'copy a blob (or its first BYTES) to file DST (reads FILE only)' },
  resize: { synopsis: 'resize ID SIZE', args: ['ID', 'SIZE'], minArgs: 2, flags: [], summary: 'grow or shrink a blob (whole clusters)' },
  delete: { synopsis: 'delete ID', args: ['ID'], minArgs: 1, flags: [], summary: 'delete a blob and free its clusters' },
  snapshot: { synopsis: 'snapshot ID', args: ['ID'], minArgs: 1, flags: [], summary: 'freeze a blob\'s data in a read-only snapshot; prints its id' },
  clone: { synopsis: 'clone SNAPSHOT_ID', args: ['SNAPSHOT_ID'], minArgs: 1, flags: [], summary: 'a thin, writable copy of a snapshot; prints its id' },
  inflate: { synopsis: 'inflate ID', args: ['ID'], minArgs: 1, flags: [], summary: 'copy all a blob reads through snapshots into it (thick, no parent)' },
  decouple: { synopsis: 'decouple ID', args: ['ID'], minArgs: 1, flags: [], summary: 'copy what a blob\'s parent holds; read through its parent from then on' },
  grow: { synopsis: 'grow', args: [], minArgs: 0, flags: [], summary: 'take in the space FILE gained since the store was made' },
  xattr: { synopsis: 'xattr ID NAME [VALUE]', args: ['ID', 'NAME', '[VALUE]'], minArgs: 2, flags: [], summary: 'print an xattr of a blob (reads FILE only), or set it' },
} satisfies Record<string, CommandSpec>;
type CommandName = keyof typeof COMMANDS;

export const bsUsage = usageText('bs FILE COMMAND [options]',
  'Works on the blobstore held in FILE (a regular file, used as a bdev of 4096-byte blocks), one\n' +
  'command per run, as SPDK\'s blobcli does; a command that writes unloads the store cleanly, one that\n' +
  'only reads opens FILE read-only and changes nothing in it (a store not unloaded cleanly is then\n' +
  'recovered in memory only). Blob ids are decimal or 0x-hex, as list prints them. Sizes: 4096,\n' +
  '64KiB, 8MiB, 1GiB.\n\ncommands:\n' +
  Object.values(COMMANDS).map((c: CommandSpec) => `  ${c.synopsis.padEnd(54)} ${c.summary}`).join('\n') + '\n\n' +
  'Examples: wstor bs disk.img init --size 256MiB\n' +
  '          wstor bs disk.img import photo.raw --thin\n' +
  '          wstor bs disk.img export 0x100000000 copy.raw', SPECS);

type BsRequest =
  | { command: 'init'; clusterBytes?: number; fileBytes?: number; force: boolean }
  | { command: 'list'; json: boolean }
  | { command: 'dump'; all: boolean }
  | { command: 'grow' }
  | { command: 'create'; sizeBytes: number; thin: boolean; xattrs: Record<string, string> }
  | { command: 'import'; source: string; thin: boolean }
  | { command: 'export'; id: bigint; target: string; lengthBytes?: number }
  | { command: 'resize'; id: bigint; sizeBytes: number }
  | { command: 'delete'; id: bigint }
  | { command: 'snapshot'; id: bigint }
  | { command: 'clone'; id: bigint }
  | { command: 'inflate'; id: bigint }
  | { command: 'decouple'; id: bigint }
  | { command: 'xattr'; id: bigint; name: string; value?: string };

export interface BsArgs { file: string; request: BsRequest }

/** Whether a request only reads the store: FILE is then opened O_RDONLY and the store loaded read-only. */
export function readsOnly(request: BsRequest): boolean {
  switch (request.command) {
    case 'list':
    case 'dump':
    case 'export': return true;
    case 'xattr': return request.value === undefined;
    default: return false;
  }
}

// ---- arguments ----

/** --xattr may be given many times, and parseFlags keeps only the last value of a flag: take them first. */
function takeXattrs(argv: string[]): { xattrs: string[]; argv: string[] } {
  const xattrs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--xattr=')) { xattrs.push(arg.slice('--xattr='.length)); continue; }
    if (arg !== '--xattr') { rest.push(arg); continue; }
    const value = argv[++i];
    if (value === undefined || value.startsWith('-')) throw new UsageError('option --xattr needs a value NAME=VALUE');
    xattrs.push(value);
  }
  return { xattrs, argv: rest };
}

function bytesArg(text: string, what: string, minBytes: number): number {
  const bytes = parseSize(text, what);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${what}: "${text}" is too large`);
  if (bytes < minBytes) throw new UsageError(`${what}: must be at least ${minBytes} bytes (got "${text}")`);
  return bytes;
}

/** A blob id in decimal or 0x-hex; the Node API passes ids to the core as doubles, so at most 2^53. */
export function parseBlobId(text: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new UsageError(`"${text}" is not a blob id (use decimal or 0x-hex, as list prints them)`);
  const id = BigInt(text);
  if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`blob id ${text} is too large to be a blob id`);
  return id;
}

function checkXattr(name: string, value: string): void {
  const nameBytes = Buffer.byteLength(name), valueBytes = Buffer.byteLength(value);
  if (nameBytes === 0 || nameBytes > XATTR_NAME_MAX_BYTES) {
    throw new UsageError(`xattr name "${name}" must be 1 to ${XATTR_NAME_MAX_BYTES} bytes (got ${nameBytes})`);
  }
  if (valueBytes > XATTR_VALUE_MAX_BYTES) throw new UsageError(`xattr ${name}: a value holds at most ${XATTR_VALUE_MAX_BYTES} bytes (got ${valueBytes})`);
}

function parseXattrPairs(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--xattr ${pair}: use NAME=VALUE`);
    const name = pair.slice(0, eq), value = pair.slice(eq + 1);
    checkXattr(name, value);
    out[name] = value;
  }
  return out;
}

function clusterArg(text: string): number {
  const bytes = bytesArg(text, '--cluster-size', CLUSTER_MIN_BYTES);
  if ((bytes & (bytes - 1)) !== 0 || bytes > CLUSTER_MAX_BYTES) {
    throw new UsageError(`--cluster-size ${text}: must be a power of two from 4096 to 2GiB (got ${bytes} bytes)`);
  }
  return bytes;
}

function fileSizeArg(text: string): number {
  const bytes = bytesArg(text, '--size', BLOCK_BYTES);
  if (bytes % BLOCK_BYTES !== 0) throw new UsageError(`--size ${text}: a file size must be a multiple of ${BLOCK_BYTES} (the block size)`);
  return bytes;
}

function requestOf(name: CommandName, flags: Flags, args: string[], xattrs: string[]): BsRequest {
  const str = (key: string) => flags[key] as string | undefined;
  switch (name) {
    case 'init': {
      const cluster = str('cluster-size'), size = str('size');
      return { command: name, clusterBytes: cluster === undefined ? undefined : clusterArg(cluster),
        fileBytes: size === undefined ? undefined : fileSizeArg(size), force: flags.force === true };
    }
    case 'list': return { command: name, json: flags.json === true };
    case 'dump': return { command: name, all: flags.all === true };
    case 'grow': return { command: name };
    case 'create': {
      const size = str('size');
      if (size === undefined) throw new UsageError('create needs --size SIZE (e.g. --size 8MiB)');
      return { command: name, sizeBytes: bytesArg(size, '--size', 0), thin: flags.thin === true, xattrs: parseXattrPairs(xattrs) };
    }
    case 'import': return { command: name, source: args[0], thin: flags.thin === true };
    case 'export': {
      const length = str('length');
      return { command: name, id: parseBlobId(args[0]), target: args[1],
        lengthBytes: length === undefined ? undefined : bytesArg(length, '--length', 0) };
    }
    case 'resize': return { command: name, id: parseBlobId(args[0]), sizeBytes: bytesArg(args[1], 'SIZE', 0) };
    case 'delete':
    case 'snapshot':
    case 'clone':
    case 'inflate':
    case 'decouple': return { command: name, id: parseBlobId(args[0]) };
    case 'xattr':
      checkXattr(args[1], args[2] ?? '');
      return { command: name, id: parseBlobId(args[0]), name: args[1], value: args[2] };
  }
}

/** Everything is checked here, before an engine starts; null means --help. */
export function parseBsArgs(argv: string[]): BsArgs | null {
  const taken = takeXattrs(argv);
  const { flags, rest } = parseFlags(taken.argv, SPECS);
  if (flags.help) return null;
  const [file, name, ...args] = rest;
  const names = Object.keys(COMMANDS).join(', ');
  if (file === undefined) throw new UsageError(`FILE is missing: the file that holds the blobstore (then a command: ${names})`);
  if (name === undefined) {
    if (Object.hasOwn(COMMANDS, file)) throw new UsageError(`FILE is missing before the command (wstor bs FILE ${file} ...)`);
    throw new UsageError(`a command is missing after ${file} (use ${names})`);
  }
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command "${name}" (use ${names})`);
  const command = name as CommandName;
  const spec: CommandSpec = COMMANDS[command];
  const given = [...Object.keys(flags), ...(taken.xattrs.length > 0 ? ['xattr'] : [])];
  for (const flag of given) {
    if (!spec.flags.includes(flag)) throw new UsageError(`option --${flag} does not apply to ${command}`);
  }
  const form = ['wstor bs FILE', command, ...spec.args].join(' ');
  if (args.length < spec.minArgs) throw new UsageError(`${command}: ${spec.args[args.length]} is missing (${form})`);
  if (args.length > spec.args.length) throw new UsageError(`${command}: unexpected argument "${args[spec.args.length]}" (${form})`);
  return { file, request: requestOf(command, flags, args, taken.xattrs) };
}

// ---- formatting ----

export function hexId(id: bigint): string { return `0x${id.toString(16)}`; }

export function formatBytes(bytes: number): string {
  const units: [string, number][] = [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];
  for (const [unit, scale] of units) {
    if (bytes >= scale) return `${bytes % scale === 0 ? bytes / scale : (bytes / scale).toFixed(1)} ${unit}`;
  }
  return `${bytes} B`;
}

export interface ProgressStream { write(text: string): unknown; isTTY?: boolean }

/** A copy's progress on stderr: redrawn in place with \r on a terminal, one line per 10% otherwise. */
export class Progress {
  private readonly startedMs: number;
  private lastTenth = 0;
  private lastDrawMs = -Infinity;
  private drawn = false;

  constructor(private readonly label: string, private readonly totalBytes: number,
    private readonly stream: ProgressStream = process.stderr, private readonly nowMs: () => number = () => performance.now()) {
    this.startedMs = nowMs();
  }

  update(doneBytes: number): void {
    const fraction = this.totalBytes === 0 ? 1 : doneBytes / this.totalBytes;
    const now = this.nowMs();
    if (this.stream.isTTY) {
      if (fraction < 1 && now - this.lastDrawMs < PROGRESS_REDRAW_MS) return;
      this.stream.write(`\r${this.line(doneBytes, fraction, now)}\x1b[K`);
    } else {
      const tenth = Math.floor(fraction * 10);
      if (tenth <= this.lastTenth) return;
      this.lastTenth = tenth;
      this.stream.write(`${this.line(doneBytes, fraction, now)}\n`);
    }
    this.lastDrawMs = now;
    this.drawn = true;
  }

  /** Ends the line a terminal's bar is drawn on (also when the copy failed half way). */
  end(): void { if (this.stream.isTTY && this.drawn) this.stream.write('\n'); }

  private line(doneBytes: number, fraction: number, now: number): string {
    const seconds = (now - this.startedMs) / 1000;
    const mibps = seconds > 0 ? doneBytes / (1 << 20) / seconds : 0;
    const filled = Math.round(fraction * 20);
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${Math.floor(fraction * 100).toString().padStart(3)}% ` +
      `${formatBytes(doneBytes)} of ${formatBytes(this.totalBytes)}, ${mibps.toFixed(1)} MiB/s`;
  }
}

// ---- the engine, FILE's bdev, the core's reports ----

/** One run: the engine, FILE's bdev, and the core's error reports held until a failure claims its own. */
class Session {
  engine!: Engine;
  private readonly held: Report[] = [];

  constructor(readonly file: string, readonly readOnly: boolean) {}

  /** Load FILE's store: read-only for a command that only reads (and for init's look at what FILE holds). */
  load(readOnly = this.readOnly): Promise<BlobStore> { return this.engine.blobstore.load(BDEV_NAME, { readOnly }); }

  /** Core messages name the bdev; the user knows it as FILE. */
  name(message: string): string { return message.replace(BDEV_MENTION, this.file); }

  onReport(r: Report): void {
    if (r.level === 'error' || r.level === 'fatal') { this.held.push(r); return; }
    process.stderr.write(`wstor bs: ${this.name(r.message)}\n`);
  }

  /** A core errno says only what failed; the report the core made with the same errno says why. */
  explain(err: unknown): unknown {
    if (!(err instanceof WstorError) || err.errno === undefined) return err;
    for (let i = this.held.length - 1; i >= 0; i--) {
      if (this.held[i].code !== err.errno) continue;
      const [r] = this.held.splice(i, 1);
      return new WstorError(err.code, this.name(r.message), err.errno);
    }
    return new WstorError(err.code, this.name(err.message), err.errno);
  }

  /** Error reports no failure claimed (e.g. a blob recovery had to drop) are still worth seeing. */
  flush(): void {
    for (const r of this.held.splice(0)) process.stderr.write(`wstor bs: ${this.name(r.message)}\n`);
  }
}

/**
 * Start the engine, open FILE as a bdev (O_RDONLY when `readOnly`), run `body`, then delete the bdev
 * and stop; the first failure wins.
 */
async function withSession<T>(file: string, readOnly: boolean, body: (s: Session) => Promise<T>): Promise<T> {
  const session = new Session(file, readOnly);
  session.engine = await Engine.start({ reactors: 1, memoryBytes: MEMORY_BYTES, logLevel: 'notice', onReport: (r) => session.onReport(r) });
  const engine = session.engine;
  let failure: unknown = null;
  let result: T | undefined;
  let opened = false;
  try {
    engine.bdev.createFile(BDEV_NAME, { path: file, blockSize: BLOCK_BYTES, readOnly });
    opened = true;
    result = await body(session);
  } catch (err) {
    failure = session.explain(err);
  }
  if (opened && !engine.error) {
    try { await engine.bdev.delete(BDEV_NAME); } catch (err) { failure ??= session.explain(err); }
  }
  try { await engine.stop(); } catch (err) { failure ??= err; }
  session.flush();
  if (failure !== null) throw failure;
  return result as T;
}

/** Run `body` on the loaded (or new) store and unload it, also when `body` failed (its error wins). */
async function withStore<T>(session: Session, store: BlobStore, body: (store: BlobStore) => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await body(store);
  } catch (err) {
    await store.unload().catch((e: unknown) => {
      process.stderr.write(`wstor bs: ${session.name((e as Error).message)}; the next command recovers the store\n`);
    });
    throw err;
  }
  await store.unload();
  return result;
}

function noBlob(err: unknown, file: string, id: bigint): unknown {
  if (!(err instanceof WstorError) || err.code !== 'ENOENT') return err;
  return new WstorError('ENOENT', `no blob ${hexId(id)} (${id}) in ${file} ("wstor bs ${file} list" shows its blobs)`, err.errno);
}

function noSpace(err: unknown, store: BlobStore, what: string): unknown {
  if (!(err instanceof WstorError) || err.code !== 'ENOSPC') return err;
  const free = formatBytes(store.freeClusters * store.clusterSize);
  return new WstorError('ENOSPC', `${what}: not enough free clusters (${free} free, in ${formatBytes(store.clusterSize)} clusters)`, err.errno);
}

/** Open blob `id`, run `body`, close it; when `body` failed, its error wins over one from the close. */
async function withBlob<T>(session: Session, store: BlobStore, id: bigint, body: (blob: BlobHandle) => Promise<T>): Promise<T> {
  let blob: BlobHandle;
  try { blob = await store.open(id); } catch (err) { throw noBlob(err, session.file, id); }
  let result: T;
  try {
    result = await body(blob);
  } catch (err) {
    await blob.close().catch(() => undefined);
    throw err;
  }
  await blob.close();
  return result;
}

// ---- init ----

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new WstorError((err as NodeJS.ErrnoException).code ?? 'EIO', `cannot stat ${file}: ${(err as Error).message}`);
  }
}

/** FILE must exist (and be a file or a block device) for every command but init. */
function checkStoreFile(file: string): void {
  const st = statOrNull(file);
  if (st === null) throw new WstorError('ENOENT', `${file} does not exist (make a blobstore in it first: wstor bs ${file} init)`);
  if (!st.isFile() && !st.isBlockDevice()) throw new WstorError('EINVAL', `${file} is neither a regular file nor a block device`);
}

/** Create FILE (or size an empty one) for init; says what to undo if init fails. */
function prepareInitFile(file: string, fileBytes: number | undefined): 'created' | 'sized' | 'existing' {
  const st = statOrNull(file);
  const bytes = fileBytes ?? DEFAULT_FILE_BYTES;
  try {
    if (st === null) { fs.writeFileSync(file, '', { flag: 'wx' }); fs.truncateSync(file, bytes); return 'created'; }
  } catch (err) {
    throw new WstorError((err as NodeJS.ErrnoException).code ?? 'EIO', `cannot create ${file}: ${(err as Error).message}`);
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new WstorError('EINVAL', `${file} is neither a regular file nor a block device`);
  if (st.isFile() && st.size === 0) { fs.truncateSync(file, bytes); return 'sized'; }
  if (fileBytes !== undefined && (st.isBlockDevice() || st.size !== fileBytes)) {
    throw new WstorError('EEXIST', `${file} already holds ${st.isBlockDevice() ? 'a device' : `${st.size} bytes`}; ` +
      '--size applies only to a new or empty file (leave it out, or remove the file)');
  }
  return 'existing';
}

/** What FILE holds: null for no blobstore, else a description (a store it cannot load counts too). */
async function probeStore(session: Session): Promise<string | null> {
  try {
    // Only a look: a store not unloaded cleanly is recovered in memory, not on disk.
    const store = await session.load(true);
    const blobs = await withStore(session, store, (s) => s.list());
    return `a wstor blobstore (${blobs.length} blob${blobs.length === 1 ? '' : 's'}, ${formatBytes(store.clusterSize)} clusters)`;
  } catch (err) {
    const e = session.explain(err);
    if (!(e instanceof WstorError) || e.errno === undefined) throw e;
    if (/holds no wstor blobstore/.test(e.message)) return null;
    return `a wstor blobstore that does not load (${e.message})`;
  }
}

async function runInit(session: Session, req: Extract<BsRequest, { command: 'init' }>): Promise<string> {
  const { engine, file } = session;
  if (!req.force) {
    const found = await probeStore(session);
    if (found !== null) throw new WstorError('EEXIST', `${file} already holds ${found}: add --force to overwrite it`);
  }
  const info = engine.bdev.info(BDEV_NAME);
  const clusterBytes = req.clusterBytes ?? 1 << 20;
  let store: BlobStore;
  try {
    store = await engine.blobstore.init(BDEV_NAME, { clusterSize: clusterBytes });
  } catch (err) {
    if (!(err instanceof WstorError) || err.code !== 'ENOSPC') throw err;
    throw new WstorError('ENOSPC', `${file} (${formatBytes(info.blockSize * info.blockCount)}) is too small for a blobstore of ` +
      `${formatBytes(clusterBytes)} clusters: give it more --size or a smaller --cluster-size`, err.errno);
  }
  const free = store.freeClusters;
  await store.unload();
  return `initialised a blobstore in ${file}: ${formatBytes(info.blockSize * info.blockCount)}, ` +
    `${formatBytes(store.clusterSize)} clusters, ${free} free (${formatBytes(free * store.clusterSize)})\n`;
}

// ---- list, create, resize, delete, xattr ----

async function runList(session: Session, store: BlobStore, json: boolean, file: string): Promise<string> {
  const blobs = await store.list();
  // A blob that cannot be opened is listed as refused; why goes to stderr (and into --json).
  const why = (b: BlobInfo) => (b.error === undefined ? null : session.name(b.error));
  for (const b of blobs) if (b.error !== undefined) process.stderr.write(`wstor bs: blob ${hexId(b.id)} cannot be opened: ${why(b)}\n`);
  if (json) {
    const rows = blobs.map((b) => ({ id: Number(b.id), hex: hexId(b.id), size: b.size, thin: b.thin, allocatedBytes: b.allocatedBytes,
      snapshot: b.snapshot, parent: b.parent === undefined ? null : hexId(b.parent), xattrs: b.xattrs, error: why(b) }));
    return `${JSON.stringify(rows, null, 2)}\n`;
  }
  // id and hex to the left, numbers and the parent to the right, then the xattr names as they come.
  const widths = [14, 13, 11, 10, 11, 14];
  const cell = (c: string, i: number) => (i < 2 ? c.padEnd(widths[i]) : i < widths.length ? c.padStart(widths[i]) : `  ${c}`);
  const row = (cells: string[]) => cells.map(cell).join('').trimEnd() + '\n';
  let text = row(['id', 'hex', 'size', 'type', 'allocated', 'parent', 'xattrs']);
  for (const b of blobs) {
    const type = b.error !== undefined ? 'refused' : b.snapshot ? 'snapshot' : b.thin ? 'thin' : 'thick';
    text += row([String(b.id), hexId(b.id), formatBytes(b.size), type, formatBytes(b.allocatedBytes), b.parent === undefined ? '' : hexId(b.parent), b.xattrs.join(',')]);
  }
  const free = store.freeClusters;
  return `${text}${blobs.length} blob${blobs.length === 1 ? '' : 's'} in ${file}; ${formatBytes(store.clusterSize)} clusters, ` +
    `${free} free (${formatBytes(free * store.clusterSize)})\n`;
}

async function runCreate(store: BlobStore, req: Extract<BsRequest, { command: 'create' }>): Promise<string> {
  try {
    const id = await store.create({ size: req.sizeBytes, thin: req.thin, xattrs: req.xattrs });
    return `${id}\n`;
  } catch (err) {
    throw noSpace(err, store, `creating a ${formatBytes(req.sizeBytes)} ${req.thin ? 'thin' : 'thick'} blob`);
  }
}

async function runResize(session: Session, store: BlobStore, id: bigint, sizeBytes: number): Promise<string> {
  return withBlob(session, store, id, async (blob) => {
    const before = blob.size;
    try {
      await blob.resize(sizeBytes);
    } catch (err) {
      throw noSpace(err, store, `growing blob ${hexId(id)} to ${formatBytes(sizeBytes)}`);
    }
    await blob.sync();
    return `blob ${hexId(id)}: ${formatBytes(before)} -> ${formatBytes(blob.size)} (${formatBytes(blob.allocatedBytes)} allocated)\n`;
  });
}

async function runDelete(session: Session, store: BlobStore, id: bigint): Promise<string> {
  try {
    await store.delete(id);
  } catch (err) {
    throw noBlob(err, session.file, id);
  }
  return `deleted blob ${hexId(id)}\n`;
}

async function runSnapshot(session: Session, store: BlobStore, id: bigint): Promise<string> {
  return withBlob(session, store, id, async (blob) => `${await blob.snapshot()}\n`);
}

async function runClone(session: Session, store: BlobStore, snapshotId: bigint): Promise<string> {
  try {
    return `${await store.clone(snapshotId)}\n`;
  } catch (err) {
    if (err instanceof WstorError && err.code === 'EINVAL') {
      throw new WstorError('EINVAL', `blob ${hexId(snapshotId)} in ${session.file} is not a snapshot: clones are made of snapshots ` +
        `(make one with: wstor bs ${session.file} snapshot ${hexId(snapshotId)})`, err.errno);
    }
    throw noBlob(err, session.file, snapshotId);
  }
}

/** Inflate or decouple, then say what the blob owns and reads through now. */
async function runCopyUp(session: Session, store: BlobStore, id: bigint, how: 'inflate' | 'decouple'): Promise<string> {
  return withBlob(session, store, id, async (blob) => {
    try {
      await (how === 'inflate' ? blob.inflate() : blob.decouple());
    } catch (err) {
      if (err instanceof WstorError && err.code === 'EINVAL') {
        throw new WstorError('EINVAL', `blob ${hexId(id)} in ${session.file} has no parent: there is nothing to decouple it from`, err.errno);
      }
      throw noSpace(err, store, `${how === 'inflate' ? 'inflating' : 'decoupling'} blob ${hexId(id)}`);
    }
    const parent = blob.parent === undefined ? 'no parent' : `reads through ${hexId(blob.parent)}`;
    return `blob ${hexId(id)}: ${formatBytes(blob.allocatedBytes)} of ${formatBytes(blob.size)} allocated, ${parent}\n`;
  });
}

async function runGrow(store: BlobStore, file: string): Promise<string> {
  const added = await store.grow();
  const size = formatBytes(store.totalClusters * store.clusterSize);
  if (added === 0) return `${file}: nothing to grow into; the store already spans ${size} (${store.totalClusters} clusters)\n`;
  return `grew the store in ${file} by ${added} clusters (${formatBytes(added * store.clusterSize)}) to ${size}; ${store.freeClusters} free\n`;
}

async function runXattr(session: Session, store: BlobStore, req: Extract<BsRequest, { command: 'xattr' }>): Promise<string | Uint8Array> {
  return withBlob(session, store, req.id, async (blob) => {
    if (req.value !== undefined) {
      await blob.setXattr(req.name, req.value);
      await blob.sync();
      return `blob ${hexId(req.id)}: xattr ${req.name} set (${Buffer.byteLength(req.value)} bytes)\n`;
    }
    const value = await blob.getXattr(req.name);
    if (value === undefined) throw new WstorError('ENOENT', `blob ${hexId(req.id)} has no xattr "${req.name}"`);
    return Buffer.concat([value, Buffer.from('\n')]);
  });
}

// ---- import, export ----

function openFile(file: string, flags: string, what: string): number {
  try {
    return fs.openSync(file, flags);
  } catch (err) {
    throw new WstorError((err as NodeJS.ErrnoException).code ?? 'EIO', `cannot open ${what} ${file}: ${(err as Error).message}`);
  }
}

function sourceBytes(source: string): number {
  const st = statOrNull(source);
  if (st === null) throw new WstorError('ENOENT', `${source} (the file to import) does not exist`);
  if (!st.isFile()) throw new WstorError('EINVAL', `${source} (the file to import) is not a regular file`);
  return st.size;
}

const roundUp = (bytes: number, unit: number) => Math.ceil(bytes / unit) * unit;

/** Copy `bytes` of `fd` into the blob; the last chunk is padded with zeroes to the io unit. */
async function copyIn(blob: BlobHandle, fd: number, bytes: number, ioUnit: number, skipZeroes: boolean, progress: Progress): Promise<void> {
  const chunk = Buffer.alloc(CHUNK_BYTES);
  const zeroes = Buffer.alloc(CHUNK_BYTES);
  for (let offset = 0; offset < bytes; offset += CHUNK_BYTES) {
    const want = Math.min(CHUNK_BYTES, bytes - offset);
    for (let got = 0; got < want;) {
      const n = fs.readSync(fd, chunk, got, want - got, offset + got);
      if (n === 0) throw new WstorError('EIO', `the source shrank while it was copied (ends at ${offset + got} of ${bytes} bytes)`);
      got += n;
    }
    const padded = roundUp(want, ioUnit);
    chunk.fill(0, want, padded);
    const data = chunk.subarray(0, padded);
    // A thin blob reads unwritten clusters as zeroes: leaving them unwritten keeps them unallocated.
    if (!(skipZeroes && data.equals(zeroes.subarray(0, padded)))) await blob.write(offset, data);
    progress.update(offset + want);
  }
  progress.update(bytes);
}

async function runImport(session: Session, store: BlobStore, req: Extract<BsRequest, { command: 'import' }>): Promise<string> {
  const bytes = sourceBytes(req.source);
  const fd = openFile(req.source, 'r', 'the file to import');
  try {
    let id: bigint;
    try {
      id = await store.create({ size: bytes, thin: req.thin });
    } catch (err) {
      throw noSpace(err, store, `importing ${req.source} (${formatBytes(bytes)})`);
    }
    const progress = new Progress(`import ${req.source}`, bytes);
    try {
      await withBlob(session, store, id, (blob) => copyIn(blob, fd, bytes, store.ioUnitSize, req.thin, progress));
    } catch (err) {
      // A half-copied blob is no use to anyone.
      await store.delete(id).catch(() => undefined);
      throw noSpace(err, store, `importing ${req.source}`);
    } finally {
      progress.end();
    }
    return `${id}\n`;
  } finally {
    fs.closeSync(fd);
  }
}

async function copyOut(blob: BlobHandle, fd: number, bytes: number, ioUnit: number, progress: Progress): Promise<void> {
  for (let offset = 0; offset < bytes; offset += CHUNK_BYTES) {
    const want = Math.min(CHUNK_BYTES, bytes - offset);
    const data = await blob.read(offset, roundUp(want, ioUnit));
    for (let put = 0; put < want;) put += fs.writeSync(fd, data, put, want - put, offset + put);
    progress.update(offset + want);
  }
  progress.update(bytes);
}

async function runExport(session: Session, store: BlobStore, req: Extract<BsRequest, { command: 'export' }>): Promise<string> {
  return withBlob(session, store, req.id, async (blob) => {
    const bytes = req.lengthBytes ?? blob.size;
    if (bytes > blob.size) {
      throw new WstorError('EINVAL', `--length ${bytes} is past the end of blob ${hexId(req.id)} (${blob.size} bytes)`);
    }
    const fd = openFile(req.target, 'w', 'the export target');
    const progress = new Progress(`export ${hexId(req.id)}`, bytes);
    try {
      await copyOut(blob, fd, bytes, store.ioUnitSize, progress);
    } finally {
      progress.end();
      fs.closeSync(fd);
    }
    return '';
  });
}

// ---- the command ----

async function runOnStore(session: Session, request: BsRequest): Promise<string | Uint8Array> {
  if (request.command === 'init') return runInit(session, request);
  const store = await session.load();
  return withStore(session, store, (s) => {
    switch (request.command) {
      case 'list': return runList(session, s, request.json, session.file);
      case 'dump': throw new Error('dump reads the file itself (bsCommand), never through a store');
      case 'grow': return runGrow(s, session.file);
      case 'create': return runCreate(s, request);
      case 'import': return runImport(session, s, request);
      case 'export': return runExport(session, s, request);
      case 'resize': return runResize(session, s, request.id, request.sizeBytes);
      case 'delete': return runDelete(session, s, request.id);
      case 'snapshot': return runSnapshot(session, s, request.id);
      case 'clone': return runClone(session, s, request.id);
      case 'inflate':
      case 'decouple': return runCopyUp(session, s, request.id, request.command);
      case 'xattr': return runXattr(session, s, request);
    }
  });
}

export async function bsCommand(argv: string[]): Promise<number> {
  const args = parseBsArgs(argv);
  if (args === null) { process.stdout.write(bsUsage); return 0; }
  const { file, request } = args;
  let made: 'created' | 'sized' | 'existing' = 'existing';
  if (request.command === 'init') made = prepareInitFile(file, request.fileBytes);
  else checkStoreFile(file);
  if (request.command === 'dump') {
    // No engine: the bytes as they are on disk, even those of a store that would not load.
    try {
      process.stdout.write(dumpStore(file, { pages: request.all ? 'all' : 'used' }));
    } catch (err) {
      throw new WstorError('EINVAL', (err as Error).message);
    }
    return 0;
  }
  let output: string | Uint8Array;
  try {
    output = await withSession(file, readsOnly(request), (session) => runOnStore(session, request));
  } catch (err) {
    // init made FILE for a store it could not lay out: leave the disk as it was.
    if (made === 'created') fs.rmSync(file, { force: true });
    if (made === 'sized') fs.truncateSync(file, 0);
    throw err;
  }
  process.stdout.write(output);
  return 0;
}
