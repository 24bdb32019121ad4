// `wstor fuzz`'s engine room (main thread): reads the corpus, starts one worker per job, merges what
// they find into one coverage map and corpus, writes artifacts (crash-, timeout-, leak-, named by the
// input's SHA-1), and watches for hangs: a worker whose input runs past -timeout is terminated, its
// input saved, and (with -ignore_timeouts=1) a fresh worker takes its place. Also replay (files given),
// -merge=1 and -minimize_crash=1, all with libFuzzer's meaning.
import { Worker } from 'node:worker_threads';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WstorError } from '../errors.js';
import { CoverageMap } from './coverage.js';
import { Progress, type ProgressStats } from './progress.js';
import { fuzzTarget, FUZZ_TARGETS, RPC_TARGET, type FuzzTarget } from './targets.js';
import { parseDictionary, type FuzzOptions } from './options.js';
import { UsageError } from '../cli/args.js';
import { watchBlock, watchedInput, type WorkerInit, type WorkerReport } from './protocol.js';
import type { Outcome } from './instance.js';

export type FindingKind = 'crash' | 'timeout' | 'leak';

export interface FuzzFinding { kind: FindingKind; sha1: string; artifact: string | null; message: string }

export interface FuzzStats {
  target: string;
  mode: 'fuzz' | 'replay' | 'merge' | 'minimize';
  execs: number;
  execsPerSec: number;
  edges: number;
  features: number;
  corpus: { inputs: number; bytes: number };
  findings: FuzzFinding[];
  seconds: number;
  jobs: number;
  seed: number;
  exitCode: number;
}

/** libFuzzer's exit codes: a crash 1, a timeout 70, interrupted 72, a leak 77. */
export const EXIT_CODE: Record<FindingKind, number> = { crash: 1, timeout: 70, leak: 77 };
const EXIT_INTERRUPTED = 72;
const WATCHDOG_MS_MAX = 500;

const buildDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The coverage build; WSTOR_FUZZ_CORE names another (the benchmark's planted-bug and counter-free builds, bench/fuzz.ts). */
export const FUZZ_WASM = process.env.WSTOR_FUZZ_CORE || path.join(buildDir, 'core.fuzz.wasm');
const WORKER = new URL('./worker.js', import.meta.url);

export const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest('hex');

interface Io { err: { write(s: string): unknown; isTTY?: boolean } }

function targetOrFail(name: string): FuzzTarget {
  const t = fuzzTarget(name);
  if (!t) throw new UsageError(`no fuzz target "${name}"; there are: ${[...FUZZ_TARGETS, RPC_TARGET].map((x) => x.name).join(', ')}`);
  return t;
}

async function loadModule(): Promise<WebAssembly.Module> {
  if (!fs.existsSync(FUZZ_WASM)) throw new WstorError('ENOENT', `${FUZZ_WASM} is missing: build it with npm run build:wasm`);
  return WebAssembly.compile(fs.readFileSync(FUZZ_WASM));
}

interface NamedInput { name: string; data: Uint8Array }

/** The regular files of a corpus directory (not its subdirectories), in name order. */
function readDir(dir: string): NamedInput[] {
  if (!fs.existsSync(dir)) return [];
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  return fs.readdirSync(dir).sort().map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile())
    .map((f) => ({ name: f, data: new Uint8Array(fs.readFileSync(f)) }));
}

function artifactPath(prefix: string, kind: string, data: Uint8Array): string {
  if (prefix.endsWith('/')) fs.mkdirSync(prefix, { recursive: true });
  return `${prefix}${kind}-${sha1(data)}`;
}

/** One worker and the bookkeeping the runner keeps about it. */
class Job {
  readonly worker: Worker;
  readonly watch: SharedArrayBuffer;
  readonly port: MessagePort;
  execs = 0;
  ended = false;

  constructor(init: Omit<WorkerInit, 'watch' | 'port'>, onReport: (job: Job, m: WorkerReport) => void, onExit: (job: Job) => void) {
    const cap = Math.max(init.maxLen, ...init.inputs.map((i) => i.length));
    this.watch = watchBlock(cap);
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.worker = new Worker(WORKER, { workerData: { ...init, watch: this.watch, port: channel.port2 }, transferList: [channel.port2] });
    this.worker.on('message', (m: WorkerReport) => onReport(this, m));
    this.worker.on('error', (e) => onReport(this, { type: 'error', message: e.message }));
    this.worker.on('exit', () => { this.port.close(); onExit(this); });
  }

  stop(): Promise<number> { this.ended = true; return this.worker.terminate(); }
}

