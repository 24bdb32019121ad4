// `wstor rpc` end to end: the CLI as a child process against an RpcServer in this process whose fake
// dispatcher describes a few methods through rpc_get_method_params, as `wstor serve` will.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WstorError } from '../../host/errors.js';
import { METHOD_NOT_FOUND, RpcError, RpcServer, type RpcDispatcher } from '../../host/rpc/index.js';
import type { MethodSpec } from '../../host/cli/rpc-params.js';
import { tempDir } from '../helpers/rpc.js';

// Compiled to build/tests/integration/; the CLI is build/host/cli.js.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const dir = tempDir('wstor-rpc-cli-');
const SOCK = path.join(dir, 'wstor.sock');
const BARE_SOCK = path.join(dir, 'bare.sock');

const METHODS: MethodSpec[] = [
  { name: 'bdev_get_bdevs', description: 'List the bdevs', params: [{ name: 'name', type: 'string', description: 'only this bdev' }] },
  {
    name: 'bdev_lvol_create', description: 'Create a logical volume in an lvol store', params: [
      { name: 'lvol_name', type: 'string', required: true, description: 'name of the new lvol' },
      { name: 'size_in_mib', type: 'uint64', required: true, description: 'its size in MiB' },
      { name: 'lvs_name', type: 'string', description: 'the lvol store' },
      { name: 'thin_provision', type: 'boolean', description: 'allocate on first write' },
      { name: 'clear_method', type: 'enum', values: ['none', 'unmap', 'write_zeroes'], description: 'how to clear' },
      { name: 'uuid', type: 'uuid' },
      { name: 'tags', type: 'array' },
      { name: 'opts', type: 'object' },
      { name: 'ratio', type: 'number' },
      { name: 'count', type: 'uint8' },
      { name: 'offset', type: 'int32' },
    ],
  },
  { name: 'spdk_get_version', description: 'The version of wstor', params: [] },
  { name: 'get_count', description: 'A number', params: [] },
  { name: 'slow', description: 'Answers after a second', params: [] },
  { name: 'fail_me', description: 'Always fails', params: [] },
];

const BDEVS = [
  { name: 'Malloc0', block_size: 4096, num_blocks: 1024, claimed: false, aliases: ['m0'], driver_specific: { malloc: {} } },
  { name: 'lvs0/lvol-with-a-long-name', block_size: 512, num_blocks: 2048, claimed: true, aliases: [] },
];

/** The methods above; `describes` false: a server without rpc_get_method_params. */
function dispatcher(describes: boolean): RpcDispatcher {
  return {
    async call(method, params) {
      const p = (params ?? {}) as Record<string, unknown>;
      switch (method) {
        case 'rpc_get_method_params':
          if (!describes) break;
          return typeof p.method === 'string' ? METHODS.filter((m) => m.name === p.method) : METHODS;
        case 'bdev_get_bdevs': return BDEVS;
        case 'bdev_lvol_create': return params;
        case 'spdk_get_version': return { version: 'wstor 0.1.0', fields: { major: 0, minor: 1 } };
        case 'get_count': return 42;
        case 'slow': await new Promise((r) => setTimeout(r, 1000)); return 'late';
        case 'fail_me': throw new WstorError('ENOSPC', 'lvs0 has 3 free clusters, the lvol needs 8: grow the store or make it thin');
        case 'echo': return params ?? null;
      }
      throw new RpcError(METHOD_NOT_FOUND, `Method not found: ${method}`);
    },
  };
}

const server = new RpcServer(dispatcher(true), { log: () => {} });
const bare = new RpcServer(dispatcher(false), { log: () => {} });
before(async () => {
  await server.listenUnix(SOCK);
  await server.listenTcp('127.0.0.1', 0);
  await bare.listenUnix(BARE_SOCK);
});
after(async () => {
  await server.close();
  await bare.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Run { status: number | null; stdout: string; stderr: string }

/** Run `wstor rpc ARGS` without blocking this process: the server it talks to lives here. */
function rpc(args: string[], socket: string | null = SOCK): Promise<Run> {
  const argv = [CLI, 'rpc', ...(socket === null ? [] : ['-s', socket]), ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ status, stdout, stderr });
    });
  });
}

async function ok(args: string[], socket?: string): Promise<string> {
  const r = await rpc(args, socket);
  assert.equal(r.status, 0, `wstor rpc ${args.join(' ')} exits 0 (stderr: ${r.stderr})`);
  return r.stdout;
}

async function fails(args: string[], status: 1 | 2, message: RegExp, socket?: string | null): Promise<Run> {
  const r = await rpc(args, socket);
  assert.equal(r.status, status, `wstor rpc ${args.join(' ')}: exit status (stderr: ${r.stderr})`);
  assert.match(r.stderr.split('\n')[0], message);
  assert.equal(r.stdout, '', 'nothing on stdout');
  return r;
}

