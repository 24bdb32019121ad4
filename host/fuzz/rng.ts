// The fuzzer's random numbers: seeded (-seed), so a run with the same seed, corpus and build makes
// the same inputs in the same order. mulberry32: 32 bits of state, enough for choosing mutations.
export class FuzzRng {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number { return n <= 1 ? 0 : this.u32() % n; }
  /** True one time in `n`. */
  oneIn(n: number): boolean { return this.int(n) === 0; }
  choose<T>(items: readonly T[]): T { return items[this.int(items.length)]; }
}
