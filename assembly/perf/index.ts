// bdevperf for wstor: one job per reactor, each a thread keeping `queueDepth` I/Os in flight against a
// bdev (or an open blob, through the same job code) for a duration, with per-job counters and a latency
// histogram the host reads while it runs.
// The verify workload writes a pattern derived from (offset, pass) and reads it back, counting every
// mismatch and remembering the first.

import { heapAlloc, heapAllocZeroed, heapFree, host_event, HIST_BYTES, histRecord, EINVAL, ENOMEM, ENODEV, ERANGE } from "../runtime";
import {
  threadCreateOn, sendMsg, threadExit, threadGet, getIoChannel, putIoChannel, cachedNowNs, cachedNowUs, threadNowUs,
  reactorCount,
} from "../thread";
import { bdevById, bdevOpen, bdevClose, bdevRead, bdevReadLent, bdevIoData, bdevWrite, bdevFreeIo, Bdev } from "../bdev";
import { EVENT_PERF_JOB_DONE } from "../runtime";
import { Blob, Store, blobIo, blobClusters, storeGetChannel } from "../blob";

export const WL_RANDREAD: u32 = 0;
export const WL_RANDWRITE: u32 = 1;
export const WL_READ: u32 = 2;
export const WL_WRITE: u32 = 3;
export const WL_RW: u32 = 4;
export const WL_VERIFY: u32 = 5;

/** perf_start's flags. Lent reads: reads take the bdev's own buffer (bdevReadLent; bdevperf's -Z). */
export const PERF_LENT_READS: u32 = 1;

const BUF_ALIGN: usize = 4096;         // O_DIRECT-friendly buffers

@unmanaged class PerfRun {
  bdevId: u32;
  blob: usize;          // an open Blob the jobs target instead of the bdev (0: the bdev)
  unitShift: u32;       // blob target: log2 of the store's io unit
  jobCount: u32;
  workload: u32;
  readPercent: u32;
  queueDepth: u32;
  ioBytes: u32;
  durationUs: u64;
  seed: u32;
  lentReads: u32;       // PERF_LENT_READS: reads without a buffer (bdev targets only)
  targetBytes: u64;     // of the bdev, or of the blob
  stop: u32;            // atomic: host asked to stop early
  jobsDone: u32;        // atomic
  jobs: usize;          // PerfJob pointers
}

@unmanaged class PerfJob {
  run: usize;
  index: u32;
  reactor: i32;
  thread: usize;
  desc: u32;
  channel: usize;
  bufs: usize;          // queueDepth × ioBytes, aligned
  bufsRaw: usize;
  tasks: usize;         // queueDepth PerfTask
  rng: u32;
  regionStart: u64;     // in ios
  regionIos: u64;
  nextSeq: u64;         // sequential workloads
  inFlight: u32;
  started: u32;
  finished: u32;
  startUs: u64;
  endUs: u64;
  ios: u64;
  bytes: u64;
  errors: u64;
  reads: u64;
  writes: u64;
  latSum: u64;
  latMin: u64;
  latMax: u64;
  mismatches: u64;
  firstMismatch: i64;
  hist: usize;
}

@unmanaged class PerfTask {
  job: usize;
  index: u32;
  buf: usize;
  offset: u64;          // bytes
  verifyPhase: u32;     // 0 writing, 1 reading back
  pass: u32;
  startNs: u64;         // when the I/O in flight was submitted
  read: u32;            // whether it is a read
}

function rand(job: PerfJob): u32 {
  let x = job.rng;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  job.rng = x;
  return x;
}

/** Uniform-enough in [0, n): a 32-bit remainder when n fits (every bdev under 16 TiB at 4 KiB). */
function randBelow(job: PerfJob, n: u64): u64 {
  if (n <= <u64>u32.MAX_VALUE) return <u64>(rand(job) % <u32>n);
  return ((<u64>rand(job) << 32) | <u64>rand(job)) % n;
}

function patternWord(offset: u64, pass: u32, word: u32): u64 {
  // A different value for every 8-byte word of every block of every pass.
  let x = offset * 0x9e3779b97f4a7c15 + (<u64>pass << 32) + <u64>word;
  x ^= x >> 31; x *= 0xbf58476d1ce4e5b9; x ^= x >> 29;
  return x;
}

