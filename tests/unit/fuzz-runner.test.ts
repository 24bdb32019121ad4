// `wstor fuzz` end to end on the planted bugs of target "selftest" (assembly/fuzz/selftest.ts): the
// fuzzer finds the assertion behind "FUZZ" by coverage alone, writes crash-<sha1> and replays it;
// the watchdog catches "HANG" (timeout-<sha1>, worker replaced with -ignore_timeouts=1); a leak is
// a finding; -minimize_crash, -merge, -seed, -jobs and the usage errors behave as libFuzzer's do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cli = path.join(root, 'build', 'host', 'cli.js');

function wstorFuzz(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'fuzz', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `wstor-fuzz-${name}-`));
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const files = (dir: string) => fs.readdirSync(dir).sort();

test('the fuzzer finds the planted assertion by coverage, writes crash-<sha1>, and replaying it crashes again', () => {
  const dir = tmp('crash');
  const corpus = path.join(dir, 'corpus');
  const art = path.join(dir, 'art') + '/';
  const r = wstorFuzz('selftest', corpus, '-seed=1', '-runs=2000000', `-artifact_prefix=${art}`, '--json');
  assert.equal(r.code, 1, r.stderr);
  const stats = JSON.parse(r.stdout);
  assert.equal(stats.findings.length, 1);
  assert.equal(stats.findings[0].kind, 'crash');
  assert.match(stats.findings[0].message, /selftest: the planted assertion/);
  const [artifact] = files(art);
  assert.match(artifact, /^crash-[0-9a-f]{40}$/);
  const data = fs.readFileSync(path.join(art, artifact));
  assert.equal(`crash-${sha1(data)}`, artifact, 'named by the SHA-1 of its bytes');
  assert.equal(data.subarray(0, 4).toString(), 'FUZZ');
  assert.ok(files(corpus).length >= 4, 'each step towards the magic word was kept in the corpus');
  assert.match(r.stderr, /INITED cov: \d+/);
  assert.match(r.stderr, /NEW +cov: \d+ ft: \d+ corp: \d+\/\d+b exec\/s: \d+ findings: 0/);

  const replay = wstorFuzz('selftest', path.join(art, artifact));
  assert.equal(replay.code, 1);
  assert.match(replay.stderr, /==crash== in selftest: .*the planted assertion/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a hang is caught by the watchdog: timeout-<sha1>, and with -ignore_timeouts=1 a new worker goes on to -runs', () => {
  const dir = tmp('hang');
  const corpus = path.join(dir, 'corpus');
  fs.mkdirSync(corpus);
  fs.writeFileSync(path.join(corpus, 'near'), 'HANx');
  const art = path.join(dir, 'art') + '/';
  const r = wstorFuzz('selftest', corpus, '-seed=3', '-runs=20000', '-timeout=1', '-ignore_timeouts=1', `-artifact_prefix=${art}`, '--json');
  assert.equal(r.code, 70, r.stderr);
  const stats = JSON.parse(r.stdout);
  assert.equal(stats.execs, 20000, 'the replacement worker ran the rest of -runs');
  assert.ok(stats.findings.length >= 1 && stats.findings.every((f: { kind: string }) => f.kind === 'timeout'));
  const hung = files(art).filter((f) => f.startsWith('timeout-'));
  assert.ok(hung.length >= 1);
  assert.equal(fs.readFileSync(path.join(art, hung[0])).subarray(0, 4).toString(), 'HANG');
  const replay = wstorFuzz('selftest', path.join(art, hung[0]), '-timeout=1');
  assert.equal(replay.code, 70);
  assert.match(replay.stderr, /==timeout==/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a block left on the heap is a leak finding (77); a clean input replays with 0', () => {
  const dir = tmp('leak');
  fs.writeFileSync(path.join(dir, 'leak'), 'LEAK');
  fs.writeFileSync(path.join(dir, 'clean'), 'LEAF');
  const leak = wstorFuzz('selftest', path.join(dir, 'leak'));
  assert.equal(leak.code, 77);
  assert.match(leak.stderr, /==leak== .*1 heap block\(s\) still live/);
  const clean = wstorFuzz('selftest', path.join(dir, 'clean'));
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stderr, /Executed .*clean in \d+ ms/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('-minimize_crash=1 shrinks a crashing input to what still crashes', () => {
  const dir = tmp('min');
  const input = path.join(dir, 'crash');
  fs.writeFileSync(input, 'FUZZ and then a lot of bytes that the crash does not need');
  const r = wstorFuzz('selftest', '-minimize_crash=1', input, `-artifact_prefix=${dir}/`, '-seed=1');
  assert.equal(r.code, 0, r.stderr);
  const out = fs.readFileSync(path.join(dir, `minimized-from-${sha1(fs.readFileSync(input))}`));
  assert.equal(out.toString(), 'FUZZ');
  fs.writeFileSync(input, 'fine');
  const none = wstorFuzz('selftest', '-minimize_crash=1', input);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /does not crash/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('-merge=1 copies into the output only the inputs that add coverage', () => {
  const dir = tmp('merge');
  const out = path.join(dir, 'out'), a = path.join(dir, 'a');
  fs.mkdirSync(a);
  for (const [name, body] of [['1', 'F...'], ['2', 'F...'.replace('.', '.')], ['3', 'FU..'], ['4', 'zzzz'], ['5', 'FU.x']]) fs.writeFileSync(path.join(a, name), body);
  const r = wstorFuzz('selftest', '-merge=1', out, a);
  assert.equal(r.code, 0, r.stderr);
  const kept = files(out).map((f) => fs.readFileSync(path.join(out, f), 'utf8')).sort();
  assert.deepEqual(kept, ['F...', 'FU..', 'zzzz'], 'duplicates and inputs with nothing new are left out');
  assert.match(r.stderr, /MERGE-OUTER: .* 3 new inputs added/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('-use_counters=0 is random fuzzing: it keeps nothing new and misses what feedback finds, while still counting coverage', () => {
  // The planted assertion sits behind a 4-byte magic word: reached step by step with feedback (the
  // test above), by chance alone almost never within the same budget.
  const dir = tmp('unguided');
  const corpus = path.join(dir, 'corpus');
  const r = wstorFuzz('selftest', corpus, '-seed=1', '-runs=20000', '-use_counters=0', `-artifact_prefix=${dir}/`, '--json');
  assert.equal(r.code, 0, r.stderr);
  const stats = JSON.parse(r.stdout);
  assert.equal(stats.findings.length, 0);
  assert.equal(stats.execs, 20000);
  assert.ok(stats.edges > 0, 'coverage is still counted');
  assert.equal(files(corpus).length, 1, 'only the starting input is kept');
  const guided = wstorFuzz('selftest', path.join(dir, 'guided'), '-seed=1', '-runs=20000', `-artifact_prefix=${dir}/`, '--json');
  assert.ok(files(path.join(dir, 'guided')).length > 1, 'with feedback the corpus grows');
  assert.ok(JSON.parse(guided.stdout).edges >= stats.edges);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the same -seed and corpus make the same run; -jobs=2 shares the -runs between two workers', () => {
  const corpusOf = (seed: number, jobs: number) => {
    const dir = tmp('seed');
    const r = wstorFuzz('selftest', dir, `-seed=${seed}`, '-runs=3000', `-jobs=${jobs}`, '--json');
    assert.equal(r.code, 0, r.stderr);
    const names = files(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    return { names, stats: JSON.parse(r.stdout) };
  };
  const a = corpusOf(7, 1), b = corpusOf(7, 1);
  assert.deepEqual(a.names, b.names);
  assert.equal(a.stats.execs, 3000);
  const two = corpusOf(7, 2);
  assert.equal(two.stats.execs, 3000);
  assert.equal(two.stats.jobs, 2);
});

test('--list names the targets; bad flags and names are usage errors that say what is wrong', () => {
  const list = wstorFuzz('--list');
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^nvmf-tcp +NVMe\/TCP/m);
  assert.match(list.stdout, /^nvme-cmd +NVMe admin and I\/O commands/m);
  assert.match(list.stdout, /^blob-load +a corrupted Blobstore image/m);
  assert.match(list.stdout, /^selftest +planted bugs/m);
  assert.match(list.stdout, /^rpc +JSON-RPC: every method/m);
  const unknown = wstorFuzz('nope');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no fuzz target "nope"; there are: nvmf-tcp, nvme-cmd, blob-load, selftest, rpc/);
  const bad = wstorFuzz('selftest', '-runs=many');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /-runs takes an integer from -1 to/);
  assert.match(wstorFuzz('selftest', '-frobnicate=1').stderr, /unknown option -frobnicate/);
  assert.match(wstorFuzz('selftest', '-use_counters=2').stderr, /-use_counters takes an integer from 0 to 1/);
});