test('--help shows the usage and the server\'s methods with their descriptions', async () => {
  const out = await ok(['--help']);
  assert.match(out, /^usage: wstor rpc \[-s SOCK\]/);
  assert.match(out, /methods of the wstor server at .*wstor\.sock:\n/);
  assert.match(out, /\n {2}bdev_lvol_create +Create a logical volume in an lvol store\n/);
  assert.match(out, /\n {2}spdk_get_version +The version of wstor\n/);
});

test('METHOD --help shows each param: name, type, required or not, description, enum values', async () => {
  const out = await ok(['bdev_lvol_create', '--help']);
  assert.match(out, /^usage: wstor rpc \[-s SOCK\] bdev_lvol_create --lvol-name STRING --size-in-mib UINT64 \[--lvs-name STRING\] \[--thin-provision\]/);
  assert.match(out, /\nCreate a logical volume in an lvol store\n/);
  assert.match(out, /\n {2}--lvol-name +string +required +name of the new lvol\n/);
  assert.match(out, /\n {2}--thin-provision +boolean +optional +allocate on first write\n/);
  assert.match(out, /\n {2}--clear-method +enum +optional +how to clear \(one of: none, unmap, write_zeroes\)\n/);
  assert.match(await ok(['get_count', '-h']), /get_count takes no parameters/);
});

test('--NAME VALUE params are coerced by their declared type; - and _ both work', async () => {
  const uuid = '8c3e8b5e-0d0c-4e8f-9a55-2b7e3c1d9f00';
  const out = await ok(['bdev_lvol_create', '--lvol-name', 'v0', '--size_in_mib', '0x10', '--thin-provision', '--clear-method=unmap',
    '--tags', 'a, b,c', '--opts', '{"k":[1]}', '--ratio', '0.5', '--count', '255', '--offset', '-3', '--uuid', uuid, '--json']);
  assert.deepEqual(JSON.parse(out), {
    lvol_name: 'v0', size_in_mib: 16, thin_provision: true, clear_method: 'unmap', tags: ['a', 'b', 'c'], opts: { k: [1] },
    ratio: 0.5, count: 255, offset: -3, uuid,
  });
  const more = JSON.parse(await ok(['bdev_lvol_create', '--lvol-name', '007', '--size-in-mib', '1', '--thin-provision', 'false',
    '--tags', '["x", 1]', '--json']));
  assert.deepEqual(more, { lvol_name: '007', size_in_mib: 1, thin_provision: false, tags: ['x', 1] }, 'strings stay strings');
});

test('values that do not fit their type are usage errors that name the param and show the method\'s params', async () => {
  const cases: [string[], RegExp][] = [
    [['--count', '256'], /--count takes a uint8: 256 is outside 0 to 255/],
    [['--offset', '2147483648'], /--offset takes an int32: 2147483648 is outside/],
    [['--size-in-mib', '12abc'], /--size-in-mib takes a uint64, a whole number \(got "12abc"\)/],
    [['--size-in-mib', '-1'], /outside 0 to 18446744073709551615/],
    [['--size-in-mib', '9007199254740993'], /beyond ±\(2\^53-1\)/],
    [['--thin-provision', 'yes'], /unexpected argument "yes"/],
    [['--clear-method', 'shred'], /--clear-method takes one of none, unmap, write_zeroes \(got "shred"\)/],
    [['--uuid', 'nope'], /--uuid takes a UUID/],
    [['--opts', '[1]'], /--opts takes a JSON object/],
    [['--ratio', 'many'], /--ratio takes a number/],
    [['--lvs-name'], /--lvs-name needs a value \(string\)/],
    [['--lvs-name', 'a', '--lvs_name', 'b'], /--lvs-name is given twice/],
  ];
  for (const [extra, message] of cases) {
    const size = extra[0] === '--size-in-mib' ? [] : ['--size-in-mib', '1'];
    const r = await fails(['bdev_lvol_create', '--lvol-name', 'v', ...size, ...extra], 2, message);
    assert.match(r.stderr, /^wstor rpc: /);
    assert.match(r.stderr, /\n\nusage: wstor rpc \[-s SOCK\] bdev_lvol_create /, 'the method\'s params follow');
  }
});

