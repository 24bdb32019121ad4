// Reports that quote NVMe-oF strings (NQNs, addresses: NUL-terminated ASCII in shared memory). The host
// decodes a report's %s as a core string (UTF-16 with its byte length before it), so each quoted field
// is copied into a short-lived block of that shape for the one report.
import { heapAlloc, heapFree, report } from "../runtime";

/** The longest run of a field a report quotes (an NQN is at most 223 bytes). */
const QUOTE_MAX_BYTES: u32 = 256;

/** A core string of the ASCII field at `ascii` (up to its NUL or QUOTE_MAX_BYTES); 0 when `ascii` is 0 or out of memory. */
function quote(ascii: usize): usize {
  if (ascii == 0) return 0;
  let n: u32 = 0;
  while (n < QUOTE_MAX_BYTES && load<u8>(ascii + n) != 0) n++;
  const block = heapAlloc(4 + (<usize>n << 1));
  if (block == 0) return 0;
  store<u32>(block, n << 1);
  for (let i: u32 = 0; i < n; i++) store<u16>(block + 4 + (<usize>i << 1), <u16>load<u8>(ascii + i));
  return block + 4;
}

/** report() with s1/s2 taken from NUL-terminated ASCII fields (either may be 0). */
export function reportAscii(level: i32, code: i32, fmt: string, ascii1: usize, ascii2: usize = 0, n1: f64 = 0, n2: f64 = 0): void {
  const s1 = quote(ascii1), s2 = quote(ascii2);
  report(level, code, fmt, s1, s2, n1, n2);
  if (s1 != 0) heapFree(s1 - 4);
  if (s2 != 0) heapFree(s2 - 4);
}

/** report() with s1 from a NUL-terminated ASCII field and s2 a core string (a reason). */
export function reportAsciiWhy(level: i32, code: i32, fmt: string, ascii1: usize, why: string, n1: f64 = 0, n2: f64 = 0): void {
  const s1 = quote(ascii1);
  report(level, code, fmt, s1, changetype<usize>(why), n1, n2);
  if (s1 != 0) heapFree(s1 - 4);
}
