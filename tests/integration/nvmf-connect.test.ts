// NVMe-oF controllers (assembly/nvme/connect.ts, property.ts, admin-identify.ts) through a fake
// transport on the deterministic harness: Connect for the admin and I/O queues with every refusal,
// the property handshakes, Identify as Linux's host reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  targetEnv, subsystemCreate, subsystemWithListener, listener, qpair, connect, send, propGet, propSet, adminController, nsAdd,
  mallocBdev, expectStatus, ok, run, ascii, STATUS, SUBNQN, HOSTNQN, LIMITS, CC_ENABLE, type TargetEnv,
} from '../helpers/nvmf-target.js';
import { identifySqe, setFeaturesSqe, PROP, CNS, FEATURE } from '../helpers/nvme-tcp-sqe.js';

function reports(e: TargetEnv): string { return e.h.messages('error').join(' | '); }

test('admin Connect makes a controller with a fresh cntlid; an I/O Connect names it and attaches queue 1', async () => {
  const e = await targetEnv();
  const [, lid] = subsystemWithListener(e, SUBNQN, { minCntlid: 5, maxCntlid: 6 });
  const [admin, cntlid] = adminController(e, lid, { katoMs: 10_000 });
  assert.equal(cntlid, 5, 'the first id of the range');
  const io = qpair(e, e.io2, lid);
  const c = connect(e, io, { qid: 1, entries: 128, cntlid });
  expectStatus(c, STATUS.SUCCESS, 'I/O Connect');
  assert.equal(c.dw0 & 0xffff, cntlid, 'the I/O Connect answers with the controller id');
  assert.equal(c.sqid, 1);
  assert.equal(e.h.core.hc_qpair_ctrlr(io), e.h.core.hc_qpair_ctrlr(admin), 'one controller holds both queues');
  assert.equal(e.h.core.hc_qpair_state(io), 1, 'connected');
  // A second host gets the other id; a third finds the range full (controller busy).
  const [, second] = adminController(e, lid, { hostnqn: 'nqn.2014-08.org.example:host2' });
  assert.equal(second, 6);
  const q3 = qpair(e, e.thread, lid);
  expectStatus(connect(e, q3, { hostnqn: 'nqn.2014-08.org.example:host3' }), STATUS.CONNECT_BUSY, 'no cntlid left');
  assert.match(reports(e) + e.h.messages('warn').join(' | '), /every controller id/);
});

test('Connect refusals: unknown subsystem, host not allowed, listener not allowed, bad format, cntlid, qid, queue size', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e, SUBNQN, { allowAnyHost: false });
  const other = listener(e, '127.0.0.1', '4421');
  const q = () => qpair(e, e.thread, lid);
  const invalid = (c: ReturnType<typeof connect>, ipo: number, iattr: number, what: string) => {
    expectStatus(c, STATUS.CONNECT_INVALID_PARAMETERS, what);
    assert.equal(c.dw0, (iattr << 16) | ipo, `${what}: IATTR/IPO`);
  };
  invalid(connect(e, q(), { subnqn: 'nqn.2016-06.io.spdk:nothere' }), 256, 1, 'unknown NQN');
  assert.match(reports(e), /there is no subsystem nqn\.2016-06\.io\.spdk:nothere/);
  expectStatus(connect(e, q()), STATUS.CONNECT_INVALID_HOST, 'host not on the list');
  assert.match(reports(e), /host nqn\.2014-08\.org\.nvmexpress:uuid:2b6e.* is not allowed/);
  ok(e, (r) => e.h.core.nvmf_host_add(r, sub, ascii(e, HOSTNQN)));
  invalid(connect(e, qpair(e, e.thread, other)), 256, 1, 'a listener the subsystem does not have');
  assert.match(reports(e), /does not listen on listener/);
  invalid(connect(e, q(), { subnqn: 'not-an-nqn' }), 256, 1, 'a malformed NQN');
  invalid(connect(e, q(), { cntlid: 3 }), 16, 1, 'an admin Connect naming a cntlid');
  invalid(connect(e, q(), { entries: LIMITS.maxAqDepth + 1 }), 44, 0, 'an admin queue deeper than the transport takes');
  invalid(connect(e, q(), { entries: 1 }), 44, 0, 'a queue of one entry');
  // Record format 1 does not exist.
  const bad = qpair(e, e.thread, lid);
  const { connectSqe, connectData } = await import('../helpers/nvme-tcp-sqe.js');
  const sqe = connectSqe({ qid: 0, queueEntries: 32 });
  sqe.writeUInt16LE(1, 40);
  expectStatus(send(e, bad, sqe, connectData({ hostId: Buffer.alloc(16), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN })).cqe,
    STATUS.CONNECT_INCOMPATIBLE_FORMAT, 'RECFMT 1');
  // Now a good admin Connect, and bad I/O Connects against it.
  const [, cntlid] = adminController(e, lid);
  const io = () => qpair(e, e.io2, lid);
  invalid(connect(e, io(), { qid: 1, cntlid: cntlid + 1 }), 16, 1, 'an I/O Connect to no such controller');
  ok(e, (r) => e.h.core.nvmf_host_add(r, sub, ascii(e, 'nqn.2014-08.org.example:other')));
  invalid(connect(e, io(), { qid: 1, cntlid, hostnqn: 'nqn.2014-08.org.example:other' }), 512, 1, 'another (allowed) host naming the controller');
  invalid(connect(e, io(), { qid: LIMITS.maxIoQpairs + 1, cntlid }), 42, 0, 'a qid past the I/O queues granted');
  invalid(connect(e, io(), { qid: 1, cntlid, entries: LIMITS.maxQueueDepth + 1 }), 44, 0, 'an I/O queue deeper than the transport takes');
  expectStatus(connect(e, io(), { qid: 1, cntlid }), STATUS.SUCCESS, 'queue 1');
  invalid(connect(e, io(), { qid: 1, cntlid }), 42, 0, 'queue 1 twice');
});

