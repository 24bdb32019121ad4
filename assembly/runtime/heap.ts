// The shared-memory heap: per-instance arenas of size-class slabs over the shared page allocator.
// - Each Wasm instance (a reactor, or the host's control instance) attaches to its own arena, so the
//   common path (alloc, free of its own blocks) takes no lock and touches no shared word.
// - A block freed by another instance goes back to its owner: it is pushed on the owner's per-class
//   remote-free stack (lock-free push; the owner takes the whole stack at once, so there is no ABA).
// - Blocks above SMALL_MAX_BYTES are page runs taken from and returned to the page allocator.
// Every block has a 16-byte header whose last word is asc's mmInfo; a state word catches double frees.

import { ARENA_TABLE, MAX_ARENAS, PAGE_SIZE, PAGE_SHIFT } from "./layout";
import { pagesAlloc, pagesFree, pagesInit, heapStart, heapTop } from "./pages";
import { sizeClassOf, classPayloadBytes, SMALL_MAX_BYTES, CLASS_COUNT } from "./sizeclass";
import { fatal } from "./host";
import { ENOMEM, EINVAL } from "./errno";

const SLAB_MAGIC: u32 = 0x534c4142;   // "SLAB"
const LARGE_MAGIC: u32 = 0x4c524745;  // "LRGE"
const CELL_LIVE: u32 = 0xa11c0ced;
const CELL_FREE: u32 = 0xf7eeb10c;

/** Bytes in front of every payload: state word, two spare words, mmInfo (payload bytes). */
export const BLOCK_HEADER_BYTES: usize = 16;
const SLAB_HEADER_BYTES: usize = 64;
const LARGE_HEADER_BYTES: usize = 64;

// Slab / large-run header, at the 64 KiB aligned base of the page run.
const SLAB_MAGIC_OFF: usize = 0;
const SLAB_OWNER_OFF: usize = 4;
const SLAB_CLASS_OFF: usize = 8;      // size class (slab) or page count (large run)

// Arena: one page; per-class heads start at ARENA_CLASS_BASE.
const ARENA_ID_OFF: usize = 0;
const ARENA_LIVE_OFF: usize = 4;
const ARENA_RECLAIMED_OFF: usize = 8;
const ARENA_REMOTE_SENT_OFF: usize = 12;
const ARENA_CLASS_BASE: usize = 64;
const CLASS_FREE_OFF: usize = 0;
const CLASS_REMOTE_OFF: usize = 4;
const CLASS_BUMP_OFF: usize = 8;
const CLASS_END_OFF: usize = 12;
const CLASS_STRIDE: usize = 16;

const NO_ARENA: u32 = 0xffffffff;

/** This instance's arena (a per-instance global: every instance has its own). */
let myArena: usize = 0;
let myArenaId: u32 = NO_ARENA;

/** Attach this instance to arena `id`, creating the arena the first time. Called once at start. */
export function heapAttach(id: u32): void {
  assert(id < MAX_ARENAS, "heapAttach: arena id out of range");
  assert(myArenaId == NO_ARENA || myArenaId == id, "heapAttach: instance already attached elsewhere");
  pagesInit();
  const slot = ARENA_TABLE + (<usize>id << alignof<usize>());
  let arena = atomic.load<usize>(slot);
  if (arena == 0) {
    arena = pagesAlloc(1);
    if (arena == 0) fatal(-ENOMEM, "no memory for heap arena %d", 0, 0, <f64>id);
    memory.fill(arena, 0, ARENA_CLASS_BASE + <usize>CLASS_COUNT * CLASS_STRIDE);
    store<u32>(arena, id, ARENA_ID_OFF);
    // A restarted instance may re-attach to its arena; only a never-used slot is claimed here.
    const prev = atomic.cmpxchg<usize>(slot, 0, arena);
    if (prev != 0) { pagesFree(arena, 1); arena = prev; }
  }
  myArena = arena;
  myArenaId = id;
  stackAttach();
}

/** Bytes of this instance's own shadow stack (asc spills managed references there). */
const SHADOW_STACK_BYTES: usize = PAGE_SIZE;
/** Frames still on the shared stack when we switch pop into this headroom below the new top. */
const SHADOW_STACK_HEADROOM: usize = 1024;

/**
 * Give this instance a shadow stack of its own. asc puts one at the same static address in every
 * instance; it is written on entry to any function with a managed local and never read, so sharing it
 * is correct, but every reactor would write the same cache lines on every such call: a measured 3x
 * slowdown of the I/O path with two reactors.
 */
