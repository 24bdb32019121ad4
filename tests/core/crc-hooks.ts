// Test-only: the core's CRC32C as it runs (host instruction for long ranges when the host gives one)
// and its own loop, for tests/unit/crc32c-host.test.ts.
import { crc32cUpdate, crc32cLoop } from "../../assembly/runtime";

export function h_crc32c(crc: u32, ptr: usize, len: u32): u32 { return crc32cUpdate(crc, ptr, len); }
export function h_crc32c_loop(crc: u32, ptr: usize, len: u32): u32 { return crc32cLoop(crc, ptr, len); }
