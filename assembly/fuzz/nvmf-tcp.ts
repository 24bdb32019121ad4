// Fuzz target "nvmf-tcp": what an NVMe/TCP host sends, into the real transport and controller. The
// seam is the transport's wire (TcpWire, tcp/types.ts): this one hands a connection the input as if
// a socket had received it, takes whatever it sends at once, and ends with the peer closing. Set up
// once: a TCP transport with one poll group, a listener, the discovery subsystem and an NVM
// subsystem (any host) with a 1 MiB malloc namespace. Input: byte 0 = bytes per receive in its low
// 7 bits (0: as many as fit); bit 7 set: two connections, u16 LE at byte 1 = the first one's bytes
// (an admin queue, say), the rest the second's (an I/O queue of the first's controller), the first
// held open until the second has closed. Every run must end with its connections closed and freed;
// one that does not within the bound is a stall, reported as a broken assertion.
import { heapAllocZeroed, heapFree, ECANCELED } from "../runtime";
import { sendMsg } from "../thread";
import { NvmfTransportLimits, TRTYPE_TCP, ADRFAM_IPV4 } from "../nvme/transport";
import { nvmfListenerAdd, listenerById } from "../nvme/registry";
import { subsystemCreate, subsystemListener, discoverySubsystem, subsystemNs } from "../nvme/subsystem";
import { NvmfNs } from "../nvme/ns";
import { NsChannel, nsChannelGet } from "../nvme/ns-channels";
import { subsystemNsAdd } from "../nvme/subsystem-ns";
import { TcpWire, TcpGroup, TcpConn } from "../nvme/tcp/types";
import { TcpOptions, tcpTransportNew, tcpGroupNew, tcpGroupStart } from "../nvme/tcp/group";
import { connCreate, connRecvDone, connWireQuiet, connWireClosed } from "../nvme/tcp/conn";
import { connSendDone } from "../nvme/tcp/conn-send";
import { mallocBdevCreate } from "../bdev/malloc";
import { Bdev } from "../bdev";
import { fuzzThreadNew, fuzzPollUntil, fuzzSettle, fuzzCString } from "./harness";

/** The subsystem the seeds connect to (host/fuzz/targets/nvmf-tcp.ts uses the same NQN). */
const NQN = "nqn.2016-06.io.wstor:fuzz";
/** Rounds one input may take, its TermReq linger and the controller's timers included. */
const ROUNDS_MAX: u32 = 200_000;
/** Rounds the first connection gets to take its bytes before the second starts anyway. */
const FIRST_ROUNDS_MAX: u32 = 20_000;
const TWO_CONNECTIONS: u32 = 0x80;
/** Idle rounds (10 ms of clock each) that end a run: a controller's teardown after its last queue has that long. */
const SETTLE_IDLE_ROUNDS: u32 = 100;

/** One connection's socket, as the target plays it. Messages carry the wire, never the connection (freed at close). */
@unmanaged class FuzzWire {
  conn: usize;
  input: usize;       // bytes not yet received
  left: u32;
  chunk: u32;         // bytes per receive (0: all that fit)
  hold: u32;          // 1: once the input is taken, keep the recv waiting instead of closing
  recvBuf: usize;
  recvCap: u32;
  recvPosted: u32;
  sendResult: i32;
  sendPosted: u32;
  closed: u32;
}

let thread: usize = 0;
let group: usize = 0;
let listener: u32 = 0;
let first: FuzzWire = changetype<FuzzWire>(0);
let second: FuzzWire = changetype<FuzzWire>(0);

function wireOf(conn: usize): FuzzWire { return changetype<FuzzWire>(changetype<TcpConn>(conn).wireCtx); }

function wireRecv(conn: usize, buf: usize, len: u32): void {
  const w = wireOf(conn);
  assert(w.recvPosted == 0, "nvmf-tcp fuzz: the connection posted a second recv");
  w.recvBuf = buf;
  w.recvCap = len;
  w.recvPosted = 1;
  sendMsg(thread, deliverMsg, changetype<usize>(w));
}

/** The next piece of the input, or the peer's close once it is all taken (unless held). */
function deliverMsg(wp: usize): void {
  const w = changetype<FuzzWire>(wp);
  if (w.recvPosted == 0 || w.closed != 0 || (w.left == 0 && w.hold != 0)) return;
  w.recvPosted = 0;
  let n = min(w.left, w.recvCap);
  if (w.chunk != 0) n = min(n, w.chunk);
  memory.copy(w.recvBuf, w.input, n);
  w.input += n;
  w.left -= n;
  connRecvDone(w.conn, <i32>n);
}

