// The target of `wstor perf --bdev`: parsing null:SIZE[:BLOCK], malloc:SIZE[:BLOCK] and file:PATH[:direct|:mmap],
// how much shared memory a run on it needs, and creating the bdev in the core (opening the file for it).
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, parseSize } from '../cli/args.js';
import type { CoreExports } from '../core-abi.js';
import type { Engine } from '../engine.js';
import { deviceBytes } from '../platform-node.js';
import { WstorError } from '../errors.js';

export type BdevKind = 'null' | 'malloc' | 'file';

export interface BdevSpec {
  kind: BdevKind;
  /** As given on the command line, for reports. */
  text: string;
  blockSizeBytes: number;
  blockCount: number;
  /** file only: the path, and whether to open it with O_DIRECT. */
  path?: string;
  direct?: boolean;
  /** file: mapped into the engine's memory (BdevApi.createFile's mmap). */
  mmap?: boolean;
}

/** null and malloc: 512-byte blocks unless the spec names one (as SPDK's bdev_malloc_create examples). */
export const DEFAULT_BLOCK_SIZE_BYTES = 512;
/** File bdevs always use 4096-byte blocks: the alignment O_DIRECT needs on every common device. */
export const FILE_BLOCK_SIZE_BYTES = 4096;
/** Runtime, reactors, threads, channels and the bdev_io pools: room above the bdev data and buffers. */
export const MEMORY_HEADROOM_BYTES = 64 << 20;
/** The shared memory is addressed with 32 bits. */
export const MEMORY_MAX_BYTES = 4 * 1024 * 1024 * 1024;
/** The malloc module's own limit (assembly/bdev/malloc: the data must fit below the 4 GiB address space). */
export const MALLOC_MAX_BYTES = 0xf0000000;

const SPEC_FORMS = 'use null:SIZE[:BLOCK], malloc:SIZE[:BLOCK] or file:PATH[:direct|:mmap], e.g. null:1GiB, malloc:64MiB, file:/dev/nvme0n1:direct';

