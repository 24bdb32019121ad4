// CRC32C in the core: the host's CPU instruction (host/crc-host.ts, used from 512 bytes on) against the
// core's own slicing-by-8 loop, in one instance of the test build, per length, R rounds alternating.
// Usage: node build/bench/crc32c.js [--rounds 3] [--calls 200000]
import { newHarness } from '../tests/helpers/core.js';

const args = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(arg('--rounds', '3'));
const calls = Number(arg('--calls', '200000'));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const h = await newHarness();
const at = h.scratch(65536);
const timeNs = (fn: (i: number) => number) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / calls;
};
for (const len of [72, 512, 4096, 8192, 65536]) {
  const host: number[] = [], loop: number[] = [];
  for (let r = 0; r < rounds; r++) {
    host.push(timeNs((i) => h.core.h_crc32c(i, at, len)));
    loop.push(timeNs((i) => h.core.h_crc32c_loop(i, at, len)));
  }
  const hm = median(host), lm = median(loop);
  console.log(`${len} bytes: crc32cUpdate ${hm.toFixed(0)} ns (${len >= 512 ? 'host instruction' : 'loop'}), core loop ${lm.toFixed(0)} ns: ${(lm / hm).toFixed(2)}x`);
}
