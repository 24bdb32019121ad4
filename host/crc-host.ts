// The core's `crc32c` import in Node: CRC32C of long ranges of the shared memory with the CPU's
// instruction, through the addon (host/native/src/crc32c.c). Absent (no addon, no instruction, or
// WSTOR_CRC32C_SOFTWARE=1 to compare), the core keeps to its own loop (assembly/runtime/crc32c.ts).
import { loadNative } from './native/index.js';

export type Crc32cHandler = (crc: number, ptr: number, len: number) => number;

export function nodeCrc32c(memory: WebAssembly.Memory): Crc32cHandler | undefined {
  const native = loadNative();
  if (!native || !native.crc32cHardware || process.env.WSTOR_CRC32C_SOFTWARE === '1') return undefined;
  // One view, made again only when the core asks past its end (the memory grew): reading
  // memory.buffer per call makes a new object each time on a shared memory (see uring-host.ts).
  let view = new Uint8Array(memory.buffer);
  return (crc, ptr, len) => {
    if (ptr + len > view.length) view = new Uint8Array(memory.buffer);
    return native.crc32cMemory(view, ptr, len, crc);
  };
}
