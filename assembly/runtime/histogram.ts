// Log-linear latency histogram (as SPDK's histogram_data): values in nanoseconds; below 16 ns one
// bucket per ns, above that 16 buckets per power of two, so a bucket is at most 1/16 (6.25%) wide.
// 60 powers cover everything a u64 of nanoseconds can hold. Fixed size, no allocation when recording.

export const HIST_SUB_BITS: u32 = 4;
export const HIST_SUB_BUCKETS: u32 = 1 << HIST_SUB_BITS;       // 16 per power of two
export const HIST_BUCKETS: u32 = 61 * HIST_SUB_BUCKETS;         // exponents 4..63 plus the linear range
export const HIST_BYTES: usize = <usize>HIST_BUCKETS << 3;      // u64 counters

/** Bucket of a value in ns. */
// @ts-ignore: decorator
@inline export function histBucket(ns: u64): u32 {
  if (ns < <u64>HIST_SUB_BUCKETS) return <u32>ns;
  const exp = 63 - <u32>clz<u64>(ns);                           // >= HIST_SUB_BITS
  const sub = <u32>(ns >> (exp - HIST_SUB_BITS)) & (HIST_SUB_BUCKETS - 1);
  return (exp - HIST_SUB_BITS + 1) * HIST_SUB_BUCKETS + sub;
}

/** Smallest value (ns) that falls in `bucket`. */
export function histBucketStart(bucket: u32): u64 {
  if (bucket < HIST_SUB_BUCKETS) return <u64>bucket;
  const exp = bucket / HIST_SUB_BUCKETS - 1 + HIST_SUB_BITS;
  const sub = <u64>(bucket & (HIST_SUB_BUCKETS - 1));
  return (<u64>1 << exp) | (sub << (exp - HIST_SUB_BITS));
}

// @ts-ignore: decorator
@inline export function histRecord(hist: usize, ns: u64): void {
  const cell = hist + (<usize>histBucket(ns) << 3);
  store<u64>(cell, load<u64>(cell) + 1);
}

/** dst += src, bucket by bucket. */
export function histMerge(dst: usize, src: usize): void {
  for (let i: u32 = 0; i < HIST_BUCKETS; i++) {
    const off = <usize>i << 3;
    store<u64>(dst + off, load<u64>(dst + off) + load<u64>(src + off));
  }
}
