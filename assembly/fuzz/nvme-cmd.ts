// Fuzz target "nvme-cmd": NVMe admin and I/O commands straight into a live controller, no transport
// framing in the way. Set up once: an NVM subsystem (any host) with a 1 MiB malloc namespace. Each
// input then starts the same way, done by the harness: an admin queue connects and enables a new
// controller, an I/O queue connects to it; and ends with both queues closed, so the heap must be back
// where set-up left it (a block more is a leak). The harness plays the transport (transport.ts's contract): it owns the requests, sets each
// one's data direction from its opcode and its length from the input, and checks what the core gives
// back: every request completes exactly once, with its own CID; ops.disconnect at most once per queue.
//
// Input: byte 0 flags (bit 0: the admin queue closes before the I/O queue at the end), then records:
//   u8 head: bit 0 the queue (0 admin, 1 I/O); bits 1-2 data buffers - 1; bit 3 wait until the
//            earlier commands did what they can (all but the held ones complete)
//   u16 LE:  data bytes (the request's length; the transport's limit is 64 KiB)
//   64 B:    the SQE
//   data:    for a host-to-controller command, `length` bytes (missing ones are zero)
// At the end both queues close (the order from byte 0); the run must end with every request back,
// both closes done and the target quiet, within a bound.
import { heapAllocZeroed } from "../runtime";
import { sendMsg } from "../thread";
import {
  NvmfQpair, NvmfReq, NvmfTransportOps, NvmfTransportLimits, TRTYPE_TCP, ADRFAM_IPV4, SQE_BYTES, CQE_BYTES, OPC_FABRICS,
  XFER_HOST_TO_CTRLR, sqeCid, sqeInit, sqeSetCid, cqeCid, cqeDw0, cqeStatus, nvmfQpairInit, nvmfReqExec, nvmfQpairClose,
} from "../nvme";
import {
  sqeXfer, fabricsSetType, FCTYPE_CONNECT, FCTYPE_PROPERTY_SET, CONNECT_DATA_BYTES, CNTLID_DYNAMIC, HOSTID_BYTES, PROP_CC,
  connectSetFields, connectDataWrite, propertySetFields,
} from "../nvme/fabrics";
import { nvmfListenerAdd, listenerById } from "../nvme/registry";
import { subsystemCreate, subsystemListener, subsystemNs } from "../nvme/subsystem";
import { subsystemNsAdd } from "../nvme/subsystem-ns";
import { NvmfNs } from "../nvme/ns";
import { NsChannel, nsChannelGet } from "../nvme/ns-channels";
import { mallocBdevCreate } from "../bdev/malloc";
import { Bdev } from "../bdev";
import { fuzzThreadNew, fuzzPollUntil, fuzzSettle, fuzzCString } from "./harness";

const NQN = "nqn.2016-06.io.wstor:fuzz-cmd";
const HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000f023";
/** Requests in flight at once (the queues' depth is larger: a full pool waits for one to come back). */
const REQS: u32 = 8;
const DATA_MAX: u32 = 65536;
const BUFFERS_MAX: u32 = 4;
const QUEUE_ENTRIES: u32 = 32;
const RECORD_HEAD: u32 = 3;
const ROUNDS_MAX: u32 = 200_000;
const SETTLE_IDLE_ROUNDS: u32 = 100;
/** Idle rounds that make a barrier: enough for a bdev I/O's completion and the messages after it. */
const BARRIER_IDLE_ROUNDS: u32 = 3;
const HEAD_IO_QUEUE: u32 = 1;
const HEAD_BARRIER: u32 = 8;
const FLAG_ADMIN_CLOSES_FIRST: u32 = 1;
/** CC as a host enables the controller: EN, 64-byte SQEs, 16-byte CQEs. */
const CC_ENABLE: u32 = 0x00460001;

/** One queue's connection, as the transport keeps it (NvmfQpair.transportCtx); the qpair follows it in one block. */
@unmanaged class FuzzQueue {
  qpair: usize;
  disconnects: u32;
  closing: u32;        // the transport began closing it: nvmfQpairClose once, no further command passed on
  closed: u32;         // the core's close done ran
}
/** One request of the pool (NvmfReq.transportCtx). */
@unmanaged class FuzzReq {
  req: usize;
  busy: u32;           // given to the core (or about to be), not yet completed
  completions: u32;
  cid: u16;
  data: usize;         // DATA_MAX bytes, split into the request's buffers
}

