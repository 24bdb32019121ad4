// A Blobstore image as bytes (docs/format.md): the offsets tests forge and corrupt, CRCs recomputed as a
// forger would, and the same on a store file (the CLI's and the engine's file bdevs).
import fs from 'node:fs';
import { crc32c } from '../../host/cli/bs-dump.js';

export const PAGE = 4096;
/** Super block fields (assembly/blob/format.ts). */
export const SB = { version: 8, clean: 12, cluster: 32, ioUnit: 36, mdPage: 40, totalClusters: 48, mdStart: 56, mdLen: 60,
  maskStart: 64, maskLen: 68, clusterMaskBits: 72, superBlob: 80, deviceBytes: 88, generation: 96, maskCrc: 104, crc: 4092 } as const;
/** md page fields. */
export const MDP = { id: 0, sequence: 8, descriptors: 16, next: 4088, crc: 4092 } as const;
export const DESC = { end: 0, size: 1, extents: 2, xattr: 3, internalXattr: 4, flags: 5, parent: 6 } as const;

export const blobIdOf = (page: number): bigint => (1n << 32n) | BigInt(page);
export const pageOf = (id: bigint): number => Number(id & 0xffffffffn);

/** `bytes` bytes of a pattern that differs by seed and by offset (so a misplaced unit shows). */
export function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = (Math.imul(seed + 1, 2654435761) >>> 0) || 1;
  for (let i = 0; i < bytes; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}

/** Recompute a page's CRC32C over bytes [0, 4092) (a super block or an md page), as a forger would. */
export function seal(page: DataView): void {
  const bytes = new Uint8Array(page.buffer, page.byteOffset, MDP.crc);
  page.setUint32(MDP.crc, crc32c(bytes), true);
}

/** Bytes a descriptor with `payload` bytes takes (header and padding); plain arithmetic, as a payload may be forged past 2^31. */
export function descriptorSpan(payload: number): number { return Math.ceil((8 + payload) / 8) * 8; }

/** The offset in md page `page` of its first descriptor of `type`, or -1. */
export function findDescriptor(page: DataView, type: number): number {
  for (let at = MDP.descriptors; at + 8 <= MDP.next;) {
    const t = page.getUint8(at);
    if (t === DESC.end) return -1;
    if (t === type) return at;
    at += descriptorSpan(page.getUint32(at + 4, true));
  }
  return -1;
}

/** Make md page `page` name `parent` as its blob's parent (replacing its parent, or appended), sealed. */
export function setParentDescriptor(page: DataView, parent: bigint): void {
  let at = findDescriptor(page, DESC.parent);
  if (at < 0) {
    at = MDP.descriptors;
    while (page.getUint8(at) !== DESC.end) at += descriptorSpan(page.getUint32(at + 4, true));
    page.setUint8(at, DESC.parent);
    page.setUint32(at + 4, 8, true);
  }
  page.setBigUint64(at + 8, parent, true);
  seal(page);
}

/** One md page of a store file: read, changed by `edit` (a DataView over it), written back. */
export function editFilePage(file: string, mdIndex: number, edit: (page: DataView) => void): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const sb = Buffer.alloc(PAGE);
    fs.readSync(fd, sb, 0, PAGE, 0);
    const at = (sb.readUInt32LE(SB.mdStart) + mdIndex) * PAGE;
    const page = Buffer.alloc(PAGE);
    fs.readSync(fd, page, 0, PAGE, at);
    edit(new DataView(page.buffer, page.byteOffset, PAGE));
    fs.writeSync(fd, page, 0, PAGE, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** The blobs of a store file by their first md pages (valid CRC, id naming the page), with the parent each names. */
export function blobsInFile(file: string): { index: number; parent: bigint }[] {
  const image = fs.readFileSync(file);
  const mdStart = image.readUInt32LE(SB.mdStart), mdLen = image.readUInt32LE(SB.mdLen);
  const out: { index: number; parent: bigint }[] = [];
  for (let i = 0; i < mdLen && (mdStart + i + 1) * PAGE <= image.length; i++) {
    const page = new DataView(image.buffer, image.byteOffset + (mdStart + i) * PAGE, PAGE);
    if (page.getBigUint64(MDP.id, true) !== blobIdOf(i) || page.getUint32(MDP.sequence, true) !== 0) continue;
    if (crc32c(new Uint8Array(page.buffer, page.byteOffset, MDP.crc)) !== page.getUint32(MDP.crc, true)) continue;
    const at = findDescriptor(page, DESC.parent);
    out.push({ index: i, parent: at < 0 ? 0n : page.getBigUint64(at + 8, true) });
  }
  return out;
}
