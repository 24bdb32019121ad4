// The discovery log page (LID 0x70) a discovery controller returns: for the asking host, an entry per
// listener of every subsystem it may connect to, then the discovery subsystem's own listeners, then
// the referrals; GENCTR changes whenever any of it does. Built under registryLock for the window of
// the log the host asked for (offset, length), one 1024-byte entry at a time.
import { NvmfReq } from "./transport";
import {
  DISCOVERY_HEADER_BYTES, DISCOVERY_ENTRY_BYTES, DLH_GENCTR, DLH_NUMREC, DLH_RECFMT, DLE_TRTYPE, DLE_ADRFAM, DLE_SUBTYPE,
  DLE_TREQ, DLE_PORTID, DLE_CNTLID, DLE_ASQSZ, DLE_TRSVCID, DLE_TRADDR, DLE_SUBNQN, DLE_TRSVCID_BYTES, DLE_TRADDR_BYTES,
  SUBTYPE_DISCOVERY, SUBTYPE_NVME, TREQ_NOT_REQUIRED, putSpacePadded,
} from "./identify";
import { NQN_FIELD_BYTES, CNTLID_DYNAMIC } from "./fabrics";
import {
  registryRoot, registryLock, registryUnlock, listenerById, listenerTraddr, listenerTrsvcid, cStringBytes, Listener,
  MAX_LISTENERS, TRADDR_BYTES, TRSVCID_BYTES,
} from "./registry";
import { NvmfSubsystem, subsystemNqn, hostAllowed } from "./subsystem";
import { MAX_REFERRALS, referralAt, referralSubnqn } from "./referral";
import { reqWriteAt, reqZeroFrom } from "./req-data";

/** Entry subtype 3: the discovery subsystem the host is talking to (NVMe-oF 1.1a "current discovery subsystem"). */
const SUBTYPE_CURRENT_DISCOVERY: u8 = 3;

/** What one pass over the log writes: the window [start, start + bytes) of the log into the request. */
@unmanaged class Window { req: usize; start: u64; bytes: u64; entry: usize; index: u32; asqsz: u32; }

function emit(w: Window, at: u64, src: usize, n: u32): void {
  const from = max<u64>(at, w.start), to = min<u64>(at + <u64>n, w.start + w.bytes);
  if (from >= to) return;
  reqWriteAt(w.req, <u32>(from - w.start), src + <usize>(from - at), <u32>(to - from));
}

/** Whether entry `w.index` overlaps the window (then the caller builds it); the index moves on either way. */
function wanted(w: Window): bool {
  const at = <u64>DISCOVERY_HEADER_BYTES + <u64>w.index * <u64>DISCOVERY_ENTRY_BYTES;
  return at < w.start + w.bytes && at + <u64>DISCOVERY_ENTRY_BYTES > w.start;
}

function put(w: Window, address: usize, subtype: u8, portid: u32, nqn: usize): void {
  if (w.entry != 0 && wanted(w)) {
    const e = w.entry;
    memory.fill(e, 0, DISCOVERY_ENTRY_BYTES);
    const l = changetype<Listener>(address);
    store<u8>(e + DLE_TRTYPE, l.trtype);
    store<u8>(e + DLE_ADRFAM, l.adrfam);
    store<u8>(e + DLE_SUBTYPE, subtype);
    store<u8>(e + DLE_TREQ, TREQ_NOT_REQUIRED);
    store<u16>(e + DLE_PORTID, <u16>portid);
    store<u16>(e + DLE_CNTLID, CNTLID_DYNAMIC);
    store<u16>(e + DLE_ASQSZ, <u16>w.asqsz);
    putSpacePadded(e + DLE_TRSVCID, DLE_TRSVCID_BYTES, listenerTrsvcid(address), <u32>cStringBytes(listenerTrsvcid(address), TRSVCID_BYTES));
    putSpacePadded(e + DLE_TRADDR, DLE_TRADDR_BYTES, listenerTraddr(address), <u32>cStringBytes(listenerTraddr(address), TRADDR_BYTES));
    memory.copy(e + DLE_SUBNQN, nqn, <usize>cStringBytes(nqn, NQN_FIELD_BYTES));
    emit(w, <u64>DISCOVERY_HEADER_BYTES + <u64>w.index * <u64>DISCOVERY_ENTRY_BYTES, e, DISCOVERY_ENTRY_BYTES);
  }
  w.index++;
}

function putListeners(w: Window, sub: usize, subtype: u8): void {
  const bits = changetype<NvmfSubsystem>(sub).listeners;
  for (let id: u32 = 1; id <= MAX_LISTENERS; id++) {
    if ((bits & (<u64>1 << <u64>(id - 1))) == 0) continue;
    const l = listenerById(id);
    if (l != 0) put(w, l, subtype, id, subsystemNqn(sub));
  }
}

/** Under registryLock: every entry for `hostnqn`, in order (w.entry 0: count only). */
function walk(w: Window, hostnqn: usize): void {
  const r = registryRoot();
  let s = r.subsystems;
  for (let i: u32 = 0; s != 0 && i < r.subsystemCount; i++) {
    if (hostAllowed(s, hostnqn)) putListeners(w, s, SUBTYPE_NVME);
    s = changetype<NvmfSubsystem>(s).next;
  }
  if (r.discovery != 0) putListeners(w, r.discovery, SUBTYPE_CURRENT_DISCOVERY);
  for (let i: u32 = 0; i < MAX_REFERRALS; i++) {
    const at = referralAt(i);
    if (at != 0) put(w, at, SUBTYPE_DISCOVERY, 0, referralSubnqn(at));
  }
}

/**
 * Write bytes [offset, offset + bytes) of the log for `hostnqn` into `req` (bytes <= req.length), using
 * `scratch` (DISCOVERY_ENTRY_BYTES at least). false when the offset is past the log's end.
 */
export function discoveryLog(req: usize, offset: u64, bytes: u32, hostnqn: usize, asqsz: u32, scratch: usize): bool {
  const w = changetype<Window>(scratch);
  w.req = req; w.start = offset; w.bytes = <u64>bytes; w.index = 0; w.asqsz = asqsz;
  w.entry = 0;
  const entry = scratch + offsetof<Window>();
  registryLock();
  walk(w, hostnqn);
  const count = w.index;
  const total = <u64>DISCOVERY_HEADER_BYTES + <u64>count * <u64>DISCOVERY_ENTRY_BYTES;
  if (offset >= total) { registryUnlock(); return false; }
  reqZeroFrom(req, 0);
  memory.fill(entry, 0, DISCOVERY_HEADER_BYTES);
  store<u64>(entry + DLH_GENCTR, <u64>registryRoot().genctr);
  store<u64>(entry + DLH_NUMREC, <u64>count);
  store<u16>(entry + DLH_RECFMT, 0);
  emit(w, 0, entry, DISCOVERY_HEADER_BYTES);
  w.index = 0;
  w.entry = entry;
  walk(w, hostnqn);
  registryUnlock();
  return true;
}
