// One guest's connection to a controller: messages assembled from the socket (header, then exactly
// its payload, fds with the header), checked and answered here. Every received fd is consumed by the
// message it came with (a region, a kick/call/err) or closed. A message that breaks the protocol
// (wrong size, unknown request, bad ring numbers, memory that does not check out) ends the session;
// the controller keeps listening for the next one.

import {
  heapAllocZeroed, heapFree, report, LEVEL_ERROR, LEVEL_NOTICE, LEVEL_INFO, host_vu_recv, host_vu_send, host_fd_close, host_vu_fd_kind,
  FD_KIND_EVENTFD, FD_KIND_PIPE, EAGAIN, EINVAL, EPROTO, ENODEV, ENXIO, EFAULT, ENOSPC, EBUSY,
} from "../runtime";
import * as W from "./wire";
import {
  MemTable, memTableNew, memTableFree, regionCheck, regionAdd, regionRemove, regionMatching, regionAt, regionFdShortfall, memUnmapAll, memBrokenRegion, MAX_REGIONS,
} from "./mem";
import { windowAt, RING_WINDOWS } from "./ringwindow";
import { Vring, vringInit, vringReset, setFd, vringSetNum, vringTranslate, vringSuppressKicks, vringFreePool } from "./vring";
import { BlkTarget, blkPoolCreate, blkSignal } from "./blk";
import { Inflight, inflightCreate, inflightMap, inflightUnmap, inflightQueue, inflightRecover } from "./inflight";
import { QueueWorker, workerAttach, workerDetach } from "./worker";

/** Queues a guest may use (GET_QUEUE_NUM). */
export const MAX_QUEUES: u32 = 8;
const MSG_BYTES: u32 = W.HDR_BYTES + W.MAX_PAYLOAD;

@unmanaged export class Session {
  name: usize;            // the controller's name, for reports (the host keeps the string)
  fd: i32;
  closed: u32;            // the protocol was broken or the peer went: the controller drops the session
  features: u64;          // acked by SET_FEATURES
  protocolFeatures: u64;
  offeredFeatures: u64;
  status: u64;
  configBytes: usize;     // the controller's virtio_blk_config (W.CONFIG_BYTES)
  mem: usize;             // MemTable
  target: usize;          // BlkTarget
  vrings: usize;          // MAX_QUEUES Vrings inline
  buf: usize;             // message being assembled (MSG_BYTES)
  have: u32;
  nfds: u32;
  fds: usize;             // W.MAX_FDS i32 received with this message
  used: u32;              // bit per fd the handler took
  waitBase: i32;          // vring whose GET_VRING_BASE answer waits for its I/O to drain (-1: none)
  waitFlags: u32;
  reply: usize;           // REPLY_BYTES: the answer being sent
  inflight: usize;        // Inflight (INFLIGHT_SHMFD)
  workers: usize;         // the controller's QueueWorker pointers: ring i is served by workers[i % workerCount]
  workerCount: u32;
  coalesce: usize;        // the controller's Coalescing
}
/** The largest answer: a header and the whole config (u64 and vring-state answers are smaller). */
const REPLY_BYTES: u32 = W.HDR_BYTES + W.CONFIG_HEAD + W.CONFIG_BYTES + 4;   // + an fd to send

export function vringOf(s: Session, i: u32): Vring { return changetype<Vring>(s.vrings + <usize>i * offsetof<Vring>()); }

