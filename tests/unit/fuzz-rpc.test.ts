// `wstor fuzz rpc`: the JSON-RPC fuzzer over the whole method table against a live engine. A handler
// that lets an unexpected exception (a TypeError) reach the client is a crash finding, a call that
// never answers is a timeout; each artifact is the call sequence, and replaying it finds it again.
// The real method table must come through a short fixed-seed run clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fuzzRpc } from '../../host/fuzz/rpc-fuzz.js';
import { parseFuzzArgs } from '../../host/fuzz/options.js';
import type { Method } from '../../host/rpc/methods/types.js';

const quiet = { err: { write: () => true } };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-fuzz-rpc-test-'));

/** Methods with bugs of the two kinds, behind values the generator makes from the schema. */
const buggy: Method[] = [
  {
    name: 'fuzz_selftest_typeerror', description: 'throws a TypeError for one block size', params: [{ name: 'block_size', type: 'uint32', required: true, description: 'x' }],
    run: (p) => { if (p.block_size === 4096) return (null as unknown as { x: number }).x; return 0; },
  },
  {
    name: 'fuzz_selftest_hang', description: 'never answers when asked to', params: [{ name: 'hang', type: 'boolean', required: true, description: 'x' }],
    run: (p) => (p.hang === true ? new Promise(() => {}) : 0),
  },
];

test('rpc: a handler\'s TypeError is a crash finding; its artifact is the call sequence and replays as a crash', async () => {
  const dir = tmp();
  const o = parseFuzzArgs(['rpc', '-runs=20000', '-seed=5', `-artifact_prefix=${dir}/`]);
  const stats = await fuzzRpc(o, quiet, [buggy[0]]);
  assert.equal(stats.exitCode, 1, JSON.stringify(stats.findings));
  const crash = stats.findings.find((f) => f.kind === 'crash')!;
  assert.match(crash.message, /fuzz_selftest_typeerror: an unexpected exception reached the client/);
  const calls = JSON.parse(fs.readFileSync(crash.artifact!, 'utf8'));
  assert.deepEqual(calls.at(-1), { method: 'fuzz_selftest_typeerror', params: { block_size: 4096 } });
  const replay = await fuzzRpc(parseFuzzArgs(['rpc', crash.artifact!]), quiet, [buggy[0]]);
  assert.equal(replay.exitCode, 1);
  assert.equal(replay.mode, 'replay');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('rpc: a call that never answers is a timeout finding (70)', async () => {
  const dir = tmp();
  const hangOnly = [buggy[1]];
  const stats = await fuzzRpc(parseFuzzArgs(['rpc', '-runs=5000', '-seed=2', '-timeout=1', `-artifact_prefix=${dir}/`]), quiet, hangOnly);
  assert.equal(stats.exitCode, 70, JSON.stringify(stats.findings));
  assert.match(stats.findings[0].message, /fuzz_selftest_hang did not answer within 1 s/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('rpc: every real method comes through a fixed-seed run with a clear answer or a clear error', async () => {
  const dir = tmp();
  const stats = await fuzzRpc(parseFuzzArgs(['rpc', '-runs=1500', '-seed=11', `-artifact_prefix=${dir}/`]), quiet);
  assert.deepEqual(stats.findings, []);
  assert.equal(stats.execs, 1500);
  fs.rmSync(dir, { recursive: true, force: true });
});