let thread: usize = 0;
let ops: usize = 0;
let admin: FuzzQueue = changetype<FuzzQueue>(0);
let io: FuzzQueue = changetype<FuzzQueue>(0);
let pool: usize = 0;          // REQS FuzzReq pointers
let listener: u32 = 0;
let subnqn: usize = 0, hostnqn: usize = 0, hostId: usize = 0;

function reqAt(i: u32): FuzzReq { return changetype<FuzzReq>(load<usize>(pool + (<usize>i << alignof<usize>()))); }
function queueOf(qpair: usize): FuzzQueue { return changetype<FuzzQueue>(changetype<NvmfQpair>(qpair).transportCtx); }

function fuzzComplete(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const f = changetype<FuzzReq>(r.transportCtx);
  assert(f.busy != 0 && f.completions == 0, "nvme-cmd fuzz: a request completed twice");
  assert(cqeCid(r.cqe) == f.cid, "nvme-cmd fuzz: a completion carries another command's CID");
  f.completions++;
  f.busy = 0;
}
/** The core asks the transport to drop the queue: it does, once, as a real transport would (by message, later). */
function fuzzDisconnect(qpair: usize): void {
  const q = queueOf(qpair);
  q.disconnects++;
  assert(q.disconnects == 1, "nvme-cmd fuzz: ops.disconnect called twice for one queue");
  sendMsg(thread, closeMsg, changetype<usize>(q));
}
function closeDone(qp: usize): void { changetype<FuzzQueue>(qp).closed++; }
function closeMsg(qp: usize): void {
  const q = changetype<FuzzQueue>(qp);
  if (q.closing != 0) return;
  q.closing = 1;
  nvmfQpairClose(q.qpair, closeDone, qp);
}

function queueNew(): FuzzQueue {
  const qp = heapAllocZeroed(offsetof<FuzzQueue>() + offsetof<NvmfQpair>());
  assert(qp != 0, "nvme-cmd fuzz: no memory for a queue");
  const q = changetype<FuzzQueue>(qp);
  q.qpair = qp + offsetof<FuzzQueue>();
  return q;
}

function reqNew(): FuzzReq {
  const f = changetype<FuzzReq>(heapAllocZeroed(offsetof<FuzzReq>()));
  const r = changetype<NvmfReq>(heapAllocZeroed(offsetof<NvmfReq>()));
  r.sqe = heapAllocZeroed(SQE_BYTES);
  r.cqe = heapAllocZeroed(CQE_BYTES);
  r.iovs = heapAllocZeroed(<usize>BUFFERS_MAX << 3);
  r.transportCtx = changetype<usize>(f);
  f.req = changetype<usize>(r);
  f.data = heapAllocZeroed(DATA_MAX);
  assert(f.data != 0 && r.iovs != 0, "nvme-cmd fuzz: no memory for the request pool");
  return f;
}

/** Give `f` (SQE filled) to the core on `q`, with `length` bytes of data in `buffers` pieces. */
function submit(f: FuzzReq, q: FuzzQueue, length: u32, buffers: u32): void {
  const r = changetype<NvmfReq>(f.req);
  assert(length <= DATA_MAX && buffers >= 1 && buffers <= BUFFERS_MAX);
  r.qpair = q.qpair;
  r.length = length;
  r.iovcnt = buffers;
  const piece = length / buffers;
  for (let i: u32 = 0; i < buffers; i++) {
    const bytes = i + 1 == buffers ? length - piece * i : piece;
    store<u32>(r.iovs + (<usize>i << 3), <u32>(f.data + <usize>(piece * i)));
    store<u32>(r.iovs + (<usize>i << 3), bytes, 4);
  }
  r.xfer = length == 0 ? 0 : sqeXfer(r.sqe);
  memory.fill(r.cqe, 0, CQE_BYTES);
  f.cid = sqeCid(r.sqe);
  f.busy = 1;
  f.completions = 0;
  sendMsg(thread, execMsg, changetype<usize>(f));
}
function execMsg(fp: usize): void {
  const f = changetype<FuzzReq>(fp);
  const q = queueOf(changetype<NvmfReq>(f.req).qpair);
  // A transport closing a connection passes none of its commands on: the request is simply not run.
  if (q.closing != 0) { f.busy = 0; return; }
  nvmfReqExec(f.req);
}

function idle(fp: usize): bool { return changetype<FuzzReq>(fp).busy == 0; }
function allIdle(unused: usize): bool {
  for (let i: u32 = 0; i < REQS; i++) if (reqAt(i).busy != 0) return false;
  return true;
}
function bothClosed(unused: usize): bool { return admin.closed != 0 && io.closed != 0 && allIdle(0); }