export function sessionNew(fd: i32, target: BlkTarget, offered: u64, config: usize, workers: usize, workerCount: u32, coalesce: usize): Session {
  const s = changetype<Session>(heapAllocZeroed(offsetof<Session>()));
  if (changetype<usize>(s) == 0) return s;
  s.fd = fd;
  s.name = target.name;
  s.target = changetype<usize>(target);
  s.offeredFeatures = offered;
  s.configBytes = config;
  s.workers = workers;
  s.workerCount = workerCount;
  s.coalesce = coalesce;
  s.waitBase = -1;
  s.mem = memTableNew();
  s.vrings = heapAllocZeroed(<usize>MAX_QUEUES * offsetof<Vring>());
  s.buf = heapAllocZeroed(MSG_BYTES);
  s.fds = heapAllocZeroed(<usize>W.MAX_FDS << 2);
  s.reply = heapAllocZeroed(REPLY_BYTES);
  s.inflight = heapAllocZeroed(offsetof<Inflight>());
  if (s.mem == 0 || s.vrings == 0 || s.buf == 0 || s.fds == 0 || s.reply == 0 || s.inflight == 0) { sessionFree(s); return changetype<Session>(0); }
  for (let i: u32 = 0; i < MAX_QUEUES; i++) vringInit(vringOf(s, i), i);
  target.mem = s.mem;
  return s;
}

/** Rings still served by a worker (the session may go only when this is 0: their I/O has drained). */
export function sessionInflight(s: Session): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < MAX_QUEUES; i++) if (vringOf(s, i).owner != 0) n++;
  return n;
}

function ringDetached(ringPtr: usize): void {
  const v = changetype<Vring>(ringPtr);
  v.owner = 0;
  v.detachAsked = 0;
}

/** Stop a ring: no new chains; its worker lets it go once its requests completed into guest memory. */
function stopRing(v: Vring): void {
  v.started = 0;
  v.enabled = 0;
  if (v.owner != 0 && v.detachAsked == 0) {
    v.detachAsked = 1;
    workerDetach(changetype<QueueWorker>(v.owner), v, ringDetached, changetype<usize>(v));
  }
}

/** Stop every ring (no new chains are taken); in-flight ones still complete into guest memory. */
export function sessionStopRings(s: Session): void {
  for (let i: u32 = 0; i < MAX_QUEUES; i++) stopRing(vringOf(s, i));
}

/** Free everything (call once sessionInflight is 0): guest memory unmapped, fds closed. */
export function sessionFree(s: Session): void {
  if (s.vrings != 0) {
    for (let i: u32 = 0; i < MAX_QUEUES; i++) { const v = vringOf(s, i); assert(v.owner == 0 && v.inflight == 0); vringReset(v); vringFreePool(v); }
    heapFree(s.vrings);
  }
  if (s.mem != 0) memTableFree(changetype<MemTable>(s.mem));
  closeUnused(s);
  if (s.buf != 0) heapFree(s.buf);
  if (s.fds != 0) heapFree(s.fds);
  if (s.reply != 0) heapFree(s.reply);
  if (s.inflight != 0) { inflightUnmap(changetype<Inflight>(s.inflight)); heapFree(s.inflight); }
  if (s.fd >= 0) host_fd_close(s.fd);
  heapFree(changetype<usize>(s));
}

function closeUnused(s: Session): void {
  for (let i: u32 = 0; i < s.nfds; i++) if ((s.used & (1 << i)) == 0) host_fd_close(load<i32>(s.fds + (<usize>i << 2)));
  s.nfds = 0;
  s.used = 0;
}

function fail(s: Session, why: string, request: u32): void {
  report(LEVEL_ERROR, -EPROTO, "vhost %s: %s (message %d); closing the connection", s.name, changetype<usize>(why), <f64>request);
  s.closed = 1;
}

// ---- replies ----

/** Send an answer whose payload (`size` bytes) is already at s.reply + HDR_BYTES (with one fd, if >= 0). */
function send(s: Session, request: u32, size: u32, fd: i32 = -1): void {
  assert(W.HDR_BYTES + size <= REPLY_BYTES - 4);
  const out = s.reply;
  store<u32>(out, request, W.HDR_REQUEST);
  store<u32>(out, W.FLAG_VERSION | W.FLAG_REPLY, W.HDR_FLAGS);
  store<u32>(out, size, W.HDR_SIZE);
  store<i32>(out + REPLY_BYTES - 4, fd);
  const rc = host_vu_send(s.fd, out, W.HDR_BYTES + size, out + REPLY_BYTES - 4, fd >= 0 ? 1 : 0);
  if (rc != <i32>(W.HDR_BYTES + size)) { report(LEVEL_ERROR, rc, "vhost %s: a reply could not be sent", s.name); s.closed = 1; }
}