function wireSendv(conn: usize, iovs: usize, iovcnt: u32): void {
  const w = wireOf(conn);
  assert(w.sendPosted == 0, "nvmf-tcp fuzz: the connection posted a second sendv");
  let n: u32 = 0;
  for (let i: u32 = 0; i < iovcnt; i++) n += load<u32>(iovs + (<usize>i << 3), 4);
  w.sendPosted = 1;
  w.sendResult = <i32>n;
  sendMsg(thread, sentMsg, changetype<usize>(w));
}
function sentMsg(wp: usize): void {
  const w = changetype<FuzzWire>(wp);
  if (w.sendPosted == 0 || w.closed != 0) return;
  w.sendPosted = 0;
  connSendDone(w.conn, w.sendResult);
}

function wireShutdown(conn: usize): void { sendMsg(thread, shutdownMsg, changetype<usize>(wireOf(conn))); }
function shutdownMsg(wp: usize): void {
  const w = changetype<FuzzWire>(wp);
  if (w.recvPosted != 0) { w.recvPosted = 0; connRecvDone(w.conn, -ECANCELED); }
  if (w.sendPosted != 0) { w.sendPosted = 0; connSendDone(w.conn, -ECANCELED); }
  connWireQuiet(w.conn);
}
function wireClose(conn: usize): void { sendMsg(thread, closeMsg, changetype<usize>(wireOf(conn))); }
function closeMsg(wp: usize): void {
  const w = changetype<FuzzWire>(wp);
  w.closed = 1;
  connWireClosed(w.conn);
}
function wireGroupStart(group: usize): i32 { return 0; }
function wireGroupStop(group: usize): void {}

function groupStarted(g: usize): bool { return changetype<TcpGroup>(g).pool != 0; }
function setUp(unused: usize): bool { return listener != 0; }

function connectMsg(wp: usize): void {
  const w = changetype<FuzzWire>(wp);
  w.conn = connCreate(group, wp, listener);
  assert(w.conn != 0, "nvmf-tcp fuzz: no memory for a connection");
}
function closed(wp: usize): bool { return changetype<FuzzWire>(wp).closed != 0; }
/** It took all its bytes and waits for more (held), or it is gone. */
function drained(wp: usize): bool {
  const w = changetype<FuzzWire>(wp);
  return w.closed != 0 || (w.left == 0 && w.recvPosted != 0);
}

function exists(id: u32): bool { return listenerById(id) != 0; }

/** Set-up, once before the snapshot: the transport, the subsystems and the namespace. */
export function fuzz_nvmf_tcp_setup(): i32 {
  thread = fuzzThreadNew("fuzz_nvmf_tcp");
  first = changetype<FuzzWire>(heapAllocZeroed(offsetof<FuzzWire>()));
  second = changetype<FuzzWire>(heapAllocZeroed(offsetof<FuzzWire>()));
  sendMsg(thread, setupMsg, 0);
  assert(fuzzPollUntil(thread, setUp, 0, 1000), "nvmf-tcp fuzz: set-up did not finish");
  return 0;
}

