// A fuzz worker thread: one FuzzInstance, running inputs for the runner. Fuzz mode: the coverage-
// guided loop (pick a corpus input, mutate, run, keep it if it reached a new feature). Sequence mode:
// given inputs in order (replay, merge). Minimize mode: smaller inputs that still crash. Before each
// input it publishes the input in the watch block, so a hang can be caught and saved by the runner.
import { parentPort, workerData, receiveMessageOnPort } from 'node:worker_threads';
import { FuzzInstance, type Outcome } from './instance.js';
import { CoverageMap } from './coverage.js';
import { FuzzRng } from './rng.js';
import { mutateInput } from './mutate.js';
import { fuzzTarget, type FuzzTarget } from './targets.js';
import { WATCH_HEADER_BYTES, type WorkerInit, type WorkerReport } from './protocol.js';

const STATS_EVERY_MS = 250;
const PORT_CHECK_EVERY = 256;
/** Tries of one minimize pass with no smaller crash before it gives up. */
const MINIMIZE_STALE_MAX = 2000;

const init = workerData as WorkerInit;
const post = (m: WorkerReport) => parentPort!.postMessage(m);

class Runner {
  execs = 0;
  private readonly head: Int32Array;
  private readonly started: Float64Array;
  private readonly bytes: Uint8Array;

  constructor(readonly instance: FuzzInstance, watch: SharedArrayBuffer) {
    this.head = new Int32Array(watch, 0, 2);
    this.started = new Float64Array(watch, 8, 1);
    this.bytes = new Uint8Array(watch, WATCH_HEADER_BYTES);
  }

  run(data: Uint8Array): Outcome {
    this.bytes.set(data);
    Atomics.store(this.head, 1, data.length);
    this.started[0] = Date.now();
    Atomics.store(this.head, 0, 1);
    const outcome = this.instance.run(data);
    Atomics.store(this.head, 0, 0);
    this.execs++;
    return outcome;
  }
}

function fuzz(r: Runner, target: FuzzTarget): void {
  const coverage = new CoverageMap(r.instance.sites);
  const corpus: Uint8Array[] = [];
  const rng = new FuzzRng(init.seed);
  /** Run one input; keep it if it reaches new coverage (guided), or if it is a starting input (unguided: -use_counters=0). */
  const consider = (data: Uint8Array, starting: boolean): void => {
    const outcome = r.run(data);
    if (outcome.kind !== 'ok') { post({ type: 'finding', kind: outcome.kind, data, message: outcome.message }); return; }
    const counters = r.instance.counters();
    const isNew = coverage.wouldAdd(counters);
    if (isNew) coverage.add(counters);
    const keep = init.guided ? isNew || corpus.length === 0 : starting;
    if (keep) {
      corpus.push(data);
      post({ type: 'new', data, counters: counters.slice(), execs: r.execs });
    } else if (isNew) post({ type: 'coverage', counters: counters.slice(), execs: r.execs });
  };
  for (const data of init.inputs) consider(data.subarray(0, init.maxLen), true);
  if (corpus.length === 0) consider(new Uint8Array(0), true);
  post({ type: 'stats', execs: r.execs });   // the starting corpus is in: the runner says INITED
  const ctx = { rng, maxLen: init.maxLen, other: () => rng.choose(corpus) };
  let lastStats = Date.now();
  while (r.execs < init.runs) {
    if (r.execs % PORT_CHECK_EVERY === 0) {
      const now = Date.now();
      if (now >= init.deadlineMs) break;
      for (let m = receiveMessageOnPort(init.port); m; m = receiveMessageOnPort(init.port)) consider(m.message as Uint8Array, false);
      if (now - lastStats >= STATS_EVERY_MS) { post({ type: 'stats', execs: r.execs }); lastStats = now; }
    }
    consider(mutateInput(rng.choose(corpus), target, ctx, init.dictionary, init.mutateDepth), false);
  }
}

function sequence(r: Runner): void {
  const coverage = new CoverageMap(r.instance.sites);
  init.inputs.forEach((data, index) => {
    const t0 = performance.now();
    const outcome = r.run(data);
    const newFeatures = outcome.kind === 'ok' ? coverage.add(r.instance.counters()) : 0;
    post({ type: 'ran', index, outcome, newFeatures, ms: performance.now() - t0 });
  });
}

/** Smaller and simpler inputs that still crash: erase runs, truncate, zero bytes; keep what crashes. */
function minimize(r: Runner): void {
  const rng = new FuzzRng(init.seed);
  let best = init.inputs[0];
  const first = r.run(best);
  if (first.kind !== 'crash') { post({ type: 'error', message: `the input does not crash (${first.kind}): nothing to minimize` }); return; }
  let message = first.message;
  let stale = 0;
  while (r.execs < init.runs && Date.now() < init.deadlineMs && stale < MINIMIZE_STALE_MAX && best.length > 0) {
    const n = 1 + rng.int(Math.max(1, best.length >> (1 + rng.int(6))));
    const at = rng.int(best.length - Math.min(n, best.length) + 1);
    let candidate: Uint8Array;
    if (rng.oneIn(3)) {
      candidate = best.slice();
      const i = rng.int(best.length);
      if (candidate[i] === 0) { stale++; continue; }
      candidate[i] = 0;
    } else {
      candidate = new Uint8Array(best.length - Math.min(n, best.length));
      candidate.set(best.subarray(0, at));
      candidate.set(best.subarray(at + n), at);
    }
    const outcome = r.run(candidate);
    if (outcome.kind === 'crash') { best = candidate; message = outcome.message; stale = 0; post({ type: 'minimized', data: best, message }); } else stale++;
  }
}

try {
  const target = fuzzTarget(init.target);
  if (!target) throw new Error(`no fuzz target ${init.target}`);
  const cap = Math.max(init.maxLen, ...init.inputs.map((i) => i.length));
  const instance = await FuzzInstance.create(init.module, target, cap);
  post({ type: 'ready', sites: instance.sites });
  const r = new Runner(instance, init.watch);
  if (init.mode === 'fuzz') fuzz(r, target);
  else if (init.mode === 'sequence') sequence(r);
  else minimize(r);
  post({ type: 'done', execs: r.execs });
} catch (err) {
  post({ type: 'error', message: (err as Error).stack ?? String(err) });
}
