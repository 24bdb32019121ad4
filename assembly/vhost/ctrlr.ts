// A vhost-user-blk controller (SPDK's vhost_create_blk_controller): a lightweight thread on one
// reactor that owns a listening socket (opened by the host), a bdev descriptor and channel, and at
// most one guest session. A timed poller accepts and reads messages; a busy poller serves the rings.
// Deleting one never waits on the reactor (LESSONS 2): with a guest connected the safe mode answers
// EBUSY at once; the forced mode closes the session, lets its I/O drain over later polls, then ends.

import { heapAllocZeroed, heapFree, report, LEVEL_NOTICE, LEVEL_ERROR, host_vu_accept, host_fd_close, EAGAIN, EBUSY, ENODEV, ENOMEM } from "../runtime";
import { threadCreateOn, sendMsg, pollerRegister, pollerUnregister, pollerSetPeriod, threadExit, cachedNowUs, POLLER_BUSY, POLLER_IDLE } from "../thread";
import { Bdev, bdevById, bdevOpen, bdevClose, IO_UNMAP, IO_WRITE_ZEROES, IO_MAX_IOVS, BDEV_EVENT_REMOVE, BDEV_EVENT_RESIZE } from "../bdev";
import { requestDone } from "../runtime";
import * as W from "./wire";
import { BlkTarget, blkTargetNew, blkTargetFree } from "./blk";
import { logLimitNew } from "./loglimit";
import {
  Session, sessionNew, sessionFree, sessionReceive, sessionInflight, sessionStopRings, sessionAnswerBase, sessionMemoryBroke, MAX_QUEUES,
} from "./session";
import { QueueWorker, workerCreate, workerStop, workerTarget, workerDropChannel } from "./worker";
import { reactorCount } from "../thread";

/**
 * How often the message poller looks at the socket: often while messages come (a guest starting or
 * stopping its rings waits for each answer), rarely once they stopped (each look wakes a sleeping
 * reactor: 4000 a second cost ~12% of a core here, with nothing to do).
 */
const MSG_POLL_US: u64 = 250;
const MSG_POLL_QUIET_US: u64 = 10_000;
/** No message for this long: the socket is quiet. */
const MSG_QUIET_AFTER_US: u64 = 100_000;
/** The largest data segment we offer (SIZE_MAX). */
const SEGMENT_MAX_BYTES: u32 = 128 << 10;

@unmanaged export class Ctrlr {
  name: usize;            // host string (the host keeps it alive)
  bdevId: u32;
  readOnly: u32;
  listenFd: i32;
  reactor: i32;
  thread: usize;
  msgPoller: usize;
  desc: u32;
  bdevGone: u32;          // the bdev was hot-removed: the workers drop their channels, then the descriptor closes
  dropsPending: u32;      // workers that have not yet dropped their channel after the removal
  target: usize;          // BlkTarget: what the queue workers' targets are made from (they have the channels)
  session: usize;         // Session or 0
  features: u64;          // what we offer (GET_FEATURES)
  config: usize;          // virtio_blk_config
  createReq: u32;
  deleteReq: u32;         // 0: not being deleted
  sessions: u32;          // how many guests have connected (for vhost_get_controllers)
  refused: u32;           // connections refused while one was active
  workers: usize;         // QueueWorker pointers, one per reactor starting with the controller's own
  workerCount: u32;
  coalesceDelayUs: u32;   // a Coalescing (vring.ts), read by the rings' workers
  coalesceIops: u32;
  lastActiveUs: u64;      // when a message, a connection or a delete last came (msgPoll's period)
  lastSession: usize;     // the session msgPoll saw last (a new one is activity)
  refusedLog: usize;      // LogLimit for its guest's refused chains (every queue worker reports through it)
  droppedLog: usize;      // LogLimit for notifications its guest's call fds did not take
}

function bdevEvent(event: u32, _bdev: usize, ctx: usize): void {
  const c = changetype<Ctrlr>(ctx);
  if (event == BDEV_EVENT_REMOVE) {
    report(LEVEL_NOTICE, 0, "vhost %s: its bdev is being removed; requests now fail", c.name);
    c.bdevGone = 1;
  } else if (event == BDEV_EVENT_RESIZE) {
    fillConfig(c);                            // the guest reads the new capacity on its next config read
  }
}

