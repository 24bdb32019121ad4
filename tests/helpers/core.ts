// The deterministic harness's host side: an instance of build/core-test.wasm on a memory of its own,
// in this process, with its reports and events captured. Threads are polled by hand; the clock is
// frozen and advanced by the test (like SPDK's ut_multithread).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { instantiateCore, levelName, readCoreString, CONTROL_ARENA } from '../../host/core-abi.js';
import { ReactorPlugins } from '../../host/plugins/reactor-plugins.js';
import type { CoreExports, LevelName, UringHandlers } from '../../host/core-abi.js';
import { nodeUringHandlers } from '../../host/uring-host.js';
import { nodeVhostHandlers } from '../../host/vhost-seam.js';
import { nodeCrc32c, type Crc32cHandler } from '../../host/crc-host.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TEST_WASM = path.join(root, 'build', 'core-test.wasm');

let compiled: WebAssembly.Module | null = null;

function spyOnSubmit(handlers: UringHandlers | undefined, memory: WebAssembly.Memory,
  spy: HarnessOptions['onUringSubmit']): UringHandlers | undefined {
  if (!handlers || !spy) return handlers;
  return {
    submit: (descs, count, memoryBytes) => { spy(memory, descs, count); return handlers.submit(descs, count, memoryBytes); },
    reap: (cqes, max) => handlers.reap(cqes, max),
  };
}
function spyOnCrc(handler: Crc32cHandler | undefined, spy: HarnessOptions['onHostCrc']): Crc32cHandler | undefined {
  if (!handler || !spy) return handler;
  return (crc, ptr, len) => { spy(crc, ptr, len); return handler(crc, ptr, len); };
}
function testModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(TEST_WASM));
  return compiled;
}

export interface CapturedReport { level: LevelName; code: number; message: string }

/** Hooks of the test build (tests/core/*.ts), loosely typed: integers in, integers out. */
export type TestCore = CoreExports & Record<string, (...args: number[]) => number>;

export interface Harness {
  core: TestCore;
  memory: WebAssembly.Memory;
  reports: CapturedReport[];
  events: { kind: number; a: number; b: number; c: number }[];
  u32(ptr: number, index?: number): number;
  i32(ptr: number, index?: number): number;
  setU32(ptr: number, value: number, index?: number): void;
  /** A zeroed scratch block of `bytes` in the shared heap. */
  scratch(bytes: number): number;
  /**
   * Poll every thread made with core.h_thread_create (and not destroyed) in rounds until a whole
   * round does no work (SPDK's poll_threads); returns the work done. Past `maxRounds` it throws,
   * naming the threads still busy.
   */
  pollAll(maxRounds?: number): number;
  /**
   * Poll every thread in rounds until `done()` holds, also through quiet rounds (a completion may be
   * on its way from the kernel); past `maxRounds` it throws naming `what`, the busy threads and the
   * last errors reported.
   */
  pollUntil(what: string, done: () => boolean, maxRounds?: number): void;
  /** Messages of reports at or above `level`. */
  messages(level?: LevelName): string[];
}

function holdReaps(handlers: UringHandlers | undefined, hold: HarnessOptions['holdUringReaps']): UringHandlers | undefined {
  if (!handlers || !hold) return handlers;
  return { submit: handlers.submit, reap: (cqes, max) => (hold() ? 0 : handlers.reap(cqes, max)) };
}

export interface HarnessOptions {
  arena?: number;
  /** Sees every CRC32C the core asks the host for (crc, ptr, len); `softwareCrc`: the host offers none. */
  onHostCrc?: (crc: number, ptr: number, len: number) => void;
  softwareCrc?: boolean;
  reactor?: number;
  clockUs?: number;
  /** Sees every batch of io_uring descriptors the core hands the host, before the ring does. */
  onUringSubmit?: (memory: WebAssembly.Memory, descs: number, count: number) => void;
  /** While it returns true, reaps find nothing (completions stay in the ring for a later reap). */
  holdUringReaps?: () => boolean;
}

