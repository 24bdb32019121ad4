// Issue 17's target figure without a guest's cap: wstor's NVMe/TCP target on loopback, a null bdev,
// 4 KiB random reads, driven by a load generator in another process (bench/nvmf-load.ts: one
// controller, `--queues` I/O queues of `--qd` reads each). With 1 target reactor and with 2, alternating,
// R rounds: IOPS, p50/p99 latency, each reactor's CPU time (its thread's schedstat: reactors are pinned,
// so their thread ids are known), the target's CPU seconds per million I/Os, and IOPS per second of
// reactor CPU (what a reactor given a whole core would do: on 2 cores the generator takes one of them,
// so the 2-reactor run's IOPS is capped by the machine, not by the target). --syscalls counts the
// reactors' system calls per I/O with `perf stat` over one more run of each.
// Usage: node build/bench/nvmf-tcp.js [--rounds 3] [--seconds 5] [--queues 2] [--qd 64] [--rate N] [--digests] [--syscalls]
import { availableParallelism } from 'node:os';
import { fork, spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Engine } from '../host/index.js';
import { histogramQuantile, type LoadJob, type LoadResult } from './nvmf-load.js';
import { freePort } from '../tests/helpers/free-port.js';

const NQN = 'nqn.2026-12.io.wstor:bench';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000b001';
const BLOCKS = 262144;                                   // 1 GiB of 4 KiB blocks
const BLOCK_BYTES = 4096;
const WARMUP_SECONDS = 1;

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '3'));
const seconds = Number(arg('--seconds', '5'));
const queues = Number(arg('--queues', '2'));
const qd = Number(arg('--qd', '64'));
const digests = args.includes('--digests');
const countSyscalls = args.includes('--syscalls');
// --rate N: N reads per second per target reactor (1 reactor: N, 2 reactors: 2N), so that both runs give
// each reactor the same load and their CPU per I/O can be compared below saturation.
const ratePerReactor = Number(arg('--rate', '0'));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

interface Run {
  iops: number; p50us: number; p99us: number; reactorCpuSeconds: number[]; targetCpuPerMio: number;
  iopsPerReactorCpuSecond: number; kernelShare: number; generatorCpuShare: number; queuesPerReactor: number[]; syscallsPerIo?: number;
}


/** Nanoseconds thread `tid` of this process has run (the first field of its schedstat). */
function threadRunNs(tid: number): number {
  return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

/** Clock ticks thread `tid` has spent in the kernel and in total (its stat's stime, utime + stime). */
function threadTicks(tid: number): { sys: number; all: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');   // after "pid (comm) "; utime is field 14
  const utime = Number(fields[11]), stime = Number(fields[12]);
  return { sys: stime, all: utime + stime };
}

/** The generator process: resolves 'measuring' and then its result. */
function startGenerator(job: LoadJob, cpu: number | null): { measuring: Promise<void>; result: Promise<LoadResult> } {
  const script = fileURLToPath(new URL('./nvmf-load.js', import.meta.url));
  const child = cpu === null
    ? fork(script, ['--load-generator'], { stdio: 'inherit' })
    : spawn('taskset', ['-c', String(cpu), process.execPath, script, '--load-generator'], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  let onMeasuring: () => void = () => {};
  const measuring = new Promise<void>((r) => { onMeasuring = r; });
  const result = new Promise<LoadResult>((resolve, reject) => {
    child.on('message', (m: { type: string; result?: LoadResult; message?: string }) => {
      if (m.type === 'measuring') onMeasuring();
      else if (m.type === 'result') resolve(m.result!);
      else reject(new Error(`load generator: ${m.message}`));
    });
    child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
  });
  child.send(job);
  return { measuring, result };
}

/** `perf stat` counting system calls of `tids` until `until` settles. */
function perfSyscalls(tids: number[], until: Promise<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = execFile('perf', ['stat', '-x', ',', '-e', 'raw_syscalls:sys_enter', '-t', tids.join(',')], (err, _out, stderr) => {
      const line = stderr.split('\n').find((l) => l.includes('raw_syscalls:sys_enter'));
      if (!line) { reject(new Error(`perf stat gave no count (${err?.message ?? stderr.trim()})`)); return; }
      resolve(Number(line.split(',')[0]));
    });
    void until.finally(() => p.kill('SIGINT'));
  });
}