function replyU64(s: Session, request: u32, value: u64): void {
  store<u64>(s.reply + W.HDR_BYTES, value);
  send(s, request, W.U64_BYTES);
}

/** REPLY_ACK: a message that has no reply of its own answers 0 (done) or 1 (failed) when asked. */
function ack(s: Session, request: u32, flags: u32, ok: bool): void {
  if ((flags & W.FLAG_NEED_REPLY) != 0 && (s.protocolFeatures & W.PF_REPLY_ACK) != 0) replyU64(s, request, ok ? 0 : 1);
  else if (!ok) s.closed = 1;                 // nobody to tell: the guest would go on with a broken device
}

// ---- receiving ----

/**
 * Read what the socket has, handling each whole message. Returns true if anything arrived. Bounded:
 * at most MAX_MESSAGES_PER_POLL messages per call, so a chatty peer cannot hold the thread.
 */
const MAX_MESSAGES_PER_POLL: u32 = 32;
export function sessionReceive(s: Session): bool {
  let any = false;
  for (let m: u32 = 0; m < MAX_MESSAGES_PER_POLL && s.closed == 0 && s.waitBase < 0; m++) {
    const size = s.have >= W.HDR_BYTES ? load<u32>(s.buf + W.HDR_SIZE) : 0;
    const want = s.have < W.HDR_BYTES ? W.HDR_BYTES - s.have : W.HDR_BYTES + size - s.have;
    if (want > 0) {
      const rc = host_vu_recv(s.fd, s.buf + s.have, want, s.fds + (<usize>s.nfds << 2), W.MAX_FDS - s.nfds);
      if (rc == -EAGAIN) return any;
      if (rc == 0) { report(LEVEL_NOTICE, 0, "vhost %s: the guest disconnected", s.name); s.closed = 1; return true; }
      if (rc < 0) { report(LEVEL_ERROR, rc, "vhost %s: receiving from the guest failed", s.name); s.closed = 1; return true; }
      any = true;
      s.have += <u32>rc & 0xffff;
      s.nfds += <u32>rc >> 16;
      if (s.have < W.HDR_BYTES) continue;
      const flags = load<u32>(s.buf + W.HDR_FLAGS);
      if ((flags & W.FLAG_VERSION_MASK) != W.FLAG_VERSION) { fail(s, "unsupported protocol version", load<u32>(s.buf)); return true; }
      if (load<u32>(s.buf + W.HDR_SIZE) > W.MAX_PAYLOAD) { fail(s, "payload larger than any message", load<u32>(s.buf)); return true; }
      if (s.have < W.HDR_BYTES + load<u32>(s.buf + W.HDR_SIZE)) continue;
    }
    handle(s);
    closeUnused(s);
    s.have = 0;
  }
  return any;
}

function takeFd(s: Session, i: u32): i32 {
  s.used |= 1 << i;
  return load<i32>(s.fds + (<usize>i << 2));
}

