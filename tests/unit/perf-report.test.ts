// wstor perf's numbers and picture: percentiles from a histogram, per-job and total rates and
// latency, failure messages, and the SVG drawn from a histogram. Pure: no engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeFailures, mergeHistograms, percentileNs, perSecond, summarizeJob, summarizeTotal,
  type Histogram, type JobCounters,
} from '../../host/perf/report.js';
import { escapeXml, formatDurationNs, latencyHistogramSvg } from '../../host/perf/svg.js';

// Buckets [0,1µs) [1,2µs) [2,4µs) [4,8µs) [8,16µs) [16µs,∞): 100 I/Os.
const STARTS = [0, 1000, 2000, 4000, 8000, 16000];
const HIST: Histogram = { bucketStartNs: STARTS, counts: [0, 50, 40, 9, 1, 0] };
const EMPTY: Histogram = { bucketStartNs: STARTS, counts: [0, 0, 0, 0, 0, 0] };

function counters(overrides: Partial<JobCounters> = {}): JobCounters {
  return {
    job: 0, reactor: 0, ios: 100, bytes: 100 * 4096, reads: 100, writes: 0, errors: 0,
    latencySumNs: 250_000, latencyMinNs: 1200, latencyMaxNs: 9000, mismatches: 0, firstMismatchOffset: -1,
    elapsedUs: 500_000, ...overrides,
  };
}

test('a percentile is the end of the bucket where the running count reaches its rank', () => {
  assert.equal(percentileNs(HIST, 1, 2), 2000, 'rank 50 is the last I/O of [1,2) µs');
  assert.equal(percentileNs(HIST, 51, 100), 4000, 'rank 51 is the first of [2,4) µs');
  assert.equal(percentileNs(HIST, 90, 100), 4000);
  assert.equal(percentileNs(HIST, 99, 100), 8000);
  assert.equal(percentileNs(HIST, 999, 1000), 16000, 'rank ceil(99.9) = 100');
  assert.equal(percentileNs(HIST, 1, 1), 16000);
  assert.equal(percentileNs(HIST, 999, 1000, 9000), 9000, 'never beyond the largest latency seen');
  assert.equal(percentileNs(HIST, 1, 2, 9000), 2000, 'the cap only lowers a bucket end above it');
});

test('ranks are exact where floating point would round: 29% of 100 and 99.9% of 1000', () => {
  const h: Histogram = { bucketStartNs: [0, 10, 20, 30], counts: [29, 71, 0, 0] };
  assert.equal(percentileNs(h, 29, 100), 10, '0.29 * 100 is 28.999… in floating point; the rank is 29');
  const k: Histogram = { bucketStartNs: [0, 10, 20, 30], counts: [999, 0, 1, 0] };
  assert.equal(percentileNs(k, 999, 1000), 10);
  assert.equal(percentileNs(k, 1, 1), 30);
});

test('the last bucket is open-ended: its percentile is the largest latency seen', () => {
  const h: Histogram = { bucketStartNs: [0, 10, 20], counts: [1, 0, 1] };
  assert.equal(percentileNs(h, 1, 1), Infinity);
  assert.equal(percentileNs(h, 1, 1, 55), 55);
});

test('an empty histogram has every percentile 0; a bad fraction is refused', () => {
  assert.equal(percentileNs(EMPTY, 1, 2), 0);
  assert.equal(percentileNs(EMPTY, 999, 1000), 0);
  assert.throws(() => percentileNs(HIST, 0, 100), /not in \(0, 1\]/);
  assert.throws(() => percentileNs(HIST, 101, 100), /not in \(0, 1\]/);
});

test('histograms merge bucket by bucket and must have the same buckets', () => {
  const merged = mergeHistograms([HIST, { bucketStartNs: STARTS, counts: [1, 0, 0, 0, 0, 2] }]);
  assert.deepEqual(merged.counts, [1, 50, 40, 9, 1, 2]);
  assert.deepEqual(merged.bucketStartNs, STARTS);
  assert.throws(() => mergeHistograms([HIST, { bucketStartNs: [0], counts: [1] }]), /differ in size/);
  assert.throws(() => mergeHistograms([]), /at least one/);
});

test('a job: IOPS and MiB/s over its own elapsed time, latency in µs', () => {
  const s = summarizeJob(counters({ job: 3, reactor: 2 }), HIST);
  assert.equal(s.job, 3);
  assert.equal(s.reactor, 2);
  assert.equal(s.ios, 100);
  assert.equal(s.iops, 200, '100 I/Os in 0.5 s');
  assert.equal(s.mibps, 0.78, '409600 B in 0.5 s = 0.78125 MiB/s, to 2 places');
  assert.deepEqual(s.latencyUs, { avg: 2.5, min: 1.2, max: 9, p50: 2, p99: 8, p999: 9 });
  assert.equal(s.seconds, 0.5);
  assert.equal(s.firstMismatchOffset, null);
  assert.equal(perSecond(3, 0), 0, 'nothing ran: no rate, no division by zero');
});

