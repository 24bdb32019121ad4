// NVMe submission entries (64 B) an NVMe-oF host sends, and completion entries (16 B) decoded, for
// tests and the TypeScript initiator. Layouts: NVMe Base 2.0 and NVMe-oF 1.1 (the Fabrics commands),
// as assembly/nvme/spec.ts reads them. Builders leave CID 0 and no SGL: the sender sets both
// (setSqeCid, setSqeSgl), because only it knows the free CIDs and whether the data goes in-capsule.
export const SQE_BYTES = 64;
export const CQE_BYTES = 16;
export const CONNECT_DATA_BYTES = 1024;
export const NQN_MAX_BYTES = 223;            // an NQN is at most 223 bytes; its field is 256, NUL-padded

export const ADMIN = {
  GET_LOG_PAGE: 0x02, IDENTIFY: 0x06, ABORT: 0x08, SET_FEATURES: 0x09, GET_FEATURES: 0x0a,
  ASYNC_EVENT_REQUEST: 0x0c, KEEP_ALIVE: 0x18, FABRICS: 0x7f,
} as const;
export const IO = { FLUSH: 0x00, WRITE: 0x01, READ: 0x02, WRITE_ZEROES: 0x08, DSM: 0x09 } as const;
export const FCTYPE = { PROPERTY_SET: 0x00, CONNECT: 0x01, PROPERTY_GET: 0x04, DISCONNECT: 0x08 } as const;
/** Controller properties (offsets) reached through Property Get/Set. */
export const PROP = { CAP: 0x00, VS: 0x08, CC: 0x14, CSTS: 0x1c, NSSR: 0x20 } as const;
export const FEATURE = { ARBITRATION: 0x01, POWER_MGMT: 0x02, NUMBER_OF_QUEUES: 0x07, INTERRUPT_COALESCING: 0x08,
  ASYNC_EVENT_CONFIG: 0x0b, KEEP_ALIVE_TIMER: 0x0f, HOST_IDENTIFIER: 0x81 } as const;
export const CNS = { NAMESPACE: 0x00, CONTROLLER: 0x01, ACTIVE_NS_LIST: 0x02, NS_ID_DESCRIPTORS: 0x03 } as const;
export const LID = { ERROR: 0x01, SMART: 0x02, FIRMWARE: 0x03, CHANGED_NS_LIST: 0x04, DISCOVERY: 0x70 } as const;
/** Flags byte: PSDT 01b (SGL, metadata in one buffer); NVMe-oF commands always carry an SGL. */
export const SQE_FLAG_SGL = 0x40;
/** SGL1 identifier byte: data block at an offset into the in-capsule data, or a transport data block. */
export const SGL_ID = { IN_CAPSULE: 0x01, TRANSPORT: 0x5a } as const;

/** A generic SQE: `cdw` are dwords 10..15 (missing ones 0). Fabrics commands pass `fctype` (byte 4). */
export function sqe(opc: number, opts: { nsid?: number; cdw?: number[]; fctype?: number } = {}): Buffer {
  const b = Buffer.alloc(SQE_BYTES);
  b[0] = opc;
  b[1] = SQE_FLAG_SGL;
  if (opts.fctype !== undefined) b[4] = opts.fctype;
  else b.writeUInt32LE((opts.nsid ?? 0) >>> 0, 4);
  (opts.cdw ?? []).forEach((v, i) => {
    if (i > 5) throw new RangeError('an SQE has command dwords 10..15 only');
    b.writeUInt32LE(v >>> 0, 40 + 4 * i);
  });
  return b;
}

export function setSqeCid(b: Buffer, cid: number): Buffer { b.writeUInt16LE(cid, 2); return b; }
export function sqeCid(b: Uint8Array): number { return b[2] | (b[3] << 8); }
export function sqeOpcode(b: Uint8Array): number { return b[0]; }

/** SGL1 (bytes 24..39): `kind` in-capsule (offset 0 into the capsule's data) or transport (R2T/C2HData). */
export function setSqeSgl(b: Buffer, kind: keyof typeof SGL_ID, length: number): Buffer {
  b.fill(0, 24, 40);
  b.writeUInt32LE(length >>> 0, 32);
  b[39] = SGL_ID[kind === 'IN_CAPSULE' ? 'IN_CAPSULE' : 'TRANSPORT'];
  return b;
}

function lo32(v: bigint): number { return Number(v & 0xffffffffn); }
function hi32(v: bigint): number { return Number((v >> 32n) & 0xffffffffn); }

// ---- Fabrics ----

export interface ConnectParams {
  qid: number;
  /** Queue entries (the SQE carries it 0-based). */
  queueEntries: number;
  /** Keep-alive timeout in ms (admin queue only; 0 = none). */
  katoMs?: number;
  cattr?: number;
}
export function connectSqe(p: ConnectParams): Buffer {
  const b = sqe(ADMIN.FABRICS, { fctype: FCTYPE.CONNECT });
  b.writeUInt16LE(0, 40);                   // RECFMT 0
  b.writeUInt16LE(p.qid, 42);
  b.writeUInt16LE(p.queueEntries - 1, 44);
  b[46] = p.cattr ?? 0;
  b.writeUInt32LE(p.katoMs ?? 0, 48);
  return b;
}

