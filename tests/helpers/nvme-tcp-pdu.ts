// NVMe/TCP PDUs for tests and the TypeScript initiator: an encoder for each PDU type (with HPDA/CPDA
// padding and CRC32C header/data digests), a streaming decoder that turns bytes in any split into
// whole, checked PDUs, and overrides on every encoder so a test can send a malformed PDU on purpose.
// The SQE/CQE builders live in nvme-tcp-sqe.ts and are re-exported here: import this file only.
// Facts: ../shared/notes/nvme-tcp.md (NVMe/TCP Transport Specification 1.0, SPDK nvmf_spec.h).
//
// API (stable; other branches merge it):
//   crc32c(bytes, crc?)                          CRC32C as NVMe/TCP digests use it
//   encodeIcReq / encodeIcResp                   128-byte connection set-up PDUs (never digested)
//   encodeCapsuleCmd(sqe, data, opts)            72-byte header + optional in-capsule data
//   encodeCapsuleResp(cqe, opts)                 24-byte header
//   encodeH2CData / encodeC2HData / encodeR2T    data transfer PDUs
//   encodeTermReq(type, fes, fei, offending)     H2C/C2H terminate-connection requests
//   every encoder's last argument may carry `raw` (RawOverrides) to break a field on purpose
//   PduDecoder: push(bytes) -> Pdu[]; throws PduError (with the FES a target would answer) on a bad PDU
export * from './nvme-tcp-sqe.js';

export const PDU = {
  IC_REQ: 0x00, IC_RESP: 0x01, H2C_TERM_REQ: 0x02, C2H_TERM_REQ: 0x03, CAPSULE_CMD: 0x04,
  CAPSULE_RESP: 0x05, H2C_DATA: 0x06, C2H_DATA: 0x07, R2T: 0x09,
} as const;
export type PduType = (typeof PDU)[keyof typeof PDU];

/** Common-header flags. HDGSTF/DDGSTF: a digest follows the header/the data; LAST_PDU, SUCCESS: data PDUs. */
export const PDU_FLAG = { HDGSTF: 0x01, DDGSTF: 0x02, LAST_PDU: 0x04, SUCCESS: 0x08 } as const;

/** Fatal error status of a TermReq (FES). */
export const FES = {
  INVALID_HEADER_FIELD: 1, PDU_SEQUENCE_ERROR: 2, HEADER_DIGEST_ERROR: 3, DATA_OUT_OF_RANGE: 4,
  LIMIT_EXCEEDED: 5, UNSUPPORTED_PARAMETER: 6,
} as const;

export const COMMON_HEADER_BYTES = 8;
export const IC_BYTES = 128;
export const CAPSULE_CMD_HLEN = 72;
export const CAPSULE_RESP_HLEN = 24;
export const DATA_PDU_HLEN = 24;             // H2CData, C2HData, R2T
export const TERM_REQ_HLEN = 24;
export const TERM_REQ_MAX_BYTES = 152;       // header + at most 128 bytes of the offending PDU
export const DIGEST_BYTES = 4;
export const PDA_MAX = 31;                   // HPDA/CPDA: data aligned to (pda + 1) * 4 bytes

/** The fixed header length of each type (the decoder refuses any other). */
const HLEN: Record<number, number> = {
  [PDU.IC_REQ]: IC_BYTES, [PDU.IC_RESP]: IC_BYTES, [PDU.H2C_TERM_REQ]: TERM_REQ_HLEN, [PDU.C2H_TERM_REQ]: TERM_REQ_HLEN,
  [PDU.CAPSULE_CMD]: CAPSULE_CMD_HLEN, [PDU.CAPSULE_RESP]: CAPSULE_RESP_HLEN, [PDU.H2C_DATA]: DATA_PDU_HLEN,
  [PDU.C2H_DATA]: DATA_PDU_HLEN, [PDU.R2T]: DATA_PDU_HLEN,
};
/** Types that may carry data after the header (TermReq carries the offending header, undigested). */
const CARRIES_DATA = new Set<number>([PDU.CAPSULE_CMD, PDU.H2C_DATA, PDU.C2H_DATA, PDU.H2C_TERM_REQ, PDU.C2H_TERM_REQ]);
/** Types that never carry digests (the spec digests neither the IC exchange nor TermReqs). */
const NEVER_DIGESTED = new Set<number>([PDU.IC_REQ, PDU.IC_RESP, PDU.H2C_TERM_REQ, PDU.C2H_TERM_REQ]);