/** Start a watchdog over `jobs()`: `hung(job, input)` for each whose input has run past `timeoutMs`. */
function watchdog(timeoutMs: number, jobs: () => Job[], hung: (job: Job, data: Uint8Array) => void): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const job of jobs()) {
      if (job.ended) continue;
      const input = watchedInput(job.watch);
      if (input && now - input.startedMs > timeoutMs) hung(job, input.data);
    }
  }, Math.min(WATCHDOG_MS_MAX, Math.max(10, timeoutMs / 4)));
  return () => clearInterval(timer);
}

export class Findings {
  readonly list: FuzzFinding[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly prefix: string | null, private readonly progress: Progress, private readonly target: string) {}

  /** Record one (once per kind and input); writes its artifact unless replaying. */
  add(kind: FindingKind, data: Uint8Array, message: string): FuzzFinding | null {
    const hash = sha1(data);
    if (this.seen.has(`${kind}-${hash}`)) return null;
    this.seen.add(`${kind}-${hash}`);
    const artifact = this.prefix === null ? null : artifactPath(this.prefix, kind, data);
    if (artifact) fs.writeFileSync(artifact, data);
    const f = { kind, sha1: hash, artifact, message };
    this.list.push(f);
    this.progress.note(`==${kind}== in ${this.target}: ${message}` + (artifact ? `\nTest unit written to ${artifact}` : ''));
    return f;
  }

  exitCode(): number { return this.list.length === 0 ? 0 : EXIT_CODE[this.list[0].kind]; }
}

export function baseStats(o: FuzzOptions, mode: FuzzStats['mode'], seed: number): FuzzStats {
  return { target: o.target, mode, execs: 0, execsPerSec: 0, edges: 0, features: 0, corpus: { inputs: 0, bytes: 0 }, findings: [], seconds: 0, jobs: o.jobs, seed, exitCode: 0 };
}

/** Fuzz: until -runs, -max_total_time, a finding (unless ignored) or Ctrl-C. */
async function fuzz(o: FuzzOptions, target: FuzzTarget, io: Io): Promise<FuzzStats> {
  const module = await loadModule();
  const dirs = o.paths;
  for (const d of dirs.slice(0, 1)) fs.mkdirSync(d, { recursive: true });
  const start = dirs.flatMap(readDir).map((i) => i.data);
  const initial = start.length > 0 ? start : target.seeds();
  const maxLen = o.maxLen || Math.max(target.maxLenDefault, ...initial.map((i) => i.length));
  const seed = o.seed || (Date.now() % 0xffffffff) >>> 0 || 1;
  const dictionary = [...target.dictionary, ...(o.dict ? parseDictionary(fs.readFileSync(o.dict, 'utf8'), o.dict) : [])];
  const t0 = performance.now();
  const progress = new Progress(io.err);
  const findings = new Findings(o.artifactPrefix, progress, target.name);
  const corpus: Uint8Array[] = [];
  const known = new Set<string>();
  let coverage: CoverageMap | null = null;
  let bytes = 0;
  let retiredExecs = 0;
  let respawns = 0;
  let inited = false;
  const jobs: Job[] = [];
  const runsPerJob = o.runs < 0 ? Number.MAX_SAFE_INTEGER : Math.ceil(o.runs / o.jobs);
  const deadlineMs = o.maxTotalTimeS > 0 ? Date.now() + o.maxTotalTimeS * 1000 : Infinity;

  const stats = (): ProgressStats => ({
    execs: retiredExecs + jobs.reduce((n, j) => n + j.execs, 0), edges: coverage?.edges ?? 0, features: coverage?.features ?? 0,
    inputs: corpus.length, bytes, findings: findings.list.length, seconds: (performance.now() - t0) / 1000,
  });

  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => { finish = resolve; });
  let exitCode: number | null = null;
  const end = (code: number) => { if (exitCode === null) { exitCode = code; finish(code); } };

  /** Runs each job slot has used in workers that were replaced. */
  const slotExecs = new Array<number>(o.jobs).fill(0);
  const spawn = (index: number, inputs: Uint8Array[]) => {
    const job = new Job({
      module, target: target.name, mode: 'fuzz', seed: (seed + index * 7919 + respawns * 104729) >>> 0, maxLen, inputs,
      dictionary, runs: Math.max(0, runsPerJob - slotExecs[index]), deadlineMs, mutateDepth: o.mutateDepth, guided: o.useCounters,
    }, onReport, onExit);
    jobs[index] = job;
  };
  const onReport = (job: Job, m: WorkerReport) => {
    switch (m.type) {
      case 'ready': coverage ??= new CoverageMap(m.sites); break;
      case 'stats': job.execs = m.execs; progress.tick(stats()); break;
      case 'new': {
        job.execs = m.execs;
        const hash = sha1(m.data);
        if (!coverage || known.has(hash) || coverage.add(m.counters) === 0) break;
        known.add(hash);
        corpus.push(m.data);
        bytes += m.data.length;
        if (dirs.length > 0) fs.writeFileSync(path.join(dirs[0], hash), m.data);
        for (const other of jobs) if (other !== job && !other.ended) other.port.postMessage(m.data);
        if (inited) progress.event('NEW', stats());
        break;
      }
      case 'coverage':
        job.execs = m.execs;
        if (coverage && coverage.add(m.counters) > 0 && inited) progress.event('COV', stats());
        break;
      case 'finding':
        if (findings.add(m.kind, m.data, m.message) && !o.ignoreCrashes) end(EXIT_CODE[m.kind]);
        break;
      case 'done':
        job.execs = m.execs;
        job.ended = true;
        if (jobs.every((j) => j.ended)) end(findings.exitCode());
        break;
      case 'error':
        progress.note(`fuzz worker failed: ${m.message}`);
        end(2);
        break;
    }
    if (!inited && m.type === 'stats') { inited = true; progress.event('INITED', stats()); }
  };
  const onExit = (job: Job) => { if (!job.ended) { job.ended = true; if (exitCode === null) { progress.note('a fuzz worker exited unexpectedly'); end(2); } } };

  for (let j = 0; j < o.jobs; j++) spawn(j, initial);
  const stopWatch = watchdog(o.timeoutS * 1000, () => jobs, (job, data) => {
    const index = jobs.indexOf(job);
    retiredExecs += job.execs;
    slotExecs[index] += job.execs;
    job.execs = 0;
    void job.stop();
    findings.add('timeout', data, `an input ran longer than -timeout=${o.timeoutS} s; its worker was terminated`);
    if (!o.ignoreTimeouts) { end(EXIT_CODE.timeout); return; }
    respawns++;
    spawn(index, corpus.length > 0 ? corpus : initial);
  });
  const onSigint = () => end(EXIT_INTERRUPTED);
  process.once('SIGINT', onSigint);
  const code = await finished;
  process.off('SIGINT', onSigint);
  stopWatch();
  await Promise.all(jobs.map((j) => j.stop()));
  const s = stats();
  progress.event('DONE', s);
  return {
    ...baseStats(o, 'fuzz', seed), execs: s.execs, execsPerSec: s.seconds > 0 ? Math.round(s.execs / s.seconds) : 0, edges: s.edges,
    features: s.features, corpus: { inputs: corpus.length, bytes }, findings: findings.list, seconds: s.seconds, exitCode: code,
  };
}

