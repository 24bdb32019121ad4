// A namespace's identifiers (NGUID, EUI64, UUID) when the configuration gives none: derived from the
// subsystem NQN, the bdev's name and the NSID, so the same configuration names the same namespace
// after a restart (a host's multipath and udev links keep working), and two namespaces differ.

export const NGUID_BYTES: u32 = 16;
export const EUI64_BYTES: u32 = 8;
export const UUID_BYTES: u32 = 16;

const FNV_PRIME: u64 = 0x100000001b3;
// Two independent 64-bit FNV-1a streams (the standard basis and a second one) give 128 bits.
const BASIS_A: u64 = 0xcbf29ce484222325;
const BASIS_B: u64 = 0x84222325cbf29ce4;

function fnv(h: u64, ptr: usize, bytes: u32): u64 {
  for (let i: u32 = 0; i < bytes; i++) h = (h ^ <u64>load<u8>(ptr + i)) * FNV_PRIME;
  return h;
}

/** 128 bits of (subnqn, NUL, bdev name, NUL, nsid little-endian) into out[0..16). */
function digest128(out: usize, subnqn: usize, subnqnBytes: u32, name: usize, nameBytes: u32, nsid: u32): void {
  assert(nsid != 0, "ns ids: NSID 0 is not a namespace");
  let a = fnv(BASIS_A, subnqn, subnqnBytes), b = fnv(BASIS_B, subnqn, subnqnBytes);
  a *= FNV_PRIME; b *= FNV_PRIME;                     // the NUL separator: "ab"+"c" differs from "a"+"bc"
  a = fnv(a, name, nameBytes); b = fnv(b, name, nameBytes);
  a *= FNV_PRIME; b *= FNV_PRIME;
  for (let i: u32 = 0; i < 4; i++) {
    const byte = <u64>((nsid >> (i << 3)) & 0xff);
    a = (a ^ byte) * FNV_PRIME; b = (b ^ byte) * FNV_PRIME;
  }
  store<u64>(out, a);
  store<u64>(out, b, 8);
}

/**
 * Fill the NGUID (16), EUI64 (8) and UUID (16) a namespace reports when none was configured. The
 * UUID is an RFC 9562 version 8 (custom) UUID; the EUI64 is locally administered (no OUI is ours).
 */
export function nsIdsDerive(nguid: usize, eui64: usize, uuid: usize, subnqn: usize, subnqnBytes: u32, name: usize, nameBytes: u32, nsid: u32): void {
  digest128(nguid, subnqn, subnqnBytes, name, nameBytes, nsid);
  memory.copy(uuid, nguid, UUID_BYTES);
  store<u8>(uuid + 6, (load<u8>(uuid + 6) & 0x0f) | 0x80);      // version 8
  store<u8>(uuid + 8, (load<u8>(uuid + 8) & 0x3f) | 0x80);      // variant 10
  // The EUI64 from the other half, so it is not a prefix of the NGUID: bit 1 of byte 0 set (local), bit 0 clear (unicast).
  memory.copy(eui64, nguid + 8, EUI64_BYTES);
  store<u8>(eui64, (load<u8>(eui64) & 0xfc) | 0x02);
}
