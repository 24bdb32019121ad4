// The NVMe-oF target's registry root and its listener table (the addresses the discovery log lists;
// qpairs carry an id of it in NvmfQpair.listener). Owner: the app thread makes every change to the
// registry (listeners, subsystems, hosts, referrals; the control exports post there); controllers are
// linked into their subsystem from the threads of their qpairs. One raw lock (registryLock) guards all
// of it, held for a copy or a scan, never across I/O or messages, so reactors read it at Connect and for
// the discovery log. No message is sent under it: what a locked scan finds to message is held and
// chained there (ctrlrsHoldLocked) and sent once it is released (send.ts asserts that no lock is held).
import { rawLock, rawUnlock, heapAllocZeroed, NVMF_ROOT, ENOMEM, EINVAL, EEXIST, ENOSPC, ENOENT } from "../runtime";

const ROOT_SLOT: usize = NVMF_ROOT;   // zero-filled memory is an empty registry (64 bytes, runtime/layout.ts)

@unmanaged export class NvmfRoot {
  lock: i32;
  genctr: u32;          // bumped on every change the discovery log shows
  listeners: usize;     // MAX_LISTENERS Listener slots, allocated at the first add
  subsystems: usize;    // subsystem.ts: the list of NVM subsystems (not the discovery one)
  subsystemCount: u32;
  discovery: usize;     // subsystem.ts: the discovery subsystem, made at the first look
  referrals: usize;     // referral.ts: MAX_REFERRALS slots, allocated at the first add
}

/** The registry's root. Fields are read and written under registryLock only. */
export function registryRoot(): NvmfRoot { return changetype<NvmfRoot>(ROOT_SLOT); }
export function registryLock(): void { rawLock(ROOT_SLOT); }
export function registryUnlock(): void { rawUnlock(ROOT_SLOT); }
/** A change the discovery log shows (under registryLock). */
export function registryChanged(): void { root().genctr++; }

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
export const LISTENER_BYTES: usize = LISTENER_TRSVCID + <usize>TRSVCID_BYTES;

function root(): NvmfRoot { return changetype<NvmfRoot>(ROOT_SLOT); }
function slot(r: NvmfRoot, i: u32): usize { return r.listeners + <usize>i * LISTENER_BYTES; }
export function listenerTraddr(l: usize): usize { return l + LISTENER_TRADDR; }
export function listenerTrsvcid(l: usize): usize { return l + LISTENER_TRSVCID; }

/** Bytes of the NUL-terminated string at `s` before its NUL, or -1 if there is none within `cap`. */
export function cStringBytes(s: usize, cap: u32): i32 {
  for (let i: u32 = 0; i < cap; i++) if (load<u8>(s + i) == 0) return <i32>i;
  return -1;
}

/** Whether the NUL-terminated strings at `a` and `b` are equal within `cap` bytes. */
export function sameString(a: usize, b: usize, cap: u32): bool {
  for (let i: u32 = 0; i < cap; i++) {
    const c = load<u8>(a + i);
    if (c != load<u8>(b + i)) return false;
    if (c == 0) return true;
  }
  return true;
}

export function validTrtype(t: u32): bool { return (t >= 1 && t <= 3) || t == <u32>TRTYPE_INTRA_HOST; }
export function validAdrfam(a: u32): bool { return (a >= 1 && a <= 4) || a == <u32>ADRFAM_INTRA_HOST; }

/** Whether a transport address (a listener's, a referral's) is well formed: known TRTYPE/ADRFAM, non-empty strings that fit. */
export function addressValid(trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): bool {
  if (!validTrtype(trtype) || !validAdrfam(adrfam)) return false;
  return cStringBytes(traddr, TRADDR_BYTES) > 0 && cStringBytes(trsvcid, TRSVCID_BYTES) > 0;
}

/** Whether the address slot at `at` (Listener layout) holds this address. */
export function addressSame(at: usize, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): bool {
  const l = changetype<Listener>(at);
  return <u32>l.trtype == trtype && <u32>l.adrfam == adrfam && sameString(listenerTraddr(at), traddr, TRADDR_BYTES)
    && sameString(listenerTrsvcid(at), trsvcid, TRSVCID_BYTES);
}

/** Fill the address slot at `at` (checked by addressValid) and give it `id`. */
export function addressStore(at: usize, id: u32, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): void {
  const l = changetype<Listener>(at);
  l.trtype = <u8>trtype; l.adrfam = <u8>adrfam;
  memory.copy(listenerTraddr(at), traddr, <usize>cStringBytes(traddr, TRADDR_BYTES) + 1);
  memory.copy(listenerTrsvcid(at), trsvcid, <usize>cStringBytes(trsvcid, TRSVCID_BYTES) + 1);
  l.id = id;
}

/**
 * Under registryLock: a free slot of a table of `count` slots of `slotBytes` (Listener layout first),
 * its index; -EEXIST when the address is there already, -ENOSPC when the table is full.
 */
export function addressTableFind(table: usize, count: u32, slotBytes: usize, trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  let free: i32 = -ENOSPC;
  for (let i: u32 = 0; i < count; i++) {
    const at = table + <usize>i * slotBytes;
    if (changetype<Listener>(at).id == 0) { if (free < 0) free = <i32>i; continue; }
    if (addressSame(at, trtype, adrfam, traddr, trsvcid)) return -EEXIST;
  }
  return free;
}

/** Add a listener; its id (> 0), or -EINVAL (bad field), -EEXIST (the same address), -ENOSPC (table full), -ENOMEM. App thread. */
export function nvmfListenerAdd(trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  if (!addressValid(trtype, adrfam, traddr, trsvcid)) return -EINVAL;
  const r = root();
  rawLock(ROOT_SLOT);
  if (r.listeners == 0) r.listeners = heapAllocZeroed(<usize>MAX_LISTENERS * LISTENER_BYTES);
  let rc: i32 = r.listeners == 0 ? -ENOMEM : addressTableFind(r.listeners, MAX_LISTENERS, LISTENER_BYTES, trtype, adrfam, traddr, trsvcid);
  if (rc >= 0) {
    addressStore(slot(r, <u32>rc), <u32>rc + 1, trtype, adrfam, traddr, trsvcid);
    r.genctr++;
    rc++;
  }
  rawUnlock(ROOT_SLOT);
  return rc;
}

/**
 * Remove listener `id`: 0, or -ENOENT. App thread. `forget(id)` runs under the lock first, so every
 * subsystem drops it from its allowed set and a later listener in the same slot inherits nothing.
 */
export function nvmfListenerRemove(id: u32, forget: (id: u32) => void): i32 {
  const r = root();
  rawLock(ROOT_SLOT);
  let rc = -ENOENT;
  if (r.listeners != 0 && id >= 1 && id <= MAX_LISTENERS) {
    const at = slot(r, id - 1);
    if (changetype<Listener>(at).id == id) {
      forget(id);
      memory.fill(at, 0, LISTENER_BYTES);
      r.genctr++;
      rc = 0;
    }
  }
  rawUnlock(ROOT_SLOT);
  return rc;
}

/** Listener `id` (its slot), or 0 when there is none. Under registryLock. */
export function listenerById(id: u32): usize {
  const r = root();
  if (r.listeners == 0 || id < 1 || id > MAX_LISTENERS) return 0;
  const at = slot(r, id - 1);
  return changetype<Listener>(at).id == id ? at : 0;
}

/** The discovery generation counter (changes whenever the log would). */
export function nvmfGenctr(): u32 { return atomic.load<u32>(ROOT_SLOT + offsetof<NvmfRoot>("genctr")); }
