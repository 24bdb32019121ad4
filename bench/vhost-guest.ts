// Issue 6's and 17's guest figures: a Debian guest under QEMU (TCG, 2 vCPUs, 2 queues) runs the
// harness's blk-verify-fio.sh (8 MiB pattern check, then fio 4 KiB randread qd32 and 128 KiB sequential
// read) against backends serving the same 1 GiB file, alternating, R rounds: qemu-storage-daemon and
// wstor over vhost-user-blk (qsd, wstor), and wstor's NVMe/TCP target reached by the guest kernel's
// initiator with 2 I/O queues (nvmf). Also each backend's CPU seconds (utime + stime of its process,
// from /proc) per million guest I/Os. Issue 15: `before` is another wstor build (--before-root, e.g. a
// build of main 8b6d9b7 kept in /var/tmp, with --before-mem big enough to map the guest into its
// memory) serving the same disk, and `--bdev malloc` serves a 1 GiB malloc bdev instead of the file
// from both wstor builds (the per-request cost of copying through the addon vs. the old mapping).
// Usage: node build/bench/vhost-guest.js --guest DIR [--backends qsd,wstor[,nvmf,before]] [--rounds 3] [--rt 10]
//        [--harness DIR] [--dir DIR] [--wstor-args '-m 0x1'] [--before-root DIR] [--before-mem 3GiB] [--bdev file|malloc]
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
const beforeRoot = arg('--before-root', '');
const beforeMem = arg('--before-mem', '3GiB');
const bdevKind = arg('--bdev', 'file');
if (bdevKind !== 'file' && bdevKind !== 'malloc') { console.error('--bdev takes file or malloc'); process.exit(2); }
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

type Backend = 'qsd' | 'wstor' | 'nvmf' | 'before';
const backends = arg('--backends', 'qsd,wstor').split(',') as Backend[];
if (backends.some((b) => !['qsd', 'wstor', 'nvmf', 'before'].includes(b))) { console.error('--backends takes qsd, wstor, nvmf and before'); process.exit(2); }
if (backends.includes('before') && !beforeRoot) { console.error('the before backend needs --before-root (a wstor checkout with its build)'); process.exit(2); }
if (bdevKind === 'malloc' && backends.some((b) => b === 'qsd' || b === 'nvmf')) { console.error('--bdev malloc is for the wstor vhost backends (wstor, before)'); process.exit(2); }
const NVMF_PORT = 14499;
const NQN = 'nqn.2026-12.io.wstor:bench';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000b002';

/** wstor serve exporting the file over NVMe/TCP on 127.0.0.1:NVMF_PORT (the guest reaches it through run-guest.sh -n). */
function nvmfBackend(rpcSock: string): ChildProcess {
  const listen = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(NVMF_PORT) };
  const cfg = path.join(dir, 'nvmf-config.json');
  fs.writeFileSync(cfg, JSON.stringify({ subsystems: [
    { subsystem: 'bdev', config: [{ method: 'bdev_aio_create', params: { name: 'disk', filename: img } }] },
    { subsystem: 'nvmf', config: [
      { method: 'nvmf_create_transport', params: { trtype: 'TCP' } },
      { method: 'nvmf_create_subsystem', params: { nqn: NQN, allow_any_host: true } },
      { method: 'nvmf_subsystem_add_ns', params: { nqn: NQN, namespace: { bdev_name: 'disk' } } },
      { method: 'nvmf_subsystem_add_listener', params: { nqn: NQN, listen_address: listen } },
    ] },
  ] }));
  const serveArgs = ['serve', '--config', cfg, '-r', rpcSock, '--mem', '1GiB', ...wstorArgs.split(' ').filter(Boolean)];
  return spawn(process.execPath, [path.join(ROOT, 'build', 'host', 'cli.js'), ...serveArgs], { stdio: 'ignore' });
}

/** What the guest carries in for the nvmf run: the connect helpers and the harness's fio script. */
function nvmfShare(): string {
  const share = path.join(dir, 'nvmf-share');
  fs.mkdirSync(share, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'tests', 'guest', 'nvmf-lib.sh'), path.join(share, 'nvmf-lib.sh'));
  fs.copyFileSync(path.join(harness, 'tests', 'blk-verify-fio.sh'), path.join(share, 'blk-verify-fio.sh'));
  return share;
}

/**
 * `wstor serve` of the build at `root` exporting the disk (the file, or a 1 GiB malloc bdev) as a
 * vhost-user-blk controller at `sock`; `mem`: its --mem, none when empty (the build's default).
 */
