// A reactor: one worker (Node worker_threads or a browser Worker) that instantiates core.wasm over the
// engine's shared memory and runs the reactor loop inside Wasm until asked to stop. Portable: each
// platform's bootstrap (reactor-worker-node.ts, web/reactor-worker.ts) supplies its host imports.

import { instantiateCore, levelName, LEVEL_FATAL, readReactorStats } from './core-abi.js';
import type { ImportHandlers } from './core-abi.js';
import type { Platform, ReactorInit, WorkerMessage } from './platform.js';
import { ReactorPlugins } from './plugins/reactor-plugins.js';

export type Post = (message: WorkerMessage) => void;

/** The imports a platform gives a reactor beside report and event (each absent one: -ENOSYS in the core). */
export type ReactorImports = Omit<ImportHandlers, 'report' | 'event'>;

/**
 * Run reactor `init.reactor` until it is asked to stop. `memoryCopy`: the platform's copy between the
 * shared memory and a plugin's own (the addon's in Node); without it plugins copy in JS.
 */
export async function runReactor(init: ReactorInit, post: Post, pinThread: ((cpu: number) => number | null) | null,
  imports: ReactorImports, memoryCopy?: Platform['memoryCopy']): Promise<void> {
  const { reactor } = init;
  let lastFatal = '';
  let threadId: number | null = null;
  try {
    if (init.pin !== null) {
      if (!pinThread) throw new Error(`reactor ${reactor}: cannot pin to CPU ${init.pin} on this platform (native addon missing)`);
      threadId = pinThread(init.pin);
    }
    const core = await instantiateCore(init.module, init.memory, {
      ...imports,
      report(level, code, message) {
        if (level === LEVEL_FATAL) lastFatal = message;
        post({ type: 'report', reactor, level: levelName(level), code, message });
      },
      event(kind, a, b, c) { post({ type: 'event', reactor, kind, a, b, c }); },
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
