// `wstor perf` end to end: the command on real reactors against null and malloc bdevs, its JSON and
// table reports, the verify workload, one job per reactor, the SVG histogram, and Ctrl-C.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to build/tests/integration/; the CLI is build/host/cli.js.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-perf-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Run { code: number | null; stdout: string; stderr: string }

/** Run `wstor perf ARGS`; `onStderr` sees stderr as it arrives (and may signal the child). */
function perf(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'perf', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`wstor perf ${args.join(' ')} did not end in 15 s\n${stderr}`)); }, 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; onStderr?.(stderr, child); });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

const LATENCY_KEYS = ['avg', 'min', 'max', 'p50', 'p99', 'p999'];

function assertSummary(s: Record<string, unknown>, what: string): void {
  for (const key of ['ios', 'iops', 'mibps', 'errors', 'mismatches']) assert.equal(typeof s[key], 'number', `${what}.${key}`);
  const lat = s.latencyUs as Record<string, number>;
  assert.deepEqual(Object.keys(lat).sort(), [...LATENCY_KEYS].sort(), `${what}.latencyUs`);
  assert.ok(lat.min <= lat.p50 && lat.p50 <= lat.p99 && lat.p99 <= lat.p999 && lat.p999 <= lat.max, `${what} latencies in order: ${JSON.stringify(lat)}`);
  assert.ok(lat.avg <= lat.max, `${what} avg within max`);
}