function fillPattern(buf: usize, bytes: u32, offset: u64, pass: u32): void {
  for (let w: u32 = 0; w < (bytes >> 3); w++) store<u64>(buf + (<usize>w << 3), patternWord(offset, pass, w));
}

/** Index of the first differing byte, or -1. */
function checkPattern(buf: usize, bytes: u32, offset: u64, pass: u32): i64 {
  for (let w: u32 = 0; w < (bytes >> 3); w++) {
    if (load<u64>(buf + (<usize>w << 3)) != patternWord(offset, pass, w)) return <i64>w << 3;
  }
  return -1;
}

function runOf(job: PerfJob): PerfRun { return changetype<PerfRun>(job.run); }

function nextOffset(job: PerfJob, run: PerfRun, task: PerfTask): u64 {
  let index: u64;
  if (run.workload == WL_VERIFY) {
    // Each task owns the offsets congruent to its number: two tasks never have one block in flight,
    // so a read-back can only see its own write.
    const qd = <u64>run.queueDepth;
    index = (randBelow(job, job.regionIos / qd)) * qd + <u64>task.index;
  } else if (run.workload == WL_READ || run.workload == WL_WRITE) {
    index = job.nextSeq++ % job.regionIos;
  } else {
    index = randBelow(job, job.regionIos);
  }
  return (job.regionStart + index) * <u64>run.ioBytes;
}

function isRead(job: PerfJob, run: PerfRun): bool {
  switch (run.workload) {
    case WL_RANDREAD: case WL_READ: return true;
    case WL_RW: return rand(job) % 100 < run.readPercent;
    default: return false;
  }
}

function timeIsUp(job: PerfJob, run: PerfRun): bool {
  return atomic.load<u32>(changetype<usize>(run) + offsetof<PerfRun>("stop")) != 0 || cachedNowUs() - job.startUs >= run.durationUs;
}

/** Submit the task's I/O (at task.offset, of run.ioBytes, into or from task.buf) to the run's target. */
function submitTask(job: PerfJob, run: PerfRun, task: PerfTask, read: bool): i32 {
  task.startNs = cachedNowNs();
  task.read = read ? 1 : 0;
  if (run.blob != 0) {
    return blobIo(changetype<Blob>(run.blob), job.channel, !read, task.buf, task.offset >> run.unitShift,
      <u64>(run.ioBytes >> run.unitShift), blobTaskDone, changetype<usize>(task));
  }
  if (read && run.lentReads != 0) return bdevReadLent(job.desc, job.channel, task.offset, run.ioBytes, bdevTaskDone, changetype<usize>(task));
  return read ? bdevRead(job.desc, job.channel, task.buf, task.offset, run.ioBytes, bdevTaskDone, changetype<usize>(task))
    : bdevWrite(job.desc, job.channel, task.buf, task.offset, run.ioBytes, bdevTaskDone, changetype<usize>(task));
}

/** Start the next I/O of a task; false if none was started (time is up or the submit failed). */
function startTask(task: PerfTask): bool {
  const job = changetype<PerfJob>(task.job);
  const run = runOf(job);
  if (timeIsUp(job, run)) return false;
  let rc: i32;
  if (run.workload == WL_VERIFY) {
    if (task.verifyPhase == 0) {
      task.offset = nextOffset(job, run, task);
      task.pass++;
      fillPattern(task.buf, run.ioBytes, task.offset, task.pass);
      rc = submitTask(job, run, task, false);
    } else {
      // The read must put every byte there; with lent reads the check must look at the lent data, and
      // this buffer, cleared, holds no pattern a mistaken check could pass on.
      memory.fill(task.buf, 0, run.ioBytes);
      rc = submitTask(job, run, task, true);
    }
  } else {
    task.offset = nextOffset(job, run, task);
    rc = submitTask(job, run, task, isRead(job, run));
  }
  if (rc != 0) { job.errors++; return false; }
  job.inFlight++;
  return true;
}