test('commands before Connect and a second Connect are out of sequence; properties live on the admin queue only', async () => {
  const e = await targetEnv();
  const [, lid] = subsystemWithListener(e);
  const q = qpair(e, e.thread, lid);
  expectStatus(send(e, q, identifySqe(CNS.CONTROLLER), undefined, 4096).cqe, STATUS.COMMAND_SEQUENCE_ERROR, 'Identify before Connect');
  expectStatus(propGet(e, q, PROP.CAP, 8), STATUS.COMMAND_SEQUENCE_ERROR, 'Property Get before Connect');
  const c = connect(e, q);
  expectStatus(c, STATUS.SUCCESS, 'Connect');
  expectStatus(connect(e, q), STATUS.COMMAND_SEQUENCE_ERROR, 'a second Connect on the same queue');
  // Admin commands wait for CC.EN.
  expectStatus(send(e, q, identifySqe(CNS.CONTROLLER), undefined, 4096).cqe, STATUS.COMMAND_SEQUENCE_ERROR, 'Identify before CC.EN');
  const io = qpair(e, e.io2, lid);
  expectStatus(connect(e, io, { qid: 1, cntlid: c.dw0 }), STATUS.COMMAND_SEQUENCE_ERROR, 'I/O Connect before CC.EN');
  expectStatus(propSet(e, q, PROP.CC, CC_ENABLE), STATUS.SUCCESS, 'enable');
  expectStatus(connect(e, io, { qid: 1, cntlid: c.dw0 }), STATUS.SUCCESS, 'I/O Connect after CC.EN');
  expectStatus(propGet(e, io, PROP.CAP, 8), STATUS.INVALID_OPCODE, 'Property Get on an I/O queue');
});

