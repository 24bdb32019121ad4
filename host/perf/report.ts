// The numbers of a `wstor perf` report: percentiles from the core's log-linear latency histogram, and
// per-job and total IOPS, bandwidth and latency from the jobs' counters. Pure: no engine, no I/O.

/** A latency histogram: bucket i counts latencies in [bucketStartNs[i], bucketStartNs[i + 1]). */
export interface Histogram {
  bucketStartNs: readonly number[];
  counts: readonly number[];
}

/** What the core counts for one job (perf_stat), in its units. */
export interface JobCounters {
  job: number;
  reactor: number;
  ios: number;
  bytes: number;
  reads: number;
  writes: number;
  errors: number;
  latencySumNs: number;
  latencyMinNs: number;
  latencyMaxNs: number;
  mismatches: number;
  /** Byte offset of the first verify mismatch, or -1 if there was none. */
  firstMismatchOffset: number;
  /** First submit to last completion. */
  elapsedUs: number;
}

export interface LatencyUs {
  avg: number;
  min: number;
  max: number;
  p50: number;
  p99: number;
  p999: number;
}

export interface TotalSummary {
  ios: number;
  iops: number;
  mibps: number;
  latencyUs: LatencyUs;
  errors: number;
  mismatches: number;
  reads: number;
  writes: number;
  seconds: number;
}

export interface JobSummary extends TotalSummary {
  job: number;
  reactor: number;
  firstMismatchOffset: number | null;
}

/** The reported percentiles as exact fractions, so ranks need no floating-point rounding. */
export const PERCENTILES = [
  { key: 'p50', label: 'p50', numerator: 1, denominator: 2 },
  { key: 'p99', label: 'p99', numerator: 99, denominator: 100 },
  { key: 'p999', label: 'p99.9', numerator: 999, denominator: 1000 },
] as const;

const MIB = 1024 * 1024;

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function histogramTotal(h: Histogram): number {
  let total = 0;
  for (const c of h.counts) total += c;
  return total;
}

/** End of bucket i: the next bucket's start; the last bucket is open-ended. */
export function bucketEndNs(h: Histogram, i: number): number {
  return i + 1 < h.bucketStartNs.length ? h.bucketStartNs[i + 1] : Infinity;
}

/**
 * The latency below which numerator/denominator of the I/Os completed, as SPDK's bdevperf reports it:
 * the end of the first bucket where the running count reaches that rank, capped at the largest latency
 * seen (a bucket's end can lie beyond every value in it). 0 for an empty histogram.
 */
export function percentileNs(h: Histogram, numerator: number, denominator: number, maxNs = Infinity): number {
  if (!(numerator > 0 && numerator <= denominator)) throw new RangeError(`percentile ${numerator}/${denominator} is not in (0, 1]`);
  const total = histogramTotal(h);
  if (total === 0) return 0;
  const rank = Math.ceil((total * numerator) / denominator);
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i];
    if (seen >= rank) return Math.min(bucketEndNs(h, i), maxNs);
  }
  throw new Error(`histogram counts changed while reading them (rank ${rank} of ${total})`);
}

/** Bucket-by-bucket sum. Every histogram must have the same buckets. */
export function mergeHistograms(hs: readonly Histogram[]): Histogram {
  if (hs.length === 0) throw new RangeError('mergeHistograms needs at least one histogram');
  const starts = hs[0].bucketStartNs;
  const counts = new Array<number>(starts.length).fill(0);
  for (const h of hs) {
    if (h.counts.length !== starts.length) throw new RangeError(`histograms differ in size (${h.counts.length} and ${starts.length} buckets)`);
    for (let i = 0; i < counts.length; i++) counts[i] += h.counts[i];
  }
  return { bucketStartNs: starts, counts };
}

/** Operations (or bytes) per second over elapsedUs; 0 when nothing ran. */
export function perSecond(count: number, elapsedUs: number): number {
  return elapsedUs > 0 ? (count * 1e6) / elapsedUs : 0;
}

function latencyUs(h: Histogram, ios: number, sumNs: number, minNs: number, maxNs: number): LatencyUs {
  if (ios === 0) return { avg: 0, min: 0, max: 0, p50: 0, p99: 0, p999: 0 };
  const us = (ns: number) => round(ns / 1000, 3);
  const [p50, p99, p999] = PERCENTILES.map((p) => us(percentileNs(h, p.numerator, p.denominator, maxNs)));
  return { avg: us(sumNs / ios), min: us(minNs), max: us(maxNs), p50, p99, p999 };
}

export function summarizeJob(c: JobCounters, h: Histogram): JobSummary {
  return {
    job: c.job,
    reactor: c.reactor,
    ios: c.ios,
    iops: round(perSecond(c.ios, c.elapsedUs), 2),
    mibps: round(perSecond(c.bytes, c.elapsedUs) / MIB, 2),
    latencyUs: latencyUs(h, c.ios, c.latencySumNs, c.latencyMinNs, c.latencyMaxNs),
    errors: c.errors,
    mismatches: c.mismatches,
    reads: c.reads,
    writes: c.writes,
    seconds: round(c.elapsedUs / 1e6, 3),
    firstMismatchOffset: c.firstMismatchOffset >= 0 ? c.firstMismatchOffset : null,
  };
}

/**
 * All jobs together, as bdevperf's Total line: rates add up (each job over its own time), latency
 * is over every I/O, and the percentiles come from the merged histogram `h`.
 */
export function summarizeTotal(jobs: readonly JobCounters[], h: Histogram): TotalSummary {
  let ios = 0, sumNs = 0, minNs = Infinity, maxNs = 0, iops = 0, bytesPerSecond = 0;
  let errors = 0, mismatches = 0, reads = 0, writes = 0, elapsedUs = 0;
  for (const c of jobs) {
    ios += c.ios;
    sumNs += c.latencySumNs;
    if (c.ios > 0) { minNs = Math.min(minNs, c.latencyMinNs); maxNs = Math.max(maxNs, c.latencyMaxNs); }
    iops += perSecond(c.ios, c.elapsedUs);
    bytesPerSecond += perSecond(c.bytes, c.elapsedUs);
    errors += c.errors;
    mismatches += c.mismatches;
    reads += c.reads;
    writes += c.writes;
    elapsedUs = Math.max(elapsedUs, c.elapsedUs);
  }
  return {
    ios,
    iops: round(iops, 2),
    mibps: round(bytesPerSecond / MIB, 2),
    latencyUs: latencyUs(h, ios, sumNs, minNs, maxNs),
    errors,
    mismatches,
    reads,
    writes,
    seconds: round(elapsedUs / 1e6, 3),
  };
}

/** Why a run failed, one line per cause (empty when it passed): I/O errors, and each job's first mismatch. */
export function describeFailures(jobs: readonly JobSummary[]): string[] {
  const lines: string[] = [];
  for (const j of jobs) {
    if (j.mismatches > 0) {
      const at = j.firstMismatchOffset === null ? 'at an unknown offset'
        : `first at byte offset ${j.firstMismatchOffset} (0x${j.firstMismatchOffset.toString(16)})`;
      lines.push(`verify failed: job ${j.job} (reactor ${j.reactor}) read back data that differs from what it wrote: ${j.mismatches} mismatch(es), ${at}`);
    }
  }
  for (const j of jobs) {
    if (j.errors > 0) lines.push(`job ${j.job} (reactor ${j.reactor}): ${j.errors} I/O error(s)`);
  }
  return lines;
}
