// Byte-level mutations, libFuzzer's set: bit flips, random bytes, arithmetic on 1/2/4-byte integers
// (either byte order), interesting values, insert, erase, copy within, crossover with another input,
// and dictionary tokens. `mutateInput` stacks 1..depth of them, mixing in the target's own mutator.
import type { FuzzRng } from './rng.js';
import type { FuzzTarget, MutateContext } from './targets.js';

const INTERESTING_8 = [0, 1, 16, 32, 64, 100, 127, 128, 255];
const INTERESTING_16 = [0, 128, 255, 256, 512, 1000, 1024, 4096, 32767, 32768, 65535];
const INTERESTING_32 = [0, 1, 32768, 65535, 65536, 100663045, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const ARITH_MAX = 35;

type Mutator = (data: Uint8Array, ctx: MutateContext, dict: readonly Uint8Array[]) => Uint8Array | null;

function withBytes(data: Uint8Array, at: number, bytes: Uint8Array, maxLen: number): Uint8Array {
  const out = new Uint8Array(Math.min(maxLen, data.length + bytes.length));
  out.set(data.subarray(0, at));
  out.set(bytes.subarray(0, out.length - at), at);
  if (at + bytes.length < out.length) out.set(data.subarray(at, at + out.length - at - bytes.length), at + bytes.length);
  return out;
}

function integerAt(data: Uint8Array, rng: FuzzRng, width: 1 | 2 | 4, change: (v: number) => number): Uint8Array | null {
  if (data.length < width) return null;
  const out = data.slice();
  const view = new DataView(out.buffer);
  const at = rng.int(data.length - width + 1);
  const little = rng.oneIn(2);
  if (width === 1) out[at] = change(out[at]) & 0xff;
  else if (width === 2) view.setUint16(at, change(view.getUint16(at, little)) & 0xffff, little);
  else view.setUint32(at, change(view.getUint32(at, little)) >>> 0, little);
  return out;
}

const widthOf = (rng: FuzzRng): 1 | 2 | 4 => rng.choose([1, 2, 4] as const);

const MUTATORS: readonly Mutator[] = [
  (d, { rng }) => { if (d.length === 0) return null; const o = d.slice(); o[rng.int(o.length)] ^= 1 << rng.int(8); return o; },
  (d, { rng }) => { if (d.length === 0) return null; const o = d.slice(); o[rng.int(o.length)] = rng.int(256); return o; },
  (d, { rng }) => { const delta = 1 + rng.int(ARITH_MAX); const sign = rng.oneIn(2) ? 1 : -1; return integerAt(d, rng, widthOf(rng), (v) => v + sign * delta); },
  (d, { rng }) => {
    const width = widthOf(rng);
    const values = width === 1 ? INTERESTING_8 : width === 2 ? INTERESTING_16 : INTERESTING_32;
    return integerAt(d, rng, width, () => rng.choose(values));
  },
  (d, { rng, maxLen }) => {
    if (d.length >= maxLen) return null;
    const bytes = new Uint8Array(1 + rng.int(Math.min(16, maxLen - d.length)));
    const fill = rng.oneIn(2) ? rng.int(256) : -1;
    for (let i = 0; i < bytes.length; i++) bytes[i] = fill >= 0 ? fill : rng.int(256);
    return withBytes(d, rng.int(d.length + 1), bytes, maxLen);
  },
  (d, { rng }) => {
    if (d.length <= 1) return null;
    const n = 1 + rng.int(Math.min(d.length - 1, rng.oneIn(4) ? d.length : 16));
    const at = rng.int(d.length - n + 1);
    const o = new Uint8Array(d.length - n);
    o.set(d.subarray(0, at));
    o.set(d.subarray(at + n), at);
    return o;
  },
  (d, { rng, maxLen }) => {
    if (d.length < 2) return null;
    const n = 1 + rng.int(Math.min(d.length, 64));
    const from = rng.int(d.length - n + 1);
    const part = d.slice(from, from + n);
    if (rng.oneIn(2)) return withBytes(d, rng.int(d.length + 1), part, maxLen);
    const o = d.slice();
    o.set(part.subarray(0, Math.max(0, o.length - rng.int(o.length))), rng.int(Math.max(1, o.length - n + 1)));
    return o;
  },
  (d, { rng, maxLen, other }) => {
    const b = other();
    if (b.length === 0) return null;
    const cutA = rng.int(d.length + 1), cutB = rng.int(b.length);
    const o = new Uint8Array(Math.min(maxLen, cutA + b.length - cutB));
    o.set(d.subarray(0, Math.min(cutA, o.length)));
    if (cutA < o.length) o.set(b.subarray(cutB, cutB + o.length - cutA), cutA);
    return o;
  },
  (d, { rng, maxLen }, dict) => {
    if (dict.length === 0) return null;
    const token = rng.choose(dict);
    if (rng.oneIn(2) || d.length < token.length) return withBytes(d, rng.int(d.length + 1), token, maxLen);
    const o = d.slice();
    o.set(token, rng.int(d.length - token.length + 1));
    return o;
  },
];

/** 1..depth stacked mutations of `input` (never longer than maxLen); the target's mutator half the time. */
export function mutateInput(input: Uint8Array, target: FuzzTarget, ctx: MutateContext, dict: readonly Uint8Array[], depth: number): Uint8Array {
  let data = input;
  const steps = 1 + ctx.rng.int(depth);
  for (let i = 0; i < steps; i++) {
    const structured = target.mutate && ctx.rng.oneIn(2) ? target.mutate(data, ctx) : null;
    const next = structured ?? ctx.rng.choose(MUTATORS)(data, ctx, dict);
    if (next) data = next;
  }
  return data.length > ctx.maxLen ? data.subarray(0, ctx.maxLen) : data;
}
