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
