// Node's platform: core.wasm from build/, reactors as worker_threads, affinity from the addon.
import { Worker } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import fs, { readFileSync } from 'node:fs';
import { WstorError } from './errors.js';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { setDefaultPlatform } from './platform.js';
import type { Platform, ReactorHandle, ReactorInit, WorkerMessage } from './platform.js';
import { VhostApi } from './vhost.js';
import { NvmfApi } from './nvmf.js';
import { loadNative } from './native/index.js';
import { parseCpuList } from './cpus.js';
import { probeUring, nodeWakeFds } from './uring-host.js';
import { nodeCrc32c } from './crc-host.js';
import { preparePlugin } from './plugins/prepare.js';

const hostDir = path.dirname(fileURLToPath(import.meta.url));   // build/host
const buildDir = path.resolve(hostDir, '..');                    // build

/** "core" -> build/core.wasm, "core-test" -> build/core-test.wasm; or a path to a .wasm file. */
export function coreWasmPath(variant: string): string {
  return variant.endsWith('.wasm') ? path.resolve(variant) : path.join(buildDir, `${variant}.wasm`);
}

/** The addon's memcpy to and from the shared memory, when the addon is built. */
function nodeMemoryCopy(): Platform['memoryCopy'] {
  const native = loadNative();
  return native ? { from: native.copyFromMemory, into: native.copyIntoMemory } : undefined;
}

function processCpus(): number[] {
  const native = loadNative();
  if (native) return native.getThreadAffinity();
  // Without the addon: our own affinity from our own status file (no scan of other threads).
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
    if (line) return parseCpuList(line[1]);
  } catch { /* not Linux */ }
  return os.cpus().map((_, i) => i);
}

/**
 * Size in bytes of a regular file or block device (stat says 0 for a block device: sysfs has its size
 * in 512-byte sectors).
 */
export function deviceBytes(st: fs.Stats, path: string): number {
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) {
    const major = Math.floor(st.rdev / 256) & 0xfff, minor = (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & 0xfff00);
    const sysfs = `/sys/dev/block/${major}:${minor}/size`;
    try {
      return Number(readFileSync(sysfs, 'utf8').trim()) * 512;
    } catch {
      throw new WstorError('ENODEV', `cannot find the size of block device ${path} (no ${sysfs})`);
    }
  }
  throw new WstorError('EINVAL', `${path} is neither a regular file nor a block device`);
}

function openFile(path: string, direct: boolean, readOnly = false): { fd: number; bytes: number; direct: boolean } {
  const access = readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
  let fd: number;
  try {
    fd = fs.openSync(path, access | (direct ? fs.constants.O_DIRECT : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!(direct && code === 'EINVAL')) throw new WstorError(code ?? 'EIO', `cannot open ${path}: ${(err as Error).message}`);
    direct = false;            // e.g. tmpfs has no O_DIRECT: buffered still works
    fd = fs.openSync(path, access);
  }
  try {
    return { fd, bytes: deviceBytes(fs.fstatSync(fd), path), direct };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

function mapFile(memory: WebAssembly.Memory, offset: number, bytes: number, fd: number, path: string): void {
  const native = loadNative();
  if (!native) throw new WstorError('ENOTSUP', `mapping ${path} needs the native addon (npm run build:native)`);
  if (!fs.fstatSync(fd).isFile()) throw new WstorError('ENOTSUP', `only a regular file can be mapped (${path} is not one): create the bdev without mmap`);
  let rc = native.fileAllocate(fd, bytes);
  if (rc < 0) {
    throw WstorError.fromErrno(rc, `giving every block of ${path} disk space first (fallocate), which a mapped file bdev needs ` +
      `so that a full disk never faults a store through the mapping; create it without mmap on this file system`);
  }
  rc = native.mapIntoMemory(memory, offset, bytes, fd, 0);
  if (rc < 0) throw WstorError.fromErrno(rc, `mapping ${path} into the engine's memory`);
  // Block I/O is random: fault single pages, never large read-ahead folios (vhost.c, adviseRandom).
  rc = native.adviseRandom(memory, offset, bytes);
  if (rc < 0) {
    native.unmapFromMemory(memory, offset, bytes);
    throw WstorError.fromErrno(rc, `advising random access over the mapping of ${path}`);
  }
}

function unmapFile(memory: WebAssembly.Memory, offset: number, bytes: number): void {
  const rc = loadNative()!.unmapFromMemory(memory, offset, bytes);
  if (rc < 0) throw WstorError.fromErrno(rc, `unmapping a file from the engine's memory at ${offset}`);
}

export const nodePlatform: Platform = {
  name: 'node',
  async loadCore(variant: string): Promise<Uint8Array<ArrayBuffer>> {
    const file = coreWasmPath(variant);
    try {
      return new Uint8Array(await readFile(file));
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as Error).message} (run "npm run build" first)`);
    }
  },
  spawnReactor(init: ReactorInit): ReactorHandle {
    const worker = new Worker(new URL('./reactor-worker-node.js', import.meta.url), {
      workerData: init,
      name: `reactor_${init.reactor}`,
      // The main script's Node flags are not the reactor's business, and some break workers
      // (--input-type with -e; per-process V8 flags such as --no-liftoff, which apply to the whole
      // process anyway).
      execArgv: [],
    });
    let trapSeen = false;
    const messageListeners: ((m: WorkerMessage) => void)[] = [];
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'trap') trapSeen = true;
      for (const l of messageListeners) l(m);
    });
    // An exception that escaped the worker's own handler (a bug in the bootstrap itself).
    worker.on('error', (err: Error) => {
      if (trapSeen) return;
      const m: WorkerMessage = { type: 'trap', reactor: init.reactor, message: err.message, stack: err.stack ?? '' };
      for (const l of messageListeners) l(m);
    });
    return {
      onMessage(listener) { messageListeners.push(listener); },
      onExit(listener) { worker.on('exit', listener); },
      async terminate() { await worker.terminate(); },
    };
  },
  allowedCpus: processCpus,
  probeBlockIo: probeUring,
  wakeFds: nodeWakeFds(),
  memoryCopy: nodeMemoryCopy(),
  crc32c: nodeCrc32c,
  preparePlugin: async (bytes, limits) => preparePlugin(bytes, limits),
  files: { open: openFile, close: (fd) => fs.closeSync(fd), size: (fd, path) => deviceBytes(fs.fstatSync(fd), path), map: mapFile, unmap: unmapFile },
  targets: { vhost: (engine) => new VhostApi(engine), nvmf: (engine) => new NvmfApi(engine) },
};

// Importing the Node entry (index.ts) or the CLI makes Node the engine's default platform.
setDefaultPlatform(() => nodePlatform);
