// The NVMe-oF target's listener table (the addresses the discovery log lists; qpairs carry an id of it
// in NvmfQpair.listener). Owner: the app thread makes every change (the control exports post there);
// a raw lock held for a copy or a scan, never across I/O or messages, lets reactors read it at Connect.
import { rawLock, rawUnlock, heapAllocZeroed, NVMF_ROOT, ENOMEM, EINVAL, EEXIST, ENOSPC, ENOENT } from "../runtime";

const ROOT_SLOT: usize = NVMF_ROOT;   // zero-filled memory is an empty registry

@unmanaged class NvmfRoot {
  lock: i32;
  genctr: u32;          // bumped on every change the discovery log shows
  listeners: usize;     // MAX_LISTENERS Listener slots, allocated at the first add
}

/** Listeners, target-wide (a bound: each subsystem keeps its allowed ones as a bitmap of slots). */
export const MAX_LISTENERS: u32 = 64;
/** Discovery log field sizes, each holding a NUL-terminated string here. */
export const TRADDR_BYTES: u32 = 256;
export const TRSVCID_BYTES: u32 = 32;
// NVMe-oF TRTYPE and ADRFAM values the discovery log carries.
const TRTYPE_INTRA_HOST: u8 = 254;
const ADRFAM_INTRA_HOST: u8 = 254;

@unmanaged export class Listener {
  id: u32;              // slot + 1; 0 = free slot
  trtype: u8;
  adrfam: u8;
}
const LISTENER_TRADDR: usize = 8;
const LISTENER_TRSVCID: usize = LISTENER_TRADDR + <usize>TRADDR_BYTES;
const LISTENER_BYTES: usize = LISTENER_TRSVCID + <usize>TRSVCID_BYTES;

function root(): NvmfRoot { return changetype<NvmfRoot>(ROOT_SLOT); }
function slot(r: NvmfRoot, i: u32): usize { return r.listeners + <usize>i * LISTENER_BYTES; }
export function listenerTraddr(l: usize): usize { return l + LISTENER_TRADDR; }
export function listenerTrsvcid(l: usize): usize { return l + LISTENER_TRSVCID; }

/** Bytes of the NUL-terminated string at `s` before its NUL, or -1 if there is none within `cap`. */
export function cStringBytes(s: usize, cap: u32): i32 {
  for (let i: u32 = 0; i < cap; i++) if (load<u8>(s + i) == 0) return <i32>i;
  return -1;
}

function sameString(a: usize, b: usize, cap: u32): bool {
  for (let i: u32 = 0; i < cap; i++) {
    const c = load<u8>(a + i);
    if (c != load<u8>(b + i)) return false;
    if (c == 0) return true;
  }
  return true;
}

function validTrtype(t: u32): bool { return (t >= 1 && t <= 3) || t == <u32>TRTYPE_INTRA_HOST; }
function validAdrfam(a: u32): bool { return (a >= 1 && a <= 4) || a == <u32>ADRFAM_INTRA_HOST; }

/** Add a listener; its id (> 0), or -EINVAL (bad field), -EEXIST (the same address), -ENOSPC (table full), -ENOMEM. App thread. */
export function nvmfListenerAdd(trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  if (!validTrtype(trtype) || !validAdrfam(adrfam)) return -EINVAL;
  const addrBytes = cStringBytes(traddr, TRADDR_BYTES);
  const svcBytes = cStringBytes(trsvcid, TRSVCID_BYTES);
  if (addrBytes <= 0 || svcBytes <= 0) return -EINVAL;
  const r = root();
  rawLock(ROOT_SLOT);
  if (r.listeners == 0) r.listeners = heapAllocZeroed(<usize>MAX_LISTENERS * LISTENER_BYTES);
  let rc: i32 = r.listeners == 0 ? -ENOMEM : -ENOSPC;
  let free: i32 = -1;
  for (let i: u32 = 0; r.listeners != 0 && i < MAX_LISTENERS; i++) {
    const l = changetype<Listener>(slot(r, i));
    if (l.id == 0) { if (free < 0) free = <i32>i; continue; }
    if (<u32>l.trtype == trtype && <u32>l.adrfam == adrfam && sameString(listenerTraddr(slot(r, i)), traddr, TRADDR_BYTES)
        && sameString(listenerTrsvcid(slot(r, i)), trsvcid, TRSVCID_BYTES)) { rc = -EEXIST; free = -1; break; }
  }
  if (free >= 0) {
    const at = slot(r, <u32>free);
    const l = changetype<Listener>(at);
    l.trtype = <u8>trtype; l.adrfam = <u8>adrfam;
    memory.copy(listenerTraddr(at), traddr, <usize>addrBytes + 1);
    memory.copy(listenerTrsvcid(at), trsvcid, <usize>svcBytes + 1);
    l.id = <u32>free + 1;
    r.genctr++;
    rc = <i32>l.id;
  }
  rawUnlock(ROOT_SLOT);
  return rc;
}

/** Remove listener `id`: 0, or -ENOENT. App thread. */
export function nvmfListenerRemove(id: u32): i32 {
  const r = root();
  rawLock(ROOT_SLOT);
  let rc = -ENOENT;
  if (r.listeners != 0 && id >= 1 && id <= MAX_LISTENERS) {
    const at = slot(r, id - 1);
    if (changetype<Listener>(at).id == id) {
      memory.fill(at, 0, LISTENER_BYTES);
      r.genctr++;
      rc = 0;
    }
  }
  rawUnlock(ROOT_SLOT);
  return rc;
}

/** The discovery generation counter (changes whenever the log would). */
export function nvmfGenctr(): u32 { return atomic.load<u32>(ROOT_SLOT + offsetof<NvmfRoot>("genctr")); }
