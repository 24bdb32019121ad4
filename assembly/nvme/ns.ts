// An NVMe-oF namespace over a bdev (SPDK's spdk_nvmf_ns): the bdev opened for write with its hot-remove
// and resize events, the namespace's identifiers, what Identify Namespace and the ID descriptor list
// say about it, and its close, which waits for its I/O on every thread without blocking any of them.

import { heapAllocZeroed, heapFree, contextThread, rawLock, rawUnlock, report, LEVEL_ERROR, EINVAL, ENODEV, ENOMEM } from "../runtime";
import { MsgFn } from "../thread";
import { nvmfSend } from "./send";
import {
  Bdev, bdevById, bdevOpen, bdevClose, BDEV_EVENT_REMOVE, BDEV_EVENT_RESIZE, IO_UNMAP, IO_WRITE_ZEROES, IO_FLUSH,
} from "../bdev";
import { nsIdsDerive, NGUID_BYTES, EUI64_BYTES, UUID_BYTES } from "./ns-ids";
import {
  IDENTIFY_BYTES, IDN_NSZE, IDN_NCAP, IDN_NUSE, IDN_NSFEAT, IDN_NLBAF, IDN_FLBAS, IDN_NMIC, IDN_DLFEAT, IDN_NOIOB,
  IDN_NGUID, IDN_EUI64, IDN_LBAF0, NMIC_SHARED, DLFEAT_READS_ZEROES, NIDT_EUI64, NIDT_NGUID, NIDT_UUID, nidAppend,
} from "./identify";
import { nsChannelsRegister, nsChannelsDrain } from "./ns-channels";

/** nvmfNsOpen's onEvent kinds. */
export const NS_EVENT_RESIZED: u32 = 1;   // blockCount already holds the new size
export const NS_EVENT_REMOVED: u32 = 2;   // the bdev is going away: remove the namespace (it ends with nvmfNsClose)
/** (eventCtx, ns, kind) on the app thread. */
export type NsEventFn = (eventCtx: usize, ns: usize, kind: u32) => void;

/** The longest subsystem NQN read (NVMe-oF: 223 bytes and a NUL). */
const NQN_BYTES_MAX: u32 = 256;

@unmanaged export class NvmfNs {
  nsid: u32;
  blockSize: u32;
  blockCount: u64;        // atomic: what the host was told (changed on the app thread by a resize event)
  bdev: usize;            // Bdev
  desc: u32;              // its descriptor handle, open for write
  closing: u32;           // atomic: 1 from nvmfNsClose on; new I/O is refused
  thread: usize;          // the app thread it was opened on (events, close)
  onEvent: usize;         // NsEventFn
  eventCtx: usize;
  closeDone: usize;       // nvmfNsClose's MsgFn and its argument
  closeCtx: usize;
  lock: i32;              // raw lock over `channels` and `closing` changes (ns-channels.ts)
  channels: usize;        // NsChannel list (ns-channels.ts)
  drainPending: u32;      // atomic: channels still draining, +1 while the drain starts
  // identifiers, little-endian words of the bytes the host sees
  nguid0: u64; nguid1: u64;
  eui64: u64;
  uuid0: u64; uuid1: u64;
}

export function nvmfNsNguid(ns: usize): usize { return ns + offsetof<NvmfNs>("nguid0"); }
export function nvmfNsEui64(ns: usize): usize { return ns + offsetof<NvmfNs>("eui64"); }
export function nvmfNsUuid(ns: usize): usize { return ns + offsetof<NvmfNs>("uuid0"); }

function nqnBytes(nqn: usize): u32 {
  let n: u32 = 0;
  while (n < NQN_BYTES_MAX && load<u8>(nqn + n) != 0) n++;
  return n;
}

/** The given ids, and derived ones (ns-ids.ts) for each pointer that is 0. */
function setIds(ns: NvmfNs, subNqn: usize, uuid16: usize, nguid16: usize, eui64_8: usize): void {
  const p = changetype<usize>(ns);
  if (uuid16 == 0 || nguid16 == 0 || eui64_8 == 0) {
    const name = changetype<Bdev>(ns.bdev).name;
    nsIdsDerive(nvmfNsNguid(p), nvmfNsEui64(p), nvmfNsUuid(p), subNqn, nqnBytes(subNqn), name, <u32>changetype<string>(name).length << 1, ns.nsid);
  }
  if (nguid16 != 0) memory.copy(nvmfNsNguid(p), nguid16, NGUID_BYTES);
  if (eui64_8 != 0) memory.copy(nvmfNsEui64(p), eui64_8, EUI64_BYTES);
  if (uuid16 != 0) memory.copy(nvmfNsUuid(p), uuid16, UUID_BYTES);
}

