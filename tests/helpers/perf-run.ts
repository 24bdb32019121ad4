// Drive a bdev, or an open blob, with the core's perf jobs (one per reactor) from a test: a verify run
// writes patterns at random offsets and reads each back, counting mismatches.
import type { Engine, BlobHandle } from '../../host/index.js';
import { EVENT_PERF_JOB_DONE } from '../../host/core-abi.js';

type Core = Record<string, (...args: number[]) => number>;
const WORKLOAD = { randread: 0, randwrite: 1, read: 2, write: 3, rw: 4, verify: 5 } as const;
const STAT = { ios: 0, errors: 2, mismatches: 6 } as const;

export interface PerfTotals { ios: number; errors: number; mismatches: number }

/** `target`: a bdev's name, or an open blob (perf_start_blob: the jobs go through blob I/O). */
/** `zcopy`: reads without a buffer of perf's (the bdev lends its own; bdev targets only). */
export async function runPerf(engine: Engine, target: string | BlobHandle, opts: { workload?: keyof typeof WORKLOAD; seconds?: number; queueDepth?: number; ioBytes?: number; zcopy?: boolean } = {}): Promise<PerfTotals> {
  const core = engine.core as unknown as Core;
  const jobs = engine.reactorCount;
  let start: (...args: number[]) => number;
  if (typeof target === 'string') {
    await engine.bdev.waitForExamine();    // examine holds a new bdev's claim for a moment
    const id = engine.bdev.info(target).id;
    start = (...args) => core.perf_start(id, ...args, opts.zcopy ? 1 : 0);
  } else {
    const blob = (target as unknown as { ptr: number }).ptr;
    start = (...args) => core.perf_start_blob(blob, ...args);
  }
  const workload = WORKLOAD[opts.workload ?? 'verify'];
  const done = new Set<number>();
  let run = 0;
  const finished = new Promise<void>((resolve) => {
    const unlisten = engine.onEvent((e) => {
      if (e.kind !== EVENT_PERF_JOB_DONE || e.a !== run) return;
      done.add(e.b);
      if (done.size === jobs) { unlisten(); resolve(); }
    });
  });
  run = start(jobs, workload, workload === WORKLOAD.verify ? 50 : 0, opts.queueDepth ?? 16, opts.ioBytes ?? 4096,
    (opts.seconds ?? 1) * 1000, 7);
  if (run <= 0) throw new Error(`perf start on ${typeof target === 'string' ? target : `blob ${target.id}`} failed: ${run}`);
  await finished;
  const totals: PerfTotals = { ios: 0, errors: 0, mismatches: 0 };
  for (let j = 0; j < jobs; j++) {
    totals.ios += core.perf_stat(run, j, STAT.ios);
    totals.errors += core.perf_stat(run, j, STAT.errors);
    totals.mismatches += core.perf_stat(run, j, STAT.mismatches);
  }
  core.perf_free(run);
  return totals;
}
