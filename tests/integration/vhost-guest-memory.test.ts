// Issue 14, item 2: guest memory whose file shrinks after the target mapped it. Guest memory is mapped
// into the engine's Wasm memory, so the next access used to be a SIGBUS that ended the whole process
// (exit 135). Now the addon's guard puts zero pages there, the session of that guest ends with an error
// naming it and the region, and everything else goes on. A region larger than its file, or a file that
// is not one, is refused when it comes. (Its own file: before the fix, the first test killed the process.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../host/index.js';
import type { Report } from '../../host/index.js';
import { loadNative } from '../../host/native/index.js';
import { VhostUserClient, MSG, BLK, USER_BASE } from '../helpers/vhost-user-client.js';
import { reportsMatching } from '../helpers/engine.js';

const MiB = 1 << 20;
const OK = 0;
const le = VhostUserClient.le;
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

async function target(): Promise<{ engine: Engine; dir: string; reports: Report[]; stop(): Promise<void> }> {
  const reports: Report[] = [];
  const engine = await Engine.start({ reactors: 2, memoryBytes: 512 << 20, logLevel: 'notice', onReport: (r) => reports.push(r) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-vhost-mem-'));
  engine.vhost.socketDir = dir;
  engine.bdev.createMalloc('m0', { blockCount: 4096 });
  engine.bdev.createMalloc('m1', { blockCount: 4096 });
  return { engine, dir, reports, async stop() { await engine.stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** Writes then reads back `rounds` blocks through `c`, each with its own pattern; throws on any difference. */
async function verifiedIo(c: VhostUserClient, rounds: number, seed: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const data = pattern(4096, seed + i);
    const sector = BigInt(((seed + i) % 512) * 8);
    assert.equal((await c.request(0, BLK.OUT, sector, { data })).status, OK);
    const back = await c.request(0, BLK.IN, sector, { readBytes: 4096 });
    assert.equal(back.status, OK);
    assert.deepEqual(back.data, data, `block at sector ${sector} reads back what was written`);
  }
}

test('a guest that shrinks its memory file under the mapping: the process lives, that session ends naming it, the other guest goes on', async () => {
  const t = await target();
  const native = loadNative()!;
  const repairsBefore = native.guardStats().repairs;
  try {
    await t.engine.vhost.createBlk('A', 'm0', { cpumask: '0x1' });
    await t.engine.vhost.createBlk('B', 'm1', { cpumask: '0x1' });   // its ring on the same reactor as A's
    const a = await VhostUserClient.connect(path.join(t.dir, 'A'), { guestBytes: 8 * MiB, memoryFile: path.join(t.dir, 'guest-a.mem') });
    const b = await VhostUserClient.connect(path.join(t.dir, 'B'));
    await a.setup();
    await b.setup();
    await verifiedIo(a, 4, 1);
    await verifiedIo(b, 4, 2);
    let stop = false;
    const bLoad = (async () => { let round = 0; while (!stop) await verifiedIo(b, 8, 100 + 8 * round++); })();
    a.shrinkMemory(0);                         // the worker polling A's ring touches it next
    assert.ok(await a.closedByPeer(5000), 'the shrinking guest\'s connection is closed');
    await reportsMatching(t.reports, /shrank under its mapping/);
    const broke = t.reports.filter((r) => /^vhost A: the file behind guest memory region 0 shrank under its mapping/.test(r.message));
    assert.equal(broke.length, 1, `one clear error naming the controller and the region (reports: ${t.reports.map((r) => r.message).join(' | ')})`);
    assert.equal(broke[0].level, 'error');
    assert.ok(native.guardStats().repairs > repairsBefore, 'the addon repaired a SIGBUS');
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await bLoad;
    await verifiedIo(b, 8, 7);
    assert.equal(t.engine.vhost.list('A')[0].connected, false);
    a.close();
    // The controller serves the next guest.
    const again = await VhostUserClient.connect(path.join(t.dir, 'A'));
    await again.setup();
    await verifiedIo(again, 4, 9);
    again.close(); b.close();
    assert.deepEqual(t.reports.filter((r) => r.level === 'fatal'), [], 'no reactor trapped');
  } finally { await t.stop(); }
});

test('a region larger than its file, or one whose fd is not a file, is refused when it comes (SET_MEM_TABLE, ADD_MEM_REG)', async () => {
  const t = await target();
  try {
    await t.engine.vhost.createBlk('A', 'm0');
    const sock = path.join(t.dir, 'A');
    // SET_MEM_TABLE: 16 MiB described, 8 MiB of file.
    let c = await VhostUserClient.connect(sock, { guestBytes: 8 * MiB, memoryFile: path.join(t.dir, 'small.mem') });
    c.send(MSG.SET_MEM_TABLE, le([1, 4], [0, 4], [0, 8], [16 * MiB, 8], [USER_BASE, 8], [0, 8]), { fds: [c.memfd], needReply: true });
    assert.ok(await c.closedByPeer(), 'SET_MEM_TABLE with a region past its file closes the connection');
    await reportsMatching(t.reports, /ends 8388608 bytes past/);
    assert.ok(t.reports.some((r) => r.message === 'vhost A: guest memory region 0 ends 8388608 bytes past the end of its file (mmap_offset + size is larger than the file); refused'),
      t.reports.map((r) => r.message).join(' | '));
    c.close();
    // The same past an mmap_offset: 8 MiB of file, 4 MiB from offset 6 MiB.
    c = await VhostUserClient.connect(sock, { guestBytes: 8 * MiB, memoryFile: path.join(t.dir, 'small2.mem') });
    c.send(MSG.SET_MEM_TABLE, le([1, 4], [0, 4], [0, 8], [4 * MiB, 8], [USER_BASE, 8], [6 * MiB, 8]), { fds: [c.memfd], needReply: true });
    assert.ok(await c.closedByPeer());
    await reportsMatching(t.reports, /ends 2097152 bytes past/);
    assert.ok(t.reports.some((r) => /region 0 ends 2097152 bytes past the end of its file/.test(r.message)));
    c.close();
    // An eventfd as guest memory.
    c = await VhostUserClient.connect(sock);
    const ev = c.native.eventfdCreate();
    c.send(MSG.SET_MEM_TABLE, le([1, 4], [0, 4], [0, 8], [MiB, 8], [USER_BASE, 8], [0, 8]), { fds: [ev], needReply: true });
    c.native.closeFd(ev);
    assert.ok(await c.closedByPeer());
    await reportsMatching(t.reports, /is not a regular file/);
    assert.ok(t.reports.some((r) => /^vhost A: guest memory region 0 is not a regular file or memfd/.test(r.message)));
    c.close();
    // ADD_MEM_REG after a good table: a 2 MiB region over a 1 MiB file is refused (REPLY_ACK: 1), and the session serves on.
    c = await VhostUserClient.connect(sock);
    await c.setup();
    const extra = path.join(t.dir, 'extra.mem');
    fs.writeFileSync(extra, new Uint8Array(MiB));
    const fd = fs.openSync(extra, 'r+');
    const region = le([0, 8], [64 * MiB, 8], [2 * MiB, 8], [USER_BASE + 0x1000_0000n, 8], [0, 8]);
    assert.equal(await c.acked(MSG.ADD_MEM_REG, region, [fd]), 1n, 'ADD_MEM_REG past its file fails');
    fs.closeSync(fd);
    await reportsMatching(t.reports, /region 1 ends/);
    assert.ok(t.reports.some((r) => /^vhost A: guest memory region 1 ends 1048576 bytes past the end of its file/.test(r.message)));
    await verifiedIo(c, 2, 3);
    c.close();
  } finally { await t.stop(); }
});

test('memory hot-plug while the rings run: an added region serves I/O at once; removing it fails only what still names it; the rings\' region stays', async () => {
  const t = await target();
  try {
    await t.engine.vhost.createBlk('A', 'm0');
    const c = await VhostUserClient.connect(path.join(t.dir, 'A'));
    await c.setup();
    // The added region shows the same file as region 0 from 8 MiB on (as a DIMM's memfd would be
    // another file): what the backend writes through it, the client sees at gpa 8 MiB + x.
    const HOT_GPA = 0x100_0000_0000n, FROM = 8 * MiB;
    const region = le([0, 8], [HOT_GPA, 8], [4 * MiB, 8], [USER_BASE + 0x4000_0000n, 8], [FROM, 8]);
    assert.equal(await c.acked(MSG.ADD_MEM_REG, region, [c.memfd]), 0n, 'ADD_MEM_REG while the rings run');
    /** A request by hand (descriptors 100..102, nothing else in flight): header and status in region 0, data in `dataGpa`. */
    const request = async (type: number, dataGpa: bigint, dataAt: number, write: boolean) => {
      const hdr = 12 * MiB, status = 12 * MiB + 4096;
      const v = new DataView(c.bytes(hdr, 16).buffer, c.bytes(hdr, 16).byteOffset);
      v.setUint32(0, type, true); v.setUint32(4, 0, true); v.setBigUint64(8, 80n, true);
      c.bytes(status, 1)[0] = 0xee;
      c.writeDesc(0, 100, { addr: BigInt(hdr), len: 16, flags: 1, next: 101 });
      c.writeDesc(0, 101, { addr: dataGpa, len: 4096, flags: 1 | (write ? 0 : 2), next: 102 });
      c.writeDesc(0, 102, { addr: BigInt(status), len: 1, flags: 2, next: 0 });
      c.publish(0, 100);
      const u = await c.used(0);
      return { status: c.bytes(status, 1)[0], usedLen: u.len, data: c.bytes(dataAt, 4096).slice() };
    };
    const data = pattern(4096, 77);
    c.bytes(FROM + 65536, 4096).set(data);
    assert.equal((await request(BLK.OUT, HOT_GPA + 65536n, FROM + 65536, true)).status, OK, 'a write from the added region');
    const back = await c.request(0, BLK.IN, 80n, { readBytes: 4096 });
    assert.deepEqual(back.data, data, 'the bdev holds the bytes the added region gave');
    c.bytes(FROM + 2 * 65536, 4096).fill(0);
    const read = await request(BLK.IN, HOT_GPA + 2n * 65536n, FROM + 2 * 65536, false);
    assert.equal(read.status, OK);
    assert.deepEqual(read.data, data, 'a read into the added region');

    assert.equal(await c.acked(MSG.REM_MEM_REG, region, []), 0n, 'REM_MEM_REG while the rings run');
    const gone = await request(BLK.IN, HOT_GPA + 65536n, FROM + 65536, false);
    assert.equal(gone.usedLen, 0, 'a chain naming the removed region is refused, nothing written');
    assert.equal(gone.status, 0xee);
    const rings = le([0, 8], [0, 8], [BigInt(c.guestBytes), 8], [USER_BASE, 8], [0, 8]);
    assert.equal(await c.acked(MSG.REM_MEM_REG, rings, []), 1n, 'the region the rings live in cannot go while they run');
    await reportsMatching(t.reports, /REM_MEM_REG of guest memory region 0 refused: a running ring lies in it/);
    await verifiedIo(c, 2, 9);
    c.close();
  } finally { await t.stop(); }
});