test('null bdev, --json: stdout is one JSON object with per-job and total figures', async () => {
  const r = await perf(['--bdev', 'null:64MiB', '-t', '1', '-q', '16', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(
    { bdev: report.bdev, workload: report.workload, readPercent: report.readPercent, queueDepth: report.queueDepth,
      ioBytes: report.ioBytes, seconds: report.seconds, reactors: report.reactors },
    { bdev: 'null:64MiB', workload: 'randread', readPercent: 100, queueDepth: 16, ioBytes: 4096, seconds: 1, reactors: 1 });
  assert.equal(report.jobs.length, 1);
  assert.equal(report.jobs[0].job, 0);
  assert.equal(report.jobs[0].reactor, 0);
  assertSummary(report.jobs[0], 'jobs[0]');
  assertSummary(report.total, 'total');
  assert.ok(report.total.ios > 0, 'I/Os completed');
  assert.ok(report.total.iops > 0 && report.total.mibps > 0);
  assert.equal(report.total.errors, 0);
  assert.equal(report.total.ios, report.jobs[0].ios);
  // Both are rounded to 2 places on their own, so allow one unit of the last place.
  assert.ok(Math.abs(report.total.mibps - report.total.iops * 4096 / 1048576) <= 0.011, 'MiB/s is IOPS × 4 KiB');
});

test('malloc bdev, -w verify: every block read back matches, exit 0, mismatches column 0', async () => {
  const r = await perf(['--bdev', 'malloc:64MiB', '-w', 'verify', '-t', '1', '-q', '32']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^verify on malloc:64MiB: queue depth 32, 4096-byte I\/Os, 1 s, 1 reactor$/m);
  assert.match(r.stdout, /^job +reactor +IOPS +MiB\/s +avg µs .* errors +mismatches$/m);
  const total = r.stdout.split('\n').find((l) => l.startsWith('total'));
  assert.ok(total, r.stdout);
  const cells = total.trim().split(/\s+/);
  assert.ok(Number(cells[1]) > 0, `IOPS in ${total}`);
  assert.deepEqual(cells.slice(-2), ['0', '0'], 'no errors, no mismatches');
  assert.doesNotMatch(r.stderr, /verify failed/);
});

test('-Z: reads take the bdev\'s own buffer; verify through it on malloc (2 reactors), a file and a mapped file checks out', async () => {
  const file = path.join(tmp, 'zcopy.img');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 16 << 20);
  for (const bdev of ['malloc:64MiB', `file:${file}`, `file:${file}:mmap`]) {
    const r = await perf(['--bdev', bdev, '-Z', '-w', 'verify', '-t', '1', '-q', '16', '-r', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.zcopy, true);
    for (const j of report.jobs) assert.ok(j.ios > 0, `${bdev}: job ${j.job} did I/O`);
    assert.equal(report.total.errors, 0, bdev);
    assert.equal(report.total.mismatches, 0, bdev);
  }
  const table = await perf(['--bdev', 'null:64MiB', '-Z', '-t', '1', '-q', '8']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^randread on null:64MiB \(zero-copy reads\): queue depth 8, 4096-byte I\/Os, 1 s, 1 reactor$/m);
});

test('--blob: the jobs run through a blob filling the bdev (thin, 2 reactors, verify): data checks out, the report says so', async () => {
  const r = await perf(['--bdev', 'malloc:64MiB', '--blob', 'thin', '-w', 'verify', '-t', '1', '-q', '32', '-r', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.blob, 'thin');
  for (const j of report.jobs) assert.ok(j.ios > 0, `job ${j.job} did I/O`);
  assert.equal(report.total.errors, 0);
  assert.equal(report.total.mismatches, 0);
  const table = await perf(['--bdev', 'malloc:64MiB', '--blob', 'thick', '-t', '1', '-q', '8']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^randread on a thick blob on malloc:64MiB: queue depth 8, 4096-byte I\/Os, 1 s, 1 reactor$/m);
});

test('verify fails loudly when data does not read back: a null bdev returns zeroes (exit 1, offset named)', async () => {
  const r = await perf(['--bdev', 'null:64MiB', '-w', 'verify', '-t', '1', '-q', '4', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.ok(report.total.mismatches > 0);
  const offset = report.jobs[0].firstMismatchOffset;
  assert.ok(Number.isInteger(offset) && offset >= 0 && offset % 4096 === 0, `first mismatch at ${offset}`);
  assert.match(r.stderr, new RegExp(`wstor perf: verify failed: job 0 \\(reactor 0\\) read back data that differs from what it wrote: ` +
    `${report.jobs[0].mismatches} mismatch\\(es\\), first at byte offset ${offset} \\(0x${offset.toString(16)}\\)`));
});

test('-r 2: two jobs, on reactors 0 and 1, both doing I/O', async () => {
  const r = await perf(['--bdev', 'null:64MiB', '-t', '1', '-q', '8', '-r', '2', '-w', 'rw', '-M', '70', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.reactors, 2);
  assert.equal(report.readPercent, 70);
  assert.deepEqual(report.jobs.map((j: { job: number; reactor: number }) => [j.job, j.reactor]), [[0, 0], [1, 1]]);
  for (const j of report.jobs) {
    assert.ok(j.ios > 0, `job ${j.job} did I/O`);
    assert.equal(j.reads + j.writes, j.ios);
    assert.ok(j.reads > j.writes, `about 70% reads in job ${j.job}: ${j.reads} reads, ${j.writes} writes`);
  }
  assert.equal(report.total.ios, report.jobs[0].ios + report.jobs[1].ios);
});

test('--histogram writes an SVG of the latency histogram with the percentiles marked', async () => {
  const file = path.join(tmp, 'latency.svg');
  const r = await perf(['--bdev', 'null:64MiB', '-t', '1', '-q', '16', '--histogram', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`latency histogram written to ${file}`));
  const svg = fs.readFileSync(file, 'utf8');
  assert.ok(svg.startsWith('<svg'), svg.slice(0, 80));
  for (const label of ['p50', 'p99', 'p99\\.9']) assert.match(svg, new RegExp(`data-percentile="${label}"`));
  assert.match(svg, /wstor perf: randread on null:64MiB/);
  assert.match(svg, /fill="#4a7ab5"/, 'has bars');
});

test('file bdev: the host opens the file read-write for a write workload and the writes land in it', async () => {
  const file = path.join(tmp, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(16 << 20));
  const r = await perf(['--bdev', `file:${file}`, '-w', 'randwrite', '-t', '1', '-q', '8', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.ok(report.total.ios > 0 && report.total.writes === report.total.ios);
  assert.equal(report.total.errors, 0);
  assert.ok(fs.readFileSync(file).some((byte) => byte !== 0), 'the file is no longer all zeroes');
});

test('Ctrl-C stops the jobs early and prints the partial report (exit 130)', async () => {
  let sent = false;
  const startedMs = performance.now();
  const r = await perf(['--bdev', 'null:64MiB', '-t', '60', '-q', '16', '--json'], (stderr, child) => {
    if (!sent && /IOPS/.test(stderr)) { sent = true; child.kill('SIGINT'); }
  });
  assert.ok(sent, `a progress line came before the signal: ${r.stderr}`);
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /^ +\d+\.\d s +\d+ IOPS +[\d.]+ MiB\/s$/m, 'progress lines on stderr');
  assert.match(r.stderr, /interrupted: stopping the jobs/);
  const report = JSON.parse(r.stdout);
  assert.equal(report.interrupted, true);
  assert.ok(report.total.ios > 0);
  assert.ok(report.total.seconds < 10, `stopped early (${report.total.seconds} s)`);
  assert.ok(performance.now() - startedMs < 10_000);
});
