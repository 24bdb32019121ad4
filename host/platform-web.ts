// The browser's platform: core.wasm fetched beside this module, reactors as module Workers over the
// shared memory (the page must be cross-origin isolated: COOP/COEP), and OPFS files served by a worker
// of their own (web/opfs-files.ts). Nothing here may import Node.

import { WstorError } from './errors.js';
import type { Platform, ReactorHandle, ReactorInit, WorkerMessage } from './platform.js';
import { OpfsService } from './web/opfs-files.js';

/** What a browser reactor worker is sent (web/reactor-worker.ts). */
export interface WebReactorInit extends ReactorInit {
  /** This reactor's ring to the OPFS worker, and the bell that wakes it. */
  opfsRing: SharedArrayBuffer;
  opfsBell: SharedArrayBuffer;
}

/** A reactor worker's word that it has ended (browser Workers have no exit event). */
export interface WorkerExit { type: 'exit'; code: number }

export interface WebPlatformOptions {
  /** Where the core builds are (default: the directory above this module, build/ as served). */
  coreBase?: URL;
}

function checkIsolated(): void {
  if (typeof SharedArrayBuffer === 'undefined' || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) {
    throw new WstorError('ENOTSUP', 'the engine needs a cross-origin isolated page for its shared memory: serve it with ' +
      '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" (wstor web does)');
  }
}

/** A reactor worker, and a way to hand its listeners a message from elsewhere (the OPFS worker's reports). */
function spawnWorker(init: WebReactorInit): { handle: ReactorHandle; deliver(m: WorkerMessage): void } {
  const worker = new Worker(new URL('./web/reactor-worker.js', import.meta.url), { type: 'module', name: `reactor_${init.reactor}` });
  const messageListeners: ((m: WorkerMessage) => void)[] = [];
  const exitListeners: ((code: number) => void)[] = [];
  let exited = false;
  let trapSeen = false;
  const exit = (code: number) => {
    if (exited) return;
    exited = true;
    for (const l of exitListeners) l(code);
  };
  const deliver = (m: WorkerMessage) => { for (const l of messageListeners) l(m); };
  worker.onmessage = (e: MessageEvent<WorkerMessage | WorkerExit>) => {
    const m = e.data;
    if (m.type === 'exit') { exit(m.code); return; }
    if (m.type === 'trap') trapSeen = true;
    deliver(m);
  };
  // An exception that escaped the bootstrap (a module that failed to load, a bug there).
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    if (!trapSeen) deliver({ type: 'trap', reactor: init.reactor, message: e.message || 'the reactor worker failed to start', stack: `${e.filename}:${e.lineno}` });
    trapSeen = true;
    worker.terminate();
    exit(1);
  };
  worker.postMessage(init);
  const handle: ReactorHandle = {
    onMessage(listener) { messageListeners.push(listener); },
    onExit(listener) { exitListeners.push(listener); },
    async terminate() { worker.terminate(); exit(1); },
  };
  return { handle, deliver };
}

/**
 * A platform for one engine at a time in this page (each engine has its own OPFS worker); once that
 * engine has stopped, another may start on it.
 */
export function createWebPlatform(options: WebPlatformOptions = {}): Platform {
  const coreBase = options.coreBase ?? new URL('../', import.meta.url);
  let reactors: ((m: WorkerMessage) => void)[] = [];
  // An OPFS failure is said as the report of the reactor whose request it was: the engine's sink and
  // its request errors see it like the core's own.
  const opfs = new OpfsService(new URL('./web/opfs-worker.js', import.meta.url),
    (reactor, code, message) => reactors[reactor]?.({ type: 'report', reactor, level: 'error', code, message }));
  return {
    name: 'browser',
    async loadCore(variant: string): Promise<Uint8Array<ArrayBuffer>> {
      checkIsolated();
      const url = new URL(variant.endsWith('.wasm') ? variant : `${variant}.wasm`, coreBase);
      const response = await fetch(url);
      if (!response.ok) throw new WstorError('ENOENT', `cannot fetch ${url}: ${response.status} ${response.statusText} (is the build served there?)`);
      return new Uint8Array(await response.arrayBuffer());
    },
    spawnReactor(init: ReactorInit): ReactorHandle {
      const { handle, deliver } = spawnWorker({ ...init, opfsRing: opfs.ringFor(init.reactor, init.memory), opfsBell: opfs.bell });
      reactors.push(deliver);
      return handle;
    },
    allowedCpus(): number[] {
      const n = Math.max(1, navigator.hardwareConcurrency || 1);
      return Array.from({ length: n }, (_, i) => i);
    },
    opfs,
    // binaryen (15 MB) only when a plugin is made: the page's import map names it (host/web/vendor.ts).
    async preparePlugin(bytes, limits) { return (await import('./plugins/prepare.js')).preparePlugin(bytes, limits); },
    async stopped(): Promise<void> {
      reactors = [];
      await opfs.stop();
    },
  };
}
