// What the AssemblyScript example plugins share: the ABI's one import, its window in static memory,
// and the config's JSON read for one string field. Compiled into each plugin (it is not a plugin).

// @ts-ignore: decorator
@external("wstor", "log")
declare function wstor_log(ptr: usize, len: u32): void;

export const OP_READ: i32 = 0;
export const OP_WRITE: i32 = 1;
export const EINVAL: i32 = 22;
export const EILSEQ: i32 = 84;

/** Data (128 KiB at most) then metadata (4 bytes per block of 512 or more: 1 KiB at most). */
export const WINDOW_BYTES: u32 = 128 * 1024 + 1024;
export const WINDOW: usize = memory.data(WINDOW_BYTES, 64);

/** The window, or 0 when the engine asks for more than this plugin holds. */
export function windowFor(bytes: u32): usize { return bytes <= WINDOW_BYTES ? WINDOW : 0; }

/** Log an ASCII message (a static string) through the engine, one byte per character. */
const LINE = memory.data(256);
export function log(message: string): void {
  const n = min(message.length, 256);
  for (let i = 0; i < n; i++) store<u8>(LINE + <usize>i, <u8>message.charCodeAt(i));
  wstor_log(LINE, <u32>n);
}

/**
 * Where the string value of `"field"` starts in the config at [at, at + len), its length in
 * `fieldLength`; -1 when the config has no such field with a string value.
 */
export let fieldLength: i32 = 0;
export function findStringField(at: usize, len: u32, field: string): i32 {
  const n = field.length;
  for (let i: i32 = 0; i + n + 2 <= <i32>len; i++) {
    if (load<u8>(at + <usize>i) != 0x22) continue;                       // '"'
    let same = true;
    for (let j = 0; j < n && same; j++) same = load<u8>(at + <usize>(i + 1 + j)) == <u8>field.charCodeAt(j);
    if (!same || load<u8>(at + <usize>(i + 1 + n)) != 0x22) continue;
    let k = i + n + 2;
    while (k < <i32>len && (load<u8>(at + <usize>k) == 0x20 || load<u8>(at + <usize>k) == 0x3a)) k++;   // spaces, ':'
    if (k >= <i32>len || load<u8>(at + <usize>k) != 0x22) return -1;
    let end = k + 1;
    while (end < <i32>len && load<u8>(at + <usize>end) != 0x22) end++;
    if (end >= <i32>len) return -1;
    fieldLength = end - k - 1;
    return k + 1;
  }
  return -1;
}
