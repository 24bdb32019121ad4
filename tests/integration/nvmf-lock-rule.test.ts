// The NVMe-oF core's lock rule (assembly/nvme/registry.ts, send.ts): no message is sent while a lock
// is held. Each test drives one path that messages every controller or channel it finds under a lock
// (a namespace notice, a reset, a subsystem delete, a namespace close) with two controllers or two
// threads' channels, on the deterministic harness. nvmfSend asserts the rule, so a path that sent
// under its lock traps here, and each test checks that every message still reached its target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  targetEnv, subsystemWithListener, qpair, connect, send, submit, adminController, nsAdd, mallocBdev, expectStatus, run, ok,
  propSet, STATUS, HOSTNQN, type TargetEnv,
} from '../helpers/nvmf-target.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import { setFeaturesSqe, asyncEventRequestSqe, writeSqe, FEATURE, PROP } from '../helpers/nvme-tcp-sqe.js';

const SECOND_HOST = 'nqn.2016-06.io.wstor:lock-rule-second-host';

interface Controller { admin: number; io: number }

/** Two hosts' controllers, each with its admin queue on the env's thread and an I/O queue on the second. */
function twoControllers(e: TargetEnv, lid: number): Controller[] {
  return [HOSTNQN, SECOND_HOST].map((hostnqn) => {
    const [admin, cntlid] = adminController(e, lid, { hostnqn });
    const io = qpair(e, e.io2, lid);
    expectStatus(connect(e, io, { qid: 1, cntlid, hostnqn }), STATUS.SUCCESS, 'I/O Connect');
    return { admin, io };
  });
}

function disconnects(e: TargetEnv, ctrlrs: Controller[]): number[] {
  return ctrlrs.flatMap((c) => [e.h.core.hc_conn_disconnects(c.admin), e.h.core.hc_conn_disconnects(c.io)]);
}

function closeAll(e: TargetEnv, ctrlrs: Controller[]): void {
  for (const c of ctrlrs) { e.h.core.hc_close(c.io); e.h.core.hc_close(c.admin); }
  e.h.pollAll();
  for (const c of ctrlrs) assert.deepEqual([e.h.core.hc_conn_closed(c.admin), e.h.core.hc_conn_closed(c.io)], [1, 1]);
}

test('a namespace added with two controllers connected: each hears of it (the notice is sent after registryLock is released)', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e);
  const ctrlrs = twoControllers(e, lid);
  const aers = ctrlrs.map((c) => {
    expectStatus(send(e, c.admin, setFeaturesSqe(FEATURE.ASYNC_EVENT_CONFIG, 1 << 8)).cqe, STATUS.SUCCESS, 'AEC');
    return submit(e, c.admin, asyncEventRequestSqe());
  });
  e.h.pollAll();
  assert.deepEqual(aers.map((a) => a.done()), [false, false], 'held');
  const [rc] = nsAdd(e, sub, mallocBdev(e, 256, 512, 'lock-ns'), 1);
  assert.equal(rc, 0);
  e.h.pollAll();
  assert.deepEqual(aers.map((a) => [a.done(), a.cqe().status]), [[true, 0], [true, 0]], 'both controllers answered their AER');
  closeAll(e, ctrlrs);
});

test('a controller reset (CC.EN = 0) asks its I/O queue to disconnect after registryLock is released, and only its own', async () => {
  const e = await targetEnv();
  const [, lid] = subsystemWithListener(e);
  const ctrlrs = twoControllers(e, lid);
  expectStatus(propSet(e, ctrlrs[0].admin, PROP.CC, 0), STATUS.SUCCESS, 'CC = 0');
  e.h.pollAll();
  assert.deepEqual(disconnects(e, ctrlrs), [0, 1, 0, 0], 'the reset controller\'s I/O queue only');
  closeAll(e, ctrlrs);
});

test('a subsystem deleted with two controllers connected ends both (the messages go after registryLock is released)', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e);
  const ctrlrs = twoControllers(e, lid);
  const req = e.nextReq++;
  assert.equal(e.h.core.nvmf_subsystem_delete(req, sub), 0);
  e.h.pollAll();
  assert.deepEqual(disconnects(e, ctrlrs), [1, 1, 1, 1], 'every queue of both controllers asked to go');
  closeAll(e, ctrlrs);
  assert.ok(e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req), 'the delete finished once both controllers were gone');
});

test('a namespace removed with channels on two threads drains both (sent after the namespace\'s lock is released)', async () => {
  const e = await targetEnv();
  const [sub, lid] = subsystemWithListener(e);
  const [rc] = nsAdd(e, sub, mallocBdev(e, 256, 512, 'lock-drain'), 1);
  assert.equal(rc, 0);
  // I/O on the admin controller's I/O queue (second thread) and on another I/O queue on the first
  // thread: the namespace gets a channel on each.
  const [admin, cntlid] = adminController(e, lid);
  const ioSecond = qpair(e, e.io2, lid);
  const ioFirst = qpair(e, e.thread, lid);
  expectStatus(connect(e, ioSecond, { qid: 1, cntlid }), STATUS.SUCCESS, 'I/O Connect, second thread');
  expectStatus(connect(e, ioFirst, { qid: 2, cntlid }), STATUS.SUCCESS, 'I/O Connect, first thread');
  for (const io of [ioSecond, ioFirst]) expectStatus(send(e, io, writeSqe(1, 0, 1), Buffer.alloc(512, 7)).cqe, STATUS.SUCCESS, 'Write');
  ok(e, (r) => e.h.core.nvmf_ns_remove(r, sub, 1));
  for (const io of [ioSecond, ioFirst]) expectStatus(send(e, io, writeSqe(1, 0, 1), Buffer.alloc(512, 7)).cqe, STATUS.INVALID_NAMESPACE, 'Write after the remove');
  for (const q of [ioSecond, ioFirst, admin]) e.h.core.hc_close(q);
  e.h.pollAll();
  assert.equal(run(e, (r) => e.h.core.nvmf_subsystem_delete(r, sub))[0], 0);
});