// Every case ends in a return and each handler refuses its own bad sizes: AssemblyScript 0.28.20
// compiles the statements after a switch whose cases all return as unreachable, even when a case
// leaves it with a nested `break` (it trapped with -O0 and fell silent with -O3: issue 14, item 5).
function handle(s: Session): void {
  const request = load<u32>(s.buf + W.HDR_REQUEST);
  const flags = load<u32>(s.buf + W.HDR_FLAGS);
  const size = load<u32>(s.buf + W.HDR_SIZE);
  const p = s.buf + W.HDR_BYTES;
  switch (request) {
    case W.GET_FEATURES: replyU64(s, request, s.offeredFeatures); return;
    case W.SET_FEATURES:
    case W.SET_PROTOCOL_FEATURES:
    case W.SET_STATUS: setU64(s, request, flags, size, p); return;
    case W.GET_PROTOCOL_FEATURES: replyU64(s, request, PROTOCOL_FEATURES); return;
    case W.SET_OWNER: ack(s, request, flags, true); return;
    case W.RESET_OWNER:
    case W.RESET_DEVICE: resetRings(s); ack(s, request, flags, true); return;
    case W.GET_QUEUE_NUM: replyU64(s, request, <u64>MAX_QUEUES); return;
    case W.GET_MAX_MEM_SLOTS: replyU64(s, request, <u64>MAX_REGIONS); return;
    case W.SET_MEM_TABLE: setMemTable(s, request, flags, size, p); return;
    case W.ADD_MEM_REG:
    case W.REM_MEM_REG: memReg(s, request, flags, size, p); return;
    case W.SET_VRING_NUM:
    case W.SET_VRING_BASE:
    case W.SET_VRING_ENABLE:
    case W.GET_VRING_BASE: vringState(s, request, flags, size, p); return;
    case W.SET_VRING_ADDR: vringAddr(s, request, flags, size, p); return;
    case W.SET_VRING_KICK:
    case W.SET_VRING_CALL:
    case W.SET_VRING_ERR: vringFd(s, request, flags, size, p); return;
    case W.GET_CONFIG: getConfig(s, request, size, p); return;
    case W.SET_CONFIG: ack(s, request, flags, size >= W.CONFIG_HEAD); return;   // nothing in our config is writable
    case W.GET_STATUS: replyU64(s, request, s.status); return;
    case W.GET_INFLIGHT_FD:
    case W.SET_INFLIGHT_FD: inflightFd(s, request, flags, size, p); return;
    default:
      fail(s, "a request this backend does not handle", request);
      return;
  }
}

/** SET_FEATURES, SET_PROTOCOL_FEATURES, SET_STATUS: one u64, features only among those offered. */
function setU64(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size != W.U64_BYTES) { fail(s, "a payload of the wrong size", request); return; }
  const value = load<u64>(p);
  if (request == W.SET_STATUS) s.status = value;
  else if (request == W.SET_FEATURES) {
    if ((value & ~s.offeredFeatures) != 0) { fail(s, "SET_FEATURES with features we did not offer", request); return; }
    s.features = value;
  } else {
    if ((value & ~PROTOCOL_FEATURES) != 0) { fail(s, "SET_PROTOCOL_FEATURES with features we did not offer", request); return; }
    s.protocolFeatures = value;
  }
  ack(s, request, flags, true);
}

export const PROTOCOL_FEATURES: u64 = W.PF_MQ | W.PF_REPLY_ACK | W.PF_CONFIG | W.PF_INFLIGHT_SHMFD | W.PF_RESET_DEVICE |
  W.PF_CONFIGURE_MEM_SLOTS | W.PF_STATUS;

/**
 * GET_INFLIGHT_FD: make a zeroed region for num_queues × queue_size and send its fd (QEMU keeps it).
 * SET_INFLIGHT_FD: map the region QEMU sends (after our restart it holds what was in flight).
 */
