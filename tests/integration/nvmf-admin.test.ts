// NVMe-oF admin commands (assembly/nvme/features.ts, log-page.ts, discovery-log.ts) through a fake
// transport on the deterministic harness: Set/Get Features, the error, SMART and changed namespace
// logs, and the discovery controller with its log of subsystems, listeners and referrals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  targetEnv, subsystemWithListener, listener, qpair, connect, send, propSet, adminController, nsAdd, mallocBdev, expectStatus, ok, run,
  ascii, STATUS, HOSTNQN, LIMITS, TCP, IPV4, DISCOVERY_NQN, type TargetEnv,
} from '../helpers/nvmf-target.js';
import {
  identifySqe, setFeaturesSqe, getFeaturesSqe, getLogPageSqe, writeSqe, readSqe, abortSqe, PROP, CNS, FEATURE, LID,
} from '../helpers/nvme-tcp-sqe.js';

test('Set/Get Features: queues, async events, KATO and the kept ones read back; unsupported values are Invalid Field', async () => {
  const e = await targetEnv();
  const [, lid] = subsystemWithListener(e);
  const [q] = adminController(e, lid, { katoMs: 5000 });
  const get = (fid: number, sel = 0) => send(e, q, getFeaturesSqe(fid, sel)).cqe;
  const set = (fid: number, v: number) => send(e, q, setFeaturesSqe(fid, v)).cqe;
  assert.equal(get(FEATURE.NUMBER_OF_QUEUES).dw0, (LIMITS.maxIoQpairs - 1) * 0x10001, 'queues before any Set: the transport limit');
  assert.equal(get(FEATURE.KEEP_ALIVE_TIMER).dw0, 5000, 'KATO from Connect');
  expectStatus(set(FEATURE.KEEP_ALIVE_TIMER, 8000), STATUS.SUCCESS, 'KATO');
  assert.equal(get(FEATURE.KEEP_ALIVE_TIMER).dw0, 8000);
  expectStatus(set(FEATURE.ASYNC_EVENT_CONFIG, 1 << 8), STATUS.SUCCESS, 'namespace attribute notices on');
  assert.equal(get(FEATURE.ASYNC_EVENT_CONFIG).dw0, 1 << 8);
  expectStatus(set(FEATURE.ASYNC_EVENT_CONFIG, 1 << 9), STATUS.INVALID_FIELD, 'firmware notices are not offered');
  for (const [fid, v] of [[FEATURE.ARBITRATION, 0x03020107], [FEATURE.INTERRUPT_COALESCING, 0x0a05], [0x05, 100], [0x04, 0x0150]]) {
    expectStatus(set(fid, v), STATUS.SUCCESS, `feature ${fid}`);
    assert.equal(get(fid).dw0, v, `feature ${fid} reads back`);
  }
  expectStatus(set(FEATURE.POWER_MGMT, 1), STATUS.INVALID_FIELD, 'power state 1 does not exist');
  expectStatus(set(0x06, 0), STATUS.INVALID_FIELD, 'the write cache cannot be turned off');
  assert.equal(get(0x06).dw0, 1, 'the write cache is on');
  expectStatus(send(e, q, setFeaturesSqe(FEATURE.ARBITRATION, 0, { save: true })).cqe, STATUS.FEATURE_NOT_SAVEABLE, 'SV');
  expectStatus(get(0x80), STATUS.INVALID_FIELD, 'an unknown feature');
  assert.equal(get(FEATURE.ARBITRATION, 3).dw0, 1 << 2, 'SEL 3: changeable, not saveable');
  assert.equal(get(FEATURE.KEEP_ALIVE_TIMER, 1).dw0, 0, 'SEL 1: the default');
});