test('an unknown param or a missing required one is a usage error naming it', async () => {
  const unknown = await fails(['bdev_lvol_create', '--lvol-name', 'v', '--bogus', '1'], 2, /^wstor rpc: bdev_lvol_create has no parameter --bogus$/);
  assert.match(unknown.stderr, /--size-in-mib +uint64 +required/);
  await fails(['bdev_lvol_create', '--lvs-name', 'lvs0'], 2, /bdev_lvol_create needs --lvol-name \(string\), --size-in-mib \(uint64\)/);
  await fails(['bdev_lvol_create', '--timeout', '5'], 2, /has no parameter --timeout/);
  await fails(['no_such_method'], 2, /the server has no method no_such_method \("wstor rpc --help" lists them\)/);
  await fails([], 2, /name a METHOD to call/);
  await fails(['--timeout', '0', 'get_count'], 2, /--timeout takes seconds, more than 0/);
});

test('--json PARAMS sends them as they are (also merged with --NAME VALUE)', async () => {
  const raw = JSON.parse(await ok(['bdev_lvol_create', '--json', '{"lvol_name": "j", "size_in_mib": 3, "extra": [1]}', '--json']));
  assert.deepEqual(raw, { lvol_name: 'j', size_in_mib: 3, extra: [1] });
  const merged = await ok(['bdev_lvol_create', '--json={"lvol_name": "j"}', '--size-in-mib', '2']);
  assert.equal(merged, 'lvol_name:   j\nsize_in_mib: 2\n', 'an object prints as key: value lines');
  await fails(['bdev_lvol_create', '--json', '{"lvol_name": "j"}', '--lvol-name', 'k'], 2, /--lvol-name is given twice \(also in --json\)/);
  await fails(['bdev_lvol_create', '--json', '{bad'], 2, /--json takes the params as a JSON object or array/);
});

test('results print as a table, key: value lines, or bare; --json prints them raw', async () => {
  const table = (await ok(['bdev_get_bdevs'])).split('\n');
  assert.match(table[0], /^name +block_size +num_blocks +claimed +aliases +driver_specific$/);
  assert.match(table[1], /^Malloc0 +4096 +1024 +false +\["m0"\] +\{"malloc":\{\}\}$/);
  assert.match(table[2], /^lvs0\/lvol-with-a-long-name +512 +2048 +true +\[\]$/);
  assert.equal(table[0].indexOf('block_size'), table[1].indexOf('4096'), 'columns line up');
  assert.deepEqual(JSON.parse(await ok(['bdev_get_bdevs', '--json'])), BDEVS);
  assert.equal(await ok(['spdk_get_version']), 'version: wstor 0.1.0\nfields:  {"major":0,"minor":1}\n');
  assert.equal(await ok(['get_count']), '42\n');
  assert.equal(await ok(['get_count', '--json']), '42\n');
});

test('an error response prints METHOD failed: MESSAGE (code N) and exits 1', async () => {
  await fails(['fail_me'], 1, /^wstor rpc: fail_me failed: lvs0 has 3 free clusters, the lvol needs 8: grow the store or make it thin \(code -28\)$/);
});

test('no server at the socket: a message that says what to do, exit 1', async () => {
  const missing = path.join(dir, 'none.sock');
  const r = await fails(['get_count'], 1, new RegExp(`^wstor rpc: no wstor server at ${missing} \\(is \`wstor serve\` running\\? use -s to pick the socket\\)$`), missing);
  assert.doesNotMatch(r.stderr, /usage:/);
  const help = await rpc(['--help'], missing);
  assert.equal(help.status, 1);
  assert.match(help.stdout, /^usage: wstor rpc/, 'the usage still prints');
  assert.match(help.stderr, /no wstor server at/);
});

test('-s HOST:PORT talks TCP; --timeout bounds the wait', async () => {
  const tcp = server.tcpAddress;
  assert.ok(tcp);
  assert.equal(await ok(['get_count'], `127.0.0.1:${tcp.port}`), '42\n');
  await fails(['--timeout', '0.3', 'slow'], 1, /^wstor rpc: slow: no answer from the wstor server at .* within 300 ms$/);
});

test('a server that does not describe its methods: --json params still work, --NAME VALUE says to use --json', async () => {
  assert.deepEqual(JSON.parse(await ok(['echo', '--json', '{"a": 1}', '--json'], BARE_SOCK)), { a: 1 });
  assert.equal(await ok(['get_count'], BARE_SOCK), '42\n');
  await fails(['echo', '--a', '1'], 2, /the server does not describe echo's params: give them as --json/, BARE_SOCK);
  await fails(['nope'], 1, /^wstor rpc: nope failed: Method not found: nope \(code -32601\)$/, BARE_SOCK);
});

test('wstor --help lists the rpc command', async () => {
  const out = await new Promise<string>((resolve) => execFile(process.execPath, [CLI, '--help'], { encoding: 'utf8' }, (_e, stdout) => resolve(stdout)));
  assert.match(out, /\n {2}rpc +call a method of a running wstor server over JSON-RPC/);
});