/** The bdev's events, on the app thread (where the descriptor was opened). */
function bdevEvent(event: u32, bdev: usize, nsPtr: usize): void {
  const ns = changetype<NvmfNs>(nsPtr);
  // A closing namespace is being removed already: its owner no longer wants to hear of it.
  if (atomic.load<u32>(nsPtr + offsetof<NvmfNs>("closing")) != 0 || ns.onEvent == 0) return;
  if (event == BDEV_EVENT_RESIZE) {
    atomic.store<u64>(nsPtr + offsetof<NvmfNs>("blockCount"), atomic.load<u64>(bdev + offsetof<Bdev>("blockCount")));
    changetype<NsEventFn>(ns.onEvent)(ns.eventCtx, nsPtr, NS_EVENT_RESIZED);
  } else if (event == BDEV_EVENT_REMOVE) {
    changetype<NsEventFn>(ns.onEvent)(ns.eventCtx, nsPtr, NS_EVENT_REMOVED);
  }
}

/**
 * On the app thread: namespace `nsid` (not 0) over bdev `bdevId`, opened for write; its pointer at
 * `out`. Id pointers that are 0 are derived from the subsystem NQN (NUL-terminated ASCII), the bdev's
 * name and the nsid. 0, or -errno after a report naming what failed.
 */
export function nvmfNsOpen(out: usize, subNqn: usize, bdevId: u32, nsid: u32, uuid16: usize, nguid16: usize,
  eui64_8: usize, onEvent: usize, eventCtx: usize): i32 {
  if (nsid == 0 || nsid == 0xffffffff) {
    report(LEVEL_ERROR, -EINVAL, "nvmf namespace: nsid %d is not a namespace id (1 to 0xfffffffe)", 0, 0, <f64>nsid);
    return -EINVAL;
  }
  const bdev = bdevById(bdevId);
  if (bdev == 0) {
    report(LEVEL_ERROR, -ENODEV, "nvmf namespace %d: no bdev with id %d", 0, 0, <f64>nsid, <f64>bdevId);
    return -ENODEV;
  }
  const ns = changetype<NvmfNs>(heapAllocZeroed(offsetof<NvmfNs>()));
  if (changetype<usize>(ns) == 0) {
    report(LEVEL_ERROR, -ENOMEM, "nvmf namespace %d: no memory for it", 0, 0, <f64>nsid);
    return -ENOMEM;
  }
  const b = changetype<Bdev>(bdev);
  ns.nsid = nsid;
  ns.bdev = bdev;
  ns.blockSize = b.blockSize;
  ns.blockCount = atomic.load<u64>(bdev + offsetof<Bdev>("blockCount"));
  ns.thread = contextThread();
  ns.onEvent = onEvent;
  ns.eventCtx = eventCtx;
  const handle = bdevOpen(bdev, true, bdevEvent, changetype<usize>(ns));
  if (handle < 0) {
    report(LEVEL_ERROR, handle, "nvmf namespace %d: cannot open bdev %s for write", b.name, 0, <f64>nsid);
    heapFree(changetype<usize>(ns));
    return handle;
  }
  ns.desc = <u32>handle;
  const rc = nsChannelsRegister(ns);
  if (rc != 0) {
    report(LEVEL_ERROR, rc, "nvmf namespace %d over bdev %s: cannot register its channels", b.name, 0, <f64>nsid);
    bdevClose(ns.desc);
    heapFree(changetype<usize>(ns));
    return rc;
  }
  setIds(ns, subNqn, uuid16, nguid16, eui64_8);
  store<usize>(out, changetype<usize>(ns));
  return 0;
}

/**
 * On the app thread: refuse new I/O of `ns` (Invalid Namespace), wait until none is in flight on any
 * thread, release every thread's channel there, close the bdev, free the namespace, then done(ctx).
 */
export function nvmfNsClose(nsPtr: usize, done: MsgFn, ctx: usize): void {
  const ns = changetype<NvmfNs>(nsPtr);
  assert(ns.thread == contextThread(), "nvmfNsClose: not on the thread that opened the namespace");
  const lock = nsPtr + offsetof<NvmfNs>("lock");
  rawLock(lock);
  assert(ns.closing == 0, "nvmfNsClose: the namespace is closing already");
  atomic.store<u32>(nsPtr + offsetof<NvmfNs>("closing"), 1);
  ns.closeDone = changetype<usize>(done);
  ns.closeCtx = ctx;
  rawUnlock(lock);
  nsChannelsDrain(ns);
}