interface SequenceResult { outcome: Outcome | { kind: 'timeout'; message: string }; newFeatures: number; ms: number }

/** Run inputs in order in one worker (a hang ends that input as a timeout; a new worker does the rest). */
async function runSequence(inputs: NamedInput[], target: FuzzTarget, o: FuzzOptions): Promise<SequenceResult[]> {
  const module = await loadModule();
  const results: SequenceResult[] = [];
  const maxLen = Math.max(1, ...inputs.map((i) => i.data.length));
  while (results.length < inputs.length) {
    const offset = results.length;
    await new Promise<void>((resolve, reject) => {
      let stopWatch = () => {};
      const job = new Job({
        module, target: target.name, mode: 'sequence', seed: 1, maxLen, inputs: inputs.slice(offset).map((i) => i.data), dictionary: [],
        runs: 0, deadlineMs: Infinity, mutateDepth: 1, guided: true,
      }, (_j, m) => {
        if (m.type === 'ran') results.push({ outcome: m.outcome, newFeatures: m.newFeatures, ms: m.ms });
        else if (m.type === 'error') { stopWatch(); void job.stop(); reject(new WstorError('EFUZZ', m.message)); }
        else if (m.type === 'done') { stopWatch(); void job.stop().then(() => resolve()); }
      }, () => { stopWatch(); resolve(); });
      stopWatch = watchdog(o.timeoutS * 1000, () => [job], () => {
        stopWatch();
        results.push({ outcome: { kind: 'timeout', message: `ran longer than -timeout=${o.timeoutS} s` }, newFeatures: 0, ms: o.timeoutS * 1000 });
        void job.stop().then(() => resolve());
      });
    });
  }
  return results;
}