function vhostBackend(root: string, sock: string, mem: string): ChildProcess {
  const bdev = bdevKind === 'malloc'
    ? { method: 'bdev_malloc_create', params: { name: 'disk', num_blocks: 262144, block_size: 4096 } }
    : { method: 'bdev_aio_create', params: { name: 'disk', filename: img } };
  const cfg = path.join(dir, `vhost-config-${path.basename(sock)}.json`);
  fs.writeFileSync(cfg, JSON.stringify({ subsystems: [
    { subsystem: 'bdev', config: [bdev] },
    { subsystem: 'vhost_blk', config: [{ method: 'vhost_create_blk_controller', params: { ctrlr: path.basename(sock), dev_name: 'disk' } }] },
  ] }));
  const serveArgs = ['serve', '--config', cfg, '-S', path.dirname(sock), '-r', `${sock}.rpc`, ...(mem ? ['--mem', mem] : []), ...wstorArgs.split(' ').filter(Boolean)];
  return spawn(process.execPath, [path.join(root, 'build', 'host', 'cli.js'), ...serveArgs], { stdio: 'ignore' });
}

function backend(name: Backend, sock: string): ChildProcess {
  if (name === 'nvmf') return nvmfBackend(sock);
  // After issue 15 guest memory takes none of the engine's: the malloc disk is all --mem must hold.
  if (name === 'wstor') return vhostBackend(ROOT, sock, bdevKind === 'malloc' ? '2GiB' : '');
  if (name === 'before') return vhostBackend(beforeRoot, sock, beforeMem);
  return spawn('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=f0,filename=${img},cache.direct=off`,
    '--export', `type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=${sock},writable=on,num-queues=2`], { stdio: 'ignore' });
}

interface Run { randreadIops: number; seqMBs: number; cpu: number; ios: number }

async function once(name: Backend): Promise<Run> {
  const sock = path.join(dir, `${name}.sock`);
  fs.rmSync(sock, { force: true });
  const b = backend(name, sock);
  for (let i = 0; i < 300 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (name === 'nvmf') await new Promise((r) => setTimeout(r, 500));          // the config replayed after the RPC socket appeared
  const guestArgs = name === 'nvmf'
    ? ['-g', guest, '-n', String(NVMF_PORT), '-s', nvmfShare(), '-t', '300', path.join(ROOT, 'tests', 'guest', 'nvmf-blk-fio.sh'), `RT=${rt}`, `NQN=${NQN}`, `HOSTNQN=${HOSTNQN}`]
    : ['-g', guest, '-b', sock, '-q', '2', '-t', '300', path.join(harness, 'tests', 'blk-verify-fio.sh'), `RT=${rt}`];
  const out = await new Promise<string>((resolve) => {
    const g = spawn(path.join(harness, 'run-guest.sh'), guestArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
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
const runs: Record<Backend, Run[]> = { qsd: [], wstor: [], nvmf: [], before: [] };
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 === 0 ? backends : [...backends].reverse()) {
    const run = await once(name);
    runs[name].push(run);
    console.error(`round ${r + 1} ${name}: randread ${run.randreadIops} IOPS, seq ${run.seqMBs} MB/s, ${run.cpu.toFixed(2)} CPU s, ` +
      `${(run.cpu / (run.ios / 1e6)).toFixed(1)} CPU s per M I/Os`);
  }
}
const summary = (name: Backend) => ({
  randreadIops: median(runs[name].map((x) => x.randreadIops)),
  seqMBs: median(runs[name].map((x) => x.seqMBs)),
  cpuSecondsPerMillionIos: Number(median(runs[name].map((x) => x.cpu / (x.ios / 1e6))).toFixed(1)),
});
// Ratios against the first backend named (qsd by default; `--backends wstor,nvmf` compares the two wstor targets).
const base = summary(backends[0]);
const result: Record<string, unknown> = { rounds, rt, backends, bdev: bdevKind };
for (const name of backends) {
  const s = summary(name);
  result[name] = s;
  if (name !== backends[0]) {
    result[`${name}/${backends[0]}`] = { randread: Number((s.randreadIops / base.randreadIops).toFixed(2)), seq: Number((s.seqMBs / base.seqMBs).toFixed(2)), cpuPerIo: Number((s.cpuSecondsPerMillionIos / base.cpuSecondsPerMillionIos).toFixed(2)) };
  }
}
result.all = Object.fromEntries(backends.map((b) => [b, runs[b]]));
console.log(JSON.stringify(result, null, 1));