export interface ConnectData { hostId: Uint8Array; cntlid: number; subnqn: string; hostnqn: string }
/** Connect's 1024-byte data: host id (16 B), controller id (0xffff: any, on the admin queue), NQNs. */
export function connectData(d: ConnectData): Buffer {
  if (d.hostId.length !== 16) throw new RangeError(`a host identifier is 16 bytes, got ${d.hostId.length}`);
  const b = Buffer.alloc(CONNECT_DATA_BYTES);
  b.set(d.hostId, 0);
  b.writeUInt16LE(d.cntlid, 16);
  writeNqn(b, 256, d.subnqn);
  writeNqn(b, 512, d.hostnqn);
  return b;
}
function writeNqn(b: Buffer, at: number, nqn: string): void {
  const bytes = Buffer.from(nqn, 'utf8');
  if (bytes.length > 255) throw new RangeError(`an NQN field is 256 bytes; "${nqn.slice(0, 40)}…" is ${bytes.length}`);
  b.set(bytes, at);
}

/** Property Get of a 4- or 8-byte property (the value comes back in CQE dw0/dw1). */
export function propertyGetSqe(offset: number, size: 4 | 8): Buffer {
  const b = sqe(ADMIN.FABRICS, { fctype: FCTYPE.PROPERTY_GET });
  b[40] = size === 8 ? 1 : 0;
  b.writeUInt32LE(offset, 44);
  return b;
}
export function propertySetSqe(offset: number, value: bigint | number, size: 4 | 8): Buffer {
  const b = sqe(ADMIN.FABRICS, { fctype: FCTYPE.PROPERTY_SET });
  b[40] = size === 8 ? 1 : 0;
  b.writeUInt32LE(offset, 44);
  b.writeBigUInt64LE(BigInt(value), 48);
  return b;
}
export function disconnectSqe(): Buffer { return sqe(ADMIN.FABRICS, { fctype: FCTYPE.DISCONNECT }); }

// ---- admin ----

export function identifySqe(cns: number, nsid = 0, cntid = 0, csi = 0): Buffer {
  return sqe(ADMIN.IDENTIFY, { nsid, cdw: [cns | (cntid << 16), csi << 24] });
}
export function setFeaturesSqe(fid: number, cdw11: number, opts: { save?: boolean; nsid?: number } = {}): Buffer {
  return sqe(ADMIN.SET_FEATURES, { nsid: opts.nsid, cdw: [fid | (opts.save ? 0x80000000 : 0), cdw11] });
}
/** `sel`: 0 current, 1 default, 2 saved, 3 supported capabilities. */
export function getFeaturesSqe(fid: number, sel = 0, cdw11 = 0): Buffer {
  return sqe(ADMIN.GET_FEATURES, { cdw: [fid | (sel << 8), cdw11] });
}
/** Get Log Page of `bytes` (a multiple of 4) from `offset`; `rae` keeps an asynchronous event pending. */
export function getLogPageSqe(lid: number, bytes: number, offset = 0, opts: { nsid?: number; lsp?: number; rae?: boolean } = {}): Buffer {
  if (bytes <= 0 || bytes % 4 !== 0) throw new RangeError(`a log page is read in whole dwords, not ${bytes} bytes`);
  const numd = bytes / 4 - 1;
  const off = BigInt(offset);
  return sqe(ADMIN.GET_LOG_PAGE, {
    nsid: opts.nsid ?? 0,
    cdw: [lid | ((opts.lsp ?? 0) << 8) | (opts.rae ? 1 << 15 : 0) | ((numd & 0xffff) << 16), numd >>> 16, lo32(off), hi32(off)],
  });
}
export function keepAliveSqe(): Buffer { return sqe(ADMIN.KEEP_ALIVE); }
export function asyncEventRequestSqe(): Buffer { return sqe(ADMIN.ASYNC_EVENT_REQUEST); }
/** Abort command `cid` on submission queue `sqid`. */
export function abortSqe(sqid: number, cid: number): Buffer { return sqe(ADMIN.ABORT, { cdw: [sqid | (cid << 16)] }); }

// ---- I/O ----