/** Given files: run each once and say what happened (no artifacts: the files are the artifacts). */
async function replay(o: FuzzOptions, target: FuzzTarget, io: Io): Promise<FuzzStats> {
  const inputs = o.paths.flatMap((p) => (fs.statSync(p).isDirectory() ? readDir(p) : [{ name: p, data: new Uint8Array(fs.readFileSync(p)) }]));
  const t0 = performance.now();
  const progress = new Progress({ write: (s) => io.err.write(s) });
  const findings = new Findings(null, progress, target.name);
  const results = await runSequence(inputs, target, o);
  results.forEach((r, i) => {
    progress.note(`Running: ${inputs[i].name}`);
    if (r.outcome.kind === 'ok') progress.note(`Executed ${inputs[i].name} in ${Math.round(r.ms)} ms`);
    else findings.add(r.outcome.kind, inputs[i].data, `${inputs[i].name}: ${r.outcome.message}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  return { ...baseStats(o, 'replay', 0), execs: results.length, seconds, findings: findings.list, exitCode: findings.exitCode() };
}

/** -merge=1 OUT IN…: the inputs of IN… that add coverage to what OUT already has, copied into OUT. */
async function merge(o: FuzzOptions, target: FuzzTarget, io: Io): Promise<FuzzStats> {
  const [out, ...ins] = o.paths;
  fs.mkdirSync(out, { recursive: true });
  const existing = readDir(out);
  const have = new Set(existing.map((i) => sha1(i.data)));
  const candidates = ins.flatMap(readDir).filter((i) => !have.has(sha1(i.data))).sort((a, b) => a.data.length - b.data.length);
  const t0 = performance.now();
  const results = await runSequence([...existing, ...candidates], target, o);
  let added = 0;
  results.slice(existing.length).forEach((r, i) => {
    const c = candidates[i];
    const hash = sha1(c.data);
    if (r.outcome.kind !== 'ok' || r.newFeatures === 0 || have.has(hash)) return;
    have.add(hash);
    fs.writeFileSync(path.join(out, hash), c.data);
    added++;
  });
  io.err.write(`MERGE-OUTER: ${existing.length + candidates.length} files, ${existing.length} in the initial corpus, ${added} new inputs added to ${out}\n`);
  const inputs = readDir(out);
  return {
    ...baseStats(o, 'merge', 0), execs: results.length, seconds: (performance.now() - t0) / 1000,
    corpus: { inputs: inputs.length, bytes: inputs.reduce((n, i) => n + i.data.length, 0) },
  };
}

/** -minimize_crash=1 FILE: smaller inputs that still crash; the smallest goes to minimized-from-<sha1>. */
async function minimizeCrash(o: FuzzOptions, target: FuzzTarget, io: Io): Promise<FuzzStats> {
  const original = new Uint8Array(fs.readFileSync(o.paths[0]));
  const module = await loadModule();
  const t0 = performance.now();
  let best: Uint8Array = original;
  let execs = 0;
  await new Promise<void>((resolve, reject) => {
    const job = new Job({
      module, target: target.name, mode: 'minimize', seed: o.seed || 1, maxLen: original.length, inputs: [original], dictionary: [],
      runs: o.runs < 0 ? Number.MAX_SAFE_INTEGER : o.runs, deadlineMs: o.maxTotalTimeS > 0 ? Date.now() + o.maxTotalTimeS * 1000 : Infinity, mutateDepth: 1,
      guided: true,
    }, (_j, m) => {
      if (m.type === 'minimized') { best = m.data; io.err.write(`CRASH_MIN: ${best.length} bytes still crash: ${m.message}\n`); }
      else if (m.type === 'error') { void job.stop(); reject(new WstorError('EFUZZ', `${o.paths[0]}: ${m.message}`)); }
      else if (m.type === 'done') { execs = m.execs; void job.stop().then(() => resolve()); }
    }, () => resolve());
  });
  const artifact = `${o.artifactPrefix}minimized-from-${sha1(original)}`;
  if (o.artifactPrefix.endsWith('/')) fs.mkdirSync(o.artifactPrefix, { recursive: true });
  fs.writeFileSync(artifact, best);
  io.err.write(`CRASH_MIN: ${original.length} -> ${best.length} bytes, written to ${artifact}\n`);
  return {
    ...baseStats(o, 'minimize', o.seed), execs, seconds: (performance.now() - t0) / 1000,
    findings: [{ kind: 'crash', sha1: sha1(best), artifact, message: `minimized from ${original.length} to ${best.length} bytes` }],
  };
}

/** Run `wstor fuzz` as the options say (they are already checked). */
export async function runFuzz(o: FuzzOptions, io: Io): Promise<FuzzStats> {
  const target = targetOrFail(o.target);
  if (o.merge) return merge(o, target, io);
  if (o.minimizeCrash) return minimizeCrash(o, target, io);
  const files = o.paths.filter((p) => fs.existsSync(p) && fs.statSync(p).isFile());
  if (files.length > 0 && files.length !== o.paths.length) throw new UsageError('give either corpus directories or input files to replay, not both');
  if (files.length > 0) return replay(o, target, io);
  return fuzz(o, target, io);
}
