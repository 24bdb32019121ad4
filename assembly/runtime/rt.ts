// wstor's runtime for asc (`--runtime ./assembly/runtime/rt.ts`): the hooks the compiler calls, over
// the shared-memory heap. There is no garbage collector: core code frees explicitly (like SPDK's C),
// and managed objects are created only at start-up, never on an I/O path.

import { BLOCK_MAXSIZE, OBJECT, OBJECT_OVERHEAD, BLOCK_OVERHEAD } from "~lib/rt/common";
import { heapAlloc, heapFree, heapRealloc } from "./heap";
import { fatal } from "./host";
import { ENOMEM } from "./errno";

function orDie(ptr: usize, size: usize): usize {
  if (ptr == 0) fatal(-ENOMEM, "out of memory allocating %d bytes (raise the engine's memory size)", 0, 0, <f64>size);
  return ptr;
}

// @ts-ignore: decorator
@unsafe @global
export function __alloc(size: usize): usize {
  if (size > BLOCK_MAXSIZE) fatal(-ENOMEM, "allocation of %d bytes is too large", 0, 0, <f64>size);
  return orDie(heapAlloc(size), size);
}

// @ts-ignore: decorator
@unsafe @global
export function __realloc(ptr: usize, size: usize): usize {
  return orDie(heapRealloc(ptr, size), size);
}

// @ts-ignore: decorator
@unsafe @global
export function __free(ptr: usize): void {
  heapFree(ptr);
}

/**
 * A zeroed object of class `id` with `size` bytes, or 0 when the heap has no room (no trap): for objects
 * the host asks for, where running out of memory is an error to report, not a broken invariant.
 */
export function newObjectOrNull(size: usize, id: u32): usize {
  if (size > BLOCK_MAXSIZE - OBJECT_OVERHEAD) return 0;
  const ptr = heapAlloc(OBJECT_OVERHEAD + size);
  if (ptr == 0) return 0;
  memory.fill(ptr, 0, OBJECT_OVERHEAD + size);
  const object = changetype<OBJECT>(ptr - BLOCK_OVERHEAD);
  object.rtId = id;
  object.rtSize = <u32>size;
  return ptr + OBJECT_OVERHEAD;
}

/** asc relies on zeroed objects from __new (ArrayBuffer, StaticArray and Array skip their own fill). */
// @ts-ignore: decorator
@unsafe @global
export function __new(size: usize, id: u32): usize {
  const ptr = newObjectOrNull(size, id);
  if (ptr == 0) fatal(-ENOMEM, "out of memory allocating %d bytes (raise the engine's memory size)", 0, 0, <f64>size);
  return ptr;
}

// @ts-ignore: decorator
@unsafe @global
export function __renew(oldPtr: usize, size: usize): usize {
  const oldBlock = oldPtr - OBJECT_OVERHEAD;
  const oldSize = <usize>changetype<OBJECT>(oldBlock - BLOCK_OVERHEAD).rtSize;
  const newBlock = __realloc(oldBlock, OBJECT_OVERHEAD + size);
  if (size > oldSize) memory.fill(newBlock + OBJECT_OVERHEAD + oldSize, 0, size - oldSize);
  changetype<OBJECT>(newBlock - BLOCK_OVERHEAD).rtSize = <u32>size;
  return newBlock + OBJECT_OVERHEAD;
}

// No collector: links, pins and visits have nothing to record.
// @ts-ignore: decorator
@global @unsafe
export function __link(parentPtr: usize, childPtr: usize, expectMultiple: bool): void {}

// @ts-ignore: decorator
@global @unsafe
export function __pin(ptr: usize): usize { return ptr; }

// @ts-ignore: decorator
@global @unsafe
export function __unpin(ptr: usize): void {}

// @ts-ignore: decorator
@global @unsafe
export function __visit(ptr: usize, cookie: u32): void {}

// @ts-ignore: decorator
@global @unsafe
export function __collect(): void {}