// ---- CRC32C (Castagnoli, reflected 0x82f63b78), slicing by 8 so a benchmark with digests is not bound by it ----
const CRC_TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i] >>> 8) ^ t[t[(s - 1) * 256 + i] & 0xff];
  }
  return t;
})();

/**
 * CRC32C of `bytes` as NVMe/TCP digests store it (init ~0, final xor ~0). `crc` continues an earlier
 * result over more bytes: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n8 = bytes.length & ~7;
  for (; i < n8; i += 8) {
    const lo = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c;
    c = t[7 * 256 + (lo & 0xff)] ^ t[6 * 256 + ((lo >>> 8) & 0xff)] ^ t[5 * 256 + ((lo >>> 16) & 0xff)] ^ t[4 * 256 + (lo >>> 24)] ^
      t[3 * 256 + bytes[i + 4]] ^ t[2 * 256 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- encoding ----

/** What both sides agreed in the IC exchange, as seen by the sender of a PDU. */
export interface PduOptions {
  hdgst?: boolean;
  ddgst?: boolean;
  /** The receiver's PDU data alignment code (CPDA for what the host sends, HPDA for the controller's): 0..31. */
  pda?: number;
  /** Break fields on purpose (a hostile peer). */
  raw?: RawOverrides;
}

/** Values written instead of the computed ones; digests given as numbers are stored as they are. */
export interface RawOverrides {
  type?: number;
  flags?: number;
  hlen?: number;
  pdo?: number;
  plen?: number;
  hdgst?: number;
  ddgst?: number;
  /** Bytes appended after the PDU (plen not adjusted unless `plen` says so). */
  trailing?: Uint8Array;
}

/** Offset of data after a header of `hlen` (+ digest), aligned up to the receiver's (pda + 1) * 4. */
export function dataOffset(hlen: number, hdgst: boolean, pda: number): number {
  if (!Number.isInteger(pda) || pda < 0 || pda > PDA_MAX) throw new RangeError(`PDA ${pda} is outside 0..${PDA_MAX}`);
  const align = (pda + 1) * 4;
  const end = hlen + (hdgst ? DIGEST_BYTES : 0);
  return Math.ceil(end / align) * align;
}

/**
 * One PDU: the 8-byte common header, `psh` (the type-specific header bytes after it, hlen - 8 of
 * them), the header digest, padding to the data offset, the data and its digest.
 */
export function encodePdu(type: number, flags: number, psh: Uint8Array, data: Uint8Array | null, opts: PduOptions = {}): Buffer {
  const raw = opts.raw ?? {};
  const digestable = !NEVER_DIGESTED.has(type);
  const hdgst = digestable && !!opts.hdgst;
  const hasData = data !== null && data.length > 0;
  const ddgst = digestable && hasData && !!opts.ddgst;
  const hlen = COMMON_HEADER_BYTES + psh.length;
  // A TermReq's offending header follows its own at once; its pdo is reserved (0).
  const pdo = hasData && digestable ? dataOffset(hlen, hdgst, opts.pda ?? 0) : 0;
  const headerEnd = hlen + (hdgst ? DIGEST_BYTES : 0);
  const plen = hasData ? (digestable ? pdo : hlen) + data.length + (ddgst ? DIGEST_BYTES : 0) : headerEnd;
  const out = Buffer.alloc(plen + (raw.trailing?.length ?? 0));
  out[0] = raw.type ?? type;
  out[1] = raw.flags ?? (flags | (hdgst ? PDU_FLAG.HDGSTF : 0) | (ddgst ? PDU_FLAG.DDGSTF : 0));
  out[2] = raw.hlen ?? hlen;
  out[3] = raw.pdo ?? pdo;
  out.writeUInt32LE(raw.plen ?? plen, 4);
  out.set(psh, COMMON_HEADER_BYTES);
  if (hdgst) out.writeUInt32LE(raw.hdgst ?? crc32c(out.subarray(0, hlen)), hlen);
  if (hasData) {
    const at = digestable ? pdo : hlen;
    out.set(data, at);
    if (ddgst) out.writeUInt32LE(raw.ddgst ?? crc32c(data), at + data.length);
  }
  if (raw.trailing) out.set(raw.trailing, plen);
  return out;
}

