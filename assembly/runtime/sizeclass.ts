// Size classes of the small-object heap: pure arithmetic, no state (unit-tested with as-pect).
// Payloads up to 128 bytes go in 16-byte steps; above that, four classes per doubling up to 8 KiB.
// Worst-case internal waste is therefore 15 bytes below 128 and under 25% above.

export const SMALL_MAX_BYTES: usize = 8192;
export const CLASS_COUNT: u32 = 32;
const LINEAR_CLASSES: u32 = 8;      // 16, 32, ..., 128
const LINEAR_MAX: usize = 128;

/** The class whose payload is the smallest one >= size. size must be <= SMALL_MAX_BYTES. */
export function sizeClassOf(size: usize): u32 {
  if (size <= LINEAR_MAX) {
    return size == 0 ? 0 : <u32>((size + 15) >> 4) - 1;
  }
  const log = <u32>(31 - clz<u32>(<u32>(size - 1)));        // 2^log < size <= 2^(log+1)
  const step = <usize>1 << (log - 2);
  const sub = <u32>((size - (<usize>1 << log) + step - 1) >> (log - 2)) - 1;
  return LINEAR_CLASSES + ((log - 7) << 2) + sub;
}

/** Payload bytes of a class (a multiple of 16). */
export function classPayloadBytes(sizeClass: u32): usize {
  if (sizeClass < LINEAR_CLASSES) return (<usize>sizeClass + 1) << 4;
  const group = (sizeClass - LINEAR_CLASSES) >> 2;
  const sub = (sizeClass - LINEAR_CLASSES) & 3;
  const log = group + 7;
  return (<usize>1 << log) + ((<usize>sub + 1) << (log - 2));
}
