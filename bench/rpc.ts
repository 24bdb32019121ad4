// Issue 5's figures, against a real `wstor serve` child process over its unix socket:
// - RPC round trip of bdev_get_bdevs with 100 bdevs (one client, one call at a time): median, p99;
// - bdev_lvol_create per second (one call at a time, as a script would; and 16 in flight);
// - start-up of `wstor serve --config` with 100 bdevs and 10 lvstores (spawn to "ready"), median of rounds.
// Usage: node build/bench/rpc.js [--rounds N] [--calls N] [--lvols N] [--dir DIR]
// With --scale, issue 14's figures instead (bench/rpc-scale.ts): per 4 KiB malloc bdev the engine bytes,
// bdev_get_bdevs' round trip and another client's wait, for --counts (default 1000,4000,12000), each the
// median of --calls (default 7); --compare DIR runs an older build in turn (a checkout with build/ in it).
//   node build/bench/rpc.js --scale --compare /tmp/wstor-old
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '../host/rpc/index.js';
import { scaleBench } from './rpc-scale.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'host', 'cli.js');
const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '5'));
const calls = Number(arg('--calls', '2000'));
const lvols = Number(arg('--lvols', '1000'));
const dir = fs.mkdtempSync(path.join(arg('--dir', os.tmpdir()), 'wstor-bench-rpc-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** Start serve; resolves with the socket and how long it took to say "ready". */
async function serve(extra: string[]): Promise<{ socket: string; ms: number; stop: () => Promise<void> }> {
  const socket = path.join(dir, `s${Math.random().toString(36).slice(2)}.sock`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'serve', '-r', socket, '--mem', '1GiB', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d) => { err += d; if (/ready on/.test(err)) resolve(performance.now() - t0); });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  const ms = await ready;                 // logged once the config has been replayed
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { socket, ms, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

async function roundTrip(): Promise<{ medianUs: number; p99Us: number }> {
  const s = await serve(['--no-config']);
  const c = await RpcClient.connect({ socket: s.socket });
  for (let i = 0; i < 100; i++) await c.call('bdev_null_create', { name: `null${i}`, num_blocks: 1024, block_size: 4096 });
  const us: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const r = await c.call('bdev_get_bdevs') as unknown[];
    us.push((performance.now() - t) * 1000);
    if (r.length !== 100) throw new Error(`expected 100 bdevs, got ${r.length}`);
  }
  c.close();
  await s.stop();
  return { medianUs: median(us), p99Us: pct(us, 0.99) };
}

async function lvolCreates(inFlight: number): Promise<number> {
  const s = await serve(['--no-config']);
  const c = await RpcClient.connect({ socket: s.socket });
  await c.call('bdev_malloc_create', { name: 'm', num_blocks: (512 << 20) / 4096, block_size: 4096 });
  await c.call('bdev_lvol_create_lvstore', { bdev_name: 'm', lvs_name: 'lvs', cluster_sz: 1 << 16 });   // one md page per cluster: room for the lvols
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < lvols) {
      const i = next++;
      await c.call('bdev_lvol_create', { lvs_name: 'lvs', lvol_name: `v${i}`, size_in_mib: 1, thin_provision: true });
    }
  }));
  const perSecond = lvols / ((performance.now() - t) / 1000);
  c.close();
  await s.stop();
  return perSecond;
}

/** A config of 90 null bdevs and 10 file bdevs each carrying an lvstore with 4 lvols (made once). */
async function startupConfig(): Promise<string> {
  const entries: { method: string; params: Record<string, unknown> }[] = [];
  for (let i = 0; i < 90; i++) entries.push({ method: 'bdev_null_create', params: { name: `null${i}`, num_blocks: 262144, block_size: 4096 } });
  for (let i = 0; i < 10; i++) {
    const file = path.join(dir, `disk${i}.img`);
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, 64 << 20);
    entries.push({ method: 'bdev_uring_create', params: { name: `disk${i}`, filename: file } });
  }
  entries.push({ method: 'bdev_wait_for_examine', params: {} });
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ subsystems: [{ subsystem: 'bdev', config: entries }] }));
  const s = await serve(['--config', config]);
  const c = await RpcClient.connect({ socket: s.socket });
  for (let i = 0; i < 10; i++) {
    await c.call('bdev_lvol_create_lvstore', { bdev_name: `disk${i}`, lvs_name: `lvs${i}`, cluster_sz: 1 << 20 });
    for (let j = 0; j < 4; j++) await c.call('bdev_lvol_create', { lvs_name: `lvs${i}`, lvol_name: `v${j}`, size_in_mib: 8, thin_provision: true });
  }
  c.close();
  await s.stop();
  return config;
}

async function main() {
  const out: Record<string, number[]> = { rtMedianUs: [], rtP99Us: [], lvolCreate1: [], lvolCreate16: [], startupMs: [], startupEmptyMs: [] };
  const config = await startupConfig();
  for (let r = 0; r < rounds; r++) {
    const rt = await roundTrip();
    out.rtMedianUs.push(rt.medianUs); out.rtP99Us.push(rt.p99Us);
    out.lvolCreate1.push(await lvolCreates(1));
    out.lvolCreate16.push(await lvolCreates(16));
    for (const [key, extra] of [['startupMs', ['--config', config]], ['startupEmptyMs', ['--no-config']]] as const) {
      const s = await serve([...extra]);
      out[key].push(s.ms);
      const c = await RpcClient.connect({ socket: s.socket });
      if (key === 'startupMs') {
        const n = (await c.call('bdev_get_bdevs') as unknown[]).length;
        if (n !== 140) throw new Error(`expected 100 bdevs and 40 lvols, got ${n}`);
      }
      c.close();
      await s.stop();
    }
    console.error(`round ${r + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v[v.length - 1])])))}`);
  }
  const med = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(median(v))]));
  console.log(JSON.stringify({ rounds, calls, lvols, median: med, all: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.map(Math.round)])) }, null, 1));
  fs.rmSync(dir, { recursive: true, force: true });
}

if (args.includes('--scale')) {
  const counts = arg('--counts', '1000,4000,12000').split(',').map(Number);
  const figures = await scaleBench(counts, Number(arg('--calls', '7')), args.includes('--compare') ? arg('--compare', '') : undefined);
  console.log(JSON.stringify(figures, null, 1));
  fs.rmSync(dir, { recursive: true, force: true });
} else {
  await main();
}
