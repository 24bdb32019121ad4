// The bdevperf-like job exports (wstor perf, bench/): start on a bdev or a blob, read counters and
// histograms, stop, free.

import { perfStart, perfStartBlob, perfStop, perfJobsDone, perfStat, perfHist, perfFree, lastPerfRun } from "../perf";
import { HIST_BUCKETS, histBucketStart } from "../runtime";
import { Blob } from "../blob";

/**
 * Run handle (a positive number: the run's address, which may exceed 2^31) or a negative errno.
 * flags: 1 = reads without a buffer (the bdev lends its own: bdevperf's -Z).
 */
export function perf_start(bdevId: u32, reactors: u32, workload: u32, readPercent: u32, queueDepth: u32, ioBytes: u32, durationMs: u32, seed: u32, flags: u32): f64 {
  const rc = perfStart(bdevId, reactors, workload, readPercent, queueDepth, ioBytes, durationMs, seed, flags);
  return rc < 0 ? <f64>rc : <f64>changetype<usize>(lastPerfRun);
}

/** perf_start's jobs against an open blob (its handle) instead of a bdev. */
export function perf_start_blob(blob: usize, reactors: u32, workload: u32, readPercent: u32, queueDepth: u32, ioBytes: u32, durationMs: u32, seed: u32): f64 {
  const rc = perfStartBlob(changetype<Blob>(blob), reactors, workload, readPercent, queueDepth, ioBytes, durationMs, seed);
  return rc < 0 ? <f64>rc : <f64>changetype<usize>(lastPerfRun);
}

export function perf_stop(run: usize): void { perfStop(run); }

export function perf_jobs_done(run: usize): u32 { return perfJobsDone(run); }

export function perf_stat(run: usize, job: u32, field: u32): f64 { return perfStat(run, job, field); }

export function perf_hist(run: usize, job: u32): usize { return perfHist(run, job); }

export function perf_free(run: usize): i32 { return perfFree(run); }

export function hist_buckets(): u32 { return HIST_BUCKETS; }

export function hist_bucket_start(bucket: u32): f64 { return <f64>histBucketStart(bucket); }