test('properties: CAP, VS, CC and CSTS through the enable and shutdown handshakes', async () => {
  const e = await targetEnv();
  const [, lid] = subsystemWithListener(e);
  const q = qpair(e, e.thread, lid);
  const c = connect(e, q);
  const cap = propGet(e, q, PROP.CAP, 8);
  expectStatus(cap, STATUS.SUCCESS, 'CAP');
  const capValue = BigInt(cap.dw0) | (BigInt(cap.dw1) << 32n);
  assert.equal(Number(capValue & 0xffffn), LIMITS.maxQueueDepth - 1, 'CAP.MQES from the transport');
  assert.equal(Number((capValue >> 16n) & 1n), 1, 'CAP.CQR');
  assert.ok(Number((capValue >> 24n) & 0xffn) > 0, 'CAP.TO');
  assert.equal(Number((capValue >> 37n) & 1n), 1, 'CAP.CSS: NVM command set');
  assert.equal(propGet(e, q, PROP.VS).dw0, 0x00010300, 'VS 1.3');
  expectStatus(propGet(e, q, PROP.CAP, 4), STATUS.INVALID_FIELD, 'CAP read as 4 bytes');
  expectStatus(propGet(e, q, 0x100), STATUS.INVALID_FIELD, 'no property at 0x100');
  expectStatus(propSet(e, q, PROP.CSTS, 1), STATUS.INVALID_FIELD, 'CSTS is read-only');
  assert.equal(propGet(e, q, PROP.CSTS).dw0, 0, 'not ready before CC.EN');
  expectStatus(propSet(e, q, PROP.CC, 1 | (7 << 16) | (4 << 20)), STATUS.INVALID_FIELD, 'IOSQES 7: a 128-byte SQE');
  assert.equal(propGet(e, q, PROP.CSTS).dw0, 0, 'still not ready');
  expectStatus(propSet(e, q, PROP.CC, CC_ENABLE), STATUS.SUCCESS, 'enable');
  assert.equal(propGet(e, q, PROP.CC).dw0, CC_ENABLE);
  assert.equal(propGet(e, q, PROP.CSTS).dw0, 1, 'CSTS.RDY');
  // Shutdown with an I/O queue connected: SHST "occurring" until the transport closed it.
  const io = qpair(e, e.io2, lid);
  expectStatus(connect(e, io, { qid: 1, cntlid: c.dw0 }), STATUS.SUCCESS, 'I/O Connect');
  expectStatus(propSet(e, q, PROP.CC, CC_ENABLE | (1 << 14)), STATUS.SUCCESS, 'CC.SHN normal');
  e.h.pollAll();
  assert.equal((propGet(e, q, PROP.CSTS).dw0 >> 2) & 3, 1, 'SHST occurring');
  assert.equal(e.h.core.hc_conn_disconnects(io), 1, 'the I/O queue was asked to go');
  assert.equal(e.h.core.hc_conn_disconnects(q), 0, 'the admin queue stays');
  e.h.core.hc_close(io);
  e.h.pollAll();
  assert.equal(e.h.core.hc_conn_closed(io), 1, 'the I/O qpair closed');
  assert.equal((propGet(e, q, PROP.CSTS).dw0 >> 2) & 3, 2, 'SHST complete');
  // Disable: RDY drops.
  expectStatus(propSet(e, q, PROP.CC, 0), STATUS.SUCCESS, 'CC.EN 0');
  assert.equal(propGet(e, q, PROP.CSTS).dw0 & 1, 0, 'not ready after reset');
});

test('Identify controller carries the fields Linux reads; namespace list and namespace follow the subsystem', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e, SUBNQN, { serial: 'SN123', model: 'wstor test', maxNamespaces: 8 });
  const bdev = mallocBdev(e, 4096, 512, 'm0');
  assert.deepEqual(nsAdd(e, sub, bdev, 3), [0, 3]);
  const [q, cntlid] = adminController(e, lid);
  const r = send(e, q, identifySqe(CNS.CONTROLLER), undefined, 4096);
  expectStatus(r.cqe, STATUS.SUCCESS, 'Identify controller');
  const d = r.data;
  assert.equal(d.subarray(4, 24).toString('latin1'), 'SN123'.padEnd(20, ' '), 'SN space padded');
  assert.equal(d.subarray(24, 64).toString('latin1'), 'wstor test'.padEnd(40, ' '), 'MN');
  assert.equal(d.readUInt16LE(78), cntlid, 'CNTLID');
  assert.equal(d.readUInt32LE(80), 0x00010300, 'VER');
  assert.equal(d[77], Math.log2(LIMITS.maxIo / 4096), 'MDTS');
  assert.equal(d[111], 1, 'CNTRLTYPE I/O');
  assert.equal(d[512], 0x66, 'SQES');
  assert.equal(d[513], 0x44, 'CQES');
  assert.equal(d.readUInt32LE(516), 8, 'NN = max namespaces');
  assert.equal(d.readUInt32LE(536) & 3, 1, 'SGLS supported');
  assert.ok(d.readUInt32LE(536) & (1 << 20), 'SGL offsets');
  assert.equal(d.readUInt32LE(1792), (64 + LIMITS.inCapsule) / 16, 'IOCCSZ');
  assert.equal(d.readUInt32LE(1796), 1, 'IORCSZ');
  assert.equal(d.readUInt32LE(92) & (1 << 8), 1 << 8, 'OAES namespace attribute notices');
  assert.equal(d[259], 3, 'AERL');
  assert.ok(d.readUInt16LE(320) > 0, 'KAS');
  assert.equal(d.subarray(768, 768 + SUBNQN.length + 1).toString('latin1'), `${SUBNQN}\0`, 'SUBNQN');
  assert.equal(d.readUInt16LE(520) & 0xc, 0xc, 'ONCS: DSM and write zeroes (a malloc bdev takes both)');
  const list = send(e, q, identifySqe(CNS.ACTIVE_NS_LIST, 0), undefined, 4096);
  expectStatus(list.cqe, STATUS.SUCCESS, 'active namespace list');
  assert.deepEqual([list.data.readUInt32LE(0), list.data.readUInt32LE(4)], [3, 0]);
  assert.equal(send(e, q, identifySqe(CNS.ACTIVE_NS_LIST, 3), undefined, 4096).data.readUInt32LE(0), 0, 'none above 3');
  const ns = send(e, q, identifySqe(CNS.NAMESPACE, 3), undefined, 4096);
  expectStatus(ns.cqe, STATUS.SUCCESS, 'Identify namespace 3');
  assert.equal(Number(ns.data.readBigUInt64LE(0)), 4096, 'NSZE');
  const inactive = send(e, q, identifySqe(CNS.NAMESPACE, 2), undefined, 4096);
  expectStatus(inactive.cqe, STATUS.SUCCESS, 'an inactive NSID of the range');
  assert.ok(inactive.data.every((b) => b === 0), 'reads as zeroes');
  expectStatus(send(e, q, identifySqe(CNS.NAMESPACE, 9), undefined, 4096).cqe, STATUS.INVALID_NAMESPACE, 'NSID past NN');
  const desc = send(e, q, identifySqe(CNS.NS_ID_DESCRIPTORS, 3), undefined, 4096);
  expectStatus(desc.cqe, STATUS.SUCCESS, 'descriptors');
  assert.ok(desc.data[0] >= 1 && desc.data[0] <= 3, 'a descriptor first');
  expectStatus(send(e, q, identifySqe(CNS.NS_ID_DESCRIPTORS, 2), undefined, 4096).cqe, STATUS.INVALID_NAMESPACE, 'no descriptors for an inactive NSID');
  expectStatus(send(e, q, identifySqe(0x10), undefined, 4096).cqe, STATUS.INVALID_FIELD, 'CNS 0x10');
});

