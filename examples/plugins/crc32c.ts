// The CRC32C plugin (wstor plugin ABI 1): a checksum per block, kept as the block's 4 bytes of metadata
// (the engine stores them in its base bdev's tail), made on write and checked on read: a block whose
// data no longer matches fails its read. Stored is crc32c(block) XOR crc32c(a zero block), so a base
// that is all zeroes, data and tail, reads back as valid zero blocks before anything is written.
import { OP_READ, OP_WRITE, EILSEQ, EINVAL, WINDOW, windowFor, log } from "./plugin-abi";

const TABLE = memory.data(256 * 4, 4);
/** "123456789", whose CRC32C is 0xe3069283 (the check value of the CRC catalogues). */
const CHECK = memory.data<u8>([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]);
let blockSize: u32 = 0;
let zeroBlockCrc: u32 = 0;

/** The reflected Castagnoli polynomial (iSCSI, ext4, NVMe's CRC32C). */
const POLY: u32 = 0x82f63b78;

function tableInit(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(TABLE + (<usize>i << 2), c);
  }
}

function crc32c(at: usize, len: u32): u32 {
  let c: u32 = 0xffffffff;
  for (let i: u32 = 0; i < len; i++) c = load<u32>(TABLE + (<usize>((c ^ load<u8>(at + <usize>i)) & 0xff) << 2)) ^ (c >>> 8);
  return c ^ 0xffffffff;
}

/** CRC32C of `len` zero bytes, without a buffer of them. */
function zeroCrc(len: u32): u32 {
  let c: u32 = 0xffffffff;
  for (let i: u32 = 0; i < len; i++) c = load<u32>(TABLE + (<usize>(c & 0xff) << 2)) ^ (c >>> 8);
  return c ^ 0xffffffff;
}

export function wstor_abi_version(): i32 { return 1; }
export function wstor_meta_bytes(): i32 { return 4; }
export function wstor_window(bytes: i32): i32 { return <i32>windowFor(<u32>bytes); }

export function wstor_init(_configLen: i32, size: i32): i32 {
  if (size < 512 || (size & (size - 1)) != 0) { log("crc32c: the block size must be a power of two of 512 or more"); return -EINVAL; }
  blockSize = <u32>size;
  tableInit();
  if (crc32c(CHECK, 9) != 0xe3069283) { log("crc32c: the table fails its check value"); return -EINVAL; }
  zeroBlockCrc = zeroCrc(blockSize);
  return 0;
}

export function wstor_io(op: i32, offsetBlocks: i64, numBlocks: i32): i32 {
  const meta = WINDOW + <usize>numBlocks * <usize>blockSize;
  for (let i = 0; i < numBlocks; i++) {
    const sum = crc32c(WINDOW + <usize>i * <usize>blockSize, blockSize) ^ zeroBlockCrc;
    const slot = meta + (<usize>i << 2);
    if (op == OP_WRITE) { store<u32>(slot, sum); continue; }
    if (op == OP_READ && load<u32>(slot) != sum) {
      log("crc32c: a block's data does not match its checksum: the read fails");
      return -EILSEQ;
    }
  }
  return 0;
}
