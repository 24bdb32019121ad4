// LESSONS 1 with real processes: run under taskset, reactors inherit it; a core mask pins each reactor
// inside it; a mask outside it is refused before any worker starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import os from 'node:os';
import { skipIfMissing } from '../helpers/skip.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const script = (body: string) => `
  import { Engine } from ${JSON.stringify(path.resolve(path.dirname(cli), 'index.js'))};
  ${body}`;

test('reactors run inside the affinity the process was started with (taskset)', () => {
  const out = execFileSync('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', script(`
    const e = await Engine.start({ reactors: 2, memoryBytes: 64 << 20 });
    const { readFileSync, readdirSync } = await import('node:fs');
    const lists = new Set(readdirSync('/proc/self/task').map((t) =>
      /^Cpus_allowed_list:\\s*(.+)$/m.exec(readFileSync('/proc/self/task/' + t + '/status', 'utf8'))[1]));
    await e.stop();
    console.log(JSON.stringify({ pins: e.pins, lists: [...lists] }));
  `)], { encoding: 'utf8' });
  const { pins, lists } = JSON.parse(out.trim().split('\n').at(-1)!);
  assert.equal(pins, null);
  assert.deepEqual(lists, ['0'], 'every thread of the process, reactors included, kept the taskset mask');
});

test('a core mask outside the process affinity is refused with a message saying what to do', () => {
  const r = spawnSync('taskset', ['-c', '0', process.execPath, cli, 'demo', '-m', '0x2'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /CPU 1 is outside this process's CPU affinity \(0\); choose CPUs within it/);
});

test('a core mask inside the affinity pins each reactor to its CPU', (t) => {
  if (skipIfMissing(t, os.cpus().length < 2, 'needs 2 CPUs')) return;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script(`
    const e = await Engine.start({ cpus: '0x3', memoryBytes: 64 << 20 });
    const { readFileSync } = await import('node:fs');
    const lists = e.reactorThreadIds.map((tid) =>
      /^Cpus_allowed_list:(.+)$/m.exec(readFileSync('/proc/self/task/' + tid + '/status', 'utf8'))[1].trim());
    await e.stop();
    console.log(JSON.stringify({ pins: e.pins, reactors: e.reactorCount, lists }));
  `)], { encoding: 'utf8' });
  const { pins, reactors, lists } = JSON.parse(out.trim().split('\n').at(-1)!);
  assert.deepEqual(pins, [0, 1]);
  assert.equal(reactors, 2);
  assert.deepEqual(lists, ['0', '1'], 'each reactor thread is pinned to its own CPU');
});