export interface IcReq { pfv?: number; hpda?: number; hdgst?: boolean; ddgst?: boolean; maxr2t?: number }
export interface IcResp { pfv?: number; cpda?: number; hdgst?: boolean; ddgst?: boolean; maxh2cdata: number }

function icPsh(pfv: number, pda: number, hdgst: boolean, ddgst: boolean, last: number): Buffer {
  const psh = Buffer.alloc(IC_BYTES - COMMON_HEADER_BYTES);
  psh.writeUInt16LE(pfv, 0);
  psh[2] = pda;
  psh[3] = (hdgst ? 1 : 0) | (ddgst ? 2 : 0);
  psh.writeUInt32LE(last >>> 0, 4);
  return psh;
}

/** ICReq: `maxr2t` is 0-based (0 = one outstanding R2T), as on the wire. */
export function encodeIcReq(r: IcReq, opts: PduOptions = {}): Buffer {
  return encodePdu(PDU.IC_REQ, 0, icPsh(r.pfv ?? 0, r.hpda ?? 0, !!r.hdgst, !!r.ddgst, r.maxr2t ?? 0), null, opts);
}

export function encodeIcResp(r: IcResp, opts: PduOptions = {}): Buffer {
  return encodePdu(PDU.IC_RESP, 0, icPsh(r.pfv ?? 0, r.cpda ?? 0, !!r.hdgst, !!r.ddgst, r.maxh2cdata), null, opts);
}

/** CapsuleCmd: the 64-byte SQE and optional in-capsule data (the SQE's SGL must say so: sglInCapsule). */
export function encodeCapsuleCmd(sqe: Uint8Array, data: Uint8Array | null, opts: PduOptions = {}): Buffer {
  if (sqe.length !== 64) throw new RangeError(`an SQE is 64 bytes, got ${sqe.length}`);
  return encodePdu(PDU.CAPSULE_CMD, 0, sqe, data, opts);
}

export function encodeCapsuleResp(cqe: Uint8Array, opts: PduOptions = {}): Buffer {
  if (cqe.length !== 16) throw new RangeError(`a CQE is 16 bytes, got ${cqe.length}`);
  return encodePdu(PDU.CAPSULE_RESP, 0, cqe, null, opts);
}

export interface H2CData { cccid: number; ttag: number; datao: number; data: Uint8Array; last: boolean; datal?: number }
export interface C2HData { cccid: number; datao: number; data: Uint8Array; last: boolean; success?: boolean; datal?: number }
export interface R2T { cccid: number; ttag: number; r2to: number; r2tl: number }

/** The 16 bytes after the common header of H2CData/C2HData/R2T: cccid, ttag, offset, length, reserved. */
function dataPsh(cccid: number, ttag: number, offset: number, length: number): Buffer {
  const psh = Buffer.alloc(DATA_PDU_HLEN - COMMON_HEADER_BYTES);
  psh.writeUInt16LE(cccid, 0);
  psh.writeUInt16LE(ttag, 2);
  psh.writeUInt32LE(offset >>> 0, 4);
  psh.writeUInt32LE(length >>> 0, 8);
  return psh;
}

/** H2CData; `datal` overrides the length field (default: data.length). */
export function encodeH2CData(d: H2CData, opts: PduOptions = {}): Buffer {
  return encodePdu(PDU.H2C_DATA, d.last ? PDU_FLAG.LAST_PDU : 0, dataPsh(d.cccid, d.ttag, d.datao, d.datal ?? d.data.length), d.data, opts);
}

/** C2HData; SUCCESS (only with LAST_PDU) tells the host no CapsuleResp follows. */
export function encodeC2HData(d: C2HData, opts: PduOptions = {}): Buffer {
  const flags = (d.last ? PDU_FLAG.LAST_PDU : 0) | (d.success ? PDU_FLAG.SUCCESS : 0);
  return encodePdu(PDU.C2H_DATA, flags, dataPsh(d.cccid, 0, d.datao, d.datal ?? d.data.length), d.data, opts);
}

export function encodeR2T(r: R2T, opts: PduOptions = {}): Buffer {
  return encodePdu(PDU.R2T, 0, dataPsh(r.cccid, r.ttag, r.r2to, r.r2tl), null, opts);
}

/**
 * H2C or C2H TermReq: `fes` (FES.*), `fei` (the offending field's byte offset for FES 1, else 0) and
 * the start of the offending PDU (at most 128 bytes are kept, as the spec bounds it).
 */
