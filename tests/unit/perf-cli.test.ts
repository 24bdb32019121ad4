// `wstor perf` refuses bad flags before it starts an engine: exit status 2, a message that names the
// problem, and the usage. Also the --bdev parser and the memory estimate on their own.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryNeededBytes, parseBdevSpec, parseBytes } from '../../host/perf/bdev-spec.js';

// Compiled to build/tests/unit/; the CLI is build/host/cli.js.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');

function perf(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'perf', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-perf-cli-'));
const tiny = path.join(tmp, 'tiny.img');
fs.writeFileSync(tiny, Buffer.alloc(1000));
const missing = path.join(tmp, 'missing.img');

const BAD: { args: string[]; message: RegExp }[] = [
  { args: [], message: /--bdev is required/ },
  { args: ['--bdev', 'null:64MiB', '--frobnicate'], message: /unknown option --frobnicate/ },
  { args: ['--bdev', 'null:64MiB', '-q'], message: /option --queue-depth needs a value/ },
  { args: ['--bdev', '-q', '16'], message: /option --bdev needs a value \(got the option "-q"\)/ },
  { args: ['--bdev', 'null:64MiB', 'extra'], message: /unexpected argument "extra"/ },
  { args: ['--bdev', 'null:lots'], message: /"lots" is not a size/ },
  { args: ['--bdev', 'null:1000'], message: /size 1000 is not a multiple of the block size 512/ },
  { args: ['--bdev', 'null'], message: /a size is missing/ },
  { args: ['--bdev', 'null:64MiB:1000'], message: /block size must be a power of two of at least 512/ },
  { args: ['--bdev', 'null:64MiB', '-o', '4x'], message: /-o \(I\/O size\): "4x" is not a size/ },
  { args: ['--bdev', 'null:64MiB', '-o', '0'], message: /-o \(I\/O size\): must be greater than 0/ },
  { args: ['--bdev', 'null:64MiB', '-q', '0'], message: /-q \(queue depth\) must be from 1 to 4096 \(got 0\)/ },
  { args: ['--bdev', 'null:64MiB', '-q', '-3'], message: /option --queue-depth takes a whole number \(got "-3"\)/ },
  { args: ['--bdev', 'null:64MiB', '-o', '1000'], message: /-o \(I\/O size\) 1000 is not a multiple of the bdev's block size 512/ },
  { args: ['--bdev', 'null:64MiB:4096', '-o', '512'], message: /not a multiple of the bdev's block size 4096/ },
  { args: ['--bdev', 'null:8k', '-r', '3'], message: /too small for 3 job\(s\)/ },
  { args: ['--bdev', 'null:64MiB', '-w', 'rw', '-M', '101'], message: /-M \(read percentage\) must be from 0 to 100 \(got 101\)/ },
  { args: ['--bdev', 'null:64MiB', '-M', '50'], message: /-M \(read percentage\) applies only to -w rw \(got -w randread\)/ },
  { args: ['--bdev', 'null:64MiB', '-w', 'randrw'], message: /unknown workload "randrw" for -w \(use randread, randwrite, read, write, rw, verify\)/ },
  { args: ['--bdev', 'nvme:0000:01:00.0'], message: /unknown bdev kind "nvme"/ },
  { args: ['--bdev', `file:${missing}`], message: new RegExp(`file ${missing} does not exist`) },
  { args: ['--bdev', `file:${tiny}:direct`], message: /holds 1000 bytes, less than one 4096-byte block/ },
  { args: ['--bdev', `file:${tmp}`], message: /is neither a regular file nor a block device/ },
  { args: ['--bdev', 'null:64MiB', '-t', '0'], message: /-t \(seconds\) must be from 1 to \d+ \(got 0\)/ },
  { args: ['--bdev', 'null:64MiB', '-r', '0'], message: /-r \(reactors\) must be from 1 to 63 \(got 0\)/ },
  { args: ['--bdev', 'null:64MiB', '-r', '64'], message: /-r \(reactors\) must be from 1 to 63 \(got 64\)/ },
  { args: ['--bdev', 'malloc:4GiB'], message: /a malloc bdev holds at most 3840 MiB/ },
  { args: ['--bdev', 'malloc:3GiB', '-q', '4096', '-o', '256k'], message: /more than the 4 GiB limit/ },
  { args: ['--bdev', 'null:64MiB', '--mem', '1MiB'], message: /--mem 1MiB: this run needs at least 9 MiB/ },
  { args: ['--bdev', 'null:64MiB', '--histogram', path.join(missing, 'h.svg')], message: /--histogram .*: directory .* does not exist/ },
  { args: ['--bdev', 'malloc:64MiB', '--blob', 'fat'], message: /--blob must be thick or thin \(got "fat"\)/ },
  { args: ['--bdev', 'malloc:4MiB', '--blob', 'thin'], message: /--blob needs a bdev of at least 16 MiB/ },
  { args: ['--bdev', 'malloc:64MiB', '--blob', 'thick', '-Z'], message: /-Z \(zero-copy reads\) works on a bdev, not through --blob/ },
  { args: ['--bdev', 'null:64MiB', '--sleep', 'nap'], message: /--sleep must be kernel or doorbell \(got "nap"\)/ },
  { args: ['--bdev', 'null:64MiB', '--idle-spin-us', '2000000'], message: /--idle-spin-us must be from 0 to 1000000 \(got 2000000\)/ },
];

for (const { args, message } of BAD) {
  test(`wstor perf ${args.join(' ') || '(no options)'}: refused with exit 2`, () => {
    const r = perf(args);
    assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
    assert.match(r.stderr, /^wstor perf: /, 'the message comes first, named after the command');
    assert.match(r.stderr.split('\n')[0], message);
    assert.match(r.stderr, /usage: wstor perf --bdev BDEV \[options\]/, 'then the usage');
    assert.equal(r.stdout, '', 'nothing on stdout');
  });
}

test('wstor perf --help prints the usage on stdout and exits 0; wstor --help lists perf', () => {
  const r = perf(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /usage: wstor perf --bdev BDEV \[options\]/);
  for (const flag of ['--bdev', '--workload', '--rwmixread', '--queue-depth', '--io-size', '--time', '--reactors', '--json', '--histogram', '--mem']) {
    assert.ok(r.stdout.includes(flag), `usage mentions ${flag}`);
  }
  assert.equal(r.stderr, '');
  const main = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  assert.match(main.stdout, /^ {2}perf +measure a bdev/m);
});

test('--bdev specs: kinds, sizes, block sizes and files', () => {
  assert.deepEqual(parseBdevSpec('null:1GiB'), { kind: 'null', text: 'null:1GiB', blockSizeBytes: 512, blockCount: 2 * 1024 * 1024 });
  assert.deepEqual(parseBdevSpec('malloc:64MiB:4096'), { kind: 'malloc', text: 'malloc:64MiB:4096', blockSizeBytes: 4096, blockCount: 16384 });
  assert.equal(parseBdevSpec('null:4k').blockCount, 8);
  const file = path.join(tmp, 'eight-blocks.img');
  fs.writeFileSync(file, Buffer.alloc(8 * 4096 + 100));
  assert.deepEqual(parseBdevSpec(`file:${file}:direct`),
    { kind: 'file', text: `file:${file}:direct`, blockSizeBytes: 4096, blockCount: 8, path: file, direct: true, mmap: false });
  assert.equal(parseBdevSpec(`file:${file}`).direct, false);
  assert.deepEqual([parseBdevSpec(`file:${file}:mmap`).mmap, parseBdevSpec(`file:${file}:mmap`).path], [true, file]);
  assert.equal(parseBdevSpec(`file:${file}`).mmap, false);
  assert.throws(() => parseBdevSpec('file:'), /a path is missing/);
  assert.throws(() => parseBdevSpec('file::direct'), /a path is missing/);
  assert.throws(() => parseBdevSpec('null:1MiB:512:9'), /too many fields/);
  assert.equal(parseBytes('4k', 'x'), 4096);
  assert.throws(() => parseBytes('99999999999999999999', 'x'), /too large/);
});

test('the default memory: a malloc bdev\'s data, the I/O buffers and 64 MiB of headroom, in whole MiB', () => {
  const need = { queueDepth: 128, ioBytes: 4096, reactors: 2, buffersPerIo: 1 };
  assert.equal(memoryNeededBytes(parseBdevSpec('null:1GiB'), need), 65 << 20, 'null: 1 MiB of buffers + headroom');
  assert.equal(memoryNeededBytes(parseBdevSpec('malloc:1GiB'), need), (1024 + 65) << 20);
  assert.equal(memoryNeededBytes(parseBdevSpec('null:1GiB'), { ...need, reactors: 1, queueDepth: 1, buffersPerIo: 2 }), 65 << 20, 'rounded up');
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));