function bdevTaskDone(ioPtr: usize, success: bool, arg: usize): void {
  const task = changetype<PerfTask>(arg);
  const job = changetype<PerfJob>(task.job);
  const run = runOf(job);
  // A lent read's data lives in the io's buffer, which goes with the io: check it before freeing.
  taskCount(task, job, run, success, (run.lentReads & task.read) != 0 ? bdevIoData(ioPtr) : task.buf);
  bdevFreeIo(ioPtr);
  taskNext(task, job);
}

function blobTaskDone(arg: usize, rc: i32): void {
  const task = changetype<PerfTask>(arg);
  const job = changetype<PerfJob>(task.job);
  taskCount(task, job, runOf(job), rc == 0, task.buf);
  taskNext(task, job);
}

/** Account a finished I/O of `job` (its read data, if any, at `data`) and check a verify read-back. */
function taskCount(task: PerfTask, job: PerfJob, run: PerfRun, success: bool, data: usize): void {
  const now = cachedNowNs();
  const lat = now > task.startNs ? now - task.startNs : 0;
  job.inFlight--;
  job.ios++;
  if (task.read != 0) job.reads++; else job.writes++;
  job.latSum += lat;
  if (lat < job.latMin) job.latMin = lat;
  if (lat > job.latMax) job.latMax = lat;
  histRecord(job.hist, lat);
  if (!success) {
    job.errors++;
  } else {
    job.bytes += run.ioBytes;
    if (run.workload == WL_VERIFY && task.verifyPhase == 1) {
      const at = checkPattern(data, run.ioBytes, task.offset, task.pass);
      if (at >= 0) {
        if (job.mismatches == 0) job.firstMismatch = <i64>task.offset + at;
        job.mismatches++;
      }
    }
  }
  if (run.workload == WL_VERIFY) task.verifyPhase ^= 1;
  job.endUs = cachedNowUs();
}

/** The task's next I/O, or the job's end once time is up and nothing is in flight. */
function taskNext(task: PerfTask, job: PerfJob): void {
  if (!startTask(task) && job.inFlight == 0) finishJob(job);
}

function finishJob(job: PerfJob): void {
  if (job.finished != 0) return;
  job.finished = 1;
  putIoChannel(job.channel);
  const run = runOf(job);
  if (run.blob == 0) bdevClose(job.desc);
  atomic.add<u32>(changetype<usize>(run) + offsetof<PerfRun>("jobsDone"), 1);
  host_event(EVENT_PERF_JOB_DONE, <f64>changetype<usize>(run), <f64>job.index, <f64>(job.errors + job.mismatches));
  threadExit();
}

/** Set up a job on its own reactor: everything it writes per I/O lives in that reactor's arena. */
function allocJob(run: PerfRun, index: u32): PerfJob {
  const job = changetype<PerfJob>(heapAllocZeroed(offsetof<PerfJob>()));
  if (changetype<usize>(job) == 0) return job;
  job.run = changetype<usize>(run);
  job.index = index;
  job.reactor = <i32>index;
  job.rng = (run.seed ^ (index * 0x9e3779b9)) | 1;
  const share = ((run.targetBytes / <u64>run.ioBytes) / <u64>run.jobCount);
  job.regionStart = share * <u64>index;
  job.regionIos = share;
  job.latMin = u64.MAX_VALUE;
  job.firstMismatch = -1;
  job.hist = heapAllocZeroed(HIST_BYTES);
  job.bufsRaw = heapAlloc(<usize>run.queueDepth * run.ioBytes + BUF_ALIGN);
  job.tasks = heapAllocZeroed(<usize>run.queueDepth * offsetof<PerfTask>());
  if (job.hist == 0 || job.bufsRaw == 0 || job.tasks == 0) { freeJob(job); return changetype<PerfJob>(0); }
  job.bufs = (job.bufsRaw + BUF_ALIGN - 1) & ~(BUF_ALIGN - 1);
  memory.fill(job.bufs, 0x5a, <usize>run.queueDepth * run.ioBytes);
  for (let t: u32 = 0; t < run.queueDepth; t++) {
    const task = changetype<PerfTask>(job.tasks + <usize>t * offsetof<PerfTask>());
    task.job = changetype<usize>(job);
    task.index = t;
    task.buf = job.bufs + <usize>t * run.ioBytes;
  }
  return job;
}

