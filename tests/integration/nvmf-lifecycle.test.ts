// NVMe-oF controllers over time (assembly/nvme/ctrlr.ts, aer.ts, qpair-close.ts, subsystem-delete.ts,
// subsystem-ns.ts) through a fake transport on the deterministic harness: keep-alive expiry,
// asynchronous events for namespace changes, Abort, qpair close with commands outstanding, and
// subsystem delete / namespace remove while I/O is in flight (a delay bdev holds it until the clock moves).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  targetEnv, subsystemWithListener, qpair, connect, send, submit, adminController, nsAdd, mallocBdev, expectStatus, run, ok,
  propSet, STATUS, type TargetEnv,
} from '../helpers/nvmf-target.js';
import { name, request } from '../helpers/bdev-env.js';
import {
  setFeaturesSqe, getLogPageSqe, keepAliveSqe, asyncEventRequestSqe, abortSqe, writeSqe, readSqe, FEATURE, LID, PROP,
} from '../helpers/nvme-tcp-sqe.js';

const NS_ATTRIBUTE_NOTICE = 0x02 | (0x04 << 16);   // type notice, info 0, log page 04

function dumpCounts(e: TargetEnv, sub: number): [number, number] {
  const buf = e.h.scratch(4096);
  assert.ok(e.h.core.nvmf_subsystem_dump(sub, buf, 4096) > 0);
  return [e.h.u32(buf, 1), e.h.u32(buf, 2)];
}
function clockAdvance(e: TargetEnv, us: number): void { now += us; e.h.core.h_clock_set(now); e.h.pollAll(); }
let now = 1_000_000;
async function freshEnv(): Promise<TargetEnv> { now = 1_000_000; return targetEnv(); }

/** An enabled controller with an I/O queue on the second thread: [admin, io, cntlid]. */
function controllerWithIo(e: TargetEnv, lid: number, katoMs = 0): [number, number, number] {
  const [admin, cntlid] = adminController(e, lid, { katoMs });
  const io = qpair(e, e.io2, lid);
  expectStatus(connect(e, io, { qid: 1, cntlid }), STATUS.SUCCESS, 'I/O Connect');
  return [admin, io, cntlid];
}

test('keep alive: silence past KATO disconnects every queue of the controller; Keep Alive holds it off; then it is gone', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  const [admin, io] = controllerWithIo(e, lid, 1000);
  clockAdvance(e, 600_000);
  expectStatus(send(e, admin, keepAliveSqe()).cqe, STATUS.SUCCESS, 'Keep Alive');
  clockAdvance(e, 800_000);
  assert.deepEqual([e.h.core.hc_conn_disconnects(admin), e.h.core.hc_conn_disconnects(io)], [0, 0], '800 ms after a Keep Alive: alive');
  clockAdvance(e, 500_000);
  assert.deepEqual([e.h.core.hc_conn_disconnects(admin), e.h.core.hc_conn_disconnects(io)], [1, 1], '1.3 s of silence: both queues asked to go');
  assert.match(e.h.messages('warn').join(' | '), /no keep alive within its timeout/);
  clockAdvance(e, 5_000_000);
  assert.deepEqual([e.h.core.hc_conn_disconnects(admin), e.h.core.hc_conn_disconnects(io)], [1, 1], 'asked once');
  e.h.core.hc_close(io);
  e.h.core.hc_close(admin);
  e.h.pollAll();
  assert.deepEqual([e.h.core.hc_conn_closed(admin), e.h.core.hc_conn_closed(io)], [1, 1]);
  assert.deepEqual(dumpCounts(e, sub), [0, 0], 'the controller is gone');
});

test('a reset (CC.EN = 0), then the admin queue\'s close, then keep-alive silence: the transport is asked to disconnect each queue once', async () => {
  const e = await freshEnv();
  const [, lid] = subsystemWithListener(e);
  const [admin, io, cntlid] = controllerWithIo(e, lid, 1000);
  const ioOnFirst = qpair(e, e.thread, lid);
  expectStatus(connect(e, ioOnFirst, { qid: 2, cntlid }), STATUS.SUCCESS, 'I/O Connect, first thread');
  const asked = () => [admin, io, ioOnFirst].map((q) => e.h.core.hc_conn_disconnects(q));
  expectStatus(propSet(e, admin, PROP.CC, 0), STATUS.SUCCESS, 'CC = 0');
  e.h.pollAll();
  assert.deepEqual(asked(), [0, 1, 1], 'the reset asks each I/O queue to go');
  // This transport has not closed them yet: the controller's end asks again, and must not reach it twice.
  e.h.core.hc_close(admin);
  e.h.pollAll();
  assert.deepEqual(asked(), [0, 1, 1], 'the admin queue\'s close ends the controller: no second ask of an I/O queue');
  clockAdvance(e, 5_000_000);
  assert.deepEqual(asked(), [0, 1, 1], 'nor from keep-alive silence');
  e.h.core.hc_close(io);
  e.h.core.hc_close(ioOnFirst);
  e.h.pollAll();
  assert.deepEqual([admin, io, ioOnFirst].map((q) => e.h.core.hc_conn_closed(q)), [1, 1, 1]);
});

