// `wstor fuzz` options in libFuzzer's spelling (-name=value), checked once: a bad value is a usage
// error naming the flag and what it takes.
import { UsageError } from '../cli/args.js';
export interface FuzzOptions {
  target: string;
  /** Corpus directories (new inputs go into the first), or input files to replay. */
  paths: string[];
  runs: number;             // -1: until -max_total_time or a finding
  maxTotalTimeS: number;    // 0: no limit
  maxLen: number;           // 0: the target's default, or the longest corpus input
  seed: number;             // 0: from the clock
  jobs: number;
  dict: string | null;
  timeoutS: number;
  artifactPrefix: string;
  minimizeCrash: boolean;
  merge: boolean;
  ignoreCrashes: boolean;
  ignoreTimeouts: boolean;
  mutateDepth: number;
  /** 0: random fuzzing without feedback (as SPDK's nvme_fuzz): mutate only the starting inputs, keep nothing new. */
  useCounters: boolean;
  json: boolean;
  list: boolean;
}

const FLAGS: Record<string, { key: keyof FuzzOptions; min: number; max: number } | { key: keyof FuzzOptions; text: true }> = {
  runs: { key: 'runs', min: -1, max: Number.MAX_SAFE_INTEGER },
  max_total_time: { key: 'maxTotalTimeS', min: 0, max: 365 * 86400 },
  max_len: { key: 'maxLen', min: 0, max: 16 << 20 },
  seed: { key: 'seed', min: 0, max: 0xffffffff },
  jobs: { key: 'jobs', min: 1, max: 64 },
  workers: { key: 'jobs', min: 1, max: 64 },
  timeout: { key: 'timeoutS', min: 1, max: 86400 },
  mutate_depth: { key: 'mutateDepth', min: 1, max: 64 },
  minimize_crash: { key: 'minimizeCrash', min: 0, max: 1 },
  merge: { key: 'merge', min: 0, max: 1 },
  ignore_crashes: { key: 'ignoreCrashes', min: 0, max: 1 },
  ignore_timeouts: { key: 'ignoreTimeouts', min: 0, max: 1 },
  use_counters: { key: 'useCounters', min: 0, max: 1 },
  dict: { key: 'dict', text: true },
  artifact_prefix: { key: 'artifactPrefix', text: true },
};

export function parseFuzzArgs(argv: string[]): FuzzOptions {
  const o: FuzzOptions = {
    target: '', paths: [], runs: -1, maxTotalTimeS: 0, maxLen: 0, seed: 0, jobs: 1, dict: null, timeoutS: 10,
    artifactPrefix: './', minimizeCrash: false, merge: false, ignoreCrashes: false, ignoreTimeouts: false, mutateDepth: 5,
    useCounters: true, json: false, list: false,
  };
  const rest: string[] = [];
  for (const arg of argv) {
    if (arg === '--list' || arg === '-list=1') { o.list = true; continue; }
    if (arg === '--json') { o.json = true; continue; }
    const m = /^-([a-z_]+)=(.*)$/.exec(arg);
    if (!m) {
      if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg} (libFuzzer style: -name=value)`);
      rest.push(arg);
      continue;
    }
    const flag = FLAGS[m[1]];
    if (!flag) throw new UsageError(`unknown option -${m[1]} (see wstor fuzz --help)`);
    if ('text' in flag) { (o[flag.key] as string) = m[2]; continue; }
    const v = Number(m[2]);
    if (!Number.isInteger(v) || v < flag.min || v > flag.max) throw new UsageError(`-${m[1]} takes an integer from ${flag.min} to ${flag.max} (got "${m[2]}")`);
    if (typeof o[flag.key] === 'boolean') (o[flag.key] as boolean) = v === 1;
    else (o[flag.key] as number) = v;
  }
  if (o.list) return o;
  if (rest.length === 0) throw new UsageError('name a target (wstor fuzz --list shows them)');
  [o.target, ...o.paths] = rest;
  if (o.merge && o.paths.length < 2) throw new UsageError('-merge=1 takes an output directory and at least one input directory');
  if (o.minimizeCrash && o.paths.length !== 1) throw new UsageError('-minimize_crash=1 takes exactly one crashing input file');
  return o;
}

/** libFuzzer's -dict format: one "token" per line (escapes \\, \" and \xNN), # comments, optional name= before it. */
export function parseDictionary(text: string, file: string): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  text.split('\n').forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:[A-Za-z0-9_]+=)?"(.*)"$/.exec(trimmed);
    if (!m) throw new UsageError(`${file}:${i + 1}: a dictionary line is "token" or name="token"`);
    const bytes: number[] = [];
    for (let k = 0; k < m[1].length; k++) {
      const c = m[1][k];
      if (c !== '\\') { bytes.push(c.charCodeAt(0) & 0xff); continue; }
      const next = m[1][k + 1];
      if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(m[1].slice(k + 2, k + 4))) { bytes.push(parseInt(m[1].slice(k + 2, k + 4), 16)); k += 3; }
      else if (next === '\\' || next === '"') { bytes.push(next.charCodeAt(0)); k++; }
      else throw new UsageError(`${file}:${i + 1}: unknown escape \\${next ?? ''}`);
    }
    tokens.push(Uint8Array.from(bytes));
  });
  return tokens;
}