test('Set Features Number of Queues grants at most what the transport allows; I/O Connect is held to it', async () => {
  const e = await targetEnv();
  const [, lid] = subsystemWithListener(e);
  const [q, cntlid] = adminController(e, lid);
  const c = send(e, q, setFeaturesSqe(FEATURE.NUMBER_OF_QUEUES, 7 | (7 << 16))).cqe;
  expectStatus(c, STATUS.SUCCESS, 'Number of Queues');
  assert.equal(c.dw0, (LIMITS.maxIoQpairs - 1) | ((LIMITS.maxIoQpairs - 1) << 16), 'granted: the transport limit');
  expectStatus(send(e, q, setFeaturesSqe(FEATURE.NUMBER_OF_QUEUES, 1 | (1 << 16))).cqe, STATUS.SUCCESS, 'two queues');
  expectStatus(connect(e, qpair(e, e.io2, lid), { qid: 3, cntlid }), STATUS.CONNECT_INVALID_PARAMETERS, 'qid 3 of 2');
  expectStatus(connect(e, qpair(e, e.io2, lid), { qid: 2, cntlid }), STATUS.SUCCESS, 'qid 2 of 2');
  expectStatus(send(e, q, setFeaturesSqe(FEATURE.NUMBER_OF_QUEUES, 3 | (3 << 16))).cqe, STATUS.COMMAND_SEQUENCE_ERROR, 'after I/O queues exist');
});

test('subsystem create refuses bad fields, a taken NQN and the discovery NQN, naming the reason', async () => {
  const e = await targetEnv();
  assert.equal(subsystemCreate(e, SUBNQN)[0], 0);
  assert.equal(subsystemCreate(e, SUBNQN)[0], -17);
  assert.match(e.h.messages('error').at(-1)!, /exists already/);
  assert.equal(subsystemCreate(e, 'nqn.2014-08.org.nvmexpress.discovery')[0], -17, 'the discovery subsystem is always there');
  assert.equal(subsystemCreate(e, 'iqn.2016-06.io.spdk:x')[0], -22);
  assert.match(e.h.messages('error').at(-1)!, /starts with "nqn\."/);
  assert.equal(subsystemCreate(e, 'nqn.2016-06.io.spdk:a', { serial: 'x'.repeat(21) })[0], -22, 'a serial over 20 bytes');
  assert.equal(subsystemCreate(e, 'nqn.2016-06.io.spdk:b', { maxNamespaces: 5000 })[0], -22);
  assert.equal(subsystemCreate(e, 'nqn.2016-06.io.spdk:c', { minCntlid: 10, maxCntlid: 9 })[0], -22);
  assert.equal(subsystemCreate(e, 'nqn.2016-06.io.spdk:d', { maxCntlid: 0xfff0 })[0], -22);
  const disc = e.h.core.nvmf_discovery_subsystem();
  assert.ok(disc > 0, 'the discovery subsystem');
  assert.equal(run(e, (r) => e.h.core.nvmf_subsystem_delete(r, disc))[0], -22, 'it cannot be deleted');
});
