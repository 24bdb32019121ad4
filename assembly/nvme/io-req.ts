// What the I/O path keeps in an NvmfReq between exec and complete (the transport's struct, whose
// coreState/coreAux words are the core's): the namespace channel it runs on, and packed in coreAux,
// the link of the channel's line of requests waiting for a bdev_io, a Dataset Management request's
// progress, whether a FUA write's flush is next, and the first failure's status.

import { NvmfReq } from "./transport";
import { NsChannel } from "./ns-channels";

// coreAux, bits: 0-31 wait link (a usize), 32-40 next DSM range (0..256), 41-44 DSM unmaps in flight,
// 45 FUA flush phase, 48-63 the first failure's STATUS_* (0: none).
const NEXT_SHIFT: u64 = 32;
const NEXT_MASK: u64 = 0x1ff;
const INFLIGHT_SHIFT: u64 = 41;
const INFLIGHT_MASK: u64 = 0xf;
const FLUSH_PHASE_BIT: u64 = 1 << 45;
const STATUS_SHIFT: u64 = 48;
const STATUS_MASK: u64 = 0xffff;

/** Unmaps of one Dataset Management request in flight at once (its 256 ranges go out this many at a time). */
export const DSM_INFLIGHT_MAX: u32 = 8;

function setBits(r: NvmfReq, shift: u64, mask: u64, v: u64): void {
  assert(v <= mask, "io-req: a field's value does not fit its bits");
  r.coreAux = (r.coreAux & ~(mask << shift)) | (v << shift);
}
function bits(r: NvmfReq, shift: u64, mask: u64): u32 { return <u32>((r.coreAux >> shift) & mask); }

/** Begin a request's I/O state on channel `ch`. */
export function reqIoStart(r: NvmfReq, ch: NsChannel): void { r.coreState = changetype<usize>(ch); r.coreAux = 0; }
export function reqChannel(r: NvmfReq): NsChannel { return changetype<NsChannel>(r.coreState); }

export function reqWaitNext(r: NvmfReq): usize { return <usize>(r.coreAux & 0xffffffff); }
export function reqSetWaitNext(r: NvmfReq, next: usize): void { r.coreAux = (r.coreAux & ~(<u64>0xffffffff)) | <u64>next; }

export function reqDsmNext(r: NvmfReq): u32 { return bits(r, NEXT_SHIFT, NEXT_MASK); }
export function reqSetDsmNext(r: NvmfReq, v: u32): void { setBits(r, NEXT_SHIFT, NEXT_MASK, v); }
export function reqDsmInflight(r: NvmfReq): u32 { return bits(r, INFLIGHT_SHIFT, INFLIGHT_MASK); }
export function reqSetDsmInflight(r: NvmfReq, v: u32): void { setBits(r, INFLIGHT_SHIFT, INFLIGHT_MASK, v); }

export function reqFlushPhase(r: NvmfReq): bool { return (r.coreAux & FLUSH_PHASE_BIT) != 0; }
export function reqSetFlushPhase(r: NvmfReq): void { r.coreAux |= FLUSH_PHASE_BIT; }

/** The first failure wins: later ones of the same request do not overwrite it. */
export function reqFail(r: NvmfReq, status: u32): void { if (reqFailed(r) == 0) setBits(r, STATUS_SHIFT, STATUS_MASK, status); }
export function reqFailed(r: NvmfReq): u32 { return bits(r, STATUS_SHIFT, STATUS_MASK); }
