// `wstor perf` (SPDK's bdevperf): one job per reactor drives a bdev at a fixed queue depth for a set
// time; progress each second on stderr, then IOPS, bandwidth and latency percentiles per job and total.
import fs from 'node:fs';
import path from 'node:path';
import '../platform-node.js';        // Node is the default platform of the engine it starts
import { Engine } from '../engine.js';
import { EVENT_PERF_JOB_DONE, MAX_REACTORS, type CoreExports } from '../core-abi.js';
import { WstorError } from '../errors.js';
import { UsageError, parseFlags, usageText, type FlagSpec } from './args.js';
import {
  MEMORY_HEADROOM_BYTES, MEMORY_MAX_BYTES, bdevSizeBytes, createBdev, memoryNeededBytes, parseBdevSpec, parseBytes,
  type BdevSpec, type OpenedBdev,
} from '../perf/bdev-spec.js';
import {
  PERCENTILES, describeFailures, mergeHistograms, percentileNs, summarizeJob, summarizeTotal, perSecond,
  type Histogram, type JobCounters, type JobSummary, type TotalSummary,
} from '../perf/report.js';
import { formatDurationNs, latencyHistogramSvg } from '../perf/svg.js';

/** perf_start's flag for reads without a buffer (assembly/perf: PERF_LENT_READS). */
const PERF_LENT_READS = 1;

/** perf_stat fields, in the core's order. */
const STAT = {
  ios: 0, bytes: 1, errors: 2, latencySumNs: 3, latencyMinNs: 4, latencyMaxNs: 5, mismatches: 6,
  firstMismatchOffset: 7, done: 8, reads: 9, writes: 10, elapsedUs: 11, reactor: 12,
} as const;

/** Workload names in the core's numbering (perf_start's `workload`), and the share of reads each does. */
const WORKLOADS = {
  randread: { code: 0, readPercent: 100, writes: false },
  randwrite: { code: 1, readPercent: 0, writes: true },
  read: { code: 2, readPercent: 100, writes: false },
  write: { code: 3, readPercent: 0, writes: true },
  rw: { code: 4, readPercent: 50, writes: true },
  verify: { code: 5, readPercent: 50, writes: true },     // every block is written, then read back
} as const;
type WorkloadName = keyof typeof WORKLOADS;

const PROGRESS_INTERVAL_MS = 1000;
/** After the set time, how long jobs get to drain before perf_stop, and then before giving up. */
const DRAIN_GRACE_MS = 10_000;
const MAX_SECONDS = 7 * 24 * 3600;
/** The core's bound on I/Os in flight per job (assembly/perf: perfStart). */
const MAX_QUEUE_DEPTH = 4096;
/** The smallest shared memory an engine accepts (Engine.start). */
const ENGINE_MIN_MEMORY_BYTES = 8 << 20;
/** --blob: the blobstore's cluster size, and the least bdev it is worth making one on. */
const BLOB_CLUSTER_BYTES = 1 << 20;
const BLOB_MIN_BDEV_BYTES = 16 << 20;