function fillConfig(c: Ctrlr): void {
  const b = changetype<Bdev>(bdevById(c.bdevId));
  if (changetype<usize>(b) == 0) return;
  const cfg = c.config;
  const sectorsPerBlock = b.blockSize >> W.SECTOR_SHIFT;
  store<u64>(cfg + W.CFG_CAPACITY, b.blockCount * <u64>sectorsPerBlock);
  store<u32>(cfg + W.CFG_SIZE_MAX, SEGMENT_MAX_BYTES);
  store<u32>(cfg + W.CFG_SEG_MAX, IO_MAX_IOVS);
  store<u32>(cfg + W.CFG_BLK_SIZE, b.blockSize);
  store<u16>(cfg + W.CFG_NUM_QUEUES, <u16>MAX_QUEUES);
  store<u32>(cfg + W.CFG_MAX_DISCARD_SECTORS, 1 << 22);
  store<u32>(cfg + W.CFG_MAX_DISCARD_SEG, 1);
  store<u32>(cfg + W.CFG_DISCARD_ALIGN, sectorsPerBlock);
  store<u32>(cfg + W.CFG_MAX_WRITE_ZEROES_SECTORS, 1 << 22);
  store<u32>(cfg + W.CFG_MAX_WRITE_ZEROES_SEG, 1);
}

function offeredFeatures(c: Ctrlr, b: Bdev): u64 {
  let f = W.F_VERSION_1 | W.F_INDIRECT_DESC | W.F_EVENT_IDX | W.F_PROTOCOL_FEATURES | W.BLK_F_SIZE_MAX | W.BLK_F_SEG_MAX | W.BLK_F_BLK_SIZE |
    W.BLK_F_FLUSH | W.BLK_F_MQ;
  if (c.readOnly != 0) f |= W.BLK_F_RO;
  else {
    if ((b.ioTypes & (1 << IO_UNMAP)) != 0) f |= W.BLK_F_DISCARD;
    if ((b.ioTypes & (1 << IO_WRITE_ZEROES)) != 0) f |= W.BLK_F_WRITE_ZEROES;
  }
  return f;
}

// ---- create (on the controller's own thread) ----

function startOnThread(ctx: usize): void {
  const c = changetype<Ctrlr>(ctx);
  const bdev = bdevById(c.bdevId);
  let rc: i32 = bdev == 0 ? -ENODEV : bdevOpen(bdev, c.readOnly == 0, bdevEvent, ctx);
  if (rc < 0) { failStart(c, rc); return; }
  c.desc = <u32>rc;
  const t = blkTargetNew();
  c.config = heapAllocZeroed(W.CONFIG_BYTES);
  c.refusedLog = changetype<usize>(logLimitNew());
  c.droppedLog = changetype<usize>(logLimitNew());
  if (changetype<usize>(t) == 0 || c.config == 0 || c.refusedLog == 0 || c.droppedLog == 0) { if (changetype<usize>(t) != 0) blkTargetFree(t); failStart(c, -ENOMEM); return; }
  c.target = changetype<usize>(t);
  t.bdev = bdev;
  t.desc = c.desc;
  t.readOnly = c.readOnly;
  t.name = c.name;
  t.refusedLog = c.refusedLog;
  t.droppedLog = c.droppedLog;
  // GET_ID answers the controller's name (at most 20 bytes, zero-padded).
  const name = changetype<string>(c.name);
  for (let i = 0; i < min(name.length, <i32>W.BLK_ID_BYTES); i++) store<u8>(t.id + <usize>i, <u8>name.charCodeAt(i));
  fillConfig(c);
  c.features = offeredFeatures(c, changetype<Bdev>(bdev));
  // Queues are spread over the reactors: ring i is served on reactor (own + i) mod count.
  const n = min(reactorCount(), MAX_QUEUES);
  c.workers = heapAllocZeroed(<usize>n << 2);
  if (c.workers == 0) { failStart(c, -ENOMEM); return; }
  for (let i: u32 = 0; i < n; i++) {
    const w = workerCreate((c.reactor + <i32>i) % <i32>reactorCount(), t, c.thread);
    if (changetype<usize>(w) == 0) { stopWorkers(c); failStart(c, -ENOMEM); return; }
    store<usize>(c.workers + (<usize>i << 2), changetype<usize>(w));
    c.workerCount++;
  }
  c.lastActiveUs = cachedNowUs();
  c.msgPoller = pollerRegister(msgPoll, ctx, MSG_POLL_US, "vhost_msg");
  report(LEVEL_NOTICE, 0, "vhost %s: serving bdev %s", c.name, changetype<Bdev>(bdev).name);
  requestDone(c.createReq, 0, <f64>ctx);
}

function failStart(c: Ctrlr, rc: i32): void {
  report(LEVEL_ERROR, rc, "vhost %s: could not open its bdev", c.name);
  if (c.desc != 0) bdevClose(c.desc);
  if (c.config != 0) heapFree(c.config);
  if (c.refusedLog != 0) heapFree(c.refusedLog);
  if (c.droppedLog != 0) heapFree(c.droppedLog);
  requestDone(c.createReq, rc, 0);
  heapFree(changetype<usize>(c));
  threadExit();
}