function inflightFd(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size != W.INFLIGHT_BYTES) { fail(s, "a payload of the wrong size", request); return; }
  const f = changetype<Inflight>(s.inflight);
  const queues = <u32>load<u16>(p, 16), queueSize = <u32>load<u16>(p, 18);
  if (request == W.GET_INFLIGHT_FD) {
    if (s.nfds != 0) { fail(s, "GET_INFLIGHT_FD with an fd", request); return; }
    const fd = inflightCreate(f, queues, queueSize);
    if (fd < 0) { report(LEVEL_ERROR, fd, "vhost %s: no inflight region for %d queues", s.name, 0, <f64>queues); s.closed = 1; return; }
    const out = s.reply + W.HDR_BYTES;
    memory.fill(out, 0, W.INFLIGHT_BYTES);
    store<u64>(out, f.bytes);
    store<u16>(out, <u16>queues, 16);
    store<u16>(out, <u16>queueSize, 18);
    send(s, request, W.INFLIGHT_BYTES, fd);
    host_fd_close(fd);
    return;
  }
  if (s.nfds != 1) { fail(s, "SET_INFLIGHT_FD without exactly one fd", request); return; }
  const rc = inflightMap(f, takeFd(s, 0), load<u64>(p), load<u64>(p, 8), queues, queueSize);
  if (rc != 0) { report(LEVEL_ERROR, rc, "vhost %s: the inflight region could not be mapped", s.name); ack(s, request, flags, false); return; }
  ack(s, request, flags, true);
}

/** Whether a ring that runs (or may: started, or served by a worker) is seen through a window of region `handle`. */
function ringIn(s: Session, handle: i32): bool {
  for (let i: u32 = 0; i < MAX_QUEUES; i++) {
    const v = vringOf(s, i);
    if ((v.started == 0 && v.owner == 0) || v.windows == 0) continue;
    for (let k: u32 = 0; k < RING_WINDOWS; k++) if (windowAt(v.windows, k).block != 0 && windowAt(v.windows, k).handle == handle) return true;
  }
  return false;
}

function resetRings(s: Session): void {
  for (let i: u32 = 0; i < MAX_QUEUES; i++) stopRing(vringOf(s, i));
}

/** After a memory change: every ring's addresses are translated again (a ring they no longer fit is stopped). */
function retranslate(s: Session): void {
  for (let i: u32 = 0; i < MAX_QUEUES; i++) {
    const v = vringOf(s, i);
    if (v.descUva == 0) continue;
    if (vringTranslate(v, changetype<MemTable>(s.mem)) != 0) {
      report(LEVEL_ERROR, -EINVAL, "vhost %s: vring %d no longer lies in guest memory after a memory change; stopped", s.name, 0, <f64>i);
      v.broken = 1;
    }
  }
}

/**
 * Whether region `i` (wire payload `src`) fits the file it came with (fd slot `fdIndex`); if not, says
 * why. A file that later shrinks is the guard's business (sessionMemoryBroke).
 */
function regionFits(s: Session, i: u32, src: usize, fdIndex: u32): bool {
  const short = regionFdShortfall(src, load<i32>(s.fds + (<usize>fdIndex << 2)));
  if (short == 0) return true;
  if (short == -ENODEV) {
    report(LEVEL_ERROR, -ENODEV, "vhost %s: guest memory region %d is not a regular file or memfd (guest RAM must be shared: QEMU's memory-backend-memfd, or -file with share=on)",
      s.name, 0, <f64>i);
  } else if (short < 0) {
    report(LEVEL_ERROR, <i32>short, "vhost %s: the file of guest memory region %d could not be sized", s.name, 0, <f64>i);
  } else {
    report(LEVEL_ERROR, -ENXIO, "vhost %s: guest memory region %d ends %d bytes past the end of its file (mmap_offset + size is larger than the file); refused",
      s.name, 0, <f64>i, short);
  }
  return false;
}

/**
 * A guarded mapping of this session broke (its file shrank; the addon put zero pages there): the
 * session ends, saying which. The controller looks at every poll. True if it broke.
 */
export function sessionMemoryBroke(s: Session): bool {
  const region = memBrokenRegion(changetype<MemTable>(s.mem));
  const inflight = atomic.load<u32>(s.inflight + offsetof<Inflight>("broken")) != 0;
  if (region < 0 && !inflight) return false;
  if (region >= 0) {
    report(LEVEL_ERROR, -EFAULT, "vhost %s: the file behind guest memory region %d shrank under its mapping (SIGBUS caught; zero pages put in its place); closing the connection",
      s.name, 0, <f64>region);
  } else {
    report(LEVEL_ERROR, -EFAULT, "vhost %s: the file behind the inflight region shrank under its mapping (SIGBUS caught; zero pages put in its place); closing the connection", s.name);
  }
  s.closed = 1;
  return true;
}

