// host/nvmf-dump.ts against the core's own nvmf_subsystem_dump on the deterministic harness: every
// field of a controller and its qpairs read back, the -ENOSPC retry, an empty subsystem, an unknown
// one, and a dump whose header disagrees with its records refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targetEnv, subsystemWithListener, subsystemCreate, qpair, connect, adminController, expectStatus, STATUS, HOSTNQN } from '../helpers/nvmf-target.js';
import { dumpSubsystem, parseSubsystemDump, DUMP_HEADER_BYTES, DUMP_CTRLR_BYTES, DUMP_QPAIR_BYTES } from '../../host/nvmf-dump.js';
import { WstorError } from '../../host/errors.js';

test('a controller with an admin and an I/O queue reads back field by field, through a first buffer too short for it', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e);
  const [, cntlid] = adminController(e, lid, { katoMs: 3000, hostId: Buffer.from('00112233445566778899aabbccddeeff', 'hex') });
  const io = qpair(e, e.io2, lid, '192.168.1.7', 40001);
  expectStatus(connect(e, io, { qid: 1, cntlid, entries: 64, hostId: Buffer.from('00112233445566778899aabbccddeeff', 'hex') }), STATUS.SUCCESS, 'I/O Connect');
  // Room for the header only: the first call is -ENOSPC and the header says how much to ask for.
  const d = dumpSubsystem(e.h.core, e.h.memory, sub, 'test dump', DUMP_HEADER_BYTES);
  assert.equal(d.controllers.length, 1);
  const c = d.controllers[0];
  assert.deepEqual(
    [c.cntlid, c.qpairCount, c.katoMs, c.hostid, c.hostnqn, c.enabled, c.ready, c.ending],
    [cntlid, 2, 3000, '00112233-4455-6677-8899-aabbccddeeff', HOSTNQN, true, true, false]);
  assert.equal(d.qpairs.length, 2);
  const admin = d.qpairs.find((q) => q.qid === 0)!;
  const ioq = d.qpairs.find((q) => q.qid === 1)!;
  assert.deepEqual([admin.cntlid, admin.state, admin.listenerId, admin.peerAddr], [cntlid, 'enabled', lid, '10.0.2.15']);
  assert.deepEqual([ioq.cntlid, ioq.state, ioq.entries, ioq.peerPort, ioq.listenerId, ioq.peerAddr], [cntlid, 'enabled', 64, 40001, lid, '192.168.1.7']);
  assert.deepEqual([admin.reactor, ioq.reactor], [-1, -1], 'harness threads belong to no reactor: the signed field reads -1');
});

test('a subsystem without controllers dumps empty lists; a pointer that is no subsystem is ENOENT', async () => {
  const e = await targetEnv();
  const [rc, sub] = subsystemCreate(e, 'nqn.2026-12.io.wstor:empty');
  assert.equal(rc, 0);
  assert.deepEqual(dumpSubsystem(e.h.core, e.h.memory, sub, 'empty'), { controllers: [], qpairs: [] });
  const notOne = e.h.scratch(64);
  assert.throws(() => dumpSubsystem(e.h.core, e.h.memory, notOne, 'bogus'), (err: WstorError) => err.code === 'ENOENT' && /no longer knows the subsystem/.test(err.message));
});

test('a dump whose header disagrees with its records is refused as EIO, naming the counts', () => {
  const header = (size: number, ctrlrs: number, qpairs: number, total = size) => {
    const b = Buffer.alloc(total);
    b.writeUInt32LE(size, 0); b.writeUInt32LE(ctrlrs, 4); b.writeUInt32LE(qpairs, 8);
    return new Uint8Array(b);
  };
  assert.throws(() => parseSubsystemDump(new Uint8Array(8)), (err: WstorError) => err.code === 'EIO' && /shorter than its 16-byte header/.test(err.message));
  assert.throws(() => parseSubsystemDump(header(DUMP_HEADER_BYTES + 10, 1, 0, DUMP_HEADER_BYTES + DUMP_CTRLR_BYTES)), (err: WstorError) => err.code === 'EIO' && /1 controllers and 0 qpairs/.test(err.message));
  const size = DUMP_HEADER_BYTES + DUMP_CTRLR_BYTES + DUMP_QPAIR_BYTES;
  assert.throws(() => parseSubsystemDump(header(size, 1, 1, size - 1)), (err: WstorError) => err.code === 'EIO', 'fewer bytes than the header says');
  // One controller whose own count (0) does not match the header's one qpair.
  assert.throws(() => parseSubsystemDump(header(size, 1, 1)), (err: WstorError) => err.code === 'EIO' && /count 0 qpairs, its header 1/.test(err.message));
  assert.deepEqual(parseSubsystemDump(header(DUMP_HEADER_BYTES, 0, 0)), { controllers: [], qpairs: [] });
});