test('AER: a namespace added, removed or resized answers a held AER once; the next waits for the changed-NS log', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  const m0 = mallocBdev(e, 1024, 512, 'm0');
  const [q] = adminController(e, lid);
  const aer1 = submit(e, q, asyncEventRequestSqe());
  e.h.pollAll();
  assert.equal(aer1.done(), false, 'held');
  nsAdd(e, sub, m0, 1);
  assert.equal(aer1.done(), false, 'notices are off until Async Event Configuration enables them');
  expectStatus(send(e, q, setFeaturesSqe(FEATURE.ASYNC_EVENT_CONFIG, 1 << 8)).cqe, STATUS.SUCCESS, 'AEC');
  assert.equal(aer1.done(), true, 'the pending notice goes out once enabled');
  assert.deepEqual([aer1.cqe().status, aer1.cqe().dw0], [0, NS_ATTRIBUTE_NOTICE]);
  const aer2 = submit(e, q, asyncEventRequestSqe());
  ok(e, (r) => e.h.core.nvmf_ns_remove(r, sub, 1));
  e.h.pollAll();
  assert.equal(aer2.done(), false, 'masked until the host reads log page 04');
  const log = send(e, q, getLogPageSqe(LID.CHANGED_NS_LIST, 4096), undefined, 4096);
  assert.equal(log.data.readUInt32LE(0), 1);
  assert.equal(aer2.done(), true, 'reading the log let the next notice out');
  assert.equal(aer2.cqe().dw0, NS_ATTRIBUTE_NOTICE);
  send(e, q, getLogPageSqe(LID.CHANGED_NS_LIST, 4096), undefined, 4096);
  // A resize of the bdev under a namespace (a null bdev: its size is its configuration).
  const n0 = e.h.core.bdev_null_create(name(e, 'n0'), 512, 1024);
  nsAdd(e, sub, n0, 2);
  send(e, q, getLogPageSqe(LID.CHANGED_NS_LIST, 4096), undefined, 4096);
  const aer3 = submit(e, q, asyncEventRequestSqe());
  e.h.pollAll();
  assert.equal(aer3.done(), true, 'the add of namespace 2');
  send(e, q, getLogPageSqe(LID.CHANGED_NS_LIST, 4096), undefined, 4096);
  const aer4 = submit(e, q, asyncEventRequestSqe());
  e.h.pollAll();
  assert.equal(aer4.done(), false);
  assert.equal(e.h.core.bdev_resize(n0, 2048), 0);
  e.h.pollAll();
  assert.equal(aer4.done(), true, 'a resize is a namespace attribute change');
  assert.equal(send(e, q, getLogPageSqe(LID.CHANGED_NS_LIST, 4096), undefined, 4096).data.readUInt32LE(0), 2);
  // Each AER completed exactly once.
  for (const a of [aer1, aer2, aer3, aer4]) assert.equal(e.h.core.hc_req_completions(a.req), 1);
});

test('AER limit, Abort of a held AER, and the admin queue closing with AERs held', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  const [q] = adminController(e, lid);
  const held = [0, 1, 2, 3].map(() => submit(e, q, asyncEventRequestSqe()));
  e.h.pollAll();
  assert.ok(held.every((a) => !a.done()));
  expectStatus(send(e, q, asyncEventRequestSqe()).cqe, STATUS.AER_LIMIT_EXCEEDED, 'a fifth AER');
  const cid = held[1].cqe().cid === 0 ? new DataView(e.h.memory.buffer).getUint16((e.h.core.hc_req_sqe(held[1].req) >>> 0) + 2, true) : 0;
  const abort = send(e, q, abortSqe(0, cid)).cqe;
  expectStatus(abort, STATUS.SUCCESS, 'Abort');
  assert.equal(abort.dw0 & 1, 0, 'aborted');
  assert.equal(held[1].done(), true);
  expectStatus(held[1].cqe(), STATUS.ABORTED_BY_REQUEST, 'the AER');
  assert.equal(send(e, q, abortSqe(0, cid)).cqe.dw0 & 1, 1, 'nothing left to abort');
  assert.equal(send(e, q, abortSqe(1, 5)).cqe.dw0 & 1, 1, 'an I/O command is not aborted');
  e.h.core.hc_close(q);
  e.h.pollAll();
  assert.equal(e.h.core.hc_conn_closed(q), 1, 'closed');
  for (const a of [held[0], held[2], held[3]]) {
    assert.equal(e.h.core.hc_req_completions(a.req), 1, 'each held AER completed once');
    expectStatus(a.cqe(), STATUS.ABORTED_SQ_DELETION, 'AER at close');
  }
  assert.deepEqual(dumpCounts(e, sub), [0, 0], 'the last qpair ended the controller');
});

/** A namespace over a delay bdev (writes take 1 ms of harness clock) on a malloc bdev: its bdev id. */
function slowNs(e: TargetEnv, sub: number, nsid = 1): number {
  const base = mallocBdev(e, 1024, 512, `base${nsid}`);
  const slow = request(e, (r) => e.h.core.bdev_delay_create(r, name(e, `slow${nsid}`), base, 1000, 1000, 1000, 1000));
  assert.deepEqual(ok(e, (r) => e.h.core.nvmf_ns_add(r, sub, slow, nsid, 0, 0, 0)), nsid);
  return slow;
}

