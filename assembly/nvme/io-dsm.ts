// Dataset Management's data: up to 256 ranges of 16 bytes {u32 context attributes, u32 blocks, u64
// starting LBA} (NVM Command Set 1.0, figure 39) in the request's buffers, read where they lie (a range
// may straddle two buffers) and checked, all of them, before the first unmap goes out.

import { NvmfReq } from "./transport";
import { sqeCdw, STATUS_SUCCESS, STATUS_LBA_OUT_OF_RANGE, STATUS_DATA_SGL_LENGTH_INVALID } from "./spec";
import { NvmfNs, nsLbaRangeOk } from "./ns";
import { planted, PLANT_DSM_RANGES } from "../runtime/planted";

/** CDW11 bit 2: deallocate the ranges. The other attributes are hints; without AD there is nothing to do. */
export const DSM_AD: u32 = 1 << 2;
export const DSM_RANGE_BYTES: u32 = 16;
const RANGE_NLB: u32 = 4;
const RANGE_SLBA: u32 = 8;

/** CDW10 bits 0-7, 0's based: 1 to 256 ranges. */
export function dsmRangeCount(r: NvmfReq): u32 { return (sqeCdw(r.sqe, 10) & 0xff) + 1; }

/** Byte `off` of the request's data, across its buffers (the caller checked the data holds it). */
function dataByte(r: NvmfReq, off: u32): u8 {
  let skip = off;
  for (let i: u32 = 0; i < r.iovcnt; i++) {
    const len = load<u32>(r.iovs + (<usize>i << 3), 4);
    if (skip < len) return load<u8>(<usize>load<u32>(r.iovs + (<usize>i << 3)) + skip);
    skip -= len;
  }
  assert(false, "dsm: a range read past the request's data");
  return 0;
}

function dataLe(r: NvmfReq, off: u32, bytes: u32): u64 {
  let v: u64 = 0;
  for (let i: u32 = 0; i < bytes; i++) v |= <u64>dataByte(r, off + i) << (<u64>i << 3);
  return v;
}

export function dsmRangeNlb(r: NvmfReq, i: u32): u32 { return <u32>dataLe(r, i * DSM_RANGE_BYTES + RANGE_NLB, 4); }
export function dsmRangeSlba(r: NvmfReq, i: u32): u64 { return dataLe(r, i * DSM_RANGE_BYTES + RANGE_SLBA, 8); }

function dataBytes(r: NvmfReq): u64 {
  let total: u64 = 0;
  for (let i: u32 = 0; i < r.iovcnt; i++) total += <u64>load<u32>(r.iovs + (<usize>i << 3), 4);
  return total;
}

/** The status of a deallocate before any unmap: every range inside the namespace, the data long enough. */
export function dsmCheck(r: NvmfReq, ns: NvmfNs): u32 {
  const count = dsmRangeCount(r);
  const need = <u64>(planted(PLANT_DSM_RANGES) ? count - 1 : count) * <u64>DSM_RANGE_BYTES;
  if (<u64>r.length < need || dataBytes(r) < need) return STATUS_DATA_SGL_LENGTH_INVALID;
  for (let i: u32 = 0; i < count; i++) {
    const nlb = dsmRangeNlb(r, i);
    if (nlb != 0 && !nsLbaRangeOk(ns, dsmRangeSlba(r, i), <u64>nlb)) return STATUS_LBA_OUT_OF_RANGE;
  }
  return STATUS_SUCCESS;
}