test('log pages: error (empty), SMART (the host\'s commands counted), changed namespace list (read clears, RAE keeps)', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e);
  const bdev = mallocBdev(e, 1024, 512, 'm0');
  nsAdd(e, sub, bdev, 1);
  const [q, cntlid] = adminController(e, lid);
  const err = send(e, q, getLogPageSqe(LID.ERROR, 64), undefined, 64);
  expectStatus(err.cqe, STATUS.SUCCESS, 'error log');
  assert.ok(err.data.every((b) => b === 0), 'no error entries');
  const io = qpair(e, e.io2, lid);
  expectStatus(connect(e, io, { qid: 1, cntlid }), STATUS.SUCCESS, 'I/O Connect');
  for (let i = 0; i < 2; i++) expectStatus(send(e, io, writeSqe(1, i * 8, 8), Buffer.alloc(4096, i + 1)).cqe, STATUS.SUCCESS, 'write');
  const read = send(e, io, readSqe(1, 8, 8), undefined, 4096);
  expectStatus(read.cqe, STATUS.SUCCESS, 'read');
  assert.ok(read.data.every((b) => b === 2), 'the I/O path got the command (qid 1 to the namespace)');
  const smart = send(e, q, getLogPageSqe(LID.SMART, 512), undefined, 512);
  expectStatus(smart.cqe, STATUS.SUCCESS, 'SMART');
  const u128 = (at: number) => Number(smart.data.readBigUInt64LE(at));
  assert.deepEqual([u128(64), u128(80)], [1, 2], 'host read and write commands');
  assert.deepEqual([u128(32), u128(48)], [1, 1], 'data units (thousands of 512 bytes, rounded up)');
  assert.equal(smart.data[3], 100, 'available spare');
  // A namespace added after the controller: listed once; a read with RAE keeps it, a plain one clears it.
  nsAdd(e, sub, mallocBdev(e, 1024, 512, 'm1'), 4);
  const changed = (rae: boolean) => send(e, q, getLogPageSqe(LID.CHANGED_NS_LIST, 4096, 0, { rae }), undefined, 4096).data;
  assert.deepEqual([changed(true).readUInt32LE(0), changed(true).readUInt32LE(4)], [4, 0]);
  assert.equal(changed(false).readUInt32LE(0), 4);
  assert.equal(changed(false).readUInt32LE(0), 0, 'cleared by the read');
  expectStatus(send(e, q, getLogPageSqe(LID.FIRMWARE, 512), undefined, 512).cqe, STATUS.INVALID_LOG_PAGE, 'no firmware log');
  expectStatus(send(e, q, getLogPageSqe(LID.DISCOVERY, 1024), undefined, 1024).cqe, STATUS.INVALID_LOG_PAGE, 'discovery log on an I/O controller');
  expectStatus(send(e, q, getLogPageSqe(LID.SMART, 512), undefined, 256).cqe, STATUS.INVALID_FIELD, 'more than the buffer');
  const window = send(e, q, getLogPageSqe(LID.SMART, 16, 64), undefined, 16);
  assert.equal(window.data.readBigUInt64LE(0), 1n, 'an offset reads the window');
});

/** The discovery log page for `hostnqn` (header then all entries). */
function discoveryLog(e: TargetEnv, q: number): { genctr: bigint; entries: { trtype: number; subtype: number; portid: number; trsvcid: string; traddr: string; subnqn: string }[] } {
  const head = send(e, q, getLogPageSqe(LID.DISCOVERY, 1024), undefined, 1024);
  expectStatus(head.cqe, STATUS.SUCCESS, 'discovery log header');
  const numrec = Number(head.data.readBigUInt64LE(8));
  const all = send(e, q, getLogPageSqe(LID.DISCOVERY, 1024 * (1 + numrec)), undefined, 1024 * (1 + numrec)).data;
  const entries = [];
  for (let i = 0; i < numrec; i++) {
    const d = all.subarray(1024 * (i + 1), 1024 * (i + 2));
    entries.push({ trtype: d[0], subtype: d[2], portid: d.readUInt16LE(4), trsvcid: d.subarray(32, 64).toString('latin1').trimEnd(),
      subnqn: d.subarray(256, 512).toString('latin1').replace(/\0+$/, ''), traddr: d.subarray(512, 768).toString('latin1').trimEnd() });
  }
  return { genctr: head.data.readBigUInt64LE(0), entries };
}