test('a job that completed nothing reports zeros', () => {
  const s = summarizeJob(counters({ ios: 0, bytes: 0, reads: 0, latencySumNs: 0, latencyMinNs: 0, latencyMaxNs: 0, elapsedUs: 0 }), EMPTY);
  assert.deepEqual(s.latencyUs, { avg: 0, min: 0, max: 0, p50: 0, p99: 0, p999: 0 });
  assert.equal(s.iops, 0);
  assert.equal(s.mibps, 0);
});

test('the total adds the jobs\' rates and takes latency over every I/O', () => {
  const a = counters({ job: 0, reactor: 0 });
  const b = counters({ job: 1, reactor: 1, ios: 300, bytes: 300 * 4096, reads: 200, writes: 100, latencySumNs: 1_500_000,
    latencyMinNs: 800, latencyMaxNs: 20_000, elapsedUs: 1_000_000, errors: 2, mismatches: 1, firstMismatchOffset: 8192 });
  const hb: Histogram = { bucketStartNs: STARTS, counts: [100, 100, 0, 0, 0, 100] };
  const t = summarizeTotal([a, b], mergeHistograms([HIST, hb]));
  assert.equal(t.ios, 400);
  assert.equal(t.iops, 500, '200 + 300 IOPS');
  assert.equal(t.mibps, 1.95, '0.78125 + 1.171875 MiB/s');
  assert.equal(t.latencyUs.avg, 4.375, '1.75 ms of latency over 400 I/Os');
  assert.equal(t.latencyUs.min, 0.8);
  assert.equal(t.latencyUs.max, 20);
  // Merged counts [100, 150, 40, 9, 1, 100]: rank 200 falls in [1,2) µs, 396 and 400 in the open bucket.
  assert.equal(t.latencyUs.p50, 2);
  assert.equal(t.latencyUs.p99, 20);
  assert.equal(t.latencyUs.p999, 20);
  assert.deepEqual([t.errors, t.mismatches, t.reads, t.writes, t.seconds], [2, 1, 300, 100, 1]);
  const idle = counters({ job: 2, ios: 0, latencyMinNs: 0, latencyMaxNs: 0, latencySumNs: 0 });
  assert.equal(summarizeTotal([a, idle], HIST).latencyUs.min, 1.2, 'a job with no I/O does not pull the minimum to 0');
});

test('failures name the job, the count and the first mismatching offset', () => {
  const jobs = [
    summarizeJob(counters(), HIST),
    summarizeJob(counters({ job: 1, reactor: 1, mismatches: 3, firstMismatchOffset: 1_052_672 }), HIST),
    summarizeJob(counters({ job: 2, reactor: 2, errors: 4 }), HIST),
  ];
  assert.deepEqual(describeFailures(jobs), [
    'verify failed: job 1 (reactor 1) read back data that differs from what it wrote: 3 mismatch(es), first at byte offset 1052672 (0x101000)',
    'job 2 (reactor 2): 4 I/O error(s)',
  ]);
  assert.deepEqual(describeFailures([jobs[0]]), []);
});

test('durations are labelled with their unit', () => {
  assert.equal(formatDurationNs(850), '850 ns');
  assert.equal(formatDurationNs(999.7), '1 µs');
  assert.equal(formatDurationNs(12_345), '12.3 µs');
  assert.equal(formatDurationNs(1_500_000), '1.5 ms');
  assert.equal(formatDurationNs(2e9), '2 s');
  assert.equal(escapeXml(`a<b & "c"`), 'a&lt;b &amp; &quot;c&quot;');
});

test('the SVG has a bar per occupied bucket, a labelled log axis, and the percentiles marked', () => {
  const svg = latencyHistogramSvg({
    title: 'randread on file:/tmp/<x>&y', subtitle: '100 I/Os', hist: HIST,
    markers: [{ label: 'p50', ns: 2000 }, { label: 'p99', ns: 8000 }, { label: 'p99.9', ns: 9000 }],
  });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.match(svg, /file:\/tmp\/&lt;x&gt;&amp;y/, 'the title is escaped');
  assert.equal(svg.match(/<rect [^>]*fill="#4a7ab5"/g)?.length, 4, 'one bar per non-empty bucket');
  for (const label of ['p50', 'p99', 'p99.9']) assert.match(svg, new RegExp(`data-percentile="${label.replace('.', '\\.')}"`));
  assert.match(svg, />p99\.9 9 µs</);
  assert.match(svg, />\d+ µs</, 'the time axis is labelled in µs');
  assert.match(svg, /latency \(log scale\)/);
  // Well-formed enough for any renderer: every element opened is closed.
  for (const tag of ['g', 'rect', 'text']) {
    const opened = (svg.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length;
    const closed = (svg.match(new RegExp(`</${tag}>|<${tag} [^>]*/>`, 'g')) ?? []).length;
    assert.equal(opened, closed, `<${tag}> balanced`);
  }
});

test('an empty histogram still gives a valid SVG that says so', () => {
  const svg = latencyHistogramSvg({ title: 't', subtitle: 's', hist: EMPTY, markers: [] });
  assert.ok(svg.startsWith('<svg'));
  assert.match(svg, /no I\/O completed/);
});
