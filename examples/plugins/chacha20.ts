// The ChaCha20 plugin (wstor plugin ABI 1): every block encrypted on write and decrypted on read with
// ChaCha20 (RFC 8439) under the 256-bit key from its config ({"key": "<64 hex digits>"}), the nonce
// being 4 zero bytes and the block's LBA (64-bit little-endian), the block counter starting at 1. A
// stream cipher keyed by LBA: what reaches the base is the same length, and no block repeats another's
// keystream. It gives confidentiality only: it neither detects tampering nor hides which blocks changed.
import { OP_READ, OP_WRITE, EINVAL, WINDOW, windowFor, log, findStringField, fieldLength } from "./plugin-abi";

const KEY = memory.data(32, 16);
const STATE = memory.data(64, 16);
const STREAM = memory.data(64, 16);
let blockSize: u32 = 0;

function hexDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x41 + 10);
  return -1;
}

// @ts-ignore: decorator
@inline function quarter(a: usize, b: usize, c: usize, d: usize): void {
  const x = STATE;
  let va = load<u32>(x + a), vb = load<u32>(x + b), vc = load<u32>(x + c), vd = load<u32>(x + d);
  va += vb; vd = rotl<u32>(vd ^ va, 16);
  vc += vd; vb = rotl<u32>(vb ^ vc, 12);
  va += vb; vd = rotl<u32>(vd ^ va, 8);
  vc += vd; vb = rotl<u32>(vb ^ vc, 7);
  store<u32>(x + a, va); store<u32>(x + b, vb); store<u32>(x + c, vc); store<u32>(x + d, vd);
}

/** One 64-byte keystream block into STREAM for (counter, lba). */
function keystream(counter: u32, lba: u64): void {
  const s = STATE;
  store<u32>(s, 0x61707865); store<u32>(s, 0x3320646e, 4); store<u32>(s, 0x79622d32, 8); store<u32>(s, 0x6b206574, 12);
  for (let i: usize = 0; i < 8; i++) store<u32>(s + 16 + (i << 2), load<u32>(KEY + (i << 2)));
  store<u32>(s, counter, 48);
  store<u32>(s, 0, 52);
  store<u32>(s, <u32>lba, 56);
  store<u32>(s, <u32>(lba >> 32), 60);
  for (let i = 0; i < 10; i++) {
    quarter(0, 16, 32, 48); quarter(4, 20, 36, 52); quarter(8, 24, 40, 56); quarter(12, 28, 44, 60);
    quarter(0, 20, 40, 60); quarter(4, 24, 44, 48); quarter(8, 28, 32, 52); quarter(12, 16, 36, 56);
  }
  // The output adds the input state back: rebuild the input word by word (it is cheap and keeps one buffer).
  const input = STREAM;
  store<u32>(input, 0x61707865); store<u32>(input, 0x3320646e, 4); store<u32>(input, 0x79622d32, 8); store<u32>(input, 0x6b206574, 12);
  for (let i: usize = 0; i < 8; i++) store<u32>(input + 16 + (i << 2), load<u32>(KEY + (i << 2)));
  store<u32>(input, counter, 48); store<u32>(input, 0, 52); store<u32>(input, <u32>lba, 56); store<u32>(input, <u32>(lba >> 32), 60);
  for (let i: usize = 0; i < 64; i += 4) store<u32>(input + i, load<u32>(input + i) + load<u32>(s + i));
}

export function wstor_abi_version(): i32 { return 1; }
export function wstor_window(bytes: i32): i32 { return <i32>windowFor(<u32>bytes); }

export function wstor_init(configLen: i32, size: i32): i32 {
  if (size < 64 || (size & 63) != 0) { log("chacha20: the block size must be a multiple of 64 bytes"); return -EINVAL; }
  blockSize = <u32>size;
  const at = findStringField(WINDOW, <u32>configLen, "key");
  if (at < 0 || fieldLength != 64) { log("chacha20: the config needs \"key\": 64 hex digits (a 256-bit key)"); return -EINVAL; }
  for (let i = 0; i < 32; i++) {
    const hi = hexDigit(load<u8>(WINDOW + <usize>(at + 2 * i))), lo = hexDigit(load<u8>(WINDOW + <usize>(at + 2 * i + 1)));
    if (hi < 0 || lo < 0) { log("chacha20: the key has a character that is not a hex digit"); return -EINVAL; }
    store<u8>(KEY + <usize>i, <u8>(hi * 16 + lo));
  }
  return 0;
}

export function wstor_io(op: i32, offsetBlocks: i64, numBlocks: i32): i32 {
  if (op != OP_READ && op != OP_WRITE) return -EINVAL;
  for (let b = 0; b < numBlocks; b++) {
    const block = WINDOW + <usize>b * <usize>blockSize;
    const lba = <u64>offsetBlocks + <u64>b;
    for (let off: u32 = 0; off < blockSize; off += 64) {
      keystream(1 + off / 64, lba);
      for (let i: usize = 0; i < 64; i += 8) store<u64>(block + <usize>off + i, load<u64>(block + <usize>off + i) ^ load<u64>(STREAM + i));
    }
  }
  return 0;
}