/** Why region `i` (wire payload `src`) could not be mapped, naming the guest's controller, the region and the limit. */
function regionRefused(s: Session, i: u32, src: usize, rc: i32): void {
  const bytes = <f64>load<u64>(src, 8);
  if (rc == -ENOSPC && changetype<MemTable>(s.mem).count >= MAX_REGIONS) {
    report(LEVEL_ERROR, rc, "vhost %s: guest memory region %d refused: a session holds at most %d regions (GET_MAX_MEM_SLOTS)",
      s.name, 0, <f64>i, <f64>MAX_REGIONS);
  } else if (rc == -ENOSPC) {
    report(LEVEL_ERROR, rc, "vhost %s: guest memory region %d (%d bytes) refused: the host's table of guest regions (4096 over all guests) is full; disconnect a guest or use fewer, larger regions",
      s.name, 0, <f64>i, bytes);
  } else {
    report(LEVEL_ERROR, rc, "vhost %s: guest memory region %d (%d bytes) could not be mapped", s.name, 0, <f64>i, bytes);
  }
}

function setMemTable(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size < W.MEM_TABLE_HEAD) { fail(s, "a payload of the wrong size", request); return; }
  const n = load<u32>(p);
  // SET_MEM_TABLE carries at most MAX_FDS regions (one fd each); ADD_MEM_REG brings the rest.
  if (n == 0 || n > W.MAX_FDS || size != W.MEM_TABLE_HEAD + n * W.REGION_BYTES) { fail(s, "a memory table of the wrong size", request); return; }
  if (s.nfds != n) { fail(s, "a memory table whose fds do not match its regions", request); return; }
  // Rings in flight keep pointers into the old mapping: QEMU sends a new table only with rings
  // stopped; a table while they run ends the session rather than moving memory under them.
  if (sessionInflight(s) != 0) { fail(s, "SET_MEM_TABLE while requests are in flight", request); return; }
  memUnmapAll(changetype<MemTable>(s.mem));
  for (let i: u32 = 0; i < n; i++) {
    const src = p + W.MEM_TABLE_HEAD + i * W.REGION_BYTES;
    if (regionCheck(changetype<MemTable>(s.mem), src) != 0) { fail(s, "a memory region that is empty, wraps or overlaps another", request); return; }
    if (!regionFits(s, i, src, i)) { s.closed = 1; return; }
    const rc = regionAdd(changetype<MemTable>(s.mem), src, takeFd(s, i));
    if (rc != 0) { regionRefused(s, i, src, rc); s.closed = 1; return; }
  }
  retranslate(s);
  report(LEVEL_INFO, 0, "vhost %s: guest memory mapped (%d regions)", s.name, 0, <f64>n);
  ack(s, request, flags, true);
}

function memReg(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size != W.MEM_REG_BYTES) { fail(s, "a payload of the wrong size", request); return; }
  const src = p + 8;
  if (request == W.REM_MEM_REG) {
    // Memory hot-unplug while the rings run: fine unless a ring lives there. A request in flight on
    // it fails or, in io_uring, lands in the pages it was given (the host unmaps with its last I/O).
    const slot = regionMatching(changetype<MemTable>(s.mem), src);
    if (slot >= 0 && ringIn(s, regionAt(changetype<MemTable>(s.mem), <u32>slot).handle)) {
      report(LEVEL_ERROR, -EBUSY, "vhost %s: REM_MEM_REG of guest memory region %d refused: a running ring lies in it", s.name, 0, <f64>slot);
      ack(s, request, flags, false);
      return;
    }
    ack(s, request, flags, regionRemove(changetype<MemTable>(s.mem), src) == 0);
    return;
  }
  if (s.nfds != 1) { fail(s, "ADD_MEM_REG without exactly one fd", request); return; }
  if (regionCheck(changetype<MemTable>(s.mem), src) != 0) { fail(s, "a memory region that is empty, wraps or overlaps another", request); return; }
  if (!regionFits(s, changetype<MemTable>(s.mem).count, src, 0)) { ack(s, request, flags, false); return; }
  const index = changetype<MemTable>(s.mem).count;
  const rc = regionAdd(changetype<MemTable>(s.mem), src, takeFd(s, 0));
  if (rc != 0) { regionRefused(s, index, src, rc); ack(s, request, flags, false); return; }
  retranslate(s);
  ack(s, request, flags, true);
}