function stackAttach(): void {
  const region = pagesAlloc(1);
  if (region == 0) fatal(-ENOMEM, "no memory for this instance's shadow stack");
  __stack_pointer = region + SHADOW_STACK_BYTES - SHADOW_STACK_HEADROOM;
}

/** The shadow stack pointer between calls from the host (heapStackMark), 0 until marked. */
let stackAtRest: usize = 0;

/**
 * Record the shadow stack pointer as it is between calls. The host calls this once, outside any other
 * call into this instance, so a trap that unwound frames without popping them can be undone.
 */
export function heapStackMark(): void { stackAtRest = __stack_pointer; }

/** After a trap, between calls: put the shadow stack pointer back where it rests (the trap skipped the pops). */
export function heapStackReset(): void {
  if (stackAtRest != 0) __stack_pointer = stackAtRest;
}

export function heapArenaId(): u32 { return myArenaId; }

function classBase(arena: usize, sizeClass: u32): usize {
  return arena + ARENA_CLASS_BASE + <usize>sizeClass * CLASS_STRIDE;
}

function checkAttached(): void {
  if (myArena == 0) fatal(-EINVAL, "heap used before heapAttach (no arena for this instance)");
}

/** Carve a fresh cell of `sizeClass` from the arena's current slab, taking a new slab when full. */
function carve(sizeClass: u32): usize {
  const cls = classBase(myArena, sizeClass);
  const cellBytes = classPayloadBytes(sizeClass) + BLOCK_HEADER_BYTES;
  let bump = load<usize>(cls, CLASS_BUMP_OFF);
  if (bump == 0 || bump + cellBytes > load<usize>(cls, CLASS_END_OFF)) {
    const slab = pagesAlloc(1);
    if (slab == 0) return 0;
    store<u32>(slab, SLAB_MAGIC, SLAB_MAGIC_OFF);
    store<u32>(slab, myArenaId, SLAB_OWNER_OFF);
    store<u32>(slab, sizeClass, SLAB_CLASS_OFF);
    bump = slab + SLAB_HEADER_BYTES;
    store<usize>(cls, slab + PAGE_SIZE, CLASS_END_OFF);
  }
  store<usize>(cls, bump + cellBytes, CLASS_BUMP_OFF);
  return bump + BLOCK_HEADER_BYTES;
}

function allocSmall(size: usize): usize {
  const sizeClass = sizeClassOf(size);
  const cls = classBase(myArena, sizeClass);
  let ptr = load<usize>(cls, CLASS_FREE_OFF);
  if (ptr == 0) {
    // Take back, in one exchange, every block other instances freed for us.
    ptr = atomic.xchg<usize>(cls + CLASS_REMOTE_OFF, 0);
    if (ptr != 0) {
      let n: u32 = 0;
      for (let p = ptr; p != 0; p = load<usize>(p)) n++;
      store<u32>(myArena, load<u32>(myArena, ARENA_RECLAIMED_OFF) + n, ARENA_RECLAIMED_OFF);
    }
  }
  if (ptr != 0) {
    store<usize>(cls, load<usize>(ptr), CLASS_FREE_OFF);
    if (load<u32>(ptr - BLOCK_HEADER_BYTES) != CELL_FREE) {
      fatal(-EINVAL, "heap free list corrupted at %d (a freed block was written to)", 0, 0, <f64>ptr);
    }
  } else {
    ptr = carve(sizeClass);
    if (ptr == 0) return 0;
  }
  store<u32>(ptr - BLOCK_HEADER_BYTES, CELL_LIVE);
  store<u32>(ptr - 4, <u32>classPayloadBytes(sizeClass));
  return ptr;
}

function allocLarge(size: usize): usize {
  const total = size + LARGE_HEADER_BYTES;
  if (total < size) return 0;
  const pageCount = <u32>((total + PAGE_SIZE - 1) >> PAGE_SHIFT);
  const base = pagesAlloc(pageCount);
  if (base == 0) return 0;
  store<u32>(base, LARGE_MAGIC, SLAB_MAGIC_OFF);
  store<u32>(base, myArenaId, SLAB_OWNER_OFF);
  store<u32>(base, pageCount, SLAB_CLASS_OFF);
  const ptr = base + LARGE_HEADER_BYTES;
  store<u32>(ptr - BLOCK_HEADER_BYTES, CELL_LIVE);
  store<u32>(ptr - 4, <u32>((<usize>pageCount << PAGE_SHIFT) - LARGE_HEADER_BYTES));
  return ptr;
}

