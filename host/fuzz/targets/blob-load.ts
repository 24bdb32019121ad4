// Target "blob-load" (assembly/fuzz/blob-load.ts): a Blobstore image corrupted by patches, loaded,
// its blobs opened, unloaded. Input: byte 0 flags (1 read-only, 2 reseal the CRCs a patch breaks),
// then patches {u32 offset LE, u8 length, bytes}. The mutator works patch by patch, aiming most of
// them at the super block's fields and the md and mask pages near the front of the image, and
// keeps the reseal flag on most of the time so the changes reach the parsers behind the CRCs.
import type { FuzzTarget, MutateContext } from '../targets.js';

const PAGE = 4096;
const FLAG_READ_ONLY = 1, FLAG_RESEAL = 2;
/** The md and mask pages of the set-up store sit in the first pages of the image. */
const FRONT_PAGES = 48;
/** Super block fields (assembly/blob/format.ts SB_*): where a one-field change matters. */
const SB_FIELDS = [0, 8, 12, 16, 24, 32, 36, 40, 48, 56, 60, 64, 68, 72, 80, 88, 96, 104, 108];
/** Md page fields (MDP_*) and the first descriptors. */
const MDP_FIELDS = [0, 4, 8, 12, 16, 17, 20, 24, 28, 32, 40, 48, 56, 64, 4088];
const VALUES = [0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0xffffffff];

interface Patch { offset: number; bytes: Uint8Array }

function parse(input: Uint8Array): { flags: number; patches: Patch[] } {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const patches: Patch[] = [];
  let at = 1;
  while (at + 5 <= input.length) {
    const n = Math.min(input[at + 4], input.length - at - 5);
    patches.push({ offset: view.getUint32(at, true), bytes: input.slice(at + 5, at + 5 + n) });
    at += 5 + n;
  }
  return { flags: input.length > 0 ? input[0] : FLAG_RESEAL, patches };
}

function encodeBlobPatches(flags: number, patches: Patch[]): Uint8Array {
  const out = new Uint8Array(1 + patches.reduce((n, p) => n + 5 + Math.min(255, p.bytes.length), 0));
  const view = new DataView(out.buffer);
  out[0] = flags;
  let at = 1;
  for (const p of patches) {
    const n = Math.min(255, p.bytes.length);
    view.setUint32(at, p.offset >>> 0, true);
    out[at + 4] = n;
    out.set(p.bytes.subarray(0, n), at + 5);
    at += 5 + n;
  }
  return out;
}

function u32(v: number): Uint8Array { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; }

function newPatch(rng: MutateContext['rng']): Patch {
  const value = rng.oneIn(4) ? Uint8Array.of(rng.int(256)) : u32(rng.choose(VALUES) + (rng.oneIn(3) ? rng.int(64) : 0));
  switch (rng.int(4)) {
    case 0: return { offset: rng.choose(SB_FIELDS), bytes: value };
    case 1: case 2: return { offset: (1 + rng.int(FRONT_PAGES - 1)) * PAGE + rng.choose(MDP_FIELDS), bytes: value };
    default: return { offset: rng.int(FRONT_PAGES * PAGE), bytes: value };
  }
}

function mutate(input: Uint8Array, ctx: MutateContext): Uint8Array | null {
  const { rng } = ctx;
  const { flags, patches } = parse(input);
  switch (rng.int(5)) {
    case 0: case 1: patches.push(newPatch(rng)); break;
    case 2: if (patches.length > 0) patches.splice(rng.int(patches.length), 1); break;
    case 3: if (patches.length > 0) { const p = rng.choose(patches); p.bytes = newPatch(rng).bytes; } break;
    default: {
      const other = parse(ctx.other()).patches;
      if (other.length > 0) patches.push(rng.choose(other));
    }
  }
  const nextFlags = rng.oneIn(10) ? (rng.oneIn(4) ? 0 : FLAG_RESEAL) | (rng.oneIn(3) ? FLAG_READ_ONLY : 0) : flags;
  const out = encodeBlobPatches(nextFlags, patches);
  return out.length <= ctx.maxLen ? out : null;
}

export const blobLoadTarget: FuzzTarget = {
  name: 'blob-load',
  summary: 'a corrupted Blobstore image loaded (for writing or read-only), its blobs opened, unloaded',
  setupExport: 'fuzz_blob_load_setup',
  runExport: 'fuzz_blob_load_run',
  leaks: true,
  maxLenDefault: 1024,
  seeds: () => [
    encodeBlobPatches(FLAG_RESEAL, []),
    encodeBlobPatches(FLAG_RESEAL | FLAG_READ_ONLY, []),
    encodeBlobPatches(FLAG_RESEAL, [{ offset: 12, bytes: u32(0) }]),                 // not clean: the recovery path
    encodeBlobPatches(FLAG_RESEAL, [{ offset: PAGE + 4088, bytes: u32(2) }]),         // a chain's next page
    encodeBlobPatches(0, [{ offset: 4, bytes: u32(0x12345678) }]),                   // a bad CRC, not resealed
  ],
  dictionary: [],
  mutate,
};