/** On the target's thread, as the app thread would: the transport's group, listener, subsystems, namespace. */
function setupMsg(unused: usize): void {
  const table = changetype<TcpWire>(heapAllocZeroed(offsetof<TcpWire>()));
  table.recv = changetype<usize>(wireRecv);
  table.sendv = changetype<usize>(wireSendv);
  table.shutdown = changetype<usize>(wireShutdown);
  table.close = changetype<usize>(wireClose);
  table.groupStart = changetype<usize>(wireGroupStart);
  table.groupStop = changetype<usize>(wireGroupStop);
  const lp = heapAllocZeroed(offsetof<NvmfTransportLimits>() + offsetof<TcpOptions>());
  const l = changetype<NvmfTransportLimits>(lp);
  l.trtype = TRTYPE_TCP;
  l.maxQueueDepth = 32;
  l.maxIoQpairsPerCtrlr = 2;
  l.inCapsuleDataSize = 4096;
  l.maxIoSize = 65536;
  l.ioUnitSize = 8192;
  l.maxAqDepth = 32;
  changetype<TcpOptions>(lp + offsetof<NvmfTransportLimits>()).numSharedBuffers = 32;
  const t = tcpTransportNew(lp, 1, changetype<usize>(table));
  heapFree(lp);
  assert(t != 0, "nvmf-tcp fuzz: no memory for the transport");
  const g = tcpGroupNew(t, 0, thread, -1);
  assert(tcpGroupStart(g) == 0 && groupStarted(g), "nvmf-tcp fuzz: the poll group did not start");

  const id = nvmfListenerAdd(TRTYPE_TCP, ADRFAM_IPV4, fuzzCString("127.0.0.1"), fuzzCString("4420"));
  assert(id > 0, "nvmf-tcp fuzz: the listener was refused");
  assert(subsystemListener(discoverySubsystem(), <u32>id, true, exists) == 0, "nvmf-tcp fuzz: discovery listener");
  const sub = subsystemCreate(fuzzCString(NQN), fuzzCString("WSTORFUZZ0001"), fuzzCString("wstor fuzz"), 4, true, 1, 0xffef);
  assert(sub > 0, "nvmf-tcp fuzz: the subsystem was refused");
  assert(subsystemListener(<usize>sub, <u32>id, true, exists) == 0, "nvmf-tcp fuzz: subsystem listener");
  const bdev = mallocBdevCreate(changetype<usize>("fuzz0"), 512, 2048);
  assert(bdev != 0, "nvmf-tcp fuzz: no memory for the namespace's bdev");
  assert(subsystemNsAdd(<usize>sub, changetype<Bdev>(bdev).id, 1, 0, 0, 0) == 1, "nvmf-tcp fuzz: the namespace was refused");
  // A thread that ran a namespace's I/O keeps its channel (and the bdev's) until the namespace closes,
  // as SPDK's io_channels do: made here, it is part of the baseline, so an input whose I/O reaches the
  // namespace is not a leak for holding it (tests/fuzz-regressions/nvmf-tcp/
  // io-reaches-namespace-channel-kept was reported as one).
  assert(nsChannelGet(changetype<NvmfNs>(subsystemNs(<usize>sub, 1))) != changetype<NsChannel>(0), "nvmf-tcp fuzz: no channel for the namespace");
  group = g;
  listener = <u32>id;
}

/** Start a connection over `w` fed [input, input + bytes). */
function start(w: FuzzWire, input: usize, bytes: u32, chunk: u32, hold: u32): void {
  memory.fill(changetype<usize>(w), 0, offsetof<FuzzWire>());
  w.input = input;
  w.left = bytes;
  w.chunk = chunk;
  w.hold = hold;
  sendMsg(thread, connectMsg, changetype<usize>(w));
}

/** One input: one connection, or two (the first held open while the second runs); returns the bytes taken. */
export function fuzz_nvmf_tcp_run(ptr: usize, len: u32): i32 {
  assert(thread != 0, "nvmf-tcp fuzz: run before set-up");
  const head = len > 0 ? <u32>load<u8>(ptr) : 0;
  const two = (head & TWO_CONNECTIONS) != 0 && len >= 3;
  const firstBytes = two ? min(<u32>load<u16>(ptr + 1), len - 3) : (len > 0 ? len - 1 : 0);
  const firstAt = ptr + (two ? 3 : 1);
  start(first, firstAt, firstBytes, head & 0x7f, two ? 1 : 0);
  let total = firstBytes;
  if (two) {
    fuzzPollUntil(thread, drained, changetype<usize>(first), FIRST_ROUNDS_MAX);
    const secondBytes = len - 3 - firstBytes;
    total += secondBytes;
    start(second, firstAt + firstBytes, secondBytes, head & 0x7f, 0);
    assert(fuzzPollUntil(thread, closed, changetype<usize>(second), ROUNDS_MAX), "nvmf-tcp fuzz: the second connection never closed after the peer did (a stall)");
    first.hold = 0;
    sendMsg(thread, deliverMsg, changetype<usize>(first));
  }
  assert(fuzzPollUntil(thread, closed, changetype<usize>(first), ROUNDS_MAX), "nvmf-tcp fuzz: the connection never closed after the peer did (a stall)");
  assert(fuzzSettle(thread, SETTLE_IDLE_ROUNDS, ROUNDS_MAX), "nvmf-tcp fuzz: the target never went quiet after its connections closed");
  return <i32>(total - first.left - (two ? second.left : 0));
}
