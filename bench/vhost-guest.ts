// Issue 6's figures: a Debian guest under QEMU (TCG, 2 vCPUs, 2 queues) runs the harness's
// blk-verify-fio.sh (8 MiB pattern check, then fio 4 KiB randread qd32 and 128 KiB sequential read)
// against qemu-storage-daemon and against wstor serving the same 1 GiB file, alternating, R rounds.
// Also the backend's CPU seconds (utime + stime of its process, from /proc) per million guest I/Os.
// Usage: node build/bench/vhost-guest.js --guest DIR [--rounds 3] [--rt 10] [--harness DIR] [--dir DIR]
//        [--wstor-args '-m 0x1']
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const guest = arg('--guest', process.env.WSTOR_GUEST ?? '');
const rounds = Number(arg('--rounds', '3'));
const rt = Number(arg('--rt', '10'));
const harness = arg('--harness', path.resolve(ROOT, '..', 'shared', 'harness'));
const dir = arg('--dir', fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-bench-')));
fs.mkdirSync(dir, { recursive: true });
const wstorArgs = arg('--wstor-args', '');
const TICKS = 100;                                   // USER_HZ

if (!guest) { console.error('--guest DIR (a guest built with the harness\'s build-guest.sh) is required'); process.exit(2); }

const img = path.join(dir, 'disk.img');
if (!fs.existsSync(img)) {
  const chunk = Buffer.alloc(4 << 20);
  const fd = fs.openSync(img, 'w');
  for (let i = 0; i < 256; i++) { for (let j = 0; j < chunk.length; j += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, j); fs.writeSync(fd, chunk); }
  fs.closeSync(fd);
}

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS;      // utime, stime (fields 14, 15)
}

function backend(name: 'qsd' | 'wstor', sock: string): ChildProcess {
  if (name === 'qsd') {
    return spawn('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=f0,filename=${img},cache.direct=off`,
      '--export', `type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=${sock},writable=on,num-queues=2`], { stdio: 'ignore' });
  }
  return spawn(path.join(ROOT, 'scripts', 'vhost-backend.sh'), [sock, img], { stdio: 'ignore', env: { ...process.env, WSTOR_SERVE_ARGS: wstorArgs } });
}

interface Run { randreadIops: number; seqMBs: number; cpu: number; ios: number }

async function once(name: 'qsd' | 'wstor'): Promise<Run> {
  const sock = path.join(dir, `${name}.sock`);
  fs.rmSync(sock, { force: true });
  const b = backend(name, sock);
  for (let i = 0; i < 300 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  const out = await new Promise<string>((resolve) => {
    const g = spawn(path.join(harness, 'run-guest.sh'), ['-g', guest, '-b', sock, '-q', '2', '-t', '300', path.join(harness, 'tests', 'blk-verify-fio.sh'), `RT=${rt}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    g.stdout.on('data', (d) => { text += d; });
    g.stderr.on('data', (d) => { text += d; });
    g.on('exit', () => resolve(text));
  });
  // The exec'd wrapper is node itself for wstor; for qsd the daemon.
  const cpu = cpuSeconds(b.pid!);
  b.kill('SIGTERM');
  await new Promise((r) => b.on('exit', r));
  const iops = Number(/FIO randread4k qd32: IOPS=(\d+)/.exec(out)?.[1]);
  const bw = Number(/FIO seqread128k qd8: BW=([\d.]+)MB\/s/.exec(out)?.[1]);
  if (!/PATTERN_OK/.test(out) || !iops || !bw) throw new Error(`${name}: the guest run failed:\n${out}`);
  const ios = iops * rt + (bw * 1e6 / 131072) * rt;
  return { randreadIops: iops, seqMBs: bw, cpu, ios };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs: Record<'qsd' | 'wstor', Run[]> = { qsd: [], wstor: [] };
for (let r = 0; r < rounds; r++) {
  for (const name of (r % 2 === 0 ? ['qsd', 'wstor'] : ['wstor', 'qsd']) as ('qsd' | 'wstor')[]) {
    const run = await once(name);
    runs[name].push(run);
    console.error(`round ${r + 1} ${name}: randread ${run.randreadIops} IOPS, seq ${run.seqMBs} MB/s, ${run.cpu.toFixed(2)} CPU s, ` +
      `${(run.cpu / (run.ios / 1e6)).toFixed(1)} CPU s per M I/Os`);
  }
}
const summary = (name: 'qsd' | 'wstor') => ({
  randreadIops: median(runs[name].map((x) => x.randreadIops)),
  seqMBs: median(runs[name].map((x) => x.seqMBs)),
  cpuSecondsPerMillionIos: Number(median(runs[name].map((x) => x.cpu / (x.ios / 1e6))).toFixed(1)),
});
const q = summary('qsd'), w = summary('wstor');
console.log(JSON.stringify({
  rounds, rt, qsd: q, wstor: w,
  ratio: { randread: Number((w.randreadIops / q.randreadIops).toFixed(2)), seq: Number((w.seqMBs / q.seqMBs).toFixed(2)), cpuPerIo: Number((w.cpuSecondsPerMillionIos / q.cpuSecondsPerMillionIos).toFixed(2)) },
  all: runs,
}, null, 1));