/** A job that could not start: counted as done with one error, so the run still ends. */
function jobFailedToStart(run: PerfRun, index: u32, job: PerfJob): void {
  if (changetype<usize>(job) != 0) { job.errors++; job.finished = 1; }
  atomic.add<u32>(changetype<usize>(run) + offsetof<PerfRun>("jobsDone"), 1);
  host_event(EVENT_PERF_JOB_DONE, <f64>changetype<usize>(run), <f64>index, 1);
  threadExit();
}

function startJobMsg(ctx: usize): void {
  const run = changetype<PerfRun>(load<usize>(ctx));
  const index = load<u32>(ctx, 4);
  heapFree(ctx);
  const job = allocJob(run, index);
  if (changetype<usize>(job) == 0) { jobFailedToStart(run, index, job); return; }
  job.thread = threadGet();
  atomic.store<usize>(run.jobs + (<usize>index << 2), changetype<usize>(job));
  if (run.blob != 0) {
    job.channel = storeGetChannel(changetype<Store>(changetype<Blob>(run.blob).store));
  } else {
    const bdev = bdevById(run.bdevId);
    const write = run.workload != WL_RANDREAD && run.workload != WL_READ;
    const desc = bdev == 0 ? -ENODEV : bdevOpen(bdev, write, null, 0);
    if (desc < 0) { jobFailedToStart(run, index, job); return; }
    job.desc = <u32>desc;
    job.channel = getIoChannel(bdev);
    if (job.channel == 0) bdevClose(job.desc);
  }
  if (job.channel == 0) { jobFailedToStart(run, index, job); return; }
  job.startUs = threadNowUs();
  job.endUs = job.startUs;
  job.started = 1;
  for (let i: u32 = 0; i < run.queueDepth; i++) startTask(changetype<PerfTask>(job.tasks + <usize>i * offsetof<PerfTask>()));
  if (job.inFlight == 0) finishJob(job);
}

function freeJob(job: PerfJob): void {
  heapFree(job.hist);
  heapFree(job.bufsRaw);
  heapFree(job.tasks);
  heapFree(changetype<usize>(job));
}

/** The run the last successful perfStart created (its handle; may exceed i32 range). */
export let lastPerfRun: usize = 0;

/**
 * Start a run: one job per reactor 0..reactors-1, each on its own share of the bdev. `flags`: 0 or
 * PERF_LENT_READS. Returns 0 (the run is lastPerfRun) or a negative errno (-ENODEV no bdev, -EINVAL bad
 * parameters, -ENOMEM).
 */
export function perfStart(bdevId: u32, reactors: u32, workload: u32, readPercent: u32, queueDepth: u32,
  ioBytes: u32, durationMs: u32, seed: u32, flags: u32): i32 {
  const bdev = bdevById(bdevId);
  if (bdev == 0) return -ENODEV;
  if ((flags & ~PERF_LENT_READS) != 0) return -EINVAL;
  const b = changetype<Bdev>(bdev);
  return startRun(bdevId, 0, b.blockShift, b.blockCount << b.blockShift, reactors, workload, readPercent, queueDepth,
    ioBytes, durationMs, seed, flags);
}

/**
 * The same jobs against an open blob, through blob I/O (each job on a channel of the blob's store):
 * what the blob layer adds is then measured by the very code that measures a bdev. The blob must stay
 * open until the run is done; writes to a read-only blob count as errors.
 */
export function perfStartBlob(blob: Blob, reactors: u32, workload: u32, readPercent: u32, queueDepth: u32,
  ioBytes: u32, durationMs: u32, seed: u32): i32 {
  const s = changetype<Store>(blob.store);
  return startRun(0, changetype<usize>(blob), s.blockShift, blobClusters(blob) << s.clusterShift, reactors, workload,
    readPercent, queueDepth, ioBytes, durationMs, seed, 0);
}

