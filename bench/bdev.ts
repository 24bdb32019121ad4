// Issue 3's figures, each side by side with its comparison in the same run, alternating:
//  - null bdev, 4 KiB, qd 128: 1 reactor, and 2 reactors against 1. Randread twice: into perf's buffers
//    (each read zero-fills one: shown next to memory.fill of 4 KiB into one of 128 buffers, which bounds it
//    from above) and with -Z, reads without a buffer that the null bdev lends its zeroes (as SPDK's does):
//    the bdev layer's own cost;
//  - malloc bdev, 4 KiB randread over 1 GiB, against memory.copy of random 4 KiB blocks of the same span into
//    one buffer (the comparison), and into 128 buffers in turn, as the qd-128 job reads;
//  - file bdev, 4 KiB randread qd 32, 1 reactor, O_DIRECT and buffered hot-cache, against fio's io_uring
//    engine on the same file. The two take turns going first, round by round (the virtual disk drifts).
// Usage: node build/bench/bdev.js [--rounds N] [--seconds S] [--file PATH] [--skip-file | --file-only]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../host/index.js';
import { EVENT_TEST, EVENT_PERF_JOB_DONE } from '../host/core-abi.js';

type Core = Record<string, (...args: number[]) => number>;
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const rounds = Number(arg('--rounds', '5'));
const seconds = Number(arg('--seconds', '5'));
const filePath = arg('--file', '/var/tmp/wstor-bench.img');
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'host', 'cli.js');

/** One perf run in this process, on a fresh engine: total IOPS. */
async function perfIops(kind: 'null' | 'malloc', reactors: number, workload: number, zcopy = false): Promise<number> {
  const engine = await Engine.start({ reactors, memoryBytes: kind === 'malloc' ? 1200 << 20 : 256 << 20 });
  try {
    const id = kind === 'null' ? engine.bdev.createNull('b', { blockCount: 262144 }) : engine.bdev.createMalloc('b', { blockCount: 262144 });
    const core = engine.core as unknown as Core;
    const done = new Promise<void>((resolve) => { let n = 0; engine.onEvent((e) => { if (e.kind === EVENT_PERF_JOB_DONE && ++n === reactors) resolve(); }); });
    const run = core.perf_start(id, reactors, workload, 0, 128, 4096, seconds * 1000, 1, zcopy ? 1 : 0);
    await done;
    let iops = 0;
    for (let j = 0; j < reactors; j++) iops += core.perf_stat(run, j, 0) / (core.perf_stat(run, j, 11) / 1e6);
    core.perf_free(run);
    return iops;
  } finally {
    await engine.stop();
  }
}

/** memory.copy of random 4 KiB blocks out of a 1 GiB malloc bdev into `buffers` buffers in turn, on one reactor: copies per second. */
async function memcopyRate(buffers: number): Promise<number> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 1200 << 20, core: 'core-test' });
  try {
    const id = engine.bdev.createMalloc('b', { blockCount: 262144 });
    const core = engine.core as unknown as Core;
    const t = core.b_thread(0);
    const count = 20_000_000;
    const got = new Promise<number>((resolve) => engine.onEvent((e) => { if (e.kind === EVENT_TEST && e.a === 5) resolve(e.c / (e.b / 1e6)); }));
    core.b_memcopy(t, id, count, buffers);
    return await got;
  } finally {
    await engine.stop();
  }
}

/** memory.fill of 4 KiB into one of 128 random buffers, on one reactor: fills per second. */
async function memfillRate(): Promise<number> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 256 << 20, core: 'core-test' });
  try {
    const core = engine.core as unknown as Core;
    const t = core.b_thread(0);
    const got = new Promise<number>((resolve) => engine.onEvent((e) => { if (e.kind === EVENT_TEST && e.a === 7) resolve(e.c / (e.b / 1e6)); }));
    core.b_memfill(t, 128, 50_000_000);
    return await got;
  } finally {
    await engine.stop();
  }
}

