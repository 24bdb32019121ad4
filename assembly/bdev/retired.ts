// A bdev's statistics from its channels already destroyed, kept at the size of their use. The counters
// always; the latency histogram inline as a few (bucket, count) pairs while it has few buckets, and
// as the whole histogram (7.8 KB) only once more buckets were seen. A channel that did one read (the
// examine every new bdev gets) so costs its bdev about 300 bytes, not 8 KB for as long as it lives.
// The caller holds the bdev's lock.

import { heapAllocZeroed, heapFree, report, LEVEL_ERROR, ENOMEM, HIST_BUCKETS, histMerge } from "../runtime";
import { Bdev, STATS_HIST_OFF, STATS_LAT_MIN_OFF } from "./types";
import { statsAlloc, statsMergeCounters } from "./channel";

/** Distinct latency buckets kept inline before the whole histogram is taken. */
const INLINE_BUCKETS: u32 = 8;
// Small form: the counters, then u32 pairs used, then {u32 bucket, u32 unused, u64 count} pairs.
const PAIRS_USED_OFF: usize = STATS_HIST_OFF;
const PAIRS_OFF: usize = STATS_HIST_OFF + 8;
const PAIR_BYTES: usize = 16;
const SMALL_BYTES: usize = PAIRS_OFF + <usize>INLINE_BUCKETS * PAIR_BYTES;

// @ts-ignore: decorator
@inline function pairAt(block: usize, i: u32): usize { return block + PAIRS_OFF + <usize>i * PAIR_BYTES; }

/** The pair holding `bucket` in a small block, or INLINE_BUCKETS when there is none. */
function findPair(block: usize, bucket: u32): u32 {
  const used = load<u32>(block + PAIRS_USED_OFF);
  for (let i: u32 = 0; i < used; i++) if (load<u32>(pairAt(block, i)) == bucket) return i;
  return INLINE_BUCKETS;
}

/** Add a small block's pairs to the whole histogram at `hist`. */
function addPairs(hist: usize, block: usize): void {
  const used = load<u32>(block + PAIRS_USED_OFF);
  for (let i: u32 = 0; i < used; i++) {
    const cell = hist + (<usize>load<u32>(pairAt(block, i)) << 3);
    store<u64>(cell, load<u64>(cell) + load<u64>(pairAt(block, i), 8));
  }
}

/** Replace a small block by the whole form (counters and histogram); false without memory. */
function grow(b: Bdev): bool {
  const dense = statsAlloc();
  if (dense == 0) return false;
  memory.copy(dense, b.retired, STATS_HIST_OFF);
  addPairs(dense + STATS_HIST_OFF, b.retired);
  heapFree(b.retired);
  b.retired = dense;
  b.retiredDense = 1;
  return true;
}

/** Fold a destroyed channel's statistics block `stats` into the bdev's retired ones. */
export function retiredAdd(b: Bdev, stats: usize): void {
  if (b.retired == 0) {
    b.retired = heapAllocZeroed(SMALL_BYTES);
    if (b.retired == 0) { report(LEVEL_ERROR, -ENOMEM, "bdev %s: no memory to keep a closed channel's statistics", b.name); return; }
    store<u64>(b.retired + STATS_LAT_MIN_OFF, u64.MAX_VALUE);
    b.retiredDense = 0;
  }
  const hist = stats + STATS_HIST_OFF;
  if (b.retiredDense == 0) {
    let fresh: u32 = 0;
    for (let i: u32 = 0; i < HIST_BUCKETS; i++) if (load<u64>(hist + (<usize>i << 3)) != 0 && findPair(b.retired, i) == INLINE_BUCKETS) fresh++;
    if (load<u32>(b.retired + PAIRS_USED_OFF) + fresh > INLINE_BUCKETS && !grow(b)) {
      report(LEVEL_ERROR, -ENOMEM, "bdev %s: no memory for a closed channel's latency histogram; its counters are kept", b.name);
      statsMergeCounters(b.retired, stats);
      return;
    }
  }
  statsMergeCounters(b.retired, stats);
  if (b.retiredDense != 0) { histMerge(b.retired + STATS_HIST_OFF, hist); return; }
  for (let i: u32 = 0; i < HIST_BUCKETS; i++) {
    const n = load<u64>(hist + (<usize>i << 3));
    if (n == 0) continue;
    let p = findPair(b.retired, i);
    if (p == INLINE_BUCKETS) {
      p = load<u32>(b.retired + PAIRS_USED_OFF);
      assert(p < INLINE_BUCKETS, "retiredAdd: more buckets than were counted");
      store<u32>(b.retired + PAIRS_USED_OFF, p + 1);
      store<u32>(pairAt(b.retired, p), i);
    }
    store<u64>(pairAt(b.retired, p), load<u64>(pairAt(b.retired, p), 8) + n, 8);
  }
}

/** Add the retired statistics to `out` (a whole statistics block). */
export function retiredRead(b: Bdev, out: usize): void {
  if (b.retired == 0) return;
  statsMergeCounters(out, b.retired);
  if (b.retiredDense != 0) histMerge(out + STATS_HIST_OFF, b.retired + STATS_HIST_OFF);
  else addPairs(out + STATS_HIST_OFF, b.retired);
}