function rwSqe(opc: number, nsid: number, slba: bigint | number, blocks: number, cdw12Flags: number): Buffer {
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > 0x10000) throw new RangeError(`NLB is 1..65536 blocks, not ${blocks}`);
  const lba = BigInt(slba);
  return sqe(opc, { nsid, cdw: [lo32(lba), hi32(lba), ((blocks - 1) | cdw12Flags) >>> 0] });
}
const FUA = 1 << 30;
export function readSqe(nsid: number, slba: bigint | number, blocks: number, opts: { fua?: boolean } = {}): Buffer {
  return rwSqe(IO.READ, nsid, slba, blocks, opts.fua ? FUA : 0);
}
export function writeSqe(nsid: number, slba: bigint | number, blocks: number, opts: { fua?: boolean } = {}): Buffer {
  return rwSqe(IO.WRITE, nsid, slba, blocks, opts.fua ? FUA : 0);
}
export function flushSqe(nsid: number): Buffer { return sqe(IO.FLUSH, { nsid }); }
/** Write Zeroes; `deallocate` (DEAC) lets the controller unmap the range instead. */
export function writeZeroesSqe(nsid: number, slba: bigint | number, blocks: number, opts: { deallocate?: boolean } = {}): Buffer {
  return rwSqe(IO.WRITE_ZEROES, nsid, slba, blocks, opts.deallocate ? 1 << 25 : 0);
}
export interface DsmRange { slba: bigint | number; blocks: number; cattr?: number }
/** Dataset Management over `ranges.length` ranges (its data: dsmRanges); `deallocate` sets AD. */
export function dsmSqe(nsid: number, rangeCount: number, opts: { deallocate?: boolean } = {}): Buffer {
  if (rangeCount < 1 || rangeCount > 256) throw new RangeError(`DSM takes 1..256 ranges, not ${rangeCount}`);
  return sqe(IO.DSM, { nsid, cdw: [rangeCount - 1, opts.deallocate ? 1 << 2 : 0] });
}
export function dsmRanges(ranges: DsmRange[]): Buffer {
  const b = Buffer.alloc(16 * ranges.length);
  ranges.forEach((r, i) => {
    b.writeUInt32LE(r.cattr ?? 0, 16 * i);
    b.writeUInt32LE(r.blocks >>> 0, 16 * i + 4);
    b.writeBigUInt64LE(BigInt(r.slba), 16 * i + 8);
  });
  return b;
}

// ---- completion ----

export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** SC | SCT << 8 | DNR << 14 (assembly/nvme/spec.ts STATUS_* encoding); 0 = success. */
  status: number;
  sc: number;
  sct: number;
  more: boolean;
  dnr: boolean;
}
export function decodeCqe(b: Uint8Array): Cqe {
  if (b.length < CQE_BYTES) throw new RangeError(`a CQE is 16 bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, CQE_BYTES);
  const field = v.readUInt16LE(14);
  const sc = (field >> 1) & 0xff, sct = (field >> 9) & 7, more = !!(field & 0x4000), dnr = !!(field & 0x8000);
  return { dw0: v.readUInt32LE(0), dw1: v.readUInt32LE(4), sqhd: v.readUInt16LE(8), sqid: v.readUInt16LE(10), cid: v.readUInt16LE(12),
    status: sc | (sct << 8) | (dnr ? 1 << 14 : 0), sc, sct, more, dnr };
}
/** A CQE from its fields (`status` in the decodeCqe encoding), for scripted targets in tests. */
export function encodeCqe(c: { cid: number; status?: number; dw0?: number; dw1?: number; sqhd?: number; sqid?: number }): Buffer {
  const b = Buffer.alloc(CQE_BYTES);
  b.writeUInt32LE((c.dw0 ?? 0) >>> 0, 0);
  b.writeUInt32LE((c.dw1 ?? 0) >>> 0, 4);
  b.writeUInt16LE(c.sqhd ?? 0, 8);
  b.writeUInt16LE(c.sqid ?? 0, 10);
  b.writeUInt16LE(c.cid, 12);
  b.writeUInt16LE(((c.status ?? 0) << 1) & 0xfffe, 14);
  return b;
}

const GENERIC_STATUS: Record<number, string> = {
  0x00: 'success', 0x01: 'invalid opcode', 0x02: 'invalid field', 0x03: 'command id conflict', 0x04: 'data transfer error',
  0x06: 'internal error', 0x07: 'aborted by request', 0x08: 'aborted: SQ deleted', 0x0b: 'invalid namespace or format',
  0x0c: 'command sequence error', 0x0d: 'invalid SGL segment descriptor', 0x0f: 'data SGL length invalid',
  0x11: 'SGL descriptor type invalid', 0x16: 'invalid SGL offset', 0x80: 'LBA out of range', 0x81: 'capacity exceeded',
  0x82: 'namespace not ready',
};
const FABRICS_STATUS: Record<number, string> = {
  0x80: 'connect: incompatible format', 0x81: 'connect: controller busy', 0x82: 'connect: invalid parameters',
  0x83: 'connect: restart discovery', 0x84: 'connect: invalid host', 0x85: 'connect: invalid queue type',
};
/** A status (decodeCqe's encoding) in words, e.g. "sct 0 sc 0x80 (LBA out of range), DNR". */
export function statusText(status: number): string {
  const sc = status & 0xff, sct = (status >> 8) & 7;
  const name = sct === 0 ? GENERIC_STATUS[sc] : sct === 1 ? FABRICS_STATUS[sc] : undefined;
  return `sct ${sct} sc 0x${sc.toString(16)}${name ? ` (${name})` : ''}${status & (1 << 14) ? ', DNR' : ''}`;
}