function wstorFileIops(direct: boolean): number {
  const out = execFileSync(process.execPath, [cli, 'perf', '--bdev', `file:${filePath}${direct ? ':direct' : ''}`, '-w', 'randread',
    '-q', '32', '-o', '4096', '-t', String(seconds), '-r', '1', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out).total.iops;
}

function fioIops(direct: boolean): number {
  const out = execFileSync('fio', ['--name=bench', `--filename=${filePath}`, '--ioengine=io_uring', '--rw=randread', '--bs=4k',
    '--iodepth=32', `--direct=${direct ? 1 : 0}`, '--invalidate=0', `--runtime=${seconds}`, '--time_based', '--numjobs=1',
    '--output-format=json'], { encoding: 'utf8' });
  return JSON.parse(out).jobs[0].read.iops;
}

function prepareFile(): void {
  const size = 1 << 30;
  if (fs.existsSync(filePath) && fs.statSync(filePath).size === size) return;
  const fd = fs.openSync(filePath, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  for (let off = 0; off < size; off += chunk.length) fs.writeSync(fd, chunk, 0, chunk.length, off);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

async function main() {
  console.log(`${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}, ${rounds} rounds of ${seconds} s, medians`);
  const rows: string[] = [];
  const nullRead1: number[] = [], nullRead2: number[] = [], nullWrite1: number[] = [], nullWrite2: number[] = [];
  const nullLent1: number[] = [], nullLent2: number[] = [];
  const mallocRead: number[] = [], copy: number[] = [], copy128: number[] = [], fill: number[] = [];
  for (let r = 0; r < rounds && !args.includes('--file-only'); r++) {
    nullRead1.push(await perfIops('null', 1, 0));
    nullRead2.push(await perfIops('null', 2, 0));
    nullLent1.push(await perfIops('null', 1, 0, true));
    nullLent2.push(await perfIops('null', 2, 0, true));
    nullWrite1.push(await perfIops('null', 1, 1));
    nullWrite2.push(await perfIops('null', 2, 1));
    mallocRead.push(await perfIops('malloc', 1, 0));
    copy.push(await memcopyRate(1));
    copy128.push(await memcopyRate(128));
    fill.push(await memfillRate());
    console.log(`  round ${r + 1}: null read ${(nullRead1.at(-1)! / 1e6).toFixed(2)}/${(nullRead2.at(-1)! / 1e6).toFixed(2)} M, ` +
      `-Z ${(nullLent1.at(-1)! / 1e6).toFixed(2)}/${(nullLent2.at(-1)! / 1e6).toFixed(2)} M, ` +
      `null write ${(nullWrite1.at(-1)! / 1e6).toFixed(2)}/${(nullWrite2.at(-1)! / 1e6).toFixed(2)} M, ` +
      `malloc read ${(mallocRead.at(-1)! / 1e6).toFixed(2)} M vs memory.copy ${(copy.at(-1)! / 1e6).toFixed(2)} M ` +
      `(into 128 buffers ${(copy128.at(-1)! / 1e6).toFixed(2)} M), ` +
      `4 KiB fill ${(fill.at(-1)! / 1e6).toFixed(2)} M/s`);
  }
  if (!args.includes('--file-only')) {
  const ns = (perSecond: number) => (1e9 / perSecond).toFixed(0);
  rows.push(`null randread 4 KiB qd128, 1 reactor: ${(median(nullRead1) / 1e6).toFixed(2)} M IOPS (${ns(median(nullRead1))} ns/IO); 2 reactors ${(median(nullRead2) / 1e6).toFixed(2)} M (${(median(nullRead2) / median(nullRead1)).toFixed(2)} x)`);
  rows.push(`null randread -Z (the bdev lends its zeroes) 4 KiB qd128, 1 reactor: ${(median(nullLent1) / 1e6).toFixed(2)} M IOPS (${ns(median(nullLent1))} ns/IO); 2 reactors ${(median(nullLent2) / 1e6).toFixed(2)} M (${(median(nullLent2) / median(nullLent1)).toFixed(2)} x)`);
  rows.push(`null randwrite 4 KiB qd128, 1 reactor: ${(median(nullWrite1) / 1e6).toFixed(2)} M IOPS (${ns(median(nullWrite1))} ns/IO); 2 reactors ${(median(nullWrite2) / 1e6).toFixed(2)} M (${(median(nullWrite2) / median(nullWrite1)).toFixed(2)} x)`);
  rows.push(`4 KiB memory.fill into 1 of 128 buffers (each null read does one): ${(median(fill) / 1e6).toFixed(2)} M/s (${ns(median(fill))} ns); null randread / fill ${median(nullRead1.map((x, i) => x / fill[i])).toFixed(2)} x`);
  rows.push(`malloc randread 4 KiB over 1 GiB: ${(median(mallocRead) / 1e6).toFixed(2)} M IOPS vs memory.copy ${(median(copy) / 1e6).toFixed(2)} M/s (${median(mallocRead.map((x, i) => x / copy[i])).toFixed(2)} x); ` +
    `vs memory.copy into 128 buffers in turn, as the qd-128 job reads, ${(median(copy128) / 1e6).toFixed(2)} M/s (${median(mallocRead.map((x, i) => x / copy128[i])).toFixed(2)} x)`);
  }
  if (!args.includes('--skip-file')) {
    prepareFile();
    for (const direct of [true, false]) {
      if (!direct) execFileSync('cat', [filePath], { stdio: ['ignore', 'ignore', 'ignore'], maxBuffer: 1 << 20 });   // hot page cache
      const ours: number[] = [], fio: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (r % 2 === 0) { ours.push(wstorFileIops(direct)); fio.push(fioIops(direct)); } else { fio.push(fioIops(direct)); ours.push(wstorFileIops(direct)); }
        console.log(`  ${direct ? 'O_DIRECT' : 'buffered'} round ${r + 1} (${r % 2 === 0 ? 'wstor' : 'fio'} first): wstor ${Math.round(ours.at(-1)!)} IOPS, ` +
          `fio ${Math.round(fio.at(-1)!)} IOPS (${(ours.at(-1)! / fio.at(-1)!).toFixed(3)} x)`);
      }
      rows.push(`file randread 4 KiB qd32, ${direct ? 'O_DIRECT' : 'buffered hot-cache'}: wstor ${Math.round(median(ours))} IOPS vs fio io_uring ${Math.round(median(fio))} (median ratio ${median(ours.map((x, i) => x / fio[i])).toFixed(2)} x)`);
    }
  }
  console.log('');
  for (const r of rows) console.log(r);
}

await main();
