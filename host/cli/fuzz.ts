// `wstor fuzz`: coverage-guided fuzzing of the core's parsers and state machines in this process
// (host/fuzz/), with libFuzzer's flags, artifacts and exit codes.
import { fuzzRpc } from '../fuzz/rpc-fuzz.js';
import { FUZZ_TARGETS, RPC_TARGET } from '../fuzz/targets.js';
import { parseFuzzArgs } from '../fuzz/options.js';
import { runFuzz } from '../fuzz/runner.js';

export const fuzzUsage = `usage: wstor fuzz TARGET [CORPUS_DIR... | FILE...] [-flag=value...] [--json]
       wstor fuzz --list

Fuzz TARGET of build/core.fuzz.wasm (the core with edge-coverage counters). With directories: the
corpus (new inputs are written to the first; the target's seeds when they are empty). With files:
run each once and report (replay). Findings are written as <prefix>crash-<sha1>, timeout-<sha1>,
leak-<sha1>; the exit code is 1 (crash), 70 (timeout), 77 (leak), 72 (interrupted), 0 (none).

  -runs=N              inputs to run (-1: no limit; default)
  -max_total_time=S    stop after S seconds (0: no limit; default)
  -max_len=N           longest input (0: the target's default or the longest corpus input)
  -seed=N              random seed (0: from the clock); the same seed and corpus give the same run
  -jobs=N              fuzz in N worker threads at once, sharing what they find (default 1)
  -timeout=S           an input running longer is a finding: timeout-<sha1> (default 10)
  -dict=FILE           extra tokens, libFuzzer's dictionary format ("token" per line)
  -artifact_prefix=P   where findings go (default ./; a trailing / makes a directory)
  -mutate_depth=N      mutations stacked per input (default 5)
  -ignore_crashes=1    keep going after a crash or leak; -ignore_timeouts=1 after a timeout
  -use_counters=0      no feedback: mutate only the starting inputs (random fuzzing, as nvme_fuzz)
  -minimize_crash=1    FILE: smaller inputs that still crash, the smallest as minimized-from-<sha1>
  -merge=1             OUT_DIR IN_DIR...: copy into OUT_DIR the inputs that add coverage
  --json               statistics as JSON on stdout at the end (progress stays on stderr)
  --list               the targets
`;

export async function fuzzCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h') || argv.includes('-help=1')) { process.stdout.write(fuzzUsage); return 0; }
  const o = parseFuzzArgs(argv);
  if (o.list) {
    for (const t of [...FUZZ_TARGETS, RPC_TARGET]) process.stdout.write(`${t.name.padEnd(12)} ${t.summary}\n`);
    return 0;
  }
  const stats = o.target === RPC_TARGET.name ? await fuzzRpc(o, { err: process.stderr }) : await runFuzz(o, { err: process.stderr });
  if (o.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
  return stats.exitCode;
}
