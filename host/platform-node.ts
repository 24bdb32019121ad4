// Node's platform: core.wasm from build/, reactors as worker_threads, affinity from the addon.
import { Worker } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Platform, ReactorHandle, ReactorInit, WorkerMessage } from './platform.js';
import { loadNative } from './native/index.js';
import { parseCpuList } from './cpus.js';

const hostDir = path.dirname(fileURLToPath(import.meta.url));   // build/host
const buildDir = path.resolve(hostDir, '..');                    // build

/** "core" -> build/core.wasm, "core-test" -> build/core-test.wasm; or a path to a .wasm file. */
export function coreWasmPath(variant: string): string {
  return variant.endsWith('.wasm') ? path.resolve(variant) : path.join(buildDir, `${variant}.wasm`);
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
    const worker = new Worker(new URL('./reactor-worker.js', import.meta.url), {
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
};
