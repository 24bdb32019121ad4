// Issue 17's target figure without a guest's cap: wstor's NVMe/TCP target on loopback, a null bdev,
// 4 KiB random reads at queue depth 128, driven by a load generator on the host (the TypeScript
// initiator, tests/helpers/nvme-tcp-client.ts, in worker threads: one controller and one I/O queue
// per worker). IOPS and p99 latency with 1 target reactor and with 2, alternating, R rounds; the
// target's CPU seconds per million I/Os; and the generator's own ceiling (the same workers against a
// target that answers without a bdev is not available, so the generator's CPU share is reported).
// Usage: node build/bench/nvmf-tcp.js [--rounds 3] [--seconds 5] [--workers 2] [--qd 128] [--digests]
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Engine } from '../host/index.js';
import { NvmeTcpController } from '../tests/helpers/nvme-tcp-client.js';
import { readSqe } from '../tests/helpers/nvme-tcp-pdu.js';

const NQN = 'nqn.2026-12.io.wstor:bench';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000b001';
const BLOCKS = 262144;                                   // 1 GiB of 4 KiB blocks

interface Job { port: number; qd: number; seconds: number; digests: boolean }
interface JobResult { ios: number; latNs: number[]; seconds: number; cpuUs: number }

/** One worker: a controller, one I/O queue, `qd` random 4 KiB reads kept in flight for `seconds`. */
async function generator(job: Job): Promise<JobResult> {
  const ctrl = await NvmeTcpController.connect({ host: '127.0.0.1', port: job.port, subnqn: NQN, hostnqn: HOSTNQN, hdgst: job.digests, ddgst: job.digests });
  const io = await ctrl.ioQueue(1, job.qd + 1);
  const latNs: number[] = [];
  let ios = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(job.seconds * 1e9);
  const one = async (): Promise<void> => {
    while (process.hrtime.bigint() < end) {
      const start = process.hrtime.bigint();
      const c = await io.submit(readSqe(1, Math.floor(Math.random() * BLOCKS), 1), { readBytes: 4096 });
      if (c.cqe.status !== 0) throw new Error(`read failed: status 0x${c.cqe.status.toString(16)}`);
      latNs.push(Number(process.hrtime.bigint() - start));
      ios++;
    }
  };
  await Promise.all(Array.from({ length: job.qd }, one));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await io.close();
  await ctrl.close();
  return { ios, latNs, seconds, cpuUs: cpu.user + cpu.system };
}

if (!isMainThread) {
  generator(workerData as Job).then((r) => parentPort!.postMessage(r), (e: Error) => parentPort!.postMessage({ error: e.message }));
} else {
  const args = process.argv.slice(2);
  const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
  const rounds = Number(arg('--rounds', '3'));
  const seconds = Number(arg('--seconds', '5'));
  const workers = Number(arg('--workers', '2'));
  const qd = Number(arg('--qd', '128'));
  const digests = args.includes('--digests');
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

  const freePort = async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  };

  const cpuOfProcess = () => { const u = process.cpuUsage(); return u.user + u.system; };

  /** One run: a fresh engine with `reactors`, `workers` generators splitting qd between them. */
  const run = async (reactors: number) => {
    const engine = await Engine.start({ reactors, memoryBytes: 512 << 20, logLevel: 'error' });
    try {
      engine.bdev.createNull('n0', { blockCount: BLOCKS });
      const port = await freePort();
      await engine.nvmf.createTransport('TCP', {});
      await engine.nvmf.createSubsystem(NQN, { allowAnyHost: true });
      await engine.nvmf.addNamespace(NQN, { bdev: 'n0' });
      await engine.nvmf.addListener(NQN, { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(port) });
      const cpu0 = cpuOfProcess();
      const results = await Promise.all(Array.from({ length: workers }, () => new Promise<JobResult>((resolve, reject) => {
        const w = new Worker(fileURLToPath(import.meta.url), { workerData: { port, qd: Math.ceil(qd / workers), seconds, digests } satisfies Job });
        w.once('message', (m: JobResult & { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m)));
        w.once('error', reject);
      })));
      // The whole process's CPU (reactors and generators share it); the generators' own is subtracted.
      const genCpuUs = results.reduce((a, r) => a + r.cpuUs, 0);
      const totalCpuUs = cpuOfProcess() - cpu0;
      const ios = results.reduce((a, r) => a + r.ios, 0);
      const secs = Math.max(...results.map((r) => r.seconds));
      const lat = results.flatMap((r) => r.latNs).sort((a, b) => a - b);
      return {
        iops: ios / secs, p99us: lat[Math.floor(lat.length * 0.99)] / 1000, p50us: lat[Math.floor(lat.length / 2)] / 1000,
        targetCpuPerMio: ((totalCpuUs - genCpuUs) / 1e6) / (ios / 1e6), generatorCpuShare: genCpuUs / Math.max(1, totalCpuUs),
      };
    } finally {
      await engine.stop();
    }
  };

  const one: Awaited<ReturnType<typeof run>>[] = [], two: Awaited<ReturnType<typeof run>>[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first: the machine drifts.
    if (r % 2 === 0) { one.push(await run(1)); two.push(await run(2)); } else { two.push(await run(2)); one.push(await run(1)); }
    console.log(`round ${r + 1}: 1 reactor ${one[r].iops.toFixed(0)} IOPS p99 ${one[r].p99us.toFixed(0)} µs; 2 reactors ${two[r].iops.toFixed(0)} IOPS p99 ${two[r].p99us.toFixed(0)} µs`);
  }
  const show = (name: string, xs: typeof one) => console.log(`${name}: median ${median(xs.map((x) => x.iops)).toFixed(0)} IOPS, p50 ${median(xs.map((x) => x.p50us)).toFixed(0)} µs, p99 ${median(xs.map((x) => x.p99us)).toFixed(0)} µs, target CPU ${median(xs.map((x) => x.targetCpuPerMio)).toFixed(1)} s per million I/Os, generator ${(100 * median(xs.map((x) => x.generatorCpuShare))).toFixed(0)} % of the process's CPU`);
  show('1 target reactor ', one);
  show('2 target reactors', two);
  console.log(`scaling 1 -> 2 reactors: ${(median(two.map((x) => x.iops)) / median(one.map((x) => x.iops))).toFixed(2)}x (workers ${workers}, qd ${qd}, digests ${digests ? 'on' : 'off'})`);
}