test('discovery: two subsystems with their listeners, the host sees the ones it may reach, then a referral; GENCTR moves', async () => {
  const e = await targetEnv();
  const [a, l1] = subsystemWithListener(e, 'nqn.2016-06.io.spdk:a', {}, '4420');
  const l2 = listener(e, '10.0.0.2', '4421');
  ok(e, (r) => e.h.core.nvmf_subsystem_listener_add(r, a, l2));
  const [b] = subsystemWithListener(e, 'nqn.2016-06.io.spdk:b', { allowAnyHost: false }, '4430');
  const disc = e.h.core.nvmf_discovery_subsystem();
  ok(e, (r) => e.h.core.nvmf_subsystem_listener_add(r, disc, l1));
  const q = qpair(e, e.thread, l1);
  const c = connect(e, q, { subnqn: DISCOVERY_NQN });
  expectStatus(c, STATUS.SUCCESS, 'discovery Connect');
  expectStatus(propSet(e, q, PROP.CC, 1), STATUS.SUCCESS, 'enable (entry sizes do not matter to a discovery controller)');
  const id = send(e, q, identifySqe(CNS.CONTROLLER), undefined, 4096).data;
  assert.equal(id[111], 2, 'CNTRLTYPE discovery');
  assert.equal(id.subarray(768, 768 + DISCOVERY_NQN.length).toString('latin1'), DISCOVERY_NQN);
  assert.equal(send(e, q, getFeaturesSqe(FEATURE.KEEP_ALIVE_TIMER)).cqe.dw0, 120_000, 'a discovery controller without KATO gets 120 s');
  let log = discoveryLog(e, q);
  assert.deepEqual(log.entries.map((x) => [x.subnqn, x.traddr, x.trsvcid, x.subtype, x.trtype]), [
    ['nqn.2016-06.io.spdk:a', '127.0.0.1', '4420', 2, TCP],
    ['nqn.2016-06.io.spdk:a', '10.0.0.2', '4421', 2, TCP],
    [DISCOVERY_NQN, '127.0.0.1', '4420', 3, TCP],
  ], 'b refuses this host, so it is not listed');
  assert.equal(log.entries[1].portid, l2, 'PORTID: the listener id');
  const before = log.genctr;
  ok(e, (r) => e.h.core.nvmf_host_add(r, b, ascii(e, HOSTNQN)));
  ok(e, (r) => e.h.core.nvmf_referral_add(r, TCP, IPV4, ascii(e, '10.0.0.9'), ascii(e, '8009'), 0));
  log = discoveryLog(e, q);
  assert.ok(log.genctr > before, 'GENCTR changed');
  assert.deepEqual(log.entries.map((x) => [x.subnqn, x.trsvcid, x.subtype]), [
    ['nqn.2016-06.io.spdk:b', '4430', 2],
    ['nqn.2016-06.io.spdk:a', '4420', 2],
    ['nqn.2016-06.io.spdk:a', '4421', 2],
    [DISCOVERY_NQN, '4420', 3],
    [DISCOVERY_NQN, '8009', 1],
  ]);
  // A window of the log: the third entry alone.
  const third = send(e, q, getLogPageSqe(LID.DISCOVERY, 1024, 3 * 1024), undefined, 1024).data;
  assert.equal(third.subarray(32, 36).toString('latin1'), '4421');
  expectStatus(send(e, q, getLogPageSqe(LID.DISCOVERY, 1024, 64 * 1024), undefined, 1024).cqe, STATUS.INVALID_FIELD, 'past the log');
  // A removed listener leaves every subsystem and the log.
  ok(e, (r) => e.h.core.nvmf_listener_remove(r, l2));
  assert.equal(discoveryLog(e, q).entries.length, 4);
  assert.equal(listener(e, '10.0.0.3', '4422'), l2, 'a new listener in the freed slot');
  assert.equal(discoveryLog(e, q).entries.length, 4, 'inherits no subsystem of the old one');
  expectStatus(connect(e, qpair(e, e.thread, l2), { subnqn: 'nqn.2016-06.io.spdk:a' }), STATUS.CONNECT_INVALID_PARAMETERS, 'nor lets its hosts in');
  // What a discovery controller refuses (as nvmet).
  expectStatus(send(e, q, identifySqe(CNS.ACTIVE_NS_LIST), undefined, 4096).cqe, STATUS.INVALID_FIELD, 'CNS 2');
  expectStatus(send(e, q, getLogPageSqe(LID.SMART, 512), undefined, 512).cqe, STATUS.INVALID_FIELD, 'SMART');
  expectStatus(send(e, q, setFeaturesSqe(FEATURE.NUMBER_OF_QUEUES, 0)).cqe, STATUS.INVALID_FIELD, 'Number of Queues');
  expectStatus(send(e, q, abortSqe(0, 1)).cqe, STATUS.INVALID_OPCODE, 'Abort');
  expectStatus(connect(e, qpair(e, e.io2, l1), { qid: 1, cntlid: c.dw0, subnqn: DISCOVERY_NQN }), STATUS.CONNECT_INVALID_PARAMETERS, 'an I/O queue');
});