/** A byte count (4096, 4k, 64MiB, 1GiB) that must be a positive safe integer. */
export function parseBytes(text: string, what: string): number {
  const bytes = parseSize(text, what);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${what}: "${text}" is too large`);
  if (bytes === 0) throw new UsageError(`${what}: must be greater than 0 (got "${text}")`);
  return bytes;
}

function parseBlockSize(text: string | undefined, spec: string): number {
  if (text === undefined) return DEFAULT_BLOCK_SIZE_BYTES;
  const bytes = parseBytes(text, `--bdev ${spec}: block size`);
  if (bytes < 512 || (bytes & (bytes - 1)) !== 0) {
    throw new UsageError(`--bdev ${spec}: block size must be a power of two of at least 512 (got ${bytes})`);
  }
  return bytes;
}

/** Parse --bdev. A file must exist and hold at least one block; its size is read here. */
export function parseBdevSpec(text: string): BdevSpec {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? undefined : text.slice(colon + 1);
  if (kind !== 'null' && kind !== 'malloc' && kind !== 'file') {
    throw new UsageError(`--bdev: unknown bdev kind "${kind}" (${SPEC_FORMS})`);
  }
  if (rest === undefined || rest === '') {
    throw new UsageError(`--bdev ${text}: ${kind === 'file' ? 'a path' : 'a size'} is missing (${SPEC_FORMS})`);
  }
  if (kind === 'file') return parseFileSpec(text, rest);

  const parts = rest.split(':');
  if (parts.length > 2) throw new UsageError(`--bdev ${text}: too many fields (${SPEC_FORMS})`);
  const sizeBytes = parseBytes(parts[0], `--bdev ${text}: size`);
  const blockSize = parseBlockSize(parts[1], text);
  if (sizeBytes % blockSize !== 0) {
    throw new UsageError(`--bdev ${text}: size ${sizeBytes} is not a multiple of the block size ${blockSize}`);
  }
  if (kind === 'malloc' && sizeBytes > MALLOC_MAX_BYTES) {
    throw new UsageError(`--bdev ${text}: a malloc bdev holds at most ${MALLOC_MAX_BYTES / (1 << 20)} MiB (it lives in the 4 GiB shared memory)`);
  }
  return { kind, text, blockSizeBytes: blockSize, blockCount: sizeBytes / blockSize };
}

function parseFileSpec(text: string, rest: string): BdevSpec {
  const mode = /:(direct|mmap)$/.exec(rest)?.[1];
  const direct = mode === 'direct', mmap = mode === 'mmap';
  const filePath = mode === undefined ? rest : rest.slice(0, -(mode.length + 1));
  if (filePath === '') throw new UsageError(`--bdev ${text}: a path is missing (${SPEC_FORMS})`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(filePath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`--bdev ${text}: file ${filePath} does not exist (create it first, e.g. truncate -s 1G ${filePath})`);
    throw new UsageError(`--bdev ${text}: cannot stat ${filePath}: ${code ?? String(err)}`);
  }
  if (!stat.isFile() && !stat.isBlockDevice()) {
    throw new UsageError(`--bdev ${text}: ${filePath} is neither a regular file nor a block device`);
  }
  let sizeBytes: number;
  try {
    sizeBytes = deviceBytes(stat, filePath);
  } catch (err) {
    throw new UsageError(`--bdev ${text}: ${(err as Error).message}`);
  }
  const blockCount = Math.floor(sizeBytes / FILE_BLOCK_SIZE_BYTES);
  if (blockCount < 1) {
    throw new UsageError(`--bdev ${text}: ${filePath} holds ${sizeBytes} bytes, less than one ${FILE_BLOCK_SIZE_BYTES}-byte block`);
  }
  if (mmap && !stat.isFile()) throw new UsageError(`--bdev ${text}: only a regular file can be mapped (${filePath} is a block device)`);
  return { kind: 'file', text, blockSizeBytes: FILE_BLOCK_SIZE_BYTES, blockCount, path: filePath, direct, mmap };
}

export function bdevSizeBytes(spec: BdevSpec): number {
  return spec.blockSizeBytes * spec.blockCount;
}

export interface MemoryNeed {
  queueDepth: number;
  ioBytes: number;
  reactors: number;
  /** verify keeps a pattern buffer and a read-back buffer per I/O. */
  buffersPerIo: number;
}

/** Shared memory a run needs: the malloc bdev's data, every in-flight I/O's buffers, and headroom. */
export function memoryNeededBytes(spec: BdevSpec, need: MemoryNeed): number {
  const data = spec.kind === 'malloc' || spec.mmap ? bdevSizeBytes(spec) : 0;
  const buffers = need.queueDepth * need.ioBytes * need.reactors * need.buffersPerIo;
  const total = data + buffers + MEMORY_HEADROOM_BYTES;
  return Math.ceil(total / (1 << 20)) * (1 << 20);
}


export interface OpenedBdev {
  id: number;
  name: string;
}

/** Create the bdev through the engine's bdev API (which owns a file bdev's descriptor until delete). */
export function createBdev(engine: Engine, spec: BdevSpec): OpenedBdev {
  if (spec.kind === 'null' || spec.kind === 'malloc') {
    const name = spec.kind === 'null' ? 'Null0' : 'Malloc0';
    const geometry = { blockSize: spec.blockSizeBytes, blockCount: spec.blockCount };
    const id = spec.kind === 'null' ? engine.bdev.createNull(name, geometry) : engine.bdev.createMalloc(name, geometry);
    return { id, name };
  }
  const name = 'Uring0';
  const { id, direct } = engine.bdev.createFile(name, { path: spec.path as string, direct: spec.direct, mmap: spec.mmap, blockSize: spec.blockSizeBytes });
  if (spec.direct && !direct) {
    process.stderr.write(`wstor perf: ${spec.path}: this file system refuses O_DIRECT (tmpfs?); running buffered\n`);
  }
  return { id, name };
}
