// A reactor: one worker (Node worker_threads or a browser Worker) that instantiates core.wasm over the
// engine's shared memory and runs the reactor loop inside Wasm until asked to stop. Portable: only
// the bootstrap at the bottom differs between Node and the browser.

import { instantiateCore, levelName, LEVEL_FATAL, readReactorStats } from './core-abi.js';
import type { Platform, ReactorInit, WorkerMessage } from './platform.js';
import type { UringHandlers, VhostHandlers } from './core-abi.js';
import type { Crc32cHandler } from './crc-host.js';
import { ReactorPlugins } from './plugins/reactor-plugins.js';

type Post = (message: WorkerMessage) => void;

async function runReactor(init: ReactorInit, post: Post, pinThread: ((cpu: number) => number | null) | null,
  uring: UringHandlers | undefined, vhost: VhostHandlers | undefined, wake: ((fd: number) => number) | undefined,
  crc32c: Crc32cHandler | undefined, memoryCopy?: Platform['memoryCopy']): Promise<void> {
  const { reactor } = init;
  let lastFatal = '';
  let threadId: number | null = null;
  try {
    if (init.pin !== null) {
      if (!pinThread) throw new Error(`reactor ${reactor}: cannot pin to CPU ${init.pin} on this platform (native addon missing)`);
      threadId = pinThread(init.pin);
    }
    const core = await instantiateCore(init.module, init.memory, {
      report(level, code, message) {
        if (level === LEVEL_FATAL) lastFatal = message;
        post({ type: 'report', reactor, level: levelName(level), code, message });
      },
      event(kind, a, b, c) { post({ type: 'event', reactor, kind, a, b, c }); },
      uring,
      vhost,
      wake,
      crc32c,
      plugins: new ReactorPlugins(init.memory, (level, code, message) => post({ type: 'report', reactor, level, code, message }), memoryCopy),
    });
    core.wstor_attach(reactor);
    core.reactor_bind(reactor);
    if (init.wakeFd >= 0) {
      const rc = core.reactor_sleep_in_kernel(init.wakeFd);
      if (rc < 0) post({ type: 'report', reactor, level: 'warn', code: rc, message: `reactor ${reactor} sleeps on its doorbell: its io_uring cannot wait (${rc})` });
    }
    post({ type: 'ready', reactor, threadId });
    core.reactor_run();
    post({ type: 'stopped', reactor, stats: readReactorStats(core, reactor) });
  } catch (err) {
    const e = err as Error;
    const message = lastFatal ? `${lastFatal} (${e.message})` : e.message;
    post({ type: 'trap', reactor, message, stack: e.stack ?? String(err) });
  }
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
if (isNode) {
  const { workerData, parentPort } = await import('node:worker_threads');
  const { loadNative } = await import('./native/index.js');
  const native = loadNative();
  const pin = native ? (cpu: number) => { native.setThreadAffinity([cpu]); return native.getThreadId(); } : null;
  const { nodeUringHandlers, nodeWakeFds } = await import('./uring-host.js');
  const { nodeVhostHandlers } = await import('./vhost-seam.js');
  const { nodeCrc32c } = await import('./crc-host.js');
  const init = workerData as ReactorInit;
  await runReactor(init, (m) => parentPort!.postMessage(m), pin, nodeUringHandlers(init.memory), nodeVhostHandlers(init.memory), nodeWakeFds()?.write, nodeCrc32c(init.memory),
    native ? { from: native.copyFromMemory, into: native.copyIntoMemory } : undefined);
} else {
  const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void; close(): void };
  scope.onmessage = (e: MessageEvent) => {
    scope.onmessage = null;
    void runReactor(e.data as ReactorInit, (m) => scope.postMessage(m), null, undefined, undefined, undefined, undefined).then(() => scope.close());
  };
}