const SPECS: FlagSpec[] = [
  { name: 'bdev', short: 'b', kind: 'string', help: 'target: null:SIZE[:BLOCK], malloc:SIZE[:BLOCK] or file:PATH[:direct|:mmap]' },
  { name: 'blob', kind: 'string', help: 'run the jobs through blob I/O on one blob filling the bdev (a new blobstore, 1 MiB clusters, on it): thick or thin' },
  { name: 'zcopy', short: 'Z', kind: 'boolean', help: 'reads take the bdev\'s own buffer, as bdevperf -Z: no copy at all on null, malloc and mapped files; other bdevs read into a buffer of the bdev layer\'s' },
  { name: 'workload', short: 'w', kind: 'string', help: 'randread, randwrite, read, write, rw or verify', default: 'randread' },
  { name: 'rwmixread', short: 'M', kind: 'integer', help: 'with -w rw: percentage of reads, 0 to 100 (default 50)' },
  { name: 'queue-depth', short: 'q', kind: 'integer', help: 'I/Os in flight per job', default: 128 },
  { name: 'io-size', short: 'o', kind: 'string', help: 'bytes per I/O (4096, 4k, 128KiB), a multiple of the block size', default: '4096' },
  { name: 'time', short: 't', kind: 'integer', help: 'seconds to run', default: 10 },
  { name: 'reactors', short: 'r', kind: 'integer', help: `reactors, one job on each (at most ${MAX_REACTORS})`, default: 1 },
  { name: 'json', kind: 'boolean', help: 'print the report as one JSON object on stdout (progress stays on stderr)' },
  { name: 'histogram', kind: 'string', help: 'write the total latency histogram as an SVG to this file' },
  { name: 'mem', kind: 'string', help: 'shared memory size (default: the bdev, the I/O buffers and 64 MiB of headroom)' },
  { name: 'seed', kind: 'integer', help: 'seed of the random offsets', default: 1 },
  { name: 'sleep', kind: 'string', help: 'where idle reactors sleep: kernel (in io_uring, the default) or doorbell (Atomics.wait)', default: 'kernel' },
  { name: 'idle-spin-us', kind: 'integer', help: 'µs a reactor with nothing to do polls before it sleeps (the engine\'s default: 100)' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
];

export const perfUsage = usageText('perf --bdev BDEV [options]',
  'Measures a bdev as SPDK\'s bdevperf does: one job per reactor keeps --queue-depth I/Os of --io-size\n' +
  'bytes in flight for --time seconds, prints IOPS and MiB/s each second, then per-job and total IOPS,\n' +
  'MiB/s and latency (avg, min, max, p50, p99, p99.9). -w verify writes a pattern, reads it back, and\n' +
  'fails with the first mismatching offset. Ctrl-C stops the jobs and prints what they did so far.\n' +
  'Examples: wstor perf --bdev null:1GiB -q 128 -o 4k -t 10 -r 2\n' +
  '          wstor perf --bdev file:/dev/nvme0n1:direct -w rw -M 70 --json\n' +
  '          wstor perf --bdev malloc:1GiB --blob thick -w randread   (the blob layer\'s cost: compare without --blob)\n' +
  '          wstor perf --bdev null:1GiB -Z   (the bdev layer alone: the null bdev lends its zeroes, as in SPDK)', SPECS);

interface PerfOptions {
  bdev: BdevSpec;
  /** Through a blob filling the bdev (thick or thin), or on the bdev itself (null). */
  blob: 'thick' | 'thin' | null;
  /** Reads without a buffer of perf's: the bdev lends its own (perf_start flag 1). */
  zcopy: boolean;
  workload: WorkloadName;
  readPercent: number;
  queueDepth: number;
  ioBytes: number;
  seconds: number;
  reactors: number;
  json: boolean;
  histogramPath: string | null;
  memoryBytes: number;
  seed: number;
  sleep: 'kernel' | 'doorbell';
  idleSpinUs?: number;
}

/** A string flag whose "value" is the next option means its value was left out. */
function stringFlag(flags: Record<string, unknown>, name: string): string | undefined {
  const value = flags[name] as string | undefined;
  if (value !== undefined && /^--?[A-Za-z]/.test(value)) throw new UsageError(`option --${name} needs a value (got the option "${value}")`);
  return value;
}

function parseWorkload(flags: Record<string, unknown>): { workload: WorkloadName; readPercent: number } {
  const name = stringFlag(flags, 'workload') as string;
  if (!Object.hasOwn(WORKLOADS, name)) {
    throw new UsageError(`unknown workload "${name}" for -w (use ${Object.keys(WORKLOADS).join(', ')})`);
  }
  const workload = name as WorkloadName;
  const mix = flags.rwmixread as number | undefined;
  if (mix === undefined) return { workload, readPercent: WORKLOADS[workload].readPercent };
  if (workload !== 'rw') throw new UsageError(`-M (read percentage) applies only to -w rw (got -w ${workload})`);
  if (mix > 100) throw new UsageError(`-M (read percentage) must be from 0 to 100 (got ${mix})`);
  return { workload, readPercent: mix };
}

function checkRange(value: number, min: number, max: number, what: string): number {
  if (value < min || value > max) throw new UsageError(`${what} must be from ${min} to ${max} (got ${value})`);
  return value;
}

/** Everything is checked here, before an engine starts; null means --help. */
export function parsePerfArgs(argv: string[]): PerfOptions | null {
  const { flags, rest } = parseFlags(argv, SPECS);
  if (flags.help) return null;
  for (const spec of SPECS) if (spec.kind === 'string') stringFlag(flags, spec.name);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const bdevText = stringFlag(flags, 'bdev');
  if (bdevText === undefined) throw new UsageError('--bdev is required (e.g. --bdev null:1GiB)');
  const bdev = parseBdevSpec(bdevText);
  const blobText = stringFlag(flags, 'blob');
  if (blobText !== undefined && blobText !== 'thick' && blobText !== 'thin') throw new UsageError(`--blob must be thick or thin (got "${blobText}")`);
  const blob = blobText ?? null;
  if (blob !== null && bdevSizeBytes(bdev) < BLOB_MIN_BDEV_BYTES) {
    throw new UsageError(`--blob needs a bdev of at least ${BLOB_MIN_BDEV_BYTES >> 20} MiB (its metadata and some 1 MiB clusters); got ${bdevSizeBytes(bdev)} bytes`);
  }
  const zcopy = flags.zcopy === true;
  if (zcopy && blob !== null) throw new UsageError('-Z (zero-copy reads) works on a bdev, not through --blob');
  const { workload, readPercent } = parseWorkload(flags);
  const queueDepth = checkRange(flags['queue-depth'] as number, 1, MAX_QUEUE_DEPTH, '-q (queue depth)');
  const seconds = checkRange(flags.time as number, 1, MAX_SECONDS, '-t (seconds)');
  const reactors = checkRange(flags.reactors as number, 1, MAX_REACTORS, '-r (reactors)');
  const ioBytes = parseBytes(stringFlag(flags, 'io-size') as string, '-o (I/O size)');
  if (ioBytes % bdev.blockSizeBytes !== 0) {
    throw new UsageError(`-o (I/O size) ${ioBytes} is not a multiple of the bdev's block size ${bdev.blockSizeBytes}`);
  }
  // Each job works on its own share of the bdev, at least one I/O long.
  if (Math.floor(bdevSizeBytes(bdev) / ioBytes) < reactors) {
    throw new UsageError(`the bdev (${bdevSizeBytes(bdev)} bytes) is too small for ${reactors} job(s) of ${ioBytes}-byte I/Os ` +
      '(each job needs its own share)');
  }
  const need = { queueDepth, ioBytes, reactors, buffersPerIo: workload === 'verify' ? 2 : 1 };
  const memText = stringFlag(flags, 'mem');
  const memoryBytes = memText === undefined ? memoryNeededBytes(bdev, need) : parseBytes(memText, '--mem');
  const floor = memoryNeededBytes(bdev, need) - MEMORY_HEADROOM_BYTES + ENGINE_MIN_MEMORY_BYTES;
  if (memoryBytes < floor) throw new UsageError(`--mem ${memText}: this run needs at least ${floor >> 20} MiB (bdev data and I/O buffers)`);
  if (memoryBytes > MEMORY_MAX_BYTES) {
    throw new UsageError(`this run needs ${Math.ceil(memoryBytes / (1 << 20))} MiB of shared memory, more than the 4 GiB limit ` +
      '(use a smaller bdev, -q, -o or -r)');
  }
  const histogramPath = stringFlag(flags, 'histogram') ?? null;
  if (histogramPath !== null && !fs.existsSync(path.dirname(path.resolve(histogramPath)))) {
    throw new UsageError(`--histogram ${histogramPath}: directory ${path.dirname(path.resolve(histogramPath))} does not exist`);
  }
  const sleep = stringFlag(flags, 'sleep');
  if (sleep !== 'kernel' && sleep !== 'doorbell') throw new UsageError(`--sleep must be kernel or doorbell (got "${sleep}")`);
  const idleSpinUs = flags['idle-spin-us'] as number | undefined;
  if (idleSpinUs !== undefined) checkRange(idleSpinUs, 0, 1_000_000, '--idle-spin-us');
  return { bdev, blob, zcopy, workload, readPercent, queueDepth, ioBytes, seconds, reactors, json: flags.json === true,
    histogramPath, memoryBytes, seed: flags.seed as number, sleep, idleSpinUs };
}

type PerfExports = CoreExports;   // the perf_* and hist_* exports

interface RunResult {
  counters: JobCounters[];
  hists: Histogram[];
  interrupted: boolean;
}

export async function perfCommand(argv: string[]): Promise<number> {
  const opts = parsePerfArgs(argv);
  if (opts === null) { process.stdout.write(perfUsage); return 0; }
  const engine = await Engine.start({ reactors: opts.reactors, memoryBytes: opts.memoryBytes, sleep: opts.sleep, idleSpinUs: opts.idleSpinUs });
  let bdev: OpenedBdev | null = null;
  let result: RunResult | null = null;
  let failure: unknown = null;
  try {
    const core = engine.core;
    bdev = createBdev(engine, opts.bdev);
    const bdevId = bdev.id;
    if (opts.blob === null) {
      const flags = opts.zcopy ? PERF_LENT_READS : 0;
      result = await runJobs(engine, core, (...args) => core.perf_start(bdevId, ...args, flags), opts);
    } else {
      result = await onNewBlob(engine, bdev.name, opts.blob === 'thin',
        (blobPtr) => runJobs(engine, core, (...args) => core.perf_start_blob(blobPtr, ...args), opts));
    }
  } catch (err) {
    failure = err;
  }
  // Delete the bdev (which closes a file's descriptor), then stop; a failure in the run wins.
  if (bdev !== null && !engine.error) {
    try { await engine.bdev.delete(bdev.name); } catch (err) { failure ??= err; }
  }
  try { await engine.stop(); } catch (err) { failure ??= err; }
  if (failure !== null || result === null) throw failure;
  return finish(opts, result);
}

function readCounters(core: PerfExports, run: number, job: number): JobCounters {
  const stat = (field: number) => core.perf_stat(run, job, field);
  return {
    job, reactor: stat(STAT.reactor), ios: stat(STAT.ios), bytes: stat(STAT.bytes), reads: stat(STAT.reads),
    writes: stat(STAT.writes), errors: stat(STAT.errors), latencySumNs: stat(STAT.latencySumNs),
    latencyMinNs: stat(STAT.latencyMinNs), latencyMaxNs: stat(STAT.latencyMaxNs), mismatches: stat(STAT.mismatches),
    firstMismatchOffset: stat(STAT.firstMismatchOffset), elapsedUs: stat(STAT.elapsedUs),
  };
}

function readHistogram(core: PerfExports, memory: WebAssembly.Memory, run: number, job: number, bucketStartNs: number[]): Histogram {
  const ptr = core.perf_hist(run, job) >>> 0;           // a usize comes back as a signed i32
  const bytes = bucketStartNs.length * 8;
  const buffer = memory.buffer;
  if (ptr === 0 || ptr + bytes > buffer.byteLength) throw new WstorError('EFAULT', `perf_hist(${run}, ${job}) returned a bad pointer ${ptr}`);
  const view = new DataView(buffer, ptr, bytes);
  const counts = bucketStartNs.map((_, i) => Number(view.getBigUint64(i * 8, true)));
  return { bucketStartNs, counts };
}

/**
 * --blob: a blobstore on the bdev and one blob filling it, open while `run` uses it (its core pointer);
 * closed and the store unloaded after, whatever `run` did.
 */
async function onNewBlob(engine: Engine, bdevName: string, thin: boolean, run: (blobPtr: number) => Promise<RunResult>): Promise<RunResult> {
  const store = await engine.blobstore.init(bdevName, { clusterSize: BLOB_CLUSTER_BYTES });
  try {
    const blob = await store.open(await store.create({ size: store.freeClusters * BLOB_CLUSTER_BYTES, thin }));
    try {
      return await run((blob as unknown as { ptr: number }).ptr);
    } finally {
      await blob.close();
    }
  } finally {
    await store.unload();
  }
}

/** What the jobs run on, for the report: the bdev, or a blob on it. */
function targetText(opts: PerfOptions): string {
  if (opts.blob !== null) return `a ${opts.blob} blob on ${opts.bdev.text}`;
  return opts.zcopy ? `${opts.bdev.text} (zero-copy reads)` : opts.bdev.text;
}

type StartRun = (reactors: number, workload: number, readPercent: number, queueDepth: number, ioBytes: number,
  durationMs: number, seed: number) => number;

/** Start the run, report progress each second until every job is done, then collect what they counted. */
async function runJobs(engine: Engine, core: PerfExports, start: StartRun, opts: PerfOptions): Promise<RunResult> {
  const jobs = engine.reactorCount;
  const done = new Set<number>();
  let run = 0;
  let wake: (() => void) | null = null;
  const unlisten = engine.onEvent((e) => {
    if (e.kind !== EVENT_PERF_JOB_DONE || e.a !== run) return;
    done.add(e.b);
    if (done.size === jobs) wake?.();
  });
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    process.stderr.write('\ninterrupted: stopping the jobs (Ctrl-C again to quit at once)\n');
    core.perf_stop(run);
  };
  try {
    run = start(jobs, WORKLOADS[opts.workload].code, opts.readPercent, opts.queueDepth, opts.ioBytes, opts.seconds * 1000, opts.seed);
    if (run <= 0) throw WstorError.fromErrno(run < 0 ? run : -22, `starting ${opts.workload} on ${targetText(opts)}`);
    process.once('SIGINT', onSigint);
    const allDone = () => done.size === jobs || core.perf_jobs_done(run) === jobs;
    const startedMs = performance.now();
    let last = { ms: startedMs, ios: 0, bytes: 0 };
    let stopRequested = false;
    for (let tick = 1; !allDone(); tick++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(startedMs + tick * PROGRESS_INTERVAL_MS - performance.now(), 0));
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = null;
      const now = performance.now();
      if (allDone()) break;
      last = progress(core, run, jobs, startedMs, last, now);
      const overMs = now - startedMs - opts.seconds * 1000;
      if (overMs > DRAIN_GRACE_MS && !stopRequested) {
        stopRequested = true;
        process.stderr.write(`wstor perf: jobs still running ${(overMs / 1000).toFixed(0)} s past the set time; stopping them\n`);
        core.perf_stop(run);
      } else if (overMs > 2 * DRAIN_GRACE_MS) {
        throw new WstorError('ETIMEDOUT', `perf jobs did not finish: ${core.perf_jobs_done(run)} of ${jobs} done ` +
          `${(overMs / 1000).toFixed(0)} s after the set time, even after perf_stop`);
      }
    }
    const bucketStartNs = Array.from({ length: core.hist_buckets() }, (_, i) => core.hist_bucket_start(i));
    const counters: JobCounters[] = [];
    const hists: Histogram[] = [];
    for (let job = 0; job < jobs; job++) {
      counters.push(readCounters(core, run, job));
      hists.push(readHistogram(core, engine.memory, run, job, bucketStartNs));
    }
    const rc = core.perf_free(run);
    if (rc < 0) throw WstorError.fromErrno(rc, 'freeing the perf run');
    return { counters, hists, interrupted };
  } finally {
    process.off('SIGINT', onSigint);
    unlisten();
  }
}

