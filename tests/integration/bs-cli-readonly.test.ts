// `wstor bs` on images it must not change, and on forged ones (issue 14, items 7 to 9): every command
// that only reads leaves FILE byte for byte and mtime as it was, works on a file nobody may write,
// recovers a dirty store in memory only; a blob whose parents loop is listed as refused, not a crash;
// a cluster-mask bit cleared no longer lets an import overwrite a live blob.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SB, PAGE, seal, setParentDescriptor, editFilePage, pageOf } from '../helpers/blob-image.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-bs-ro-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Run { status: number | null; stdout: string; stderr: string }
function bs(args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, 'bs', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ok(args: string[]): Run {
  const r = bs(args);
  assert.equal(r.status, 0, `wstor bs ${args.join(' ')} exits 0 (stderr: ${r.stderr})`);
  return r;
}

/** What FILE is: its bytes' hash and its mtime in nanoseconds. */
function fingerprint(file: string): { sha256: string; mtimeNs: bigint } {
  return { sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'), mtimeNs: fs.statSync(file, { bigint: true }).mtimeNs };
}

/** A store with a thin blob with an xattr, a thick one with data, its snapshot and a clone of that. */
function makeStore(name: string): { file: string; thin: string; thick: string; snap: string; clone: string } {
  const file = path.join(tmp, name);
  ok([file, 'init', '--size', '16MiB']);
  const thin = ok([file, 'create', '--size', '1MiB', '--thin', '--xattr', 'owner=me']).stdout.trim();
  const source = path.join(tmp, `${name}.src`);
  fs.writeFileSync(source, crypto.randomBytes(1 << 20));
  const thick = ok([file, 'import', source]).stdout.trim();
  const snap = ok([file, 'snapshot', thick]).stdout.trim();
  const clone = ok([file, 'clone', snap]).stdout.trim();
  return { file, thin, thick, snap, clone };
}

const hex = (id: string) => `0x${BigInt(id).toString(16)}`;
// mtimes have a granularity: a write right after the fingerprint would otherwise be able to hide.
const settle = () => { const until = Date.now() + 20; while (Date.now() < until); };

test('item 9: list, list --json, dump, export, xattr (get) and a refused init leave FILE byte for byte and mtime as they were', () => {
  const s = makeStore('ro.img');
  const target = path.join(tmp, 'out.raw');
  const reads: [string, string[]][] = [
    ['list', [s.file, 'list']], ['list --json', [s.file, 'list', '--json']], ['dump', [s.file, 'dump']],
    ['export', [s.file, 'export', s.thick, target]], ['export of a clone', [s.file, 'export', s.clone, target]],
    ['xattr get', [s.file, 'xattr', s.thin, 'owner']],
  ];
  for (const [what, args] of reads) {
    const before = fingerprint(s.file);
    settle();
    ok(args);
    assert.deepEqual(fingerprint(s.file), before, `${what} changed nothing in FILE`);
  }
  const before = fingerprint(s.file);
  settle();
  const init = bs([s.file, 'init']);
  assert.equal(init.status, 1);
  assert.match(init.stderr, /already holds a wstor blobstore \(4 blobs, 1 MiB clusters\): add --force/);
  assert.deepEqual(fingerprint(s.file), before, 'init\'s look at what FILE holds changed nothing');
  settle();
  ok([s.file, 'xattr', s.thin, 'owner', 'you']);
  assert.notDeepEqual(fingerprint(s.file), before, 'a command that writes does change FILE (the check can fail)');
});

test('item 9: the read-only commands open FILE O_RDONLY: they work on a file even root may not write (chattr +i)', (t) => {
  const s = makeStore('immutable.img');
  const set = spawnSync('chattr', ['+i', s.file], { encoding: 'utf8' });
  if (set.status !== 0) { t.skip(`chattr +i is not available here: ${set.stderr || set.error?.message}`); return; }
  try {
    assert.match(ok([s.file, 'list']).stdout, /4 blobs in .*immutable\.img/);
    ok([s.file, 'dump']);
    ok([s.file, 'export', s.clone, path.join(tmp, 'clone.raw')]);
    assert.equal(ok([s.file, 'xattr', s.thin, 'owner']).stdout, 'me\n');
    const write = bs([s.file, 'create', '--size', '1MiB']);
    assert.equal(write.status, 1, 'a command that writes cannot open it');
    assert.match(write.stderr, /^wstor bs: cannot open .*immutable\.img: .*operation not permitted/i);
  } finally {
    spawnSync('chattr', ['-i', s.file]);
  }
});

test('item 9: a store not unloaded cleanly, listed, is recovered in memory only; the next command that writes recovers it on disk', () => {
  const s = makeStore('dirty.img');
  // As if the last run had been killed: the super block says the store is in use.
  const fd = fs.openSync(s.file, 'r+');
  const sb = Buffer.alloc(PAGE);
  fs.readSync(fd, sb, 0, PAGE, 0);
  const view = new DataView(sb.buffer, sb.byteOffset, PAGE);
  view.setUint32(SB.clean, 0, true);
  seal(view);
  fs.writeSync(fd, sb, 0, PAGE, 0);
  fs.closeSync(fd);
  const before = fingerprint(s.file);
  settle();
  const listed = ok([s.file, 'list']);
  assert.match(listed.stdout, /4 blobs in/);
  assert.match(listed.stderr, /dirty\.img: blobstore was not unloaded cleanly: recovering from its md pages/);
  assert.match(listed.stderr, /loaded read-only: recovered in memory only, nothing written/);
  assert.deepEqual(fingerprint(s.file), before, 'FILE unchanged');
  assert.match(ok([s.file, 'resize', s.thin, '2MiB']).stderr, /not unloaded cleanly: recovering/);
  assert.doesNotMatch(ok([s.file, 'list']).stderr, /recovering/, 'recovered on disk: the next load is clean');
});

test('item 7: a snapshot whose md names its clone as its parent: list shows the blobs of the loop refused and the rest; export of one says why', () => {
  const s = makeStore('loop.img');
  // The clone reads through the snapshot, and so does the blob it was taken of: name the clone as
  // the snapshot's parent, and all three read through a loop.
  editFilePage(s.file, Number(BigInt(s.snap) & 0xffffffffn), (page) => setParentDescriptor(page, BigInt(s.clone)));
  const listed = bs([s.file, 'list', '--json']);
  assert.equal(listed.status, 0, `list survives the loop (stderr: ${listed.stderr})`);
  const rows = JSON.parse(listed.stdout) as { hex: string; error: string | null; thin: boolean }[];
  const row = (id: string) => rows.find((r) => r.hex === hex(id));
  assert.equal(rows.length, 4);
  for (const id of [s.snap, s.clone, s.thick]) {
    assert.match(row(id)?.error ?? '', new RegExp(`blob ${id} was refused when the store loaded \\(its parent chain loops`));
  }
  assert.equal(row(s.thin)?.error, null);
  assert.equal(row(s.thin)?.thin, true);
  assert.match(listed.stderr, new RegExp(`blob ${s.snap} is refused: its parent blob ${s.clone} reads back through it`));
  assert.match(listed.stderr, new RegExp(`blob ${s.thick} is refused: it reads through blob ${s.snap}, whose parents loop`));
  const table = ok([s.file, 'list']).stdout;
  assert.match(table, new RegExp(`^${s.snap} +${hex(s.snap)} +0 B +refused`, 'm'));
  const exported = bs([s.file, 'export', s.clone, path.join(tmp, 'loop.raw')]);
  assert.equal(exported.status, 1);
  // The load's reports of what it refused come first, then the failure itself.
  assert.match(exported.stderr, new RegExp(`^wstor bs: blob ${s.clone} was refused when the store loaded \\(its parent chain loops: md damaged\\): it cannot be opened$`, 'm'));
  ok([s.file, 'export', s.thin, path.join(tmp, 'thin.raw')]);
  ok([s.file, 'create', '--size', '1MiB']);
  assert.equal(JSON.parse(ok([s.file, 'list', '--json']).stdout).length, 5, 'the store still works around the refused blobs');
});

test('item 8: one bit of the cluster mask cleared: the next import takes a free cluster, not the live blob\'s, and export gives back the live blob whole', () => {
  const file = path.join(tmp, 'mask.img');
  ok([file, 'init', '--size', '16MiB']);
  const first = path.join(tmp, 'first.src'), second = path.join(tmp, 'second.src');
  fs.writeFileSync(first, crypto.randomBytes(1 << 20));
  fs.writeFileSync(second, crypto.randomBytes(1 << 20));
  const live = ok([file, 'import', first]).stdout.trim();
  // The live blob's one cluster: its extent on its first md page (size, then extents: u64 index, u32 cluster).
  const image = fs.readFileSync(file);
  const mdStart = image.readUInt32LE(SB.mdStart), mdLen = image.readUInt32LE(SB.mdLen);
  const head = (mdStart + pageOf(BigInt(live))) * PAGE;
  const cluster = image.readUInt32LE(head + 16 + 16 + 16);
  const clusterMask = (image.readUInt32LE(SB.maskStart) + Math.ceil(mdLen / 8 / PAGE)) * PAGE;
  assert.ok(image[clusterMask + (cluster >> 3)] & (1 << (cluster & 7)), `cluster ${cluster} is marked used`);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([image[clusterMask + (cluster >> 3)] & ~(1 << (cluster & 7))]), 0, 1, clusterMask + (cluster >> 3));
  fs.closeSync(fd);
  const imported = bs([file, 'import', second]);
  assert.equal(imported.status, 0, imported.stderr);
  const out = path.join(tmp, 'live.raw');
  ok([file, 'export', live, out]);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(first)), 'the live blob is as it was imported');
  assert.match(imported.stderr, /masks fail their checksum \(damaged\): recovering from its md pages/);
  ok([file, 'export', imported.stdout.trim(), out]);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(second)));
});