function ringIndex(s: Session, request: u32, index: u32): Vring | null {
  if (index >= MAX_QUEUES) { fail(s, "a vring index past the queues we offered", request); return null; }
  return vringOf(s, index);
}

function vringState(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size != W.VRING_STATE_BYTES) { fail(s, "a payload of the wrong size", request); return; }
  const v = ringIndex(s, request, load<u32>(p));
  if (v == null) return;
  const num = load<u32>(p, 4);
  switch (request) {
    case W.SET_VRING_NUM:
      if (v.started != 0 || v.owner != 0 || vringSetNum(v, num) != 0) { fail(s, "a queue size that is not a power of two up to 32768, or a running ring", request); return; }
      vringFreePool(v);                       // sized by num: made again when the ring starts
      break;
    case W.SET_VRING_BASE:
      if (v.started != 0 || v.owner != 0 || num > 0xffff) { fail(s, "SET_VRING_BASE on a running ring or past 16 bits", request); return; }
      v.lastAvail = num;
      v.lastUsed = num;
      break;
    case W.SET_VRING_ENABLE:
      if (num > 1) { fail(s, "SET_VRING_ENABLE takes 0 or 1", request); return; }
      v.enabled = num;
      break;
    default: {                                // GET_VRING_BASE: stop the ring; answer once its I/O drained
      stopRing(v);
      s.waitBase = <i32>v.index;
      s.waitFlags = flags;
      sessionAnswerBase(s);
      return;
    }
  }
  ack(s, request, flags, true);
}

/** The pending GET_VRING_BASE answer, once its ring has nothing in flight (polled by the controller). */
export function sessionAnswerBase(s: Session): void {
  if (s.waitBase < 0) return;
  const v = vringOf(s, <u32>s.waitBase);
  if (v.owner != 0) return;                    // its worker has not let it go yet
  blkSignal(changetype<BlkTarget>(s.target), v);
  store<u32>(s.reply + W.HDR_BYTES, v.index);
  store<u32>(s.reply + W.HDR_BYTES, v.lastAvail, 4);
  s.waitBase = -1;
  send(s, W.GET_VRING_BASE, W.VRING_STATE_BYTES);
  // The ring's fds stay until the guest replaces them; its addresses are set again before a restart.
}

function vringAddr(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size != W.VRING_ADDR_BYTES) { fail(s, "a payload of the wrong size", request); return; }
  const v = ringIndex(s, request, load<u32>(p));
  if (v == null) return;
  if (v.owner != 0) { fail(s, "SET_VRING_ADDR on a running ring", request); return; }
  v.descUva = load<u64>(p, 8);
  v.usedUva = load<u64>(p, 16);
  v.availUva = load<u64>(p, 24);
  if (vringTranslate(v, changetype<MemTable>(s.mem)) != 0) { fail(s, "vring addresses outside guest memory or misaligned", request); return; }
  // The used index may have moved while we were away (a reconnect): take the guest's.
  v.lastUsed = <u32>atomic.load<u16>(v.used + 2);
  ack(s, request, flags, true);
}