/** One progress line over all jobs, from the change in their counters since the last line. */
function progress(core: PerfExports, run: number, jobs: number, startedMs: number,
  last: { ms: number; ios: number; bytes: number }, now: number): { ms: number; ios: number; bytes: number } {
  let ios = 0, bytes = 0;
  for (let job = 0; job < jobs; job++) {
    ios += core.perf_stat(run, job, STAT.ios);
    bytes += core.perf_stat(run, job, STAT.bytes);
  }
  const us = (now - last.ms) * 1000;
  const iops = perSecond(ios - last.ios, us);
  const mibps = perSecond(bytes - last.bytes, us) / (1 << 20);
  const seconds = ((now - startedMs) / 1000).toFixed(1);
  process.stderr.write(`${seconds.padStart(6)} s ${String(Math.round(iops)).padStart(11)} IOPS ${mibps.toFixed(1).padStart(10)} MiB/s\n`);
  return { ms: now, ios, bytes };
}

/** Print the report (table or JSON), write the histogram, and say loudly why the run failed if it did. */
function finish(opts: PerfOptions, result: RunResult): number {
  const jobs = result.counters.map((c, i) => summarizeJob(c, result.hists[i]));
  const hist = mergeHistograms(result.hists);
  const total = summarizeTotal(result.counters, hist);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(reportObject(opts, jobs, total, result.interrupted), null, 2)}\n`);
  } else {
    process.stdout.write(reportTable(opts, jobs, total, result.interrupted));
  }
  if (opts.histogramPath !== null) {
    fs.writeFileSync(opts.histogramPath, histogramSvg(opts, hist, total, result.counters));
    (opts.json ? process.stderr : process.stdout).write(`latency histogram written to ${opts.histogramPath}\n`);
  }
  const failures = describeFailures(jobs);
  if (total.ios === 0 && !result.interrupted) failures.push(`no I/O completed in ${opts.seconds} s`);
  for (const line of failures) process.stderr.write(`wstor perf: ${line}\n`);
  if (failures.length > 0) return 1;
  return result.interrupted ? 130 : 0;
}

function reportObject(opts: PerfOptions, jobs: JobSummary[], total: TotalSummary, interrupted: boolean): object {
  return {
    bdev: opts.bdev.text, blob: opts.blob, zcopy: opts.zcopy, workload: opts.workload, readPercent: opts.readPercent, queueDepth: opts.queueDepth,
    ioBytes: opts.ioBytes, seconds: opts.seconds, reactors: opts.reactors, interrupted, jobs, total,
  };
}

function reportTable(opts: PerfOptions, jobs: JobSummary[], total: TotalSummary, interrupted: boolean): string {
  const verify = opts.workload === 'verify';
  const head = ['job', 'reactor', 'IOPS', 'MiB/s', 'avg µs', 'min µs', 'max µs', 'p50 µs', 'p99 µs', 'p99.9 µs', 'errors'];
  const widths = [5, 8, 13, 10, 10, 10, 10, 10, 10, 10, 8];
  if (verify) { head.push('mismatches'); widths.push(11); }
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('') + '\n';
  const cells = (s: TotalSummary, job: string, reactor: string) => {
    const l = s.latencyUs;
    const latencies = [l.avg, l.min, l.max, l.p50, l.p99, l.p999].map((v) => v.toFixed(2));
    const out = [job, reactor, s.iops.toFixed(2), s.mibps.toFixed(2), ...latencies, String(s.errors)];
    if (verify) out.push(String(s.mismatches));
    return row(out);
  };
  const mix = opts.workload === 'rw' ? ` (${opts.readPercent}% reads)` : '';
  const ran = interrupted ? `interrupted after ${total.seconds.toFixed(1)} of ${opts.seconds} s` : `${opts.seconds} s`;
  let text = `${opts.workload}${mix} on ${targetText(opts)}: queue depth ${opts.queueDepth}, ${opts.ioBytes}-byte I/Os, ` +
    `${ran}, ${opts.reactors} reactor${opts.reactors === 1 ? '' : 's'}\n\n`;
  text += row(head);
  for (const j of jobs) text += cells(j, String(j.job), String(j.reactor));
  text += cells(total, 'total', '');
  return text;
}

function histogramSvg(opts: PerfOptions, hist: Histogram, total: TotalSummary, counters: JobCounters[]): string {
  const maxNs = Math.max(0, ...counters.filter((c) => c.ios > 0).map((c) => c.latencyMaxNs));
  const markers = total.ios === 0 ? [] : PERCENTILES.map((p) => ({ label: p.label, ns: percentileNs(hist, p.numerator, p.denominator, maxNs) }));
  const mix = opts.workload === 'rw' ? ` (${opts.readPercent}% reads)` : '';
  const title = `wstor perf: ${opts.workload}${mix} on ${targetText(opts)}, qd ${opts.queueDepth}, ${opts.ioBytes}-byte I/Os, ` +
    `${opts.reactors} reactor${opts.reactors === 1 ? '' : 's'}`;
  const marks = markers.map((m) => `${m.label} ${formatDurationNs(m.ns)}`).join(', ');
  const subtitle = total.ios === 0 ? 'no I/O completed'
    : `latency of ${total.ios} I/Os over ${total.seconds} s: avg ${formatDurationNs(total.latencyUs.avg * 1000)}, ${marks}, ` +
      `max ${formatDurationNs(maxNs)}`;
  return latencyHistogramSvg({ title, subtitle, hist, markers });
}

