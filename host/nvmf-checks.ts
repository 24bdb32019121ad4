// What the NVMe-oF control plane checks in a user's words before the core sees them: NQNs, ASCII
// fields, hexadecimal namespace ids and listen addresses (filled in and spelled as SPDK spells them).
import { WstorError } from './errors.js';
import { NVMF_TRTYPES, type ListenAddressFull } from './nvmf-transports.js';

const NQN_MAX_BYTES = 223;
/** NVMe-oF address family numbers (the discovery log's ADRFAM), by SPDK's name in upper case. */
export const NVMF_ADRFAMS: Readonly<Record<string, number>> = { IPV4: 1, IPV6: 2 };
const DEFAULT_TRSVCID = '4420';

/** A listen address in SPDK's shape (listen_address / address objects). */
export interface ListenAddress { trtype: string; adrfam?: string; traddr: string; trsvcid?: string }

export function fail(code: string, message: string): never { throw new WstorError(code, message); }

/** The NQN rules of NVMe base spec 4.5 that a host would trip over: "nqn." and at most 223 bytes of ASCII. */
export function checkNqn(nqn: string, what = 'NQN'): void {
  if (!/^[\x20-\x7e]+$/.test(nqn)) fail('EINVAL', `${what} "${nqn}" must be printable ASCII`);
  if (nqn.length > NQN_MAX_BYTES) fail('EINVAL', `${what} "${nqn.slice(0, 40)}…" is ${nqn.length} bytes: at most ${NQN_MAX_BYTES}`);
  if (!/^nqn\.\d{4}-\d{2}\.[a-zA-Z0-9.-]+(:.+)?$/.test(nqn)) {
    fail('EINVAL', `${what} "${nqn}" is not an NQN: use nqn.yyyy-mm.reverse.domain:name (e.g. nqn.2016-06.io.spdk:cnode1)`);
  }
}

export function checkAscii(text: string, max: number, what: string): void {
  if (!/^[\x20-\x7e]*$/.test(text)) fail('EINVAL', `${what} "${text}" must be printable ASCII`);
  if (text.length > max) fail('EINVAL', `${what} "${text}" is ${text.length} characters: at most ${max}`);
}

/** `bytes` bytes from hexadecimal digits (dashes allowed, as in a UUID); undefined stays undefined. */
export function hexId(text: string | undefined, bytes: number, what: string): Uint8Array | undefined {
  if (text === undefined) return undefined;
  const hex = text.replace(/-/g, '');
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(hex)) fail('EINVAL', `${what} "${text}" must be ${bytes * 2} hexadecimal digits`);
  return Uint8Array.from({ length: bytes }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

/** Fill in and check a listen address: a known trtype, adrfam IPv4/IPv6 (from the address when not given), a port. */
export function normalizeAddress(a: ListenAddress): ListenAddressFull {
  const trtype = a.trtype.toUpperCase();
  if (!(trtype in NVMF_TRTYPES)) fail('ENOTSUP', `trtype ${a.trtype} is not supported (known: ${Object.keys(NVMF_TRTYPES).join(', ')})`);
  const family = (a.adrfam ?? (a.traddr.includes(':') ? 'IPv6' : 'IPv4')).toUpperCase();
  if (!(family in NVMF_ADRFAMS)) fail('ENOTSUP', `adrfam ${a.adrfam} is not supported for ${trtype} (IPv4 or IPv6)`);
  const adrfam = family === 'IPV4' ? 'IPv4' : 'IPv6';
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a.traddr);
  if (adrfam === 'IPv4' && (!ipv4 || ipv4.slice(1).some((o) => Number(o) > 255))) fail('EINVAL', `traddr "${a.traddr}" is not an IPv4 address (e.g. 127.0.0.1)`);
  if (adrfam === 'IPv6' && !/^[0-9a-fA-F:.]+$/.test(a.traddr)) fail('EINVAL', `traddr "${a.traddr}" is not an IPv6 address (e.g. ::1)`);
  const trsvcid = a.trsvcid ?? DEFAULT_TRSVCID;
  if (!/^\d{1,5}$/.test(trsvcid) || Number(trsvcid) < 1 || Number(trsvcid) > 65535) fail('EINVAL', `trsvcid "${trsvcid}" must be a TCP port from 1 to 65535`);
  return { trtype, adrfam, traddr: a.traddr, trsvcid: String(Number(trsvcid)) };
}

export const addressKey = (a: ListenAddressFull) => `${a.trtype}/${a.adrfam}/${a.traddr}/${a.trsvcid}`;
export const sameAddress = (a: ListenAddressFull, b: ListenAddressFull) => addressKey(a) === addressKey(b);
export const addressText = (a: ListenAddressFull) => (a.adrfam === 'IPv6' ? `[${a.traddr}]:${a.trsvcid}` : `${a.traddr}:${a.trsvcid}`);
