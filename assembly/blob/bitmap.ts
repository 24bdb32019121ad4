// Bit sets over plain memory (the used md pages, clusters and blob ids): bit i is bit (i & 7) of byte
// i >> 3, the same layout on disk and in memory.

export function bitmapBytes(bits: u64): usize { return <usize>((bits + 7) >> 3); }

export function bitTest(map: usize, i: u64): bool { return (load<u8>(map + <usize>(i >> 3)) & (<u8>1 << <u8>(i & 7))) != 0; }

export function bitSet(map: usize, i: u64): void {
  const p = map + <usize>(i >> 3);
  store<u8>(p, load<u8>(p) | (<u8>1 << <u8>(i & 7)));
}

export function bitClear(map: usize, i: u64): void {
  const p = map + <usize>(i >> 3);
  store<u8>(p, load<u8>(p) & ~(<u8>1 << <u8>(i & 7)));
}

/** First clear bit in [from, bits), else -1. Skips whole full bytes. */
export function bitFindClear(map: usize, from: u64, bits: u64): i64 {
  let i = from;
  while (i < bits) {
    if ((i & 7) == 0 && i + 8 <= bits && load<u8>(map + <usize>(i >> 3)) == 0xff) { i += 8; continue; }
    if (!bitTest(map, i)) return <i64>i;
    i++;
  }
  return -1;
}

/** Set bits in [0, bits). */
export function bitCount(map: usize, bits: u64): u64 {
  let n: u64 = 0;
  const whole = bits >> 3;
  for (let b: u64 = 0; b < whole; b++) n += <u64>popcnt<u32>(<u32>load<u8>(map + <usize>b));
  for (let i = whole << 3; i < bits; i++) if (bitTest(map, i)) n++;
  return n;
}
