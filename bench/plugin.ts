// Issue 20's figures: what a plugin costs per I/O.
//  - Through the engine, one reactor, 4 KiB, qd 32: randread and randwrite on a bdev alone and on the
//    same kind of bdev under the WAT pass-through plugin (build/plugins/passthru.wasm), over malloc and
//    over a file (buffered, hot page cache). The pair runs in one engine, taking turns round by round.
//  - The host's side of one call, no engine (ReactorPlugins.io over a 4 KiB write): the pass-through and
//    a plugin that touches every byte (inverts it), each metered and without the charges (the fuel global
//    only), copying with TypedArray.set and with the addon's memcpy.
// Usage: node build/bench/plugin.js [--rounds N] [--seconds S] [--dir PATH] [--calls-only]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../host/index.js';
import { EVENT_PERF_JOB_DONE } from '../host/core-abi.js';
import { preparePlugin } from '../host/plugins/prepare.js';
import { ReactorPlugins } from '../host/plugins/reactor-plugins.js';
import { loadNative } from '../host/native/index.js';
import type { Platform } from '../host/platform.js';
import { DEFAULT_LIMITS, OP_WRITE } from '../host/plugins/abi.js';
import { pluginBytes } from '../tests/helpers/plugin-wat.js';

type Core = Record<string, (...args: number[]) => number>;
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const rounds = Number(arg('--rounds', '5'));
const seconds = Number(arg('--seconds', '3'));
const dir = arg('--dir', '/var/tmp');
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const built = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'plugins');
const passthru = new Uint8Array(fs.readFileSync(path.join(built, 'passthru.wasm')));

const RANDREAD = 0, RANDWRITE = 1;
const BLOCKS = 65536;                  // 256 MiB of 4 KiB blocks

/** One perf run on bdev `id`: IOPS. */
async function iops(engine: Engine, id: number, workload: number): Promise<number> {
  const core = engine.core as unknown as Core;
  const done = new Promise<void>((resolve) => { const off = engine.onEvent((e) => { if (e.kind === EVENT_PERF_JOB_DONE) { off(); resolve(); } }); });
  const run = core.perf_start(id, 1, workload, 0, 32, 4096, seconds * 1000, 1, 0);
  if (run <= 0) throw new Error(`perf_start: ${run}`);
  await done;
  const rate = core.perf_stat(run, 0, 0) / (core.perf_stat(run, 0, 11) / 1e6);
  const errors = core.perf_stat(run, 0, 2);
  core.perf_free(run);
  if (errors > 0) throw new Error(`${errors} I/O errors`);
  return rate;
}

async function throughEngine(kind: 'malloc' | 'file'): Promise<void> {
  const engine = await Engine.start({ reactors: 1, memoryBytes: 768 << 20, logLevel: 'error' });
  const files: string[] = [];
  try {
    const make = (name: string) => {
      if (kind === 'malloc') return engine.bdev.createMalloc(name, { blockCount: BLOCKS });
      const file = path.join(dir, `wstor-bench-plugin-${process.pid}-${name}.img`);
      fs.writeFileSync(file, Buffer.alloc(BLOCKS * 4096, 1));
      files.push(file);
      return engine.bdev.createFile(name, { path: file }).id;
    };
    const alone = make('alone');
    make('base');
    const plugged = await engine.bdev.createPlugin('plugged', 'base', { module: passthru });
    await engine.bdev.waitForExamine();          // examine holds a new bdev's claim for a moment
    for (const [label, workload] of [['randread', RANDREAD], ['randwrite', RANDWRITE]] as const) {
      const a: number[] = [], p: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // Who goes first alternates: a drift of the machine during a round falls on both.
        const order = r % 2 === 0 ? [[alone, a], [plugged, p]] as const : [[plugged, p], [alone, a]] as const;
        for (const [id, out] of order) out.push(await iops(engine, id, workload));
      }
      const ma = median(a), mp = median(p);
      const overheadUs = (1 / mp - 1 / ma) * 1e6;
      console.log(`${kind} ${label}: alone ${(ma / 1e3).toFixed(0)} k IOPS, plugin ${(mp / 1e3).toFixed(0)} k IOPS ` +
        `(${(mp / ma).toFixed(2)}x; +${overheadUs.toFixed(2)} µs per I/O)  rounds: ${a.map((x) => (x / 1e3).toFixed(0)).join('/')} vs ${p.map((x) => (x / 1e3).toFixed(0)).join('/')}`);
    }
  } finally {
    await engine.stop();
    for (const f of files) fs.rmSync(f, { force: true });
  }
}

const native = loadNative();
const memcpy: Platform['memoryCopy'] = native ? { from: native.copyFromMemory, into: native.copyIntoMemory } : undefined;

/**
 * The host's side of one 4 KiB write, as a reactor runs it (ReactorPlugins.io: the iovec read and
 * checked, the data copied into the window, wstor_io, the window copied out), in calls per second.
 */
function callRate(module: Uint8Array, charge: boolean, copy: Platform['memoryCopy']): number {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
  const plugins = new ReactorPlugins(memory, () => {}, copy);
  const mem = new Uint8Array(memory.buffer);
  const metered = preparePlugin(module, DEFAULT_LIMITS, { charge });
  const MODULE = 65536, IOVS = 1024, DATA = 1 << 20, OUT = 2 << 20;
  mem.set(metered, MODULE);
  if (plugins.open(1, MODULE, metered.length, MODULE + metered.length, 0, 4096, DEFAULT_LIMITS.fuel, 0) !== 0) throw new Error('open failed');
  const view = new DataView(memory.buffer);
  const calls = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    view.setUint32(IOVS, DATA + 4096 * (i & 127), true);
    view.setUint32(IOVS + 4, 4096, true);
    if (plugins.io(1, OP_WRITE, i, 1, IOVS, 1, OUT + 4096 * (i & 63), 0, 64 * 65536) !== 0) throw new Error('plugin_io failed');
  }
  return calls / ((performance.now() - t0) / 1000);
}

function calls(): void {
  const cases: Array<[string, Uint8Array, boolean, Platform['memoryCopy']]> = [
    ['pass-through, metered, TypedArray.set', passthru, true, undefined],
    ['pass-through, without charges, TypedArray.set', passthru, false, undefined],
    ['invert every byte, metered, TypedArray.set', pluginBytes(), true, undefined],
    ['invert every byte, without charges, TypedArray.set', pluginBytes(), false, undefined],
  ];
  if (memcpy) cases.push(['pass-through, metered, the addon\'s memcpy', passthru, true, memcpy], ['invert every byte, metered, the addon\'s memcpy', pluginBytes(), true, memcpy]);
  const rates = cases.map((): number[] => []);
  // Round by round, every case once: a drift of the machine falls on all of them.
  for (let r = 0; r < rounds; r++) cases.forEach(([, module, charge, copy], i) => rates[i].push(callRate(module, charge, copy)));
  cases.forEach(([label], i) => console.log(`call, ${label}: ${(1e6 / median(rates[i])).toFixed(2)} µs per 4 KiB write (rounds: ${rates[i].map((x) => (1e6 / x).toFixed(2)).join('/')})`));
}

calls();
if (!args.includes('--calls-only')) {
  await throughEngine('malloc');
  await throughEngine('file');
}
