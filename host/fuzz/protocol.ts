// Messages between the runner (host/fuzz/runner.ts, main thread) and its workers (worker.ts), and
// the shared block the runner's watchdog reads: which input a worker is running, since when.
import type { MessagePort } from 'node:worker_threads';
import type { Outcome } from './instance.js';

export type WorkerMode = 'fuzz' | 'sequence' | 'minimize';

export interface WorkerInit {
  module: WebAssembly.Module;
  target: string;
  mode: WorkerMode;
  seed: number;
  maxLen: number;
  /** Inputs to run: the starting corpus (fuzz), the inputs in order (sequence), the crash (minimize). */
  inputs: Uint8Array[];
  dictionary: Uint8Array[];
  runs: number;
  /** Date.now() after which the worker stops (Infinity: none). */
  deadlineMs: number;
  mutateDepth: number;
  /** false: coverage is reported but never chooses what to mutate next (-use_counters=0). */
  guided: boolean;
  watch: SharedArrayBuffer;
  /** Inputs other jobs found (fuzz mode). */
  port: MessagePort;
}

export type WorkerReport =
  | { type: 'ready'; sites: number }
  | { type: 'new'; data: Uint8Array; counters: Uint8Array; execs: number }
  | { type: 'stats'; execs: number }
  /** Unguided mode: an input reached new coverage; counted, not kept. */
  | { type: 'coverage'; counters: Uint8Array; execs: number }
  | { type: 'finding'; kind: 'crash' | 'leak'; data: Uint8Array; message: string }
  | { type: 'ran'; index: number; outcome: Outcome; newFeatures: number; ms: number }
  | { type: 'minimized'; data: Uint8Array; message: string }
  | { type: 'done'; execs: number }
  | { type: 'error'; message: string };

/** The watch block: i32 running (0/1), i32 input length, f64 Date.now() at start, then the input. */
export const WATCH_HEADER_BYTES = 16;

export function watchBlock(maxLen: number): SharedArrayBuffer {
  return new SharedArrayBuffer(WATCH_HEADER_BYTES + maxLen);
}

export interface WatchedInput { data: Uint8Array; startedMs: number }

/** The input a worker is in the middle of, or null when it is between inputs. */
export function watchedInput(watch: SharedArrayBuffer): WatchedInput | null {
  const head = new Int32Array(watch, 0, 2);
  if (Atomics.load(head, 0) === 0) return null;
  const len = Atomics.load(head, 1);
  const startedMs = new Float64Array(watch, 8, 1)[0];
  return { data: new Uint8Array(watch, WATCH_HEADER_BYTES, len).slice(), startedMs };
}
