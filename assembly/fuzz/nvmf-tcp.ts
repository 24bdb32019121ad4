// Fuzz target "nvmf-tcp": an NVMe/TCP host's byte stream into the real transport and controller. The
// seam is the transport's wire (TcpWire, tcp/types.ts): this one hands the connection the input as
// if a socket had received it, takes whatever it sends at once, and ends with the peer closing. Set
// up once: a TCP transport with one poll group, a listener, the discovery subsystem and an NVM
// subsystem (any host) with a 1 MiB malloc namespace. Input: byte 0 is how many bytes each receive
// gets (0: as many as fit), the rest is the stream. Every run must end with the connection closed
// and freed; one that does not within the bound is a stall, reported as a broken assertion.
import { heapAllocZeroed, heapFree, ECANCELED } from "../runtime";
import { sendMsg } from "../thread";
import { NvmfTransportLimits, TRTYPE_TCP, ADRFAM_IPV4 } from "../nvme/transport";
import { nvmfListenerAdd, listenerById } from "../nvme/registry";
import { subsystemCreate, subsystemListener, discoverySubsystem } from "../nvme/subsystem";
import { subsystemNsAdd } from "../nvme/subsystem-ns";
import { TcpWire, TcpGroup } from "../nvme/tcp/types";
import { TcpOptions, tcpTransportNew, tcpGroupNew, tcpGroupStart } from "../nvme/tcp/group";
import { connCreate, connRecvDone, connWireQuiet, connWireClosed } from "../nvme/tcp/conn";
import { connSendDone } from "../nvme/tcp/conn-send";
import { mallocBdevCreate } from "../bdev/malloc";
import { Bdev } from "../bdev";
import { fuzzThreadNew, fuzzPollUntil, fuzzCString } from "./harness";

/** The subsystem the seeds connect to (host/fuzz/targets/nvmf-tcp.ts uses the same NQN). */
const NQN = "nqn.2016-06.io.wstor:fuzz";
/** Rounds one input may take, its TermReq linger and the controller's timers included. */
const ROUNDS_MAX: u32 = 200_000;

/** The one connection's socket, as the target plays it. */
@unmanaged class FuzzWire {
  thread: usize;
  group: usize;
  listener: u32;
  conn: usize;
  input: usize;       // bytes not yet received
  left: u32;
  chunk: u32;         // bytes per receive (0: all that fit)
  recvBuf: usize;
  recvCap: u32;
  recvPosted: u32;
  sendResult: i32;
  sendPosted: u32;
  closed: u32;
}

let wire: FuzzWire = changetype<FuzzWire>(0);

function wireRecv(conn: usize, buf: usize, len: u32): void {
  assert(wire.recvPosted == 0, "nvmf-tcp fuzz: the connection posted a second recv");
  wire.recvBuf = buf;
  wire.recvCap = len;
  wire.recvPosted = 1;
  sendMsg(wire.thread, deliverMsg, conn);
}

/** The next piece of the input, or the peer's close once it is all taken. */
function deliverMsg(conn: usize): void {
  if (wire.recvPosted == 0 || wire.conn != conn) return;
  wire.recvPosted = 0;
  let n = min(wire.left, wire.recvCap);
  if (wire.chunk != 0) n = min(n, wire.chunk);
  memory.copy(wire.recvBuf, wire.input, n);
  wire.input += n;
  wire.left -= n;
  connRecvDone(conn, <i32>n);
}

function wireSendv(conn: usize, iovs: usize, iovcnt: u32): void {
  assert(wire.sendPosted == 0, "nvmf-tcp fuzz: the connection posted a second sendv");
  let n: u32 = 0;
  for (let i: u32 = 0; i < iovcnt; i++) n += load<u32>(iovs + (<usize>i << 3), 4);
  wire.sendPosted = 1;
  wire.sendResult = <i32>n;
  sendMsg(wire.thread, sentMsg, conn);
}
function sentMsg(conn: usize): void {
  if (wire.sendPosted == 0 || wire.conn != conn) return;
  wire.sendPosted = 0;
  connSendDone(conn, wire.sendResult);
}

