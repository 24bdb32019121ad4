// Fuzzer figures (issue 19, docs/PERFORMANCE.md): execs/s per target on the coverage build against the
// same build without its counters, with 1 and 2 jobs; and for each bug planted in a test build
// (assembly/runtime/planted.ts), the time and the inputs the guided fuzzer takes to find it against
// random fuzzing without feedback (-use_counters=0, as SPDK's nvme_fuzz works). A finding counts only
// if its input runs clean on the unplanted build (so it is the planted bug, not another one).
// Usage: node build/bench/fuzz.js [--only speed|planted] [--seconds 10] [--rounds 3] [--cap 60] [--seeds 3]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const only = arg('--only', '');
const seconds = Number(arg('--seconds', '10'));
const rounds = Number(arg('--rounds', '3'));
const capS = Number(arg('--cap', '60'));
const seeds = Number(arg('--seeds', '3'));

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(root, 'build', 'bench-fuzz');
const cli = path.join(root, 'build', 'host', 'cli.js');
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]; };
fs.mkdirSync(out, { recursive: true });

/** The fuzz build as npm run build:wasm makes it, from the same sources, with extra asc flags and instrument flags. */
function buildVariant(name: string, ascFlags: string[], instrumentFlags: string[]): string {
  const plain = path.join(out, `${name}-plain.wasm`), final = path.join(out, `${name}.fuzz.wasm`);
  const asc = path.join(root, 'node_modules', '.bin', 'asc');
  execFileSync(asc, ['assembly/index.ts', 'assembly/fuzz/index.ts', '--target', 'test', '--outFile', plain, ...ascFlags], { cwd: root, stdio: 'inherit' });
  execFileSync('node', ['scripts/passive-data.mjs', plain, '--names'], { cwd: root, stdio: 'ignore' });
  execFileSync('node', ['scripts/instrument-coverage.mjs', plain, final, ...instrumentFlags], { cwd: root, stdio: 'ignore' });
  return final;
}

interface FuzzJson { execs: number; execsPerSec: number; edges: number; seconds: number; exitCode: number; findings: { kind: string; artifact: string; message: string }[] }

function fuzz(core: string | null, target: string, flags: string[]): FuzzJson {
  const corpus = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-bench-fuzz-'));
  try {
    const r = spawnSync('node', [cli, 'fuzz', target, corpus, `-artifact_prefix=${corpus}/`, '--json', ...flags], {
      env: { ...process.env, ...(core ? { WSTOR_FUZZ_CORE: core } : {}) }, encoding: 'utf8', maxBuffer: 64 << 20,
    });
    const json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as FuzzJson;
    // Keep the artifacts readable after the corpus goes: copy them out.
    json.findings = json.findings.map((f) => {
      const kept = path.join(out, path.basename(f.artifact));
      fs.copyFileSync(f.artifact, kept);
      return { ...f, artifact: kept };
    });
    return json;
  } finally {
    fs.rmSync(corpus, { recursive: true, force: true });
  }
}

/** Whether `artifact` runs clean on the normal coverage build (the planted bug, not a real one, made it a finding). */
function cleanOnUnplanted(target: string, artifact: string): boolean {
  return spawnSync('node', [cli, 'fuzz', target, artifact], { encoding: 'utf8' }).status === 0;
}

const TARGETS = ['nvmf-tcp', 'nvme-cmd', 'blob-load'];

function speed(): void {
  const bare = buildVariant('no-counters', [], ['--no-counters']);
  console.log(`execs/s, ${seconds} s per run, median of ${rounds} alternating rounds (seed fixed per round)`);
  for (const target of TARGETS) {
    for (const jobs of [1, 2]) {
      const withCov: number[] = [], without: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const flags = [`-max_total_time=${seconds}`, `-seed=${1000 + r}`, `-jobs=${jobs}`];
        withCov.push(fuzz(null, target, flags).execsPerSec);
        without.push(fuzz(bare, target, flags).execsPerSec);
      }
      const a = median(withCov), b = median(without);
      console.log(`${target} jobs=${jobs}: coverage build ${a.toFixed(0)}/s, without counters ${b.toFixed(0)}/s: ${(a / b).toFixed(2)}x [${withCov.join(' ')} | ${without.join(' ')}]`);
    }
  }
}

const PLANTED = [
  { bug: 0, name: 'log page window one dword too long', target: 'nvme-cmd' },
  { bug: 1, name: 'DSM data checked for one range fewer', target: 'nvme-cmd' },
  { bug: 2, name: 'refused capsule keeps a stale length (a9350ed)', target: 'nvmf-tcp' },
  { bug: 3, name: 'blob open leaks on a damaged md page', target: 'blob-load' },
];

function planted(): void {
  console.log(`planted bugs: time (s) and inputs to the first finding that runs clean unplanted; cap ${capS} s, ${seeds} seeds`);
  for (const p of PLANTED) {
    const core = buildVariant(`planted-${p.bug}`, ['--use', `WSTOR_PLANT=${1 << p.bug}`], []);
    for (const mode of ['guided', 'random'] as const) {
      const times: number[] = [], execs: number[] = [];
      let found = 0;
      for (let s = 0; s < seeds; s++) {
        const flags = [`-max_total_time=${capS}`, `-seed=${7 + s}`, ...(mode === 'random' ? ['-use_counters=0'] : [])];
        const r = fuzz(core, p.target, flags);
        const hit = r.findings.find((f) => cleanOnUnplanted(p.target, f.artifact));
        if (hit) { found++; times.push(r.seconds); execs.push(r.execs); } else { times.push(Infinity); execs.push(Infinity); }
        if (r.findings.length > 0 && !hit) console.log(`  (seed ${7 + s}: a finding that also crashes unplanted: ${r.findings[0].artifact})`);
      }
      console.log(`${p.target} bug ${p.bug} (${p.name}), ${mode}: found ${found}/${seeds}, median ${median(times).toFixed(1)} s, ${median(execs)} inputs [${times.map((t) => t.toFixed(1)).join(' ')}]`);
    }
  }
}

if (only !== 'planted') speed();
if (only !== 'speed') planted();
