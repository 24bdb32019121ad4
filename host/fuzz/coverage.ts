// Coverage features from the counters of one run, in libFuzzer's manner: a feature is a site with its
// hit count in a bucket (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+), so a loop that runs more often is
// new coverage too. The map keeps, per site, the buckets any input has reached.
const BUCKET_OF = (() => {
  const b = new Uint8Array(256);
  for (let v = 1; v < 256; v++) b[v] = v === 1 ? 1 : v === 2 ? 2 : v === 3 ? 4 : v < 8 ? 8 : v < 16 ? 16 : v < 32 ? 32 : v < 128 ? 64 : 128;
  return b;
})();

export class CoverageMap {
  private readonly seen: Uint8Array;
  /** Sites any input has reached. */
  edges = 0;
  /** (site, bucket) pairs any input has reached. */
  features = 0;

  constructor(readonly sites: number) { this.seen = new Uint8Array(sites); }

  /** Fold in one run's counters; returns how many features were new. */
  add(counters: Uint8Array): number {
    let added = 0;
    const words = new Uint32Array(counters.buffer, counters.byteOffset, counters.byteLength >>> 2);
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      for (let i = w << 2; i < (w << 2) + 4; i++) added += this.fold(i, counters[i]);
    }
    for (let i = words.length << 2; i < counters.length; i++) added += this.fold(i, counters[i]);
    return added;
  }

  /** Whether the counters hold a feature not yet seen (without folding them in). */
  wouldAdd(counters: Uint8Array): boolean {
    for (let i = 0; i < counters.length; i++) {
      const v = counters[i];
      if (v !== 0 && (this.seen[i] & BUCKET_OF[v]) === 0) return true;
    }
    return false;
  }

  private fold(site: number, count: number): number {
    if (count === 0) return 0;
    const bucket = BUCKET_OF[count];
    const had = this.seen[site];
    if (had & bucket) return 0;
    if (had === 0) this.edges++;
    this.seen[site] = had | bucket;
    this.features++;
    return 1;
  }
}