function wireShutdown(conn: usize): void { sendMsg(wire.thread, shutdownMsg, conn); }
function shutdownMsg(conn: usize): void {
  if (wire.recvPosted != 0) { wire.recvPosted = 0; connRecvDone(conn, -ECANCELED); }
  if (wire.sendPosted != 0) { wire.sendPosted = 0; connSendDone(conn, -ECANCELED); }
  connWireQuiet(conn);
}
function wireClose(conn: usize): void { sendMsg(wire.thread, closeMsg, conn); }
function closeMsg(conn: usize): void {
  wire.closed = 1;
  connWireClosed(conn);
}
function wireGroupStart(group: usize): i32 { return 0; }
function wireGroupStop(group: usize): void {}

function groupStarted(group: usize): bool { return changetype<TcpGroup>(group).pool != 0; }
function setUp(w: usize): bool { return wire.listener != 0; }

function connectMsg(w: usize): void {
  wire.conn = connCreate(wire.group, w, wire.listener);
  assert(wire.conn != 0, "nvmf-tcp fuzz: no memory for a connection");
}
function connClosed(w: usize): bool { return wire.closed != 0; }

function exists(id: u32): bool { return listenerById(id) != 0; }

/** Set-up, once before the snapshot: the transport, the subsystems and the namespace. */
export function fuzz_nvmf_tcp_setup(): i32 {
  const thread = fuzzThreadNew("fuzz_nvmf_tcp");
  wire = changetype<FuzzWire>(heapAllocZeroed(offsetof<FuzzWire>()));
  wire.thread = thread;
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
  const group = tcpGroupNew(t, 0, wire.thread, -1);
  assert(tcpGroupStart(group) == 0 && groupStarted(group), "nvmf-tcp fuzz: the poll group did not start");

  const listener = nvmfListenerAdd(TRTYPE_TCP, ADRFAM_IPV4, fuzzCString("127.0.0.1"), fuzzCString("4420"));
  assert(listener > 0, "nvmf-tcp fuzz: the listener was refused");
  assert(subsystemListener(discoverySubsystem(), <u32>listener, true, exists) == 0, "nvmf-tcp fuzz: discovery listener");
  const sub = subsystemCreate(fuzzCString(NQN), fuzzCString("WSTORFUZZ0001"), fuzzCString("wstor fuzz"), 4, true, 1, 0xffef);
  assert(sub > 0, "nvmf-tcp fuzz: the subsystem was refused");
  assert(subsystemListener(<usize>sub, <u32>listener, true, exists) == 0, "nvmf-tcp fuzz: subsystem listener");
  const bdev = mallocBdevCreate(changetype<usize>("fuzz0"), 512, 2048);
  assert(bdev != 0, "nvmf-tcp fuzz: no memory for the namespace's bdev");
  assert(subsystemNsAdd(<usize>sub, changetype<Bdev>(bdev).id, 1, 0, 0, 0) == 1, "nvmf-tcp fuzz: the namespace was refused");
  wire.group = group;
  wire.listener = <u32>listener;
}

/** One input: a connection fed `bytes`, then closed by the peer; returns the bytes it took. */
export function fuzz_nvmf_tcp_run(ptr: usize, len: u32): i32 {
  assert(changetype<usize>(wire) != 0, "nvmf-tcp fuzz: run before set-up");
  wire.chunk = len > 0 ? <u32>load<u8>(ptr) : 0;
  wire.input = ptr + 1;
  wire.left = len > 0 ? len - 1 : 0;
  wire.closed = 0;
  wire.conn = 0;
  const taken = wire.left;
  sendMsg(wire.thread, connectMsg, changetype<usize>(wire));
  assert(fuzzPollUntil(wire.thread, connClosed, 0, ROUNDS_MAX), "nvmf-tcp fuzz: the connection never closed after the peer did (a stall)");
  return <i32>(taken - wire.left);
}