test('an I/O qpair closed with writes outstanding: done only after each completed once; the controller keeps its admin queue', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  slowNs(e, sub);
  const [, io] = controllerWithIo(e, lid);
  const writes = [0, 1, 2].map((i) => submit(e, io, writeSqe(1, i * 8, 8), Buffer.alloc(4096, 7)));
  e.h.pollAll();
  assert.equal(e.h.core.hc_qpair_outstanding(io), 3, 'held by the delay bdev');
  e.h.core.hc_close(io);
  e.h.pollAll();
  assert.equal(e.h.core.hc_conn_closed(io), 0, 'the close waits for its writes');
  clockAdvance(e, 2000);
  assert.equal(e.h.core.hc_conn_closed(io), 1, 'done once they are back');
  for (const w of writes) { assert.equal(e.h.core.hc_req_completions(w.req), 1); expectStatus(w.cqe(), STATUS.SUCCESS, 'write'); }
  assert.deepEqual(dumpCounts(e, sub), [1, 1], 'the controller and its admin queue stay');
});

test('subsystem delete during I/O: queues asked to go, in-flight writes complete once, then the delete ends; never blocks', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  slowNs(e, sub);
  const [admin, io] = controllerWithIo(e, lid);
  const writes = [0, 1].map((i) => submit(e, io, writeSqe(1, i * 8, 8), Buffer.alloc(4096, 3)));
  e.h.pollAll();
  const req = e.nextReq++;
  assert.equal(e.h.core.nvmf_subsystem_delete(req, sub), 0);
  e.h.pollAll();
  const deleted = () => e.h.events.find((x) => x.a === req);
  assert.equal(deleted(), undefined, 'not done while hosts are connected');
  assert.deepEqual([e.h.core.hc_conn_disconnects(admin), e.h.core.hc_conn_disconnects(io)], [1, 1]);
  e.h.core.hc_close(admin);
  e.h.core.hc_close(io);
  e.h.pollAll();
  assert.equal(deleted(), undefined, 'the writes are still in flight');
  assert.equal(e.h.core.hc_conn_closed(io), 0);
  clockAdvance(e, 2000);
  assert.deepEqual([e.h.core.hc_conn_closed(admin), e.h.core.hc_conn_closed(io)], [1, 1]);
  for (const w of writes) assert.equal(e.h.core.hc_req_completions(w.req), 1, 'each write completed once');
  assert.ok(deleted(), 'the delete ended');
  assert.equal(deleted()!.b, 0);
  assert.equal(e.h.core.nvmf_subsystem_dump(sub, e.h.scratch(64), 64), -2, 'gone from the registry');
  assert.equal(run(e, (r) => e.h.core.nvmf_ns_add(r, sub, 1, 0, 0, 0, 0))[0], -2, 'a stale subsystem pointer is refused');
});

test('namespace remove during I/O: new commands find no namespace, the in-flight ones complete, then the remove ends', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  slowNs(e, sub);
  const [, io] = controllerWithIo(e, lid);
  const w = submit(e, io, writeSqe(1, 0, 8), Buffer.alloc(4096, 9));
  e.h.pollAll();
  const req = e.nextReq++;
  assert.equal(e.h.core.nvmf_ns_remove(req, sub, 1), 0);
  e.h.pollAll();
  const removed = () => e.h.events.find((x) => x.a === req);
  assert.equal(removed(), undefined, 'waits for the write in flight');
  expectStatus(send(e, io, readSqe(1, 0, 8), undefined, 4096).cqe, STATUS.INVALID_NAMESPACE, 'a read after the remove began');
  clockAdvance(e, 2000);
  assert.equal(e.h.core.hc_req_completions(w.req), 1);
  assert.ok(removed() && removed()!.b === 0, 'the remove ended');
  assert.equal(run(e, (r) => e.h.core.nvmf_ns_remove(r, sub, 1))[0], -2, 'removing it again');
});

test('subsystem delete with an idle host: it waits for the host\'s queues to close, then closes the namespace', async () => {
  const e = await freshEnv();
  const [sub, lid] = subsystemWithListener(e);
  nsAdd(e, sub, mallocBdev(e, 1024, 512, 'm0'), 1);
  const [admin, io] = controllerWithIo(e, lid);
  const req = e.nextReq++;
  assert.equal(e.h.core.nvmf_subsystem_delete(req, sub), 0);
  e.h.pollAll();
  const deleted = () => e.h.events.find((x) => x.a === req);
  assert.equal(deleted(), undefined, 'not done while the controller has queues');
  e.h.core.hc_close(io);
  e.h.pollAll();
  assert.equal(deleted(), undefined, 'nor with the admin queue left');
  e.h.core.hc_close(admin);
  e.h.pollAll();
  assert.ok(deleted() && deleted()!.b === 0, 'done once the controller is gone');
});
