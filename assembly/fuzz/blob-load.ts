// Fuzz target "blob-load": a Blobstore image, corrupted by the input, loaded. Set up once: a 2 MiB
// malloc bdev with a store holding a thick blob with an xattr, a thin blob and a snapshot, cleanly
// unloaded. Input: byte 0 flags (bit 0 load read-only, bit 1 reseal: recompute the CRCs of the
// super block, md pages and masks a patch touched, as a forger would, so the load gets past its
// checksums), then patches {u32 offset (LE, taken modulo the image), u8 length, bytes}. A store
// that loads then has each of its blobs opened and closed and is unloaded. Every path must end
// within the bound, with everything it made freed (the runner checks the heap).
import { heapAllocZeroed, crc32c } from "../runtime";
import { sendMsg } from "../thread";
import { bdevById, Bdev } from "../bdev";
import { mallocBdevCreate } from "../bdev/malloc";
import { Store, Blob, storeInit, storeLoad, storeUnload, blobCreate, blobOpen, blobClose, blobSync, blobSetXattr, blobSnapshot } from "../blob";
import { MD_PAGE_BYTES, MD_PAGE_SHIFT, SB_MD_START, SB_MD_LEN, SB_MASK_START, SB_MASK_LEN, SB_MASK_CRC, SB_CRC, MDP_CRC, blobIdOf } from "../blob/format";
import { fuzzThreadNew, fuzzPollUntil } from "./harness";

const BLOCK_BYTES: u32 = 4096;
const BLOCKS: u32 = 512;               // 2 MiB: 32 clusters of 64 KiB
const IMAGE_BYTES: u32 = BLOCK_BYTES * BLOCKS;
const CLUSTER_BYTES: u32 = 65536;
const MD_PAGES: u32 = 32;
const FLAG_READ_ONLY: u8 = 1;
const FLAG_RESEAL: u8 = 2;
/** Blobs of a loaded store the run opens (md pages it looks at). */
const OPEN_PAGES_MAX: u32 = 64;
const ROUNDS_MAX: u32 = 100_000;

/** One asynchronous step: what it returned, and whether it has. */
@unmanaged class Step { done: u32; rc: i32; value: u64; }

let thread: usize = 0;
let bdevId: u32 = 0;
let image: usize = 0;
let step: Step = changetype<Step>(0);
/** Per page of the image: touched by this input's patches (reseal looks only at these). */
let touched: usize = 0;

function stepDone(ctx: usize, rc: i32, value: u64): void { step.done = 1; step.rc = rc; step.value = value; }
function stepOver(ctx: usize): bool { return step.done != 0; }

/** Run `fn` as a message on the target's thread and wait for its stepDone; the step's rc. */
function await_(fn: (ctx: usize) => void, ctx: usize, what: string): i32 {
  step.done = 0;
  sendMsg(thread, fn, ctx);
  assert(fuzzPollUntil(thread, stepOver, 0, ROUNDS_MAX), what);
  return step.rc;
}

// ---- set-up: a store worth corrupting ----

let setupStore: usize = 0;
let setupBlob: usize = 0;
let setupId: u64 = 0;
function initMsg(ctx: usize): void { storeInit(bdevId, CLUSTER_BYTES, MD_PAGES, stepDone, 0); }
function createThickMsg(ctx: usize): void { blobCreate(changetype<Store>(setupStore), 3, false, stepDone, 0); }
function createThinMsg(ctx: usize): void { blobCreate(changetype<Store>(setupStore), 8, true, stepDone, 0); }
function openMsg(ctx: usize): void { blobOpen(changetype<Store>(setupStore), setupId, stepDone, 0); }
function xattrSyncMsg(ctx: usize): void {
  const name = memory.data<u8>([110, 97, 109, 101]);     // "name"
  const value = memory.data<u8>([102, 117, 122, 122, 0]);
  assert(blobSetXattr(changetype<Blob>(setupBlob), name, 4, value, 5, false) == 0, "blob-load fuzz: set-up xattr");
  blobSync(changetype<Blob>(setupBlob), stepDone, 0);
}
function snapshotMsg(ctx: usize): void { blobSnapshot(changetype<Blob>(setupBlob), stepDone, 0); }
function closeMsg(ctx: usize): void { blobClose(changetype<Blob>(setupBlob), stepDone, 0); }
function unloadMsg(ctx: usize): void { storeUnload(changetype<Store>(setupStore), stepDone, 0); }