/** One run: a fresh engine with `reactors` pinned to CPUs 0.., the generator on what is left. */
async function run(reactors: number, withSyscalls: boolean): Promise<Run> {
  const engine = await Engine.start({ reactors, cpus: Array.from({ length: reactors }, (_, i) => i), memoryBytes: 512 << 20, logLevel: 'error' });
  try {
    engine.bdev.createNull('n0', { blockCount: BLOCKS, blockSize: BLOCK_BYTES });
    const port = await freePort();
    await engine.nvmf.createTransport('TCP', {});
    await engine.nvmf.createSubsystem(NQN, { allowAnyHost: true });
    await engine.nvmf.addNamespace(NQN, { bdev: 'n0' });
    await engine.nvmf.addListener(NQN, { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(port) });
    const tids = engine.reactorThreadIds.map((t, i) => { if (t === null) throw new Error(`reactor ${i} is not pinned: its CPU cannot be read`); return t; });
    // The generator gets a CPU of its own where one is left (else the scheduler places it).
    const genCpu = reactors < availableParallelism() ? reactors : null;
    const gen = startGenerator({ port, subnqn: NQN, hostnqn: HOSTNQN, queues, qdPerQueue: qd, blocks: BLOCKS, blockBytes: BLOCK_BYTES, warmupSeconds: WARMUP_SECONDS, seconds, digests, ratePerQueue: (ratePerReactor * reactors) / queues }, genCpu);
    await gen.measuring;
    const ns0 = tids.map(threadRunNs);
    const ticks0 = tids.map(threadTicks);
    const syscalls = withSyscalls ? perfSyscalls(tids, gen.result) : null;
    // The queues' reactors, while they are connected (the admin queue counts too: it is on one of them).
    const queuesPerReactor = engine.nvmf.pollGroupStats().map((g) => g.transports.reduce((a, t) => a + Number(t.current_qpairs ?? 0), 0));
    const r = await gen.result;
    const reactorCpuSeconds = tids.map((t, i) => (threadRunNs(t) - ns0[i]) / 1e9);
    const ticks = tids.map((t, i) => { const x = threadTicks(t); return { sys: x.sys - ticks0[i].sys, all: x.all - ticks0[i].all }; });
    const kernelShare = ticks.reduce((a, x) => a + x.sys, 0) / Math.max(1, ticks.reduce((a, x) => a + x.all, 0));
    if (r.errors.length) throw new Error(`load generator: ${r.errors.slice(0, 5).join('; ')}`);
    const cpu = reactorCpuSeconds.reduce((a, b) => a + b, 0);
    return {
      iops: r.ios / r.seconds, p50us: histogramQuantile(r.histogram, 0.5), p99us: histogramQuantile(r.histogram, 0.99),
      reactorCpuSeconds, targetCpuPerMio: cpu / (r.ios / 1e6), iopsPerReactorCpuSecond: r.ios / cpu, kernelShare,
      generatorCpuShare: r.cpuUs / 1e6 / r.seconds, queuesPerReactor,
      syscallsPerIo: syscalls ? (await syscalls) / r.ios : undefined,
    };
  } finally {
    await engine.stop();
  }
}

const describe = (x: Run) => `${x.iops.toFixed(0)} IOPS p50 ${x.p50us} µs p99 ${x.p99us} µs, reactor CPU ${x.reactorCpuSeconds.map((s) => s.toFixed(2)).join('+')} s, ${x.iopsPerReactorCpuSecond.toFixed(0)} IOPS per reactor CPU second (${(100 * x.kernelShare).toFixed(0)} % in the kernel), generator ${(100 * x.generatorCpuShare).toFixed(0)} % of a core, qpairs per reactor ${x.queuesPerReactor.join('/')}`;
const one: Run[] = [], two: Run[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first: the machine drifts.
  if (r % 2 === 0) { one.push(await run(1, false)); two.push(await run(2, false)); } else { two.push(await run(2, false)); one.push(await run(1, false)); }
  console.log(`round ${r + 1}:\n  1 reactor : ${describe(one[r])}\n  2 reactors: ${describe(two[r])}`);
}
const show = (name: string, xs: Run[]) => console.log(`${name}: median ${median(xs.map((x) => x.iops)).toFixed(0)} IOPS, p50 ${median(xs.map((x) => x.p50us))} µs, p99 ${median(xs.map((x) => x.p99us))} µs, target CPU ${median(xs.map((x) => x.targetCpuPerMio)).toFixed(2)} s per million I/Os, ${median(xs.map((x) => x.iopsPerReactorCpuSecond)).toFixed(0)} IOPS per reactor CPU second (${(100 * median(xs.map((x) => x.kernelShare))).toFixed(0)} % in the kernel), generator ${(100 * median(xs.map((x) => x.generatorCpuShare))).toFixed(0)} % of a core`);
show('1 target reactor ', one);
show('2 target reactors', two);
const perCpu1 = median(one.map((x) => x.iopsPerReactorCpuSecond)), perCpu2 = median(two.map((x) => x.iopsPerReactorCpuSecond));
console.log(`scaling 1 -> 2 reactors, measured IOPS: ${(median(two.map((x) => x.iops)) / median(one.map((x) => x.iops))).toFixed(2)}x; ` +
  `per reactor CPU second: ${(perCpu2 / perCpu1).toFixed(2)}x (2 reactors with a core each: ${(2 * perCpu2 / perCpu1).toFixed(2)}x) ` +
  `(queues ${queues} x qd ${qd}, digests ${digests ? 'on' : 'off'}, ${ratePerReactor ? `${ratePerReactor} reads/s per reactor` : 'no rate limit'})`);
if (countSyscalls) {
  for (const n of [1, 2]) {
    const x = await run(n, true);
    console.log(`system calls of the reactors, ${n} reactor${n > 1 ? 's' : ''}: ${x.syscallsPerIo!.toFixed(3)} per I/O (${describe(x)})`);
  }
}