/**
 * A controller over bdev `bdevId` on reactor `reactor`, serving `listenFd` (the host's listening
 * socket: ours to close from now on). EVENT_REQUEST_DONE(req, rc, controller) once it serves.
 */
export function vhostCtrlrCreate(req: u32, name: usize, bdevId: u32, listenFd: i32, reactor: i32, readOnly: bool): i32 {
  const c = changetype<Ctrlr>(heapAllocZeroed(offsetof<Ctrlr>()));
  if (changetype<usize>(c) == 0) return -ENOMEM;
  c.name = name;
  c.bdevId = bdevId;
  c.readOnly = readOnly ? 1 : 0;
  c.listenFd = listenFd;
  c.reactor = reactor;
  c.createReq = req;
  c.thread = threadCreateOn(reactor, "vhost_ctrlr");
  if (c.thread == 0) { heapFree(changetype<usize>(c)); return -ENOMEM; }
  sendMsg(c.thread, startOnThread, changetype<usize>(c));
  return 0;
}

// ---- polling ----

function acceptNew(c: Ctrlr): void {
  const fd = host_vu_accept(c.listenFd);
  if (fd == -EAGAIN || fd == -EBUSY) return;
  if (fd < 0) { report(LEVEL_ERROR, fd, "vhost %s: accept failed", c.name); return; }
  if (c.session != 0 || c.deleteReq != 0 || c.bdevGone != 0) {
    c.refused++;
    report(LEVEL_NOTICE, 0, "vhost %s: refused a second connection (one guest per controller)", c.name);
    host_fd_close(fd);
    return;
  }
  const s = sessionNew(fd, changetype<BlkTarget>(c.target), c.features, c.config, c.workers, c.workerCount,
    changetype<usize>(c) + offsetof<Ctrlr>("coalesceDelayUs"));
  if (changetype<usize>(s) == 0) { host_fd_close(fd); report(LEVEL_ERROR, -ENOMEM, "vhost %s: no memory for a session", c.name); return; }
  c.session = changetype<usize>(s);
  c.sessions++;
  report(LEVEL_NOTICE, 0, "vhost %s: a guest connected", c.name);
}

/** A closed session goes once its I/O has drained (checked each poll: nothing waits). */
function reapSession(c: Ctrlr): void {
  const s = changetype<Session>(c.session);
  sessionStopRings(s);
  if (sessionInflight(s) != 0) return;
  sessionFree(s);
  c.session = 0;
  report(LEVEL_NOTICE, 0, "vhost %s: session ended", c.name);
}

function msgPoll(ctx: usize): i32 {
  const c = changetype<Ctrlr>(ctx);
  const rc = msgPollOnce(c);
  const now = cachedNowUs();
  if (rc == POLLER_BUSY || c.session != c.lastSession || c.deleteReq != 0) c.lastActiveUs = now;
  c.lastSession = c.session;
  pollerSetPeriod(c.msgPoller, now - c.lastActiveUs < MSG_QUIET_AFTER_US ? MSG_POLL_US : MSG_POLL_QUIET_US);
  return rc;
}

function msgPollOnce(c: Ctrlr): i32 {
  let busy = false;
  if (c.session == 0) acceptNew(c);
  else {
    const s = changetype<Session>(c.session);
    if (s.closed == 0 && !sessionMemoryBroke(s)) { busy = sessionReceive(s); sessionAnswerBase(s); acceptNew(c); }
    if (s.closed != 0) { reapSession(c); busy = true; }
  }
  if (c.bdevGone != 0 && c.desc != 0 && c.dropsPending == 0) startChannelDrops(c);
  if (c.deleteReq != 0 && c.session == 0 && c.dropsPending == 0) { finishDelete(c); return POLLER_BUSY; }
  return busy ? POLLER_BUSY : POLLER_IDLE;
}

function workerAt(c: Ctrlr, i: u32): QueueWorker { return changetype<QueueWorker>(load<usize>(c.workers + (<usize>i << 2))); }

function stopWorkers(c: Ctrlr): void {
  for (let i: u32 = 0; i < c.workerCount; i++) workerStop(workerAt(c, i));
  c.workerCount = 0;
  if (c.workers != 0) heapFree(c.workers);
  c.workers = 0;
}

// A removed bdev (SPDK's hot remove): each worker fails new requests at once and drops its channel when
// the requests it gave the bdev have completed; the descriptor closes once all have. A busy guest does
// not hold the removal up: its requests fail with IOERR meanwhile.
function startChannelDrops(c: Ctrlr): void {
  changetype<BlkTarget>(c.target).desc = 0;
  c.dropsPending = c.workerCount;
  for (let i: u32 = 0; i < c.workerCount; i++) {
    if (workerDropChannel(workerAt(c, i), channelDropped, changetype<usize>(c)) != 0) {
      report(LEVEL_ERROR, -ENOMEM, "vhost %s: a worker could not be told its bdev went; its channel stays until the controller is deleted", c.name);
      c.dropsPending--;
    }
  }
  if (c.dropsPending == 0) closeBdev(c);
}