export function fuzz_blob_load_setup(): i32 {
  thread = fuzzThreadNew("fuzz_blob_load");
  step = changetype<Step>(heapAllocZeroed(offsetof<Step>()));
  touched = heapAllocZeroed(IMAGE_BYTES >> MD_PAGE_SHIFT);
  const b = mallocBdevCreate(changetype<usize>("fuzz_bs0"), BLOCK_BYTES, BLOCKS);
  assert(b != 0, "blob-load fuzz: no memory for the bdev");
  bdevId = changetype<Bdev>(b).id;
  image = changetype<Bdev>(bdevById(bdevId)).ctx;
  assert(await_(initMsg, 0, "blob-load fuzz: init did not finish") == 0, "blob-load fuzz: init failed");
  setupStore = <usize>step.value;
  assert(await_(createThickMsg, 0, "blob-load fuzz: create") == 0, "blob-load fuzz: create failed");
  setupId = step.value;
  assert(await_(createThinMsg, 0, "blob-load fuzz: create thin") == 0, "blob-load fuzz: create thin failed");
  assert(await_(openMsg, 0, "blob-load fuzz: open") == 0, "blob-load fuzz: open failed");
  setupBlob = <usize>step.value;
  assert(await_(xattrSyncMsg, 0, "blob-load fuzz: sync") == 0, "blob-load fuzz: sync failed");
  assert(await_(snapshotMsg, 0, "blob-load fuzz: snapshot") == 0, "blob-load fuzz: snapshot failed");
  assert(await_(closeMsg, 0, "blob-load fuzz: close") == 0, "blob-load fuzz: close failed");
  assert(await_(unloadMsg, 0, "blob-load fuzz: unload") == 0, "blob-load fuzz: unload failed");
  // One clean round before the snapshot: what the first load allocates once and keeps (the bdev's
  // channel on this thread, md scratch) is then part of set-up, and the leak check sees only leaks.
  const pristine = memory.data<u8>([FLAG_RESEAL]);
  assert(fuzz_blob_load_run(pristine, 1) == 0, "blob-load fuzz: the pristine image does not load");
  return 0;
}

// ---- one input ----

/** The patches: each applied in turn, the pages they touch noted. */
function patch(ptr: usize, len: u32): void {
  memory.fill(touched, 0, IMAGE_BYTES >> MD_PAGE_SHIFT);
  let at: u32 = 1;
  while (at + 5 <= len) {
    const offset = load<u32>(ptr + at) % IMAGE_BYTES;
    const n = min(<u32>load<u8>(ptr + at + 4), min(len - at - 5, IMAGE_BYTES - offset));
    memory.copy(image + offset, ptr + at + 5, n);
    for (let p = offset >> MD_PAGE_SHIFT; p <= (offset + max(n, 1) - 1) >> MD_PAGE_SHIFT; p++) store<u8>(touched + p, 1);
    at += 5 + n;
  }
}

function seal(page: u32): void {
  const at = image + (<usize>page << MD_PAGE_SHIFT);
  store<u32>(at + MDP_CRC, crc32c(at, MDP_CRC));
}

/** Recompute the CRCs a forger would: md pages touched, the masks' CRC if a mask page was, the super block last. */
function reseal(): void {
  const pages = IMAGE_BYTES >> MD_PAGE_SHIFT;
  const mdStart = load<u32>(image + SB_MD_START), mdLen = load<u32>(image + SB_MD_LEN);
  const maskStart = load<u32>(image + SB_MASK_START), maskLen = load<u32>(image + SB_MASK_LEN);
  let masks = false;
  for (let p: u32 = 1; p < pages; p++) {
    if (load<u8>(touched + p) == 0) continue;
    if (p >= mdStart && p - mdStart < mdLen) seal(p);
    if (p >= maskStart && p - maskStart < maskLen) masks = true;
  }
  if (masks && maskStart < pages && maskLen <= pages - maskStart) {
    store<u32>(image + SB_MASK_CRC, crc32c(image + (<usize>maskStart << MD_PAGE_SHIFT), <usize>maskLen << MD_PAGE_SHIFT));
  }
  store<u32>(image + SB_CRC, crc32c(image, SB_CRC));
}

let loadReadOnly: bool = false;
let loaded: usize = 0;
let openPage: u32 = 0;
function loadMsg(ctx: usize): void { storeLoad(bdevId, stepDone, 0, false, loadReadOnly); }
function openLoadedMsg(ctx: usize): void { blobOpen(changetype<Store>(loaded), blobIdOf(openPage), stepDone, 0); }
function closeLoadedMsg(blob: usize): void { blobClose(changetype<Blob>(blob), stepDone, 0); }
function unloadLoadedMsg(ctx: usize): void { storeUnload(changetype<Store>(loaded), stepDone, 0); }

/** Load the patched image; a store that loads: open and close each blob, then unload. Returns the load's rc. */
export function fuzz_blob_load_run(ptr: usize, len: u32): i32 {
  assert(thread != 0, "blob-load fuzz: run before set-up");
  const flags = len > 0 ? load<u8>(ptr) : 0;
  patch(ptr, len);
  if ((flags & FLAG_RESEAL) != 0) reseal();
  loadReadOnly = (flags & FLAG_READ_ONLY) != 0;
  const rc = await_(loadMsg, 0, "blob-load fuzz: the load never finished (a stall)");
  if (rc != 0) return rc;
  loaded = <usize>step.value;
  const s = changetype<Store>(loaded);
  for (let p: u32 = 0; p < min(s.mdLen, OPEN_PAGES_MAX); p++) {
    if ((load<u8>(s.usedIds + (p >> 3)) & (<u8>1 << <u8>(p & 7))) == 0) continue;
    openPage = p;
    if (await_(openLoadedMsg, 0, "blob-load fuzz: an open never finished (a stall)") != 0) continue;
    await_(closeLoadedMsg, <usize>step.value, "blob-load fuzz: a close never finished (a stall)");
  }
  assert(await_(unloadLoadedMsg, 0, "blob-load fuzz: the unload never finished (a stall)") == 0, "blob-load fuzz: a store that loaded would not unload");
  return 0;
}