export function encodeTermReq(type: typeof PDU.H2C_TERM_REQ | typeof PDU.C2H_TERM_REQ, fes: number, fei: number,
  offending: Uint8Array, opts: PduOptions = {}): Buffer {
  const psh = Buffer.alloc(TERM_REQ_HLEN - COMMON_HEADER_BYTES);
  psh.writeUInt16LE(fes, 0);
  psh.writeUInt32LE(fei >>> 0, 2);
  const kept = offending.subarray(0, TERM_REQ_MAX_BYTES - TERM_REQ_HLEN);
  return encodePdu(type, 0, psh, kept.length > 0 ? kept : null, opts);
}

// ---- decoding ----

interface PduCommon {
  flags: number;
  hlen: number;
  pdo: number;
  plen: number;
  /** The header (hlen bytes), for tests that look at raw fields. */
  header: Buffer;
  /** The data after pdo without padding or digest (empty when the PDU has none). */
  data: Buffer;
}
export type Pdu =
  | (PduCommon & { type: typeof PDU.IC_REQ; pfv: number; hpda: number; hdgst: boolean; ddgst: boolean; maxr2t: number })
  | (PduCommon & { type: typeof PDU.IC_RESP; pfv: number; cpda: number; hdgst: boolean; ddgst: boolean; maxh2cdata: number })
  | (PduCommon & { type: typeof PDU.CAPSULE_CMD; sqe: Buffer })
  | (PduCommon & { type: typeof PDU.CAPSULE_RESP; cqe: Buffer })
  | (PduCommon & { type: typeof PDU.H2C_DATA; cccid: number; ttag: number; datao: number; datal: number; last: boolean })
  | (PduCommon & { type: typeof PDU.C2H_DATA; cccid: number; datao: number; datal: number; last: boolean; success: boolean })
  | (PduCommon & { type: typeof PDU.R2T; cccid: number; ttag: number; r2to: number; r2tl: number })
  | (PduCommon & { type: typeof PDU.H2C_TERM_REQ | typeof PDU.C2H_TERM_REQ; fes: number; fei: number });

/** A PDU the decoder refused: `fes`/`fei` are what a TermReq about it would carry. */
export class PduError extends Error {
  constructor(message: string, readonly fes: number, readonly fei: number, readonly header: Buffer) {
    super(message);
    this.name = 'PduError';
  }
}

export interface DecoderOptions {
  /** Digests negotiated (set them once the IC exchange is done: setDigests). */
  hdgst?: boolean;
  ddgst?: boolean;
  /** The largest plen accepted; more is refused as a limit exceeded (default 1 MiB + 4 KiB). */
  maxPlen?: number;
  /** Accepted types (default: every type). A host's decoder passes the controller-to-host ones. */
  accept?: readonly number[];
}

/**
 * Bytes in, whole PDUs out. Each PDU is checked against its type's fixed hlen, its pdo and plen
 * against each other and the data length fields, and its digests, before it is returned; the first
 * bad one throws PduError and the decoder stays failed (a connection ends at its first bad PDU).
 */