function channelDropped(ctx: usize): void {
  const c = changetype<Ctrlr>(ctx);
  assert(c.dropsPending > 0);
  if (--c.dropsPending == 0) closeBdev(c);
}

function closeBdev(c: Ctrlr): void {
  bdevClose(c.desc);
  c.desc = 0;
  changetype<BlkTarget>(c.target).desc = 0;
}

// ---- delete ----

@unmanaged class DeleteMsg { ctrlr: usize; req: u32; force: u32; }

function deleteOnThread(msg: usize): void {
  const m = changetype<DeleteMsg>(msg);
  const c = changetype<Ctrlr>(m.ctrlr);
  const req = m.req, force = m.force != 0;
  heapFree(msg);
  if (c.deleteReq != 0) { requestDone(req, -EBUSY, 0); return; }     // a delete is already under way
  if (c.session != 0 && !force) {
    report(LEVEL_NOTICE, 0, "vhost %s: a guest is connected; not deleted (use force to disconnect it)", c.name);
    requestDone(req, -EBUSY, 0);
    return;
  }
  c.deleteReq = req;
  if (c.session != 0) changetype<Session>(c.session).closed = 1;     // msgPoll reaps it, then finishes
}

function finishDelete(c: Ctrlr): void {
  const req = c.deleteReq;
  pollerUnregister(c.msgPoller);
  if (c.desc != 0) closeBdev(c);
  stopWorkers(c);
  host_fd_close(c.listenFd);
  blkTargetFree(changetype<BlkTarget>(c.target));
  heapFree(c.config);
  heapFree(c.refusedLog);                   // the workers report through them only while they serve rings: none now
  heapFree(c.droppedLog);
  report(LEVEL_NOTICE, 0, "vhost %s: deleted", c.name);
  heapFree(changetype<usize>(c));
  requestDone(req, 0, 0);
  threadExit();
}

/** Delete (force: disconnect a guest first). EVENT_REQUEST_DONE(req, 0 | -EBUSY, 0). `req` must not be 0. */
export function vhostCtrlrDelete(req: u32, ctrlr: usize, force: bool): i32 {
  const m = changetype<DeleteMsg>(heapAllocZeroed(offsetof<DeleteMsg>()));
  if (changetype<usize>(m) == 0) return -ENOMEM;
  m.ctrlr = ctrlr;
  m.req = req;
  m.force = force ? 1 : 0;
  sendMsg(changetype<Ctrlr>(ctrlr).thread, deleteOnThread, changetype<usize>(m));
  return 0;
}

/**
 * Facts for vhost_get_controllers: 0 connected, 1 sessions so far, 2 refused, 3 reactor, 4 requests
 * done, 5 requests failed, 6 queue workers, 7 notifications dropped (a call fd that did not take
 * them), 100 + i / 200 + i worker i's requests done / reactor.
 */
export function vhostCtrlrInfo(ctrlr: usize, which: u32): f64 {
  const c = changetype<Ctrlr>(ctrlr);
  const t = changetype<BlkTarget>(c.target);
  switch (which) {
    case 0: return c.session != 0 ? 1 : 0;
    case 1: return <f64>c.sessions;
    case 2: return <f64>c.refused;
    case 3: return <f64>c.reactor;
    case 4: case 5: {
      let n: u64 = 0;
      for (let i: u32 = 0; i < c.workerCount; i++) { const w = workerTarget(workerAt(c, i)); n += which == 4 ? w.done : w.failed; }
      return <f64>n;
    }
    case 6: return <f64>c.workerCount;
    case 7: {                                 // the controller's own target signals GET_VRING_BASE answers
      let n = t.callsDropped;
      for (let i: u32 = 0; i < c.workerCount; i++) n += workerTarget(workerAt(c, i)).callsDropped;
      return <f64>n;
    }
    default:
      // 100 + i: requests done by queue worker i; 200 + i: its reactor.
      if (which >= 100 && which < 100 + c.workerCount) return <f64>workerTarget(workerAt(c, which - 100)).done;
      if (which >= 200 && which < 200 + c.workerCount) return <f64>workerAt(c, which - 200).reactor;
      return NaN;
  }
}

/** Interrupt coalescing for the controller's rings (any thread; the workers read it with atomics). */
export function vhostCtrlrSetCoalescing(ctrlr: usize, delayUs: u32, iopsThreshold: u32): void {
  atomic.store<u32>(ctrlr + offsetof<Ctrlr>("coalesceIops"), iopsThreshold);
  atomic.store<u32>(ctrlr + offsetof<Ctrlr>("coalesceDelayUs"), delayUs);
}