export async function newHarness(options: HarnessOptions = {}): Promise<Harness> {
  const maximumPages = 4096;
  const memory = new WebAssembly.Memory({ initial: 64, maximum: maximumPages, shared: true });
  const reports: CapturedReport[] = [];
  const events: Harness['events'] = [];
  const exports = await instantiateCore(testModule(), memory, {
    report: (level, code, message) => reports.push({ level: levelName(level), code, message }),
    event: (kind, a, b, c) => events.push({ kind, a, b, c }),
    uring: holdReaps(spyOnSubmit(nodeUringHandlers(memory), memory, options.onUringSubmit), options.holdUringReaps),
    crc32c: options.softwareCrc ? undefined : spyOnCrc(nodeCrc32c(memory), options.onHostCrc),
    plugins: new ReactorPlugins(memory, (level, code, message) => reports.push({ level, code, message })),
    vhost: nodeVhostHandlers(memory),
  }) as TestCore;
  // A copy of the exports (theirs is frozen) whose thread create and destroy keep the harness's list.
  const threads: number[] = [];
  const core: TestCore = Object.assign({}, exports, {
    h_thread_create(nameIndex: number, owner: number, ringSize: number) {
      const t = exports.h_thread_create(nameIndex, owner, ringSize);
      if (t !== 0) threads.push(t);
      return t;
    },
    h_thread_destroy(thread: number) {
      const rc = exports.h_thread_destroy(thread);
      if (rc === 0) threads.splice(threads.indexOf(thread), 1);
      return rc;
    },
  });
  core.wstor_attach(options.arena ?? CONTROL_ARENA);
  core.wstor_memory_limit(maximumPages);
  core.h_set_reactor(options.reactor ?? -1);
  core.h_clock_set(options.clockUs ?? 1_000_000);
  const view = () => new DataView(memory.buffer);
  const h: Harness = {
    core, memory, reports, events,
    u32: (ptr, index = 0) => view().getUint32(ptr + index * 4, true),
    i32: (ptr, index = 0) => view().getInt32(ptr + index * 4, true),
    setU32: (ptr, value, index = 0) => view().setUint32(ptr + index * 4, value, true),
    scratch(bytes) {
      const p = core.h_alloc(bytes);
      if (p === 0) throw new Error('harness: out of memory');
      new Uint8Array(memory.buffer, p, bytes).fill(0);
      return p;
    },
    pollAll(maxRounds = 10_000) {
      let total = 0;
      for (let round = 0; round < maxRounds; round++) {
        const work = pollRound(core, memory, threads);
        if (work.size === 0) return total;
        for (const n of work.values()) total += n;
        if (round === maxRounds - 1) throw new Error(`harness: pollAll: after ${maxRounds} rounds still busy: ${describe(core, memory, work)}`);
      }
      return total;
    },
    pollUntil(what, done, maxRounds = 100_000) {
      let work = new Map<number, number>();
      for (let round = 0; round < maxRounds; round++) {
        if (done()) return;
        work = pollRound(core, memory, threads);
      }
      if (done()) return;
      const busy = work.size === 0 ? 'every thread idle' : `still busy: ${describe(core, memory, work)}`;
      const errors = h.messages('error').slice(-3);
      throw new Error(`harness: pollUntil: ${what} did not happen in ${maxRounds} rounds (${busy})` +
        (errors.length === 0 ? '' : `; last errors reported: ${errors.join(' | ')}`));
    },
    messages(level = 'debug') {
      const order = ['fatal', 'error', 'warn', 'notice', 'info', 'debug'];
      return reports.filter((r) => order.indexOf(r.level) <= order.indexOf(level)).map((r) => r.message);
    },
  };
  return h;
}

/** One poll of each thread: the work each busy one did (absent: idle). */
function pollRound(core: TestCore, memory: WebAssembly.Memory, threads: readonly number[]): Map<number, number> {
  const work = new Map<number, number>();
  for (const t of [...threads]) {
    const n = core.h_poll(t, 0);
    if (n < 0) throw new Error(`harness: polling thread ${threadLabel(core, memory, t)} failed with ${n}`);
    if (n > 0) work.set(t, n);
  }
  return work;
}

function threadLabel(core: TestCore, memory: WebAssembly.Memory, t: number): string {
  return `${readCoreString(memory, core.h_thread_name(t))}#${core.h_thread_id(t)}`;
}

function describe(core: TestCore, memory: WebAssembly.Memory, work: Map<number, number>): string {
  return [...work].map(([t, n]) => `${threadLabel(core, memory, t)} (${n} units of work in the last round)`).join(', ');
}

/** Run `fn`, expecting the core to trap after a fatal report; returns that report. */
export function expectFatal(h: Harness, fn: () => void): CapturedReport {
  let trapped = false;
  try { fn(); } catch (err) {
    if (!(err instanceof WebAssembly.RuntimeError)) throw err;
    trapped = true;
  }
  if (!trapped) throw new Error('expected the core to trap');
  const fatal = h.reports.find((r) => r.level === 'fatal');
  if (!fatal) throw new Error(`trapped without a fatal report; reports: ${JSON.stringify(h.reports)}`);
  return fatal;
}

/**
 * Take every page of the heap (the harness's memory has a 256 MiB maximum) in blocks of falling size;
 * `room` blocks of 64 KiB are then given back so control paths (messages, walks) still find small blocks
 * while a bounce copy of a MiB still cannot fit. Returns a function that frees the rest.
 */
export function exhaustHeap(h: Harness, room = 0): () => void {
  const large: number[] = [];
  const small: number[] = [];
  const take = (size: number, into: number[]) => { for (let p = h.core.h_alloc(size); p !== 0; p = h.core.h_alloc(size)) into.push(p); };
  take(16 << 20, large);
  take(1 << 20, large);
  take(64 << 10, small);
  if (small.length < room) { h.core.h_free(large.pop()!); take(64 << 10, small); }
  // Every other block, so the room left is `room` separate 64 KiB runs that cannot coalesce into a MiB.
  for (let k = 0; k < room; k++) h.core.h_free(small.splice(small.length - 1 - k, 1)[0]);
  if (h.core.h_alloc((1 << 20) + 4096) !== 0) throw new Error('exhaustHeap: the heap still has room for a MiB');
  return () => { for (const p of [...large.splice(0), ...small.splice(0)]) h.core.h_free(p); };
}

/**
 * After exhaustHeap: also take the free cells left in the slabs of every small size class, so that
 * no allocation at all can succeed. Returns a function that frees them.
 */
export function exhaustSmallBlocks(h: Harness): () => void {
  const taken: number[] = [];
  for (let size = 8192; size >= 16; size -= 16) for (let p = h.core.h_alloc(size); p !== 0; p = h.core.h_alloc(size)) taken.push(p);
  return () => { for (const p of taken.splice(0)) h.core.h_free(p); };
}