test('referrals: a duplicate is -EEXIST, a bad address -EINVAL, a removed one may come back', async () => {
  const e = await targetEnv();
  const add = (addr: string, port: string) => run(e, (r) => e.h.core.nvmf_referral_add(r, TCP, IPV4, ascii(e, addr), ascii(e, port), 0))[0];
  const remove = (addr: string, port: string) => run(e, (r) => e.h.core.nvmf_referral_remove(r, TCP, IPV4, ascii(e, addr), ascii(e, port)))[0];
  assert.equal(add('10.0.0.9', '8009'), 0);
  assert.equal(add('10.0.0.9', '8009'), -17);
  assert.equal(add('', '8009'), -22);
  assert.equal(remove('10.0.0.9', '8009'), 0);
  assert.equal(remove('10.0.0.9', '8009'), -2);
  assert.equal(add('10.0.0.9', '8009'), 0, 'the address may be referred to again');
});

test('nvmf_subsystem_dump: controllers and qpairs in fixed records; a short buffer is -ENOSPC with the size needed', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e);
  const [, cntlid] = adminController(e, lid, { katoMs: 3000 });
  const io = qpair(e, e.io2, lid, '192.168.1.7', 40001);
  expectStatus(connect(e, io, { qid: 1, cntlid, entries: 64 }), STATUS.SUCCESS, 'I/O Connect');
  const buf = e.h.scratch(4096);
  assert.equal(e.h.core.nvmf_subsystem_dump(sub, buf, 100), -28);
  const needed = 16 + 288 + 2 * 88;
  assert.equal(e.h.u32(buf, 0), needed);
  assert.equal(e.h.core.nvmf_subsystem_dump(sub, buf, 4096), needed);
  const d = Buffer.from(new Uint8Array(e.h.memory.buffer, buf, needed).slice());
  assert.deepEqual([d.readUInt32LE(4), d.readUInt32LE(8)], [1, 2]);
  const c = d.subarray(16, 16 + 288);
  assert.deepEqual([c.readUInt16LE(0), c.readUInt16LE(2), c.readUInt32LE(4)], [cntlid, 2, 3000]);
  assert.ok(c.subarray(8, 24).every((x) => x === 0xab), 'host id');
  assert.equal(c.subarray(24, 24 + HOSTNQN.length).toString('latin1'), HOSTNQN);
  assert.equal(c.readUInt32LE(280) & 3, 3, 'enabled and ready');
  const qps = [0, 1].map((i) => d.subarray(16 + 288 + 88 * i, 16 + 288 + 88 * (i + 1)));
  const ioRec = qps.find((x) => x.readUInt16LE(2) === 1)!;
  assert.deepEqual([ioRec.readUInt16LE(0), ioRec.readUInt32LE(8), ioRec.readUInt32LE(12), ioRec.readUInt32LE(16), ioRec.readUInt32LE(20)],
    [cntlid, 1, 64, 40001, lid]);
  assert.equal(ioRec.subarray(24, 36).toString('latin1'), '192.168.1.7\0');
  assert.equal(e.h.core.nvmf_subsystem_dump(buf, buf, 4096), -2, 'not a subsystem');
});