/** `size` bytes, 16-byte aligned, not zeroed; 0 when memory is exhausted (the caller decides). */
export function heapAlloc(size: usize): usize {
  checkAttached();
  let ptr: usize = size <= SMALL_MAX_BYTES ? allocSmall(size) : allocLarge(size);
  if (ptr != 0) store<u32>(myArena, load<u32>(myArena, ARENA_LIVE_OFF) + 1, ARENA_LIVE_OFF);
  return ptr;
}

/** Like heapAlloc, zero-filled. */
export function heapAllocZeroed(size: usize): usize {
  const ptr = heapAlloc(size);
  if (ptr != 0) memory.fill(ptr, 0, size);
  return ptr;
}

/** Usable payload bytes of a live block. */
export function heapBlockBytes(ptr: usize): usize {
  return load<u32>(ptr - 4);
}

/** Free a block from any instance; a foreign block is sent back to its owner arena. */
export function heapFree(ptr: usize): void {
  checkAttached();
  if (ptr == 0) return;
  if ((ptr & 15) != 0 || ptr < heapStart() || ptr >= heapTop()) {
    fatal(-EINVAL, "heapFree(%d): not a heap block", 0, 0, <f64>ptr);
  }
  const header = ptr - BLOCK_HEADER_BYTES;
  // Claim the block atomically: two racing frees of one block must not both succeed.
  if (atomic.cmpxchg<u32>(header, CELL_LIVE, CELL_FREE) != CELL_LIVE) {
    fatal(-EINVAL, "heapFree(%d): double free or not an allocated block", 0, 0, <f64>ptr);
  }
  const base = ptr & ~(PAGE_SIZE - 1);
  const magic = load<u32>(base, SLAB_MAGIC_OFF);
  const owner = load<u32>(base, SLAB_OWNER_OFF);
  if (magic == LARGE_MAGIC && ptr == base + LARGE_HEADER_BYTES) {
    pagesFree(base, load<u32>(base, SLAB_CLASS_OFF));
  } else if (magic == SLAB_MAGIC) {
    const sizeClass = load<u32>(base, SLAB_CLASS_OFF);
    if (owner == myArenaId) {
      const cls = classBase(myArena, sizeClass);
      store<usize>(ptr, load<usize>(cls, CLASS_FREE_OFF));
      store<usize>(cls, ptr, CLASS_FREE_OFF);
    } else {
      const ownerArena = atomic.load<usize>(ARENA_TABLE + (<usize>owner << alignof<usize>()));
      const head = classBase(ownerArena, sizeClass) + CLASS_REMOTE_OFF;
      let seen = atomic.load<usize>(head);
      while (true) {
        store<usize>(ptr, seen);
        const was = atomic.cmpxchg<usize>(head, seen, ptr);
        if (was == seen) break;
        seen = was;
      }
      store<u32>(myArena, load<u32>(myArena, ARENA_REMOTE_SENT_OFF) + 1, ARENA_REMOTE_SENT_OFF);
    }
  } else {
    fatal(-EINVAL, "heapFree(%d): block is in no slab (corrupted header)", 0, 0, <f64>ptr);
  }
  store<u32>(myArena, load<u32>(myArena, ARENA_LIVE_OFF) - 1, ARENA_LIVE_OFF);
}

/** Grow or shrink a block, keeping its first min(old, new) bytes. 0 on exhaustion (old block kept). */
export function heapRealloc(ptr: usize, size: usize): usize {
  if (ptr == 0) return heapAlloc(size);
  const have = heapBlockBytes(ptr);
  if (size <= have) return ptr;
  const moved = heapAlloc(size);
  if (moved == 0) return 0;
  memory.copy(moved, ptr, have);
  heapFree(ptr);
  return moved;
}

/**
 * Blocks this instance allocated minus blocks this instance freed (wherever they came from). The sum
 * over all instances is the engine's live block count; the stress test checks it returns to its start.
 */
export function heapLiveBlocks(): i32 { return <i32>load<u32>(myArena, ARENA_LIVE_OFF); }

/** The engine's live blocks: heapLiveBlocksOf summed over every arena (exact only when all are quiet). */
export function heapLiveBlocksAll(): i32 {
  let n: i32 = 0;
  for (let id: u32 = 0; id < MAX_ARENAS; id++) n += heapLiveBlocksOf(id);
  return n;
}

/** heapLiveBlocks of arena `id` (0 if it was never created); summed over arenas: the engine's live blocks. */
export function heapLiveBlocksOf(id: u32): i32 {
  if (id >= MAX_ARENAS) return 0;
  const arena = atomic.load<usize>(ARENA_TABLE + (<usize>id << alignof<usize>()));
  return arena == 0 ? 0 : <i32>load<u32>(arena, ARENA_LIVE_OFF);
}