/** The last channel is gone (ns-channels.ts): close the descriptor, free the namespace, tell the owner. */
export function nsCloseFinish(nsPtr: usize): void {
  const ns = changetype<NvmfNs>(nsPtr);
  const done = ns.closeDone;
  const ctx = ns.closeCtx;
  const thread = ns.thread;
  const rc = bdevClose(ns.desc);
  assert(rc == 0, "nvmf ns: its bdev descriptor was not open at close");
  heapFree(nsPtr);
  nvmfSend(thread, changetype<MsgFn>(done), ctx);
}

/**
 * Whether blocks [slba, slba + nlb) lie inside the bdev as it is now: I/O sees a resize at once, the
 * host's Identify after the event (a shrink refuses what lies past the new end right away).
 */
export function nsLbaRangeOk(ns: NvmfNs, slba: u64, nlb: u64): bool {
  const blocks = atomic.load<u64>(ns.bdev + offsetof<Bdev>("blockCount"));
  return slba < blocks && nlb <= blocks - slba;
}

// ---- what the host is told ----

/**
 * Identify Namespace (CNS 0) into a zeroed 4096-byte buffer. NSFEAT bit 2 (DAE) stays 0: no bdev here
 * reports reads of deallocated blocks as errors. NMIC says "may be shared", as SPDK does. DLFEAT says
 * deallocated blocks read zeroes where the bdev says its unmap leaves zeroes (Bdev.unmapZeroes).
 */
export function nvmfNsIdentify(nsPtr: usize, buf: usize): void {
  const ns = changetype<NvmfNs>(nsPtr);
  const b = changetype<Bdev>(ns.bdev);
  const blocks = atomic.load<u64>(nsPtr + offsetof<NvmfNs>("blockCount"));
  store<u64>(buf + IDN_NSZE, blocks);
  store<u64>(buf + IDN_NCAP, blocks);
  store<u64>(buf + IDN_NUSE, blocks);
  store<u8>(buf + IDN_NSFEAT, 0);
  store<u8>(buf + IDN_NLBAF, 0);
  store<u8>(buf + IDN_FLBAS, 0);
  store<u8>(buf + IDN_NMIC, NMIC_SHARED);
  store<u8>(buf + IDN_DLFEAT, b.unmapZeroes != 0 ? DLFEAT_READS_ZEROES : 0);
  if (b.optimalIoBoundary != 0 && b.optimalIoBoundary <= 0xffff) store<u16>(buf + IDN_NOIOB, <u16>b.optimalIoBoundary);
  memory.copy(buf + IDN_NGUID, nvmfNsNguid(nsPtr), NGUID_BYTES);
  memory.copy(buf + IDN_EUI64, nvmfNsEui64(nsPtr), EUI64_BYTES);
  store<u32>(buf + IDN_LBAF0, (<u32>ctz(ns.blockSize)) << 16);
  assert(IDN_LBAF0 + 4 <= <usize>IDENTIFY_BYTES, "Identify Namespace fits its buffer");
}

/** The namespace identification descriptor list (CNS 3): EUI64, NGUID, UUID, into a zeroed 4096 B buffer. */
export function nvmfNsIdDescriptors(nsPtr: usize, buf: usize): void {
  let at = nidAppend(buf, 0, NIDT_EUI64, nvmfNsEui64(nsPtr));
  at = nidAppend(buf, at, NIDT_NGUID, nvmfNsNguid(nsPtr));
  nidAppend(buf, at, NIDT_UUID, nvmfNsUuid(nsPtr));
}

function supports(nsPtr: usize, type: u32): bool { return (changetype<Bdev>(changetype<NvmfNs>(nsPtr).bdev).ioTypes & (1 << type)) != 0; }
/** For Identify Controller's ONCS (DSM) and VWC: what the bdev can do. */
export function nvmfNsSupportsUnmap(ns: usize): bool { return supports(ns, IO_UNMAP); }
export function nvmfNsSupportsWriteZeroes(ns: usize): bool { return supports(ns, IO_WRITE_ZEROES); }
export function nvmfNsSupportsFlush(ns: usize): bool { return supports(ns, IO_FLUSH); }
