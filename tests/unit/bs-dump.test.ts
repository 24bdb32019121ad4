// dumpStore on a real store made by the CLI (a thin blob with an xattr, a thick blob, a snapshot of
// it): the super block, masks and each blob's md page; then a copy with one md page corrupted, whose
// CRC mismatch is reported while the other pages still print; then the errors for a missing file and
// a file that is not a store. Also the CRC32C against its standard check value.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c, dumpStore } from '../../host/cli/bs-dump.js';

// Compiled to build/tests/unit/; the CLI is build/host/cli.js.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-bs-dump-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const STORE = path.join(tmp, 'store.img');

function bs(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, 'bs', STORE, ...args], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `wstor bs ${args.join(' ')} exits 0 (stderr: ${r.stderr})`);
  return r.stdout.trim();
}

const hexId = (id: string): string => `0x${BigInt(id).toString(16)}`;
/** The lines of one md page's entry in a dump: its header line up to the next page's. */
function pageOf(dump: string, id: string): string {
  const m = new RegExp(`^page \\d+: blob ${hexId(id)},[^]*?(?=^page |(?![^]))`, 'm').exec(dump);
  assert.ok(m, `the dump shows blob ${hexId(id)}'s page`);
  return m[0];
}

bs(['init', '--size', '64MiB']);
const thin = bs(['create', '--size', '2MiB', '--thin', '--xattr', 'owner=test']);
const thick = bs(['create', '--size', '3MiB']);
const snap = bs(['snapshot', thick]);

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('the super block: every field, clean after the CLI unloads, CRC ok; masks counted', () => {
  const dump = dumpStore(STORE);
  assert.match(dump, /^  signature +"WSTORBLB"$/m);
  assert.match(dump, /^  version +2$/m);
  assert.match(dump, /^  clean +1$/m);
  assert.match(dump, /^  cluster bytes +1048576$/m);
  assert.match(dump, /^  md page bytes +4096$/m);
  assert.match(dump, /^  total clusters +64$/m);
  assert.match(dump, /^  super blob id +0x0$/m);
  assert.match(dump, /^  device bytes +67108864$/m);
  assert.match(dump, /^  crc +ok \(0x[0-9a-f]{8}\)$/m);
  assert.match(dump, /^  mask crc +0x[0-9a-f]{8}$/m);
  assert.match(dump, /^  store tag +0x[0-9a-f]{8}$/m);
  assert.match(dump, /^  checksum +ok \(0x[0-9a-f]{8}\)$/m, 'the masks match their checksum');
  assert.match(dump, /^  used md pages +3 of 64$/m);
  assert.match(dump, /^  used blob ids +3 of 64$/m);
  assert.doesNotMatch(dump, /mismatch|BAD|unknown|NOT the store's/);
});

test('each blob\'s page: id, CRC, size, xattr, flags, parent, extents', () => {
  const dump = dumpStore(STORE);
  const t = pageOf(dump, thin), o = pageOf(dump, thick), s = pageOf(dump, snap);
  for (const p of [t, o, s]) assert.match(p, /sequence 0, next none, crc ok/);
  assert.match(t, /size 2 clusters/);
  assert.match(t, /xattr owner="test"/);
  assert.match(t, /flags invalid 0x1 \(thin\)/);
  assert.match(t, /extents from blob cluster 0: unallocated × 2/);
  // The snapshot took the origin's clusters: it holds 3 allocated ones and is read-only.
  assert.match(s, /size 3 clusters/);
  assert.match(s, /data read-only 0x1 \(read-only\)/);
  const runs = [...s.matchAll(/device cluster (\d+) × (\d+)/g)];
  assert.equal(runs.reduce((n, r) => n + Number(r[2]), 0), 3, 'the snapshot\'s extents cover 3 clusters');
  assert.ok(runs.every((r) => Number(r[1]) > 0));
  // The origin is now thin over the snapshot.
  assert.match(o, new RegExp(`parent ${hexId(snap)}`));
  assert.match(o, /extents from blob cluster 0: unallocated × 3/);
});

test('pages: all prints the empty pages too', () => {
  assert.doesNotMatch(dumpStore(STORE), /: empty$/m);
  assert.match(dumpStore(STORE, { pages: 'all' }), /^page 63: empty$/m);
});

test('a corrupted md page is reported as a CRC mismatch; the other pages still print', () => {
  const copy = path.join(tmp, 'corrupt.img');
  fs.copyFileSync(STORE, copy);
  const sb = Buffer.alloc(4096);
  const fd = fs.openSync(copy, 'r+');
  fs.readSync(fd, sb, 0, 4096, 0);
  const mdStart = sb.readUInt32LE(56);
  const index = Number(BigInt(thick) & 0xffffffffn);
  const at = (mdStart + index) * 4096 + 100;   // inside the descriptors
  const one = Buffer.alloc(1);
  fs.readSync(fd, one, 0, 1, at);
  one[0] ^= 0x5a;
  fs.writeSync(fd, one, 0, 1, at);
  fs.closeSync(fd);
  const dump = dumpStore(copy);
  assert.match(dump, new RegExp(`^page ${index}: blob ${hexId(thick)}, .*crc BAD$`, 'm'));
  assert.match(dump, new RegExp(`^  page ${index}: CRC mismatch \\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\)$`, 'm'));
  assert.match(pageOf(dump, thin), /crc ok/);
  assert.match(pageOf(dump, snap), /crc ok/);
});

test('a damaged md_len or mask length reads no further than the file: the dump says so and ends', () => {
  const copy = path.join(tmp, 'mdlen.img');
  fs.copyFileSync(STORE, copy);
  const fd = fs.openSync(copy, 'r+');
  const sb = Buffer.alloc(4096);
  fs.readSync(fd, sb, 0, 4096, 0);
  sb.writeUInt32LE(0xffffffff, 60);          // md_len
  sb.writeUInt32LE(0xfffffff0, 72);          // cluster_mask_bits
  sb.writeUInt32LE(crc32c(sb.subarray(0, 4092)), 4092);
  fs.writeSync(fd, sb, 0, 4096, 0);
  fs.closeSync(fd);
  const dump = dumpStore(copy);                // before, a loop over 4 billion md pages
  assert.match(dump, /the md region runs past the end of .*mdlen\.img: only its first \d+ pages are in it \(md_len is damaged, or FILE was cut\)/);
  assert.match(dump, /^  used clusters +\d+ of 4294967280$/m, 'a mask past the file counts what the file holds');
  assert.match(pageOf(dump, thick), /crc ok/);
});

test('a missing file and a file that is not a store throw clear errors', () => {
  const missing = path.join(tmp, 'missing.img');
  assert.throws(() => dumpStore(missing), { message: `${missing} does not exist` });
  const other = path.join(tmp, 'other.bin');
  fs.writeFileSync(other, Buffer.alloc(8192, 7));
  assert.throws(() => dumpStore(other), { message: `${other} holds no wstor blobstore (no signature in block 0)` });
  const tiny = path.join(tmp, 'tiny.bin');
  fs.writeFileSync(tiny, 'WSTOR');
  assert.throws(() => dumpStore(tiny), /holds no wstor blobstore/);
});