function vringFd(s: Session, request: u32, flags: u32, size: u32, p: usize): void {
  if (size != W.U64_BYTES) { fail(s, "a payload of the wrong size", request); return; }
  const value = load<u64>(p);
  const v = ringIndex(s, request, <u32>(value & 0xff));
  if (v == null) return;
  const noFd = (value & W.VRING_NO_FD) != 0;
  if (noFd != (s.nfds == 0) || s.nfds > 1) { fail(s, "a vring fd message whose fd does not match its no-fd flag", request); return; }
  const which: u32 = request == W.SET_VRING_KICK ? 0 : request == W.SET_VRING_CALL ? 1 : 2;
  // A running ring's kick fd is watched by its worker's reactor, which must stop watching it before
  // it is closed (GET_VRING_BASE stops the ring; QEMU sends the kick only to start one).
  if (which == 0 && v.owner != 0) { fail(s, "SET_VRING_KICK on a running ring", request); return; }
  if (!noFd && !notifierFd(load<i32>(s.fds))) {
    fail(s, which == 0 ? "SET_VRING_KICK with an fd that is neither an eventfd nor a pipe" :
      which == 1 ? "SET_VRING_CALL with an fd that is neither an eventfd nor a pipe" : "SET_VRING_ERR with an fd that is neither an eventfd nor a pipe", request);
    return;
  }
  const fd = noFd ? -1 : takeFd(s, 0);
  setFd(v, which, fd);
  if (which == 0) {
    // The kick starts the ring. Without PROTOCOL_FEATURES it is enabled too; with them it waits for
    // SET_VRING_ENABLE (and a kick never disables it: rust-vmm/vhost#227).
    if (v.num == 0 || v.desc == 0) { fail(s, "SET_VRING_KICK before the ring's size and addresses", request); return; }
    if (blkPoolCreate(v) != 0) { report(LEVEL_ERROR, -12, "vhost %s: no memory for a vring's requests", s.name); ack(s, request, flags, false); return; }
    v.started = 1;
    v.broken = 0;
    v.eventIdx = (s.features & W.F_EVENT_IDX) != 0 ? 1 : 0;
    v.lastSignalled = v.lastUsed;
    v.coalesce = s.coalesce;
    inflightRecover(v, inflightQueue(changetype<Inflight>(s.inflight), v.index, v.num), s.features);
    if (v.owner == 0) {
      const w = load<usize>(s.workers + (<usize>(v.index % s.workerCount) << 2));
      if (workerAttach(changetype<QueueWorker>(w), v, s.mem) != 0) { report(LEVEL_ERROR, -12, "vhost %s: a ring could not be handed to its worker", s.name); ack(s, request, flags, false); return; }
      v.owner = w;
    }
    if ((s.features & W.F_PROTOCOL_FEATURES) == 0) v.enabled = 1;
    vringSuppressKicks(v);
  }
  ack(s, request, flags, true);
}

/** Kick, call and err fds are eventfds (QEMU's) or pipes: 8 bytes in or out, never a file, socket or device. */
function notifierFd(fd: i32): bool {
  const kind = host_vu_fd_kind(fd);
  return kind == FD_KIND_EVENTFD || kind == FD_KIND_PIPE;
}

function getConfig(s: Session, request: u32, size: u32, p: usize): void {
  if (size < W.CONFIG_HEAD) { fail(s, "a payload of the wrong size", request); return; }
  const offset = load<u32>(p), len = load<u32>(p, 4);
  if (len == 0 || size != W.CONFIG_HEAD + len || offset > W.CONFIG_BYTES || len > W.CONFIG_BYTES - offset) {
    fail(s, "GET_CONFIG with a size that does not match its payload or our config", request);
    return;
  }
  memory.copy(s.reply + W.HDR_BYTES, p, W.CONFIG_HEAD);
  memory.copy(s.reply + W.HDR_BYTES + W.CONFIG_HEAD, s.configBytes + offset, len);
  send(s, request, size);
}