function startRun(bdevId: u32, blob: usize, unitShift: u32, targetBytes: u64, reactors: u32, workload: u32, readPercent: u32,
  queueDepth: u32, ioBytes: u32, durationMs: u32, seed: u32, flags: u32): i32 {
  if (workload > WL_VERIFY || readPercent > 100 || queueDepth == 0 || queueDepth > 4096 || durationMs == 0) return -EINVAL;
  if (ioBytes == 0 || (ioBytes & ((1 << unitShift) - 1)) != 0 || (ioBytes & 7) != 0) return -EINVAL;
  if (reactors == 0 || reactors > reactorCount()) return -ERANGE;
  const totalIos = targetBytes / <u64>ioBytes;
  // Every job needs room for its queue (verify gives each in-flight task offsets of its own).
  if (totalIos < <u64>reactors * <u64>queueDepth) return -EINVAL;
  const run = changetype<PerfRun>(heapAllocZeroed(offsetof<PerfRun>()));
  if (changetype<usize>(run) == 0) return -ENOMEM;
  run.bdevId = bdevId; run.blob = blob; run.unitShift = unitShift;
  run.jobCount = reactors; run.workload = workload; run.readPercent = readPercent;
  run.queueDepth = queueDepth; run.ioBytes = ioBytes; run.durationUs = <u64>durationMs * 1000; run.seed = seed;
  run.lentReads = flags & PERF_LENT_READS;
  run.targetBytes = targetBytes;
  run.jobs = heapAllocZeroed(<usize>reactors << 2);
  if (run.jobs == 0) { heapFree(changetype<usize>(run)); return -ENOMEM; }
  // Jobs allocate their own state on their reactors (startJobMsg): no two reactors share a line.
  for (let i: u32 = 0; i < reactors; i++) {
    const thread = threadCreateOn(<i32>i, "perf_job");
    const seed = heapAlloc(8);
    if (thread == 0 || seed == 0) return -ENOMEM;
    store<usize>(seed, changetype<usize>(run));
    store<u32>(seed, i, 4);
    sendMsg(thread, startJobMsg, seed);
  }
  lastPerfRun = changetype<usize>(run);
  return 0;
}

export function perfStop(run: usize): void { atomic.store<u32>(run + offsetof<PerfRun>("stop"), 1); }
export function perfJobsDone(run: usize): u32 { return atomic.load<u32>(run + offsetof<PerfRun>("jobsDone")); }

/** Job `index` of a run, or 0 if there is no such job or it has not started yet. */
function jobAt(run: usize, index: u32): PerfJob {
  const r = changetype<PerfRun>(run);
  if (index >= r.jobCount) return changetype<PerfJob>(0);
  return changetype<PerfJob>(atomic.load<usize>(r.jobs + (<usize>index << 2)));
}

/** A counter of a job (see the host's perf command for the field numbers); NaN for a bad job. */
export function perfStat(run: usize, index: u32, field: u32): f64 {
  if (index >= changetype<PerfRun>(run).jobCount) return NaN;
  const job = jobAt(run, index);
  if (changetype<usize>(job) == 0) return field == 12 ? <f64>index : field == 7 ? -1 : 0;
  switch (field) {
    case 0: return <f64>job.ios;
    case 1: return <f64>job.bytes;
    case 2: return <f64>job.errors;
    case 3: return <f64>job.latSum;
    case 4: return job.ios == 0 ? 0 : <f64>job.latMin;
    case 5: return <f64>job.latMax;
    case 6: return <f64>job.mismatches;
    case 7: return <f64>job.firstMismatch;
    case 8: return <f64>job.finished;
    case 9: return <f64>job.reads;
    case 10: return <f64>job.writes;
    case 11: return job.started == 0 ? 0 : <f64>(job.endUs - job.startUs);
    case 12: return <f64>job.reactor;
    default: return NaN;
  }
}

export function perfHist(run: usize, index: u32): usize {
  const job = jobAt(run, index);
  return changetype<usize>(job) == 0 ? 0 : job.hist;
}

/** Free a finished run. -EBUSY (as -16) while jobs still run. */
export function perfFree(run: usize): i32 {
  const r = changetype<PerfRun>(run);
  if (perfJobsDone(run) != r.jobCount) return -16;
  for (let i: u32 = 0; i < r.jobCount; i++) {
    const job = jobAt(run, i);
    if (changetype<usize>(job) != 0) freeJob(job);
  }
  heapFree(r.jobs);
  heapFree(run);
  return 0;
}