/** The harness's own commands (connects, enable): one at a time, each must succeed. Returns DW0 of its completion. */
function harnessCommand(q: FuzzQueue, f: FuzzReq, length: u32, failed: string): u32 {
  submit(f, q, length, 1);
  assert(fuzzPollUntil(thread, idle, changetype<usize>(f), 1000), failed);
  const r = changetype<NvmfReq>(f.req);
  assert(cqeStatus(r.cqe) == 0, failed);
  return cqeDw0(r.cqe);
}

/** A host's Fabrics command: opcode 0x7f, `cid`, `fctype`, the rest zero. */
function fabricsSqe(sqe: usize, cid: u16, fctype: u8): void {
  sqeInit(sqe, OPC_FABRICS, 0);
  sqeSetCid(sqe, cid);
  fabricsSetType(sqe, fctype);
}

function connect(q: FuzzQueue, f: FuzzReq, qid: u16, cntlid: u16): u32 {
  const r = changetype<NvmfReq>(f.req);
  fabricsSqe(r.sqe, 1, FCTYPE_CONNECT);
  connectSetFields(r.sqe, qid, QUEUE_ENTRIES, 0);
  connectDataWrite(f.data, hostId, cntlid, subnqn, hostnqn);
  return harnessCommand(q, f, CONNECT_DATA_BYTES, qid == 0 ? "nvme-cmd fuzz: the harness's admin Connect failed" : "nvme-cmd fuzz: the harness's I/O Connect failed");
}

function exists(id: u32): bool { return listenerById(id) != 0; }

function setupMsg(unused: usize): void {
  const o = changetype<NvmfTransportOps>(heapAllocZeroed(offsetof<NvmfTransportOps>()));
  const l = changetype<NvmfTransportLimits>(heapAllocZeroed(offsetof<NvmfTransportLimits>()));
  l.trtype = TRTYPE_TCP;
  l.maxQueueDepth = QUEUE_ENTRIES;
  l.maxAqDepth = QUEUE_ENTRIES;
  l.maxIoQpairsPerCtrlr = 2;
  l.inCapsuleDataSize = 4096;
  l.maxIoSize = DATA_MAX;
  l.ioUnitSize = 8192;
  o.complete = changetype<usize>(fuzzComplete);
  o.disconnect = changetype<usize>(fuzzDisconnect);
  o.limits = changetype<usize>(l);
  ops = changetype<usize>(o);

  const id = nvmfListenerAdd(TRTYPE_TCP, ADRFAM_IPV4, fuzzCString("127.0.0.1"), fuzzCString("4420"));
  assert(id > 0, "nvme-cmd fuzz: the listener was refused");
  const sub = subsystemCreate(fuzzCString(NQN), fuzzCString("WSTORFUZZ0002"), fuzzCString("wstor fuzz"), 4, true, 1, 0xffef);
  assert(sub > 0, "nvme-cmd fuzz: the subsystem was refused");
  assert(subsystemListener(<usize>sub, <u32>id, true, exists) == 0, "nvme-cmd fuzz: subsystem listener");
  const bdev = mallocBdevCreate(changetype<usize>("fuzzcmd0"), 512, 2048);
  assert(bdev != 0, "nvme-cmd fuzz: no memory for the namespace's bdev");
  assert(subsystemNsAdd(<usize>sub, changetype<Bdev>(bdev).id, 1, 0, 0, 0) == 1, "nvme-cmd fuzz: the namespace was refused");
  // The channel a thread keeps for a namespace until it closes (as SPDK's io_channels): part of the baseline.
  assert(nsChannelGet(changetype<NvmfNs>(subsystemNs(<usize>sub, 1))) != changetype<NsChannel>(0), "nvme-cmd fuzz: no channel for the namespace");
  listener = <u32>id;
}

function initMsg(qp: usize): void {
  const q = changetype<FuzzQueue>(qp);
  q.disconnects = 0;
  q.closing = 0;
  q.closed = 0;
  nvmfQpairInit(q.qpair, ops, qp, listener);
}
function initDone(unused: usize): bool { return changetype<NvmfQpair>(admin.qpair).ops == ops && changetype<NvmfQpair>(io.qpair).ops == ops; }

/** What every input starts from: a new controller enabled through its admin queue, its I/O queue connected. */
function openQueues(): void {
  sendMsg(thread, initMsg, changetype<usize>(admin));
  sendMsg(thread, initMsg, changetype<usize>(io));
  assert(fuzzPollUntil(thread, initDone, 0, 1000), "nvme-cmd fuzz: the queues' init did not run");
  const f = reqAt(0);
  const cntlid = <u16>connect(admin, f, 0, CNTLID_DYNAMIC);
  const r = changetype<NvmfReq>(f.req);
  fabricsSqe(r.sqe, 2, FCTYPE_PROPERTY_SET);
  propertySetFields(r.sqe, PROP_CC, <u64>CC_ENABLE);
  harnessCommand(admin, f, 0, "nvme-cmd fuzz: the harness's Property Set CC.EN failed");
  connect(io, f, 1, cntlid);
}

