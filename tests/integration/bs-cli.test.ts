// `wstor bs FILE COMMAND` end to end, as a child process on a temp file: one store taken through init,
// create, import, list, export, resize, xattrs, delete, snapshot and clone (the tests run in order and share it), then
// each error with its exit status and message, and the progress bar on a terminal and off one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Progress, parseBsArgs } from '../../host/cli/bs.js';

// Compiled to build/tests/integration/; the CLI is build/host/cli.js.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-bs-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MiB = 1 << 20;
const STORE = path.join(tmp, 'store.img');
const SOURCE = path.join(tmp, 'source.bin');
const SOURCE_BYTES = 3.5 * MiB;
const USAGE = /usage: wstor bs FILE COMMAND \[options\]/;

interface Run { status: number | null; stdout: string; stderr: string }

function bs(args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, 'bs', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run a command that must succeed; returns its stdout. */
function ok(args: string[]): string {
  const r = bs(args);
  assert.equal(r.status, 0, `wstor bs ${args.join(' ')} exits 0 (stderr: ${r.stderr})`);
  return r.stdout;
}

/** Run a command that must fail: its exit status, a one-line message first, the usage only for usage errors. */
function fails(args: string[], status: 1 | 2, message: RegExp): Run {
  const r = bs(args);
  assert.equal(r.status, status, `wstor bs ${args.join(' ')}: exit status (stderr: ${r.stderr})`);
  const first = r.stderr.split('\n')[0];
  assert.match(first, /^wstor bs: /, 'the message comes first, named after the command');
  assert.match(first, message);
  if (status === 2) assert.match(r.stderr, USAGE, 'then the usage'); else assert.doesNotMatch(r.stderr, USAGE, 'no usage');
  assert.equal(r.stdout, '', 'nothing on stdout');
  return r;
}

interface Listed { id: number; hex: string; size: number; thin: boolean; allocatedBytes: number; snapshot: boolean; parent: string | null; xattrs: string[]; error: string | null }
const list = (): Listed[] => JSON.parse(ok([STORE, 'list', '--json'])) as Listed[];
const ids: { thin: string; imported: string } = { thin: '', imported: '' };

test('init makes a 64 MiB file and lays out a store; a second init refuses to overwrite it', () => {
  assert.match(ok([STORE, 'init']), /^initialised a blobstore in .*store\.img: 64 MiB, 1 MiB clusters, \d+ free/);
  assert.equal(fs.statSync(STORE).size, 64 * MiB);
  fails([STORE, 'init'], 1, /store\.img already holds a wstor blobstore \(0 blobs, 1 MiB clusters\): add --force to overwrite it/);
  assert.deepEqual(list(), [], 'the refused init left the store as it was');
});

test('create: a thin blob with xattrs; prints its id', () => {
  const out = ok([STORE, 'create', '--size', '2MiB', '--thin', '--xattr', 'owner=test', '--xattr=note=a b=c']);
  assert.match(out, /^\d+\n$/);
  ids.thin = out.trim();
  assert.equal(BigInt(ids.thin) >> 32n, 1n, 'a blob id is (1 << 32) | its first md page');
});

test('import: a 3.5 MiB file into a 4 MiB blob, with a progress line per 10% on a pipe', () => {
  fs.writeFileSync(SOURCE, crypto.randomBytes(SOURCE_BYTES));
  const r = bs([STORE, 'import', SOURCE]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\n$/);
  ids.imported = r.stdout.trim();
  const lines = r.stderr.trimEnd().split('\n');
  assert.ok(lines.length >= 2 && lines.length <= 11, `a line per 10% at most (got ${lines.length})`);
  for (const line of lines) assert.match(line, /^import .*source\.bin \[[#.]{20}\] +\d+% .* of 3\.5 MiB, \d+\.\d MiB\/s$/);
  assert.match(lines.at(-1)!, /100% 3\.5 MiB of 3\.5 MiB/);
  assert.ok(!r.stderr.includes('\r'), 'no carriage returns when stderr is not a terminal');
});

test('list --json shows both blobs; list prints a table with decimal and hex ids', () => {
  const blobs = list();
  const byId = new Map(blobs.map((b) => [String(b.id), b]));
  assert.equal(blobs.length, 2);
  assert.deepEqual(byId.get(ids.thin), { id: Number(ids.thin), hex: `0x${BigInt(ids.thin).toString(16)}`, size: 2 * MiB, thin: true, allocatedBytes: 0, snapshot: false, parent: null, xattrs: ['owner', 'note'], error: null });
  assert.deepEqual(byId.get(ids.imported), { id: Number(ids.imported), hex: `0x${BigInt(ids.imported).toString(16)}`, size: 4 * MiB, thin: false, allocatedBytes: 4 * MiB, snapshot: false, parent: null, xattrs: [], error: null });
  const table = ok([STORE, 'list']);
  assert.match(table, /^id +hex +size +type +allocated +parent +xattrs$/m);
  assert.match(table, new RegExp(`^${ids.thin} +0x1[0-9a-f]{8} +2 MiB +thin +0 B +owner,note$`, 'm'));
  assert.match(table, new RegExp(`^${ids.imported} +0x1[0-9a-f]{8} +4 MiB +thick +4 MiB$`, 'm'));
  assert.match(table, /^2 blobs in .*store\.img; 1 MiB clusters, \d+ free/m);
});

test('export: the whole blob is the file then zeroes to the cluster; --length copies just the file', () => {
  const whole = path.join(tmp, 'whole.bin');
  const r = bs([STORE, 'export', `0x${BigInt(ids.imported).toString(16)}`, whole]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr.trimEnd().split('\n').at(-1)!, /^export 0x1[0-9a-f]{8} \[#{20}\] 100% 4 MiB of 4 MiB/);
  const back = fs.readFileSync(whole);
  const source = fs.readFileSync(SOURCE);
  assert.equal(back.length, 4 * MiB);
  assert.ok(back.subarray(0, SOURCE_BYTES).equals(source), 'the first 3.5 MiB are the source');
  assert.ok(back.subarray(SOURCE_BYTES).every((v) => v === 0), 'the rest of the cluster reads as zeroes');
  const exact = path.join(tmp, 'exact.bin');
  ok([STORE, 'export', ids.imported, exact, '--length', String(SOURCE_BYTES)]);
  assert.ok(fs.readFileSync(exact).equals(source), '--length: byte for byte the source');
});

test('import --thin leaves all-zero chunks unallocated, and they export as zeroes', () => {
  const sparse = path.join(tmp, 'sparse.bin');
  const head = crypto.randomBytes(MiB), tail = crypto.randomBytes(5000);
  fs.writeFileSync(sparse, Buffer.concat([head, Buffer.alloc(2 * MiB), tail]));
  const id = ok([STORE, 'import', sparse, '--thin']).trim();
  const blob = list().find((b) => String(b.id) === id)!;
  assert.deepEqual({ size: blob.size, thin: blob.thin, allocatedBytes: blob.allocatedBytes }, { size: 4 * MiB, thin: true, allocatedBytes: 2 * MiB });
  const back = path.join(tmp, 'sparse.out');
  ok([STORE, 'export', id, back, '--length', String(fs.statSync(sparse).size)]);
  assert.ok(fs.readFileSync(back).equals(fs.readFileSync(sparse)));
  ok([STORE, 'delete', id]);
});

test('resize grows a thin blob without allocating; the new size survives the unload', () => {
  assert.match(ok([STORE, 'resize', ids.thin, '5MiB']), /^blob 0x1[0-9a-f]{8}: 2 MiB -> 5 MiB \(0 B allocated\)$/m);
  const blob = list().find((b) => String(b.id) === ids.thin)!;
  assert.equal(blob.size, 5 * MiB);
  assert.equal(blob.allocatedBytes, 0);
});

test('xattr: get what create set, set a new value, get it back', () => {
  assert.equal(ok([STORE, 'xattr', ids.thin, 'owner']), 'test\n');
  assert.equal(ok([STORE, 'xattr', ids.thin, 'note']), 'a b=c\n');
  assert.match(ok([STORE, 'xattr', ids.thin, 'owner', 'someone else']), /xattr owner set \(12 bytes\)/);
  assert.equal(ok([STORE, 'xattr', `0x${BigInt(ids.thin).toString(16)}`, 'owner']), 'someone else\n');
  fails([STORE, 'xattr', ids.thin, 'nope'], 1, /blob 0x1[0-9a-f]{8} has no xattr "nope"/);
});

test('delete removes the blob and frees its clusters', () => {
  assert.match(ok([STORE, 'delete', ids.thin]), /^deleted blob 0x1[0-9a-f]{8}$/m);
  assert.deepEqual(list().map((b) => String(b.id)), [ids.imported]);
  fails([STORE, 'delete', ids.thin], 1, new RegExp(`no blob 0x[0-9a-f]+ \\(${ids.thin}\\) in .*store\\.img`));
});

test('snapshot and clone: both read the imported data; the blob and the clone write their own', () => {
  const hex = (id: string) => `0x${BigInt(id).toString(16)}`;
  const snap = ok([STORE, 'snapshot', ids.imported]).trim();
  const clone = ok([STORE, 'clone', snap]).trim();
  const byId = new Map(list().map((b) => [String(b.id), b]));
  assert.deepEqual([byId.get(snap)?.snapshot, byId.get(snap)?.allocatedBytes], [true, 4 * MiB], 'the snapshot took the clusters');
  assert.deepEqual([byId.get(ids.imported)?.parent, byId.get(ids.imported)?.allocatedBytes], [hex(snap), 0]);
  assert.deepEqual([byId.get(clone)?.parent, byId.get(clone)?.thin], [hex(snap), true]);
  assert.match(ok([STORE, 'list']), new RegExp(`^${snap} +0x1[0-9a-f]{8} +4 MiB +snapshot +4 MiB$`, 'm'));
  for (const id of [snap, clone, ids.imported]) {
    const out = path.join(tmp, `through-${id}.bin`);
    ok([STORE, 'export', id, out, '--length', String(SOURCE_BYTES)]);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(SOURCE)), `blob ${id} reads the imported file`);
  }
  fails([STORE, 'clone', ids.imported], 1, /is not a snapshot: clones are made of snapshots \(make one with: wstor bs .* snapshot 0x1/);
  fails([STORE, 'delete', snap], 1, /is a snapshot with 2 clones: delete or inflate all but one of them first/);
  assert.match(ok([STORE, 'decouple', clone]), /^blob 0x1[0-9a-f]{8}: 4 MiB of 4 MiB allocated, no parent$/m);
  fails([STORE, 'decouple', clone], 1, /has no parent: there is nothing to decouple it from/);
  assert.match(ok([STORE, 'inflate', clone]), /4 MiB of 4 MiB allocated, no parent/);
  const copied = path.join(tmp, 'decoupled.bin');
  ok([STORE, 'export', clone, copied, '--length', String(SOURCE_BYTES)]);
  assert.ok(fs.readFileSync(copied).equals(fs.readFileSync(SOURCE)), 'the decoupled clone holds the same data');
  ok([STORE, 'delete', clone]);
  ok([STORE, 'delete', snap]);
  assert.deepEqual(list().map((b) => String(b.id)), [ids.imported], 'the blob took the snapshot\'s clusters back');
  const dump = ok([STORE, 'dump']);
  assert.match(dump, /^ +signature +"WSTORBLB"$/m);
  assert.match(dump, new RegExp(`^page \\d+: blob ${hex(ids.imported)}, sequence 0, next none, crc ok$`, 'm'), 'dump: the one blob left');
  assert.doesNotMatch(dump, new RegExp(`blob ${hex(snap)}`), 'dump: the deleted snapshot\'s head is zeroed');
  const out = path.join(tmp, 'after-delete.bin');
  ok([STORE, 'export', ids.imported, out, '--length', String(SOURCE_BYTES)]);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(SOURCE)));
});

test('usage errors: exit 2, the message, then the usage', () => {
  fails([], 2, /FILE is missing/);
  fails(['list'], 2, /FILE is missing before the command \(wstor bs FILE list \.\.\.\)/);
  fails([STORE], 2, /a command is missing after .*store\.img/);
  fails([STORE, 'frob'], 2, /unknown command "frob" \(use init, list, dump, create, import, export, resize, delete, snapshot, clone, inflate, decouple, grow, xattr\)/);
  fails([STORE, 'create', '--size', '12q'], 2, /--size: "12q" is not a size/);
  fails([STORE, 'create'], 2, /create needs --size SIZE/);
  fails([STORE, 'resize', ids.imported, 'big'], 2, /SIZE: "big" is not a size/);
  fails([STORE, 'resize', ids.imported], 2, /resize: SIZE is missing \(wstor bs FILE resize ID SIZE\)/);
  fails([STORE, 'delete', 'zz'], 2, /"zz" is not a blob id \(use decimal or 0x-hex/);
  fails([STORE, 'list', '--thin'], 2, /option --thin does not apply to list/);
  fails([STORE, 'create', '--size', '1MiB', '--xattr', 'novalue'], 2, /--xattr novalue: use NAME=VALUE/);
  fails([STORE, 'init', '--force', '--cluster-size', '6000'], 2, /--cluster-size 6000: must be a power of two/);
  fails([STORE, 'xattr', ids.imported, 'a', 'b', 'c'], 2, /unexpected argument "c"/);
});

test('operational errors: exit 1 and one line that names what is wrong', () => {
  const missing = path.join(tmp, 'missing.img');
  fails([missing, 'list'], 1, /missing\.img does not exist \(make a blobstore in it first: wstor bs .*missing\.img init\)/);
  fails([SOURCE, 'list'], 1, /source\.bin holds no wstor blobstore \(no signature in block 0\): init one first/);
  fails([STORE, 'export', '0x1000000ff', path.join(tmp, 'x.bin')], 1, /no blob 0x1000000ff \(4294967551\) in .*store\.img/);
  assert.ok(!fs.existsSync(path.join(tmp, 'x.bin')), 'the target is not created for a blob that does not exist');
  fails([STORE, 'xattr', '4294967551', 'owner'], 1, /no blob 0x1000000ff/);
  fails([STORE, 'resize', '7', '1MiB'], 1, /no blob 0x7 \(7\)/);
  fails([STORE, 'export', ids.imported, path.join(tmp, 'y.bin'), '--length', '5MiB'], 1, /--length 5242880 is past the end of blob 0x1[0-9a-f]{8} \(4194304 bytes\)/);
  fails([STORE, 'create', '--size', '1GiB'], 1, /creating a 1 GiB thick blob: not enough free clusters/);
  fails([STORE, 'import', path.join(tmp, 'nothing.bin')], 1, /nothing\.bin \(the file to import\) does not exist/);
  fails([STORE, 'init', '--size', '128MiB'], 1, /already holds 67108864 bytes; --size applies only to a new or empty file/);
  const small = path.join(tmp, 'small.img');
  fails([small, 'init', '--size', '8KiB'], 1, /small\.img \(8 KiB\) is too small for a blobstore of 1 MiB clusters/);
  assert.ok(!fs.existsSync(small), 'a file init created for a store it could not lay out is removed');
  assert.equal(list().length, 1, 'none of the failures changed the store');
});

test('grow: after FILE grew, the store takes in the new clusters; again, there is nothing to add', () => {
  const grown = path.join(tmp, 'grown.img');
  fs.copyFileSync(STORE, grown);
  fs.truncateSync(grown, fs.statSync(STORE).size + 16 * MiB);
  assert.match(ok([grown, 'grow']), /^grew the store in .*grown\.img by 16 clusters \(16 MiB\) to 80 MiB; \d+ free$/m);
  assert.match(ok([grown, 'grow']), /nothing to grow into; the store already spans 80 MiB \(80 clusters\)/);
  assert.deepEqual(JSON.parse(ok([grown, 'list', '--json'])), list(), 'the blobs are as they were');
});

test('init --force overwrites a store; init --size and --cluster-size shape a new one', () => {
  assert.match(ok([STORE, 'init', '--force', '--cluster-size', '64KiB']), /64 MiB, 64 KiB clusters/);
  assert.deepEqual(list(), []);
  const other = path.join(tmp, 'other.img');
  assert.match(ok([other, 'init', '--size', '16MiB']), /16 MiB, 1 MiB clusters/);
  assert.equal(fs.statSync(other).size, 16 * MiB);
});

test('the progress bar: redrawn in place on a terminal, one line per 10% otherwise', () => {
  const draw = (isTTY: boolean) => {
    let text = '';
    let now = 0;
    const p = new Progress('import x', 100 * MiB, { isTTY, write: (s: string) => { text += s; } }, () => now);
    for (let done = MiB; done <= 100 * MiB; done += MiB) { now += 50; p.update(done); }
    p.end();
    return text;
  };
  const pipe = draw(false).trimEnd().split('\n');
  assert.equal(pipe.length, 10, 'a line at 10%, 20%, ... 100%');
  assert.match(pipe[0], /^import x \[##\.{18}\]  10% 10 MiB of 100 MiB, 20\.0 MiB\/s$/);
  assert.match(pipe[9], /^import x \[#{20}\] 100% 100 MiB of 100 MiB, 20\.0 MiB\/s$/);
  const tty = draw(true);
  assert.ok(tty.startsWith('\rimport x ['), 'each redraw starts with a carriage return');
  assert.equal(tty.split('\n').length, 2, 'one newline, at the end');
  assert.ok(tty.endsWith('100 MiB of 100 MiB, 20.0 MiB/s\x1b[K\n'));
  // 100 updates 50 ms apart: drawn at 50, 150, ... 4950 ms (every 100 ms at most), and at 100%.
  assert.equal(tty.split('\r').length - 1, 51, 'redrawn at most every 100 ms, and at 100%');
});

test('parseBsArgs: ids in decimal or hex, repeated --xattr, --help', () => {
  const a = parseBsArgs(['f.img', 'create', '--size', '1MiB', '--xattr', 'a=1', '--xattr', 'b=x=y']);
  assert.deepEqual(a?.request, { command: 'create', sizeBytes: MiB, thin: false, xattrs: { a: '1', b: 'x=y' } });
  assert.deepEqual(parseBsArgs(['f.img', 'delete', '0x100000002'])?.request, { command: 'delete', id: 0x100000002n });
  assert.deepEqual(parseBsArgs(['f.img', 'delete', '4294967298'])?.request, { command: 'delete', id: 0x100000002n });
  assert.equal(parseBsArgs(['--help']), null);
  assert.throws(() => parseBsArgs(['f.img', 'delete', '0x20000000000000']), /too large to be a blob id/);
  assert.throws(() => parseBsArgs(['f.img', 'xattr', '1', 'x'.repeat(256)]), /must be 1 to 255 bytes/);
  assert.throws(() => parseBsArgs(['f.img', 'xattr', '1', 'n', 'v'.repeat(3073)]), /at most 3072 bytes/);
});