export class PduDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private hdgst: boolean;
  private ddgst: boolean;
  private readonly maxPlen: number;
  private readonly accept: Set<number> | null;
  private failed: PduError | null = null;

  constructor(opts: DecoderOptions = {}) {
    this.hdgst = !!opts.hdgst;
    this.ddgst = !!opts.ddgst;
    this.maxPlen = opts.maxPlen ?? (1 << 20) + 4096;
    this.accept = opts.accept ? new Set(opts.accept) : null;
  }

  setDigests(hdgst: boolean, ddgst: boolean): void {
    this.hdgst = hdgst;
    this.ddgst = ddgst;
  }

  /** Bytes held that are not yet a whole PDU. */
  get pendingBytes(): number { return this.buffered; }

  push(bytes: Uint8Array): Pdu[] {
    if (this.failed) throw this.failed;
    if (bytes.length > 0) {
      this.chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      this.buffered += bytes.length;
    }
    const out: Pdu[] = [];
    for (;;) {
      if (this.buffered < COMMON_HEADER_BYTES) return out;
      const head = this.peek(COMMON_HEADER_BYTES);
      const plen = head.readUInt32LE(4);
      try {
        this.checkCommon(head);
      } catch (e) {
        this.failed = e as PduError;
        throw e;
      }
      if (this.buffered < plen) return out;
      const pdu = this.take(plen);
      try {
        out.push(this.decodeOne(pdu));
      } catch (e) {
        this.failed = e as PduError;
        throw e;
      }
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const whole = this.peek(n);
    const copy = Buffer.from(whole);              // the caller keeps it; the stream's buffers are reused
    this.chunks[0] = this.chunks[0].subarray(n);
    if (this.chunks[0].length === 0) this.chunks.shift();
    this.buffered -= n;
    return copy;
  }

  /** What can be judged from the 8-byte common header alone (so a bad plen never makes us wait for it). */
  private checkCommon(h: Buffer): void {
    const [type, flags, hlen, pdo] = h;
    const plen = h.readUInt32LE(4);
    const fail = (why: string, fes: number, fei: number) => { throw new PduError(why, fes, fei, Buffer.from(h)); };
    if (HLEN[type] === undefined) fail(`unknown PDU type 0x${type.toString(16)}`, FES.INVALID_HEADER_FIELD, 0);
    if (this.accept && !this.accept.has(type)) fail(`PDU type 0x${type.toString(16)} is not one this side receives`, FES.INVALID_HEADER_FIELD, 0);
    if (hlen !== HLEN[type]) fail(`PDU type 0x${type.toString(16)}: hlen ${hlen}, expected ${HLEN[type]}`, FES.INVALID_HEADER_FIELD, 2);
    const digested = !NEVER_DIGESTED.has(type);
    if (digested && !!(flags & PDU_FLAG.HDGSTF) !== this.hdgst) {
      fail(`PDU type 0x${type.toString(16)}: HDGSTF ${flags & PDU_FLAG.HDGSTF ? 'set' : 'clear'} but header digests are ${this.hdgst ? 'on' : 'off'}`, FES.INVALID_HEADER_FIELD, 1);
    }
    const hd = digested && this.hdgst ? DIGEST_BYTES : 0;
    if (plen < hlen + hd) fail(`PDU type 0x${type.toString(16)}: plen ${plen} is shorter than its header (${hlen + hd})`, FES.INVALID_HEADER_FIELD, 4);
    if (plen > this.maxPlen) fail(`PDU type 0x${type.toString(16)}: plen ${plen} is over the limit ${this.maxPlen}`, FES.LIMIT_EXCEEDED, 4);
    if (type === PDU.IC_REQ || type === PDU.IC_RESP) {
      if (plen !== IC_BYTES) fail(`IC PDU plen ${plen}, expected ${IC_BYTES}`, FES.INVALID_HEADER_FIELD, 4);
    }
    if (type === PDU.H2C_TERM_REQ || type === PDU.C2H_TERM_REQ) {
      if (plen > TERM_REQ_MAX_BYTES) fail(`TermReq plen ${plen} is over ${TERM_REQ_MAX_BYTES}`, FES.INVALID_HEADER_FIELD, 4);
    }
    const hasData = plen > hlen + hd;
    if (digested && !!(flags & PDU_FLAG.DDGSTF) !== (hasData && this.ddgst)) {
      fail(`PDU type 0x${type.toString(16)}: DDGSTF ${flags & PDU_FLAG.DDGSTF ? 'set' : 'clear'} on a PDU ${hasData ? 'with' : 'without'} data, data digests ${this.ddgst ? 'on' : 'off'}`, FES.INVALID_HEADER_FIELD, 1);
    }
    if (hasData && !CARRIES_DATA.has(type)) {
      fail(`PDU type 0x${type.toString(16)}: plen ${plen} leaves bytes after a header that carries no data`, FES.INVALID_HEADER_FIELD, 4);
    }
    if (hasData && !NEVER_DIGESTED.has(type) && (pdo < hlen + hd || pdo >= plen)) {
      fail(`PDU type 0x${type.toString(16)}: pdo ${pdo} is outside ${hlen + hd}..${plen - 1}`, FES.INVALID_HEADER_FIELD, 3);
    }
    if (!hasData && pdo !== 0 && !NEVER_DIGESTED.has(type)) {
      fail(`PDU type 0x${type.toString(16)}: pdo ${pdo} without data`, FES.INVALID_HEADER_FIELD, 3);
    }
  }

  private decodeOne(b: Buffer): Pdu {
    const [type, flags, hlen] = b;
    const plen = b.readUInt32LE(4);
    const header = b.subarray(0, hlen);
    const fail = (why: string, fes: number, fei: number): never => { throw new PduError(why, fes, fei, Buffer.from(header)); };
    const digested = !NEVER_DIGESTED.has(type);
    const hd = digested && this.hdgst ? DIGEST_BYTES : 0;
    if (hd) {
      const want = crc32c(header), got = b.readUInt32LE(hlen);
      if (want !== got) fail(`PDU type 0x${type.toString(16)}: header digest 0x${got.toString(16)}, computed 0x${want.toString(16)}`, FES.HEADER_DIGEST_ERROR, 0);
    }
    let data: Buffer = Buffer.alloc(0);
    if (plen > hlen + hd) {
      const pdo = digested ? b[3] : hlen;
      const dd = digested && this.ddgst ? DIGEST_BYTES : 0;
      if (plen - pdo <= dd) fail(`PDU type 0x${type.toString(16)}: plen ${plen} leaves no data after pdo ${pdo}`, FES.INVALID_HEADER_FIELD, 4);
      data = b.subarray(pdo, plen - dd);
      if (dd) {
        const want = crc32c(data), got = b.readUInt32LE(plen - dd);
        // A data digest error is not fatal in the spec: the command fails. The decoder still refuses
        // it here; a caller that wants the spec's behaviour catches PduError with fes 0 and goes on.
        if (want !== got) fail(`PDU type 0x${type.toString(16)}: data digest 0x${got.toString(16)}, computed 0x${want.toString(16)}`, 0, 0);
      }
    }
    const common = { flags, hlen, pdo: b[3], plen, header, data };
    switch (type) {
      case PDU.IC_REQ:
      case PDU.IC_RESP: {
        const pfv = b.readUInt16LE(8), pda = b[10], dgst = b[11], last = b.readUInt32LE(12);
        if (pda > PDA_MAX) fail(`IC PDU: PDA ${pda} is over ${PDA_MAX}`, FES.INVALID_HEADER_FIELD, 10);
        const ic = { pfv, hdgst: !!(dgst & 1), ddgst: !!(dgst & 2) };
        return type === PDU.IC_REQ
          ? { ...common, type, ...ic, hpda: pda, maxr2t: last }
          : { ...common, type, ...ic, cpda: pda, maxh2cdata: last };
      }
      case PDU.CAPSULE_CMD: return { ...common, type, sqe: b.subarray(8, 72) };
      case PDU.CAPSULE_RESP: return { ...common, type, cqe: b.subarray(8, 24) };
      case PDU.H2C_DATA:
      case PDU.C2H_DATA: {
        const cccid = b.readUInt16LE(8), ttag = b.readUInt16LE(10), datao = b.readUInt32LE(12), datal = b.readUInt32LE(16);
        if (datal !== data.length) fail(`data PDU for cid ${cccid}: datal ${datal} but ${data.length} data bytes`, FES.INVALID_HEADER_FIELD, 16);
        const last = !!(flags & PDU_FLAG.LAST_PDU);
        if (type === PDU.H2C_DATA) return { ...common, type, cccid, ttag, datao, datal, last };
        const success = !!(flags & PDU_FLAG.SUCCESS);
        if (success && !last) fail(`C2HData for cid ${cccid}: SUCCESS without LAST_PDU`, FES.INVALID_HEADER_FIELD, 1);
        return { ...common, type, cccid, datao, datal, last, success };
      }
      case PDU.R2T: return { ...common, type, cccid: b.readUInt16LE(8), ttag: b.readUInt16LE(10), r2to: b.readUInt32LE(12), r2tl: b.readUInt32LE(16) };
      default: return { ...common, type: type as typeof PDU.H2C_TERM_REQ, fes: b.readUInt16LE(8), fei: b.readUInt32LE(10) };
    }
  }
}

/** Types a host receives and types a controller receives (PduDecoder's `accept`). */
export const HOST_RECEIVES: readonly number[] = [PDU.IC_RESP, PDU.C2H_TERM_REQ, PDU.CAPSULE_RESP, PDU.C2H_DATA, PDU.R2T];
export const CONTROLLER_RECEIVES: readonly number[] = [PDU.IC_REQ, PDU.H2C_TERM_REQ, PDU.CAPSULE_CMD, PDU.H2C_DATA];