/** How every input ends: both queues closed (`adminFirst`: the admin queue's close is asked first), the target quiet. */
function closeQueues(adminFirst: bool): void {
  const firstToClose = adminFirst ? admin : io;
  sendMsg(thread, closeMsg, changetype<usize>(firstToClose));
  sendMsg(thread, closeMsg, changetype<usize>(firstToClose == admin ? io : admin));
  assert(fuzzPollUntil(thread, bothClosed, 0, ROUNDS_MAX), "nvme-cmd fuzz: a queue's close or a request never finished (a stall)");
  assert(fuzzSettle(thread, SETTLE_IDLE_ROUNDS, ROUNDS_MAX), "nvme-cmd fuzz: the target never went quiet after its queues closed");
}

/** Set-up, once before the snapshot: the subsystem and namespace, a controller enabled, its I/O queue connected. */
export function fuzz_nvme_cmd_setup(): i32 {
  thread = fuzzThreadNew("fuzz_nvme_cmd");
  admin = queueNew();
  io = queueNew();
  pool = heapAllocZeroed(<usize>REQS << alignof<usize>());
  for (let i: u32 = 0; i < REQS; i++) store<usize>(pool + (<usize>i << alignof<usize>()), changetype<usize>(reqNew()));
  subnqn = fuzzCString(NQN);
  hostnqn = fuzzCString(HOSTNQN);
  hostId = heapAllocZeroed(HOSTID_BYTES);
  memory.fill(hostId, 0x23, HOSTID_BYTES);
  sendMsg(thread, setupMsg, 0);
  assert(fuzzPollUntil(thread, (unused: usize): bool => listener != 0, 0, 1000), "nvme-cmd fuzz: set-up did not run");
  // One whole cycle before the snapshot, so what the first controller makes once and keeps (tables
  // that grow on first use) is in the baseline rather than counted as an input's leak.
  openQueues();
  closeQueues(false);
  return 0;
}

/** A free request of the pool, after the target has done what it can when all are out; 0 if every one is still held. */
function freeReq(): FuzzReq {
  for (let pass: u32 = 0; pass < 2; pass++) {
    for (let i: u32 = 0; i < REQS; i++) if (reqAt(i).busy == 0) return reqAt(i);
    quiet();
  }
  // Every request is held: what the core holds by design (Asynchronous Event Requests) stays out
  // until the queue closes, so the rest of this input cannot run.
  return changetype<FuzzReq>(0);
}

/** Poll until the target has nothing left to do for a few rounds: what can complete has (held AERs cannot). */
function quiet(): void {
  assert(fuzzSettle(thread, BARRIER_IDLE_ROUNDS, ROUNDS_MAX), "nvme-cmd fuzz: the target never went quiet between commands (a stall)");
}

/** One input: its records in order, then both queues close. Returns the bytes the records took. */
export function fuzz_nvme_cmd_run(ptr: usize, len: u32): i32 {
  assert(thread != 0, "nvme-cmd fuzz: run before set-up");
  openQueues();
  const flags = len > 0 ? <u32>load<u8>(ptr) : 0;
  let at: u32 = len > 0 ? 1 : 0;
  while (at + RECORD_HEAD + SQE_BYTES <= len) {
    const head = <u32>load<u8>(ptr + at);
    const length = min(<u32>load<u16>(ptr + at + 1), DATA_MAX);
    const sqe = ptr + at + RECORD_HEAD;
    at += RECORD_HEAD + SQE_BYTES;
    if ((head & HEAD_BARRIER) != 0) quiet();
    const f = freeReq();
    if (changetype<usize>(f) == 0) break;
    const r = changetype<NvmfReq>(f.req);
    memory.copy(r.sqe, sqe, SQE_BYTES);
    memory.fill(f.data, 0, length);
    if (sqeXfer(sqe) == XFER_HOST_TO_CTRLR) {
      const given = min(length, len - at);
      memory.copy(f.data, ptr + at, given);
      at += given;
    }
    submit(f, (head & HEAD_IO_QUEUE) != 0 ? io : admin, length, ((head >> 1) & 3) + 1);
  }
  closeQueues((flags & FLAG_ADMIN_CLOSES_FIRST) != 0);
  return <i32>at;
}
