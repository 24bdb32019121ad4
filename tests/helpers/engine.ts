// Real-worker helpers: an engine on the test build with reports captured, and waiting for events.
import { Engine, type EngineOptions } from '../../host/index.js';
import type { CoreEvent, Report } from '../../host/index.js';
import { EVENT_TEST } from '../../host/core-abi.js';
import type { TestCore } from './core.js';

export interface TestEngine {
  engine: Engine;
  core: TestCore;
  reports: Report[];
  /** Resolves with the next `count` EVENT_TEST events matching `filter` (rejects after timeoutMs). */
  nextEvents(count: number, filter?: (e: CoreEvent) => boolean, timeoutMs?: number): Promise<CoreEvent[]>;
}

export async function startTestEngine(options: EngineOptions = {}): Promise<TestEngine> {
  const reports: Report[] = [];
  const engine = await Engine.start({
    reactors: 2, memoryBytes: 128 << 20, core: 'core-test', logLevel: 'debug',
    onReport: (r) => reports.push(r), ...options,
  });
  const events: CoreEvent[] = [];
  const waiters: { count: number; filter: (e: CoreEvent) => boolean; got: CoreEvent[]; resolve: (e: CoreEvent[]) => void }[] = [];
  engine.onEvent((e) => {
    if (e.kind !== EVENT_TEST) return;
    const w = waiters.find((x) => x.filter(e));
    if (!w) { events.push(e); return; }
    w.got.push(e);
    if (w.got.length === w.count) { waiters.splice(waiters.indexOf(w), 1); w.resolve(w.got); }
  });
  return {
    engine,
    core: engine.core as TestCore,
    reports,
    nextEvents(count, filter = () => true, timeoutMs = 20_000) {
      const got = events.filter(filter).slice(0, count);
      for (const e of got) events.splice(events.indexOf(e), 1);
      if (got.length === count) return Promise.resolve(got);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} events (got ${got.length})`)), timeoutMs);
        waiters.push({ count, filter, got, resolve: (e) => { clearTimeout(timer); resolve(e); } });
      });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reports come from the reactors by message, after whatever the test saw on a socket: wait (at most
 * `timeoutMs`) until `count` of them match `re`; the matches, however many there are by then.
 */
export async function reportsMatching(reports: Report[], re: RegExp, count = 1, timeoutMs = 2000): Promise<Report[]> {
  const until = Date.now() + timeoutMs;
  while (reports.filter((r) => re.test(r.message)).length < count && Date.now() < until) await sleep(5);
  return reports.filter((r) => re.test(r.message));
}

/**
 * Run `body` with a test engine and always stop it, so a failed assertion never leaves workers that
 * keep the test process alive. If the body expects the stop to fail, it stops the engine itself.
 */
export async function withTestEngine(body: (t: TestEngine) => Promise<void>, options: EngineOptions = {}): Promise<void> {
  const t = await startTestEngine(options);
  try {
    await body(t);
  } finally {
    await t.engine.stop().catch(() => undefined);
  }
}
