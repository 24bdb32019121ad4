// Arguments of the core's nvmf_* requests that live in core memory: NUL-terminated ASCII strings and
// raw id bytes, copied in before the request is posted and freed once it has ended (the core copies
// what it keeps).
import type { Engine } from './engine.js';
import { WstorError } from './errors.js';

/** A string (sent NUL-terminated), bytes, or nothing (the core gets 0). */
export type CoreArg = string | Uint8Array | undefined;

function copyIn(engine: Engine, value: CoreArg): number {
  if (value === undefined) return 0;
  const bytes = typeof value === 'string' ? Buffer.from(`${value}\0`, 'latin1') : value;
  const ptr = engine.core.wstor_alloc(bytes.length) >>> 0;
  if (ptr === 0) {
    const what = typeof value === 'string' ? `"${value.slice(0, 64)}"` : `a ${bytes.length}-byte id`;
    throw new WstorError('ENOMEM', `the engine's memory has no room for ${what}: free something, or start the engine with more memory`, -12);
  }
  // Read the buffer after the allocation: it may have grown the memory.
  new Uint8Array(engine.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

/** Run request `post` with core copies of `values` (pointers in the same order), freed once it has ended. */
export async function withCoreBytes(engine: Engine, what: string, values: CoreArg[], post: (request: number, ptrs: number[]) => number): Promise<number> {
  const ptrs: number[] = [];
  try {
    for (const v of values) ptrs.push(copyIn(engine, v));
    return await engine.request(what, (r) => post(r, ptrs));
  } finally {
    for (const p of ptrs) if (p !== 0) engine.core.wstor_free(p);
  }
}
