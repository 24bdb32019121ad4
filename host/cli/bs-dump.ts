// `wstor bs FILE dump`'s engine: a human-readable dump of a blobstore file, like SPDK's blobcli dump.
// It owns nothing but reading: it opens the file with node:fs (no engine, no wasm), so it works on a
// store the engine would refuse, and decodes it per docs/format.md (offsets as assembly/blob/format.ts).
// Bad data is reported in the text, never thrown; only a missing file or a non-store file throws.
import fs from 'node:fs';

const PAGE = 4096;
const SIGNATURE = 'WSTORBLB';
const CRC_AT = 4092;                 // super block and md pages: CRC32C of bytes [0, 4092)
const NEXT_AT = 4088;                // md page: next page of the chain
const TAG_AT = 12;                   // md page: the store tag
const DESC_START = 16;               // md page: descriptors from here up to NEXT_AT
const NO_NEXT = 0xffffffff;
const VALUE_SHOWN = 64;              // xattr values are truncated to this many bytes
const DESC_NAMES: Record<number, string> = { 1: 'size', 2: 'extents', 3: 'xattr', 4: 'internal xattr', 5: 'flags', 6: 'parent' };
// Blob flag bits by set (FLAGS descriptor): the ones assembly/blob/format.ts knows.
const INVALID_BITS: Record<number, string> = { 0: 'thin' };
const DATA_RO_BITS: Record<number, string> = { 0: 'read-only' };
const MD_RO_BITS: Record<number, string> = {};

// CRC32C (Castagnoli), reflected: the same convention as assembly/runtime/crc32c.ts.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
const hex8 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** Read `len` bytes at `pos`; a short read (past the end of the file) leaves zeroes. */
function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, done, len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return buf;
}

function crcLine(page: Buffer): { ok: boolean; text: string } {
  const stored = page.readUInt32LE(CRC_AT);
  const computed = crc32c(page.subarray(0, CRC_AT));
  return stored === computed
    ? { ok: true, text: `ok (${hex8(stored)})` }
    : { ok: false, text: `CRC mismatch (stored ${hex8(stored)}, computed ${hex8(computed)})` };
}

interface Super {
  version: number; clusterBytes: number; mdStart: number; mdLen: number; maskStart: number; maskLen: number; maskBits: number; clean: number;
  maskCrc: number;
  /** The tag every md page of the store carries (assembly/blob/format.ts storeTag), 0 for none. */
  tag: number;
}

/** The store tag of a super block: CRC32C of its geometry fields and tag seed (docs/format.md). */
function storeTag(sb: Buffer): number {
  if (sb.readUInt32LE(108) === 0) return 0;
  return crc32c(Buffer.concat([sb.subarray(32, 48), sb.subarray(56, 80), sb.subarray(108, 112)]));
}

function dumpSuper(sb: Buffer, out: string[]): Super {
  const s: Super = {
    version: sb.readUInt32LE(8), clean: sb.readUInt32LE(12), clusterBytes: sb.readUInt32LE(32), mdStart: sb.readUInt32LE(56), mdLen: sb.readUInt32LE(60),
    maskStart: sb.readUInt32LE(64), maskLen: sb.readUInt32LE(68), maskBits: sb.readUInt32LE(72), maskCrc: sb.readUInt32LE(104),
    tag: storeTag(sb),
  };
  out.push('super block (page 0)');
  const field = (name: string, value: string | number | bigint): void => { out.push(`  ${name.padEnd(18)} ${value}`); };
  field('signature', JSON.stringify(sb.toString('latin1', 0, 8)));
  field('version', sb.readUInt32LE(8));
  field('clean', s.clean);
  field('flags invalid', hex(sb.readBigUInt64LE(16)));
  field('flags read-only', hex(sb.readBigUInt64LE(24)));
  field('cluster bytes', s.clusterBytes);
  field('io unit bytes', sb.readUInt32LE(36));
  field('md page bytes', sb.readUInt32LE(40));
  field('total clusters', sb.readBigUInt64LE(48));
  field('md_start', s.mdStart);
  field('md_len', s.mdLen);
  field('mask_start', s.maskStart);
  field('mask_len', s.maskLen);
  field('cluster_mask_bits', s.maskBits);
  field('super blob id', hex(sb.readBigUInt64LE(80)));
  field('device bytes', sb.readBigUInt64LE(88));
  field('generation', sb.readBigUInt64LE(96));
  if (s.version >= 2) field('mask crc', hex8(s.maskCrc));
  field('tag seed', hex8(sb.readUInt32LE(108)));
  field('store tag', s.tag === 0 ? 'none (made as version 1)' : hex8(s.tag));
  field('crc', crcLine(sb).text);
  return s;
}

/** Set bits among the first `bits` bits of a mask that starts at page `page`; only what FILE holds is read. */
function countBits(fd: number, page: number, bits: number, fileBytes: number): number {
  const bytes = readAt(fd, page * PAGE, Math.max(0, Math.min(Math.ceil(bits / 8), fileBytes - page * PAGE)));
  let n = 0;
  for (const byte of bytes) for (let b = byte; b !== 0; b &= b - 1) n++;
  return n;
}

// The masks lie one after another, each starting on a page (docs/format.md "Layout").
function dumpMasks(fd: number, s: Super, fileBytes: number, out: string[]): void {
  if (s.clean !== 1) {
    out.push('masks: stale (clean = 0; load rebuilds them from the md pages)');
    return;
  }
  const pagesFor = (bits: number): number => Math.ceil(bits / 8 / PAGE);
  const mdMask = s.maskStart;
  const clusterMask = mdMask + pagesFor(s.mdLen);
  const idMask = clusterMask + pagesFor(s.maskBits);
  out.push('masks (clean)');
  if (s.version >= 2) {
    const regionBytes = Math.min(s.maskLen * PAGE, Math.max(0, fileBytes - s.maskStart * PAGE));
    const crc = crc32c(readAt(fd, s.maskStart * PAGE, regionBytes));
    out.push(`  checksum           ${crc === s.maskCrc ? `ok (${hex8(crc)})` : `MISMATCH (stored ${hex8(s.maskCrc)}, computed ${hex8(crc)}): load recovers`}`);
  }
  out.push(`  used md pages      ${countBits(fd, mdMask, s.mdLen, fileBytes)} of ${s.mdLen}`);
  out.push(`  used clusters      ${countBits(fd, clusterMask, s.maskBits, fileBytes)} of ${s.maskBits}`);
  out.push(`  used blob ids      ${countBits(fd, idMask, s.mdLen, fileBytes)} of ${s.mdLen}`);
}

/** Names of the set bits of a flag word: known ones by name, others as "bit N". */
function flagNames(v: bigint, names: Record<number, string>): string {
  if (v === 0n) return 'none';
  const parts: string[] = [];
  for (let b = 0; b < 64; b++) if ((v >> BigInt(b)) & 1n) parts.push(names[b] ?? `unknown bit ${b}`);
  return `${hex(v)} (${parts.join(', ')})`;
}

/** An xattr value as UTF-8 text if it is printable, else hex; at most VALUE_SHOWN bytes. */
function showValue(v: Buffer): string {
  const shown = v.subarray(0, VALUE_SHOWN);
  const more = v.length > VALUE_SHOWN ? ` … (${v.length} bytes)` : '';
  const text = shown.toString('utf8');
  const printable = !text.includes('\ufffd') && !/[\x00-\x1f\x7f]/.test(text);
  return (printable ? JSON.stringify(text) : `hex ${shown.toString('hex')}`) + more;
}

/** One descriptor's payload as text, or null when its payload is too short for its type. */
function describe(type: number, p: Buffer): string | null {
  switch (type) {
    case 1: return p.length < 8 ? null : `size ${p.readBigUInt64LE(0)} clusters`;
    case 2: {
      if (p.length < 8) return null;
      const runs: string[] = [];
      for (let o = 8; o + 8 <= p.length; o += 8) {
        const c = p.readUInt32LE(o), n = p.readUInt32LE(o + 4);
        runs.push(c === 0 ? `unallocated × ${n}` : `device cluster ${c} × ${n}`);
      }
      return `extents from blob cluster ${p.readBigUInt64LE(0)}: ${runs.join(', ') || '(no runs)'}`;
    }
    case 3: case 4: {
      if (p.length < 8) return null;
      const nameLen = p.readUInt16LE(0), valueLen = p.readUInt32LE(4);
      if (8 + nameLen + valueLen > p.length) return null;
      const name = p.toString('utf8', 8, 8 + nameLen);
      const value = showValue(p.subarray(8 + nameLen, 8 + nameLen + valueLen));
      return `${type === 4 ? 'internal xattr' : 'xattr'} ${name}=${value}`;
    }
    case 5:
      if (p.length < 24) return null;
      return `flags invalid ${flagNames(p.readBigUInt64LE(0), INVALID_BITS)}; data read-only ${flagNames(p.readBigUInt64LE(8), DATA_RO_BITS)}; md read-only ${flagNames(p.readBigUInt64LE(16), MD_RO_BITS)}`;
    case 6: return p.length < 8 ? null : `parent ${hex(p.readBigUInt64LE(0))}`;
    default: return null;
  }
}

/** Walk a page's descriptors; stop at type 0, an unknown type, or one that overruns the area. */
function dumpDescriptors(page: Buffer, out: string[]): void {
  let o = DESC_START;
  while (o + 8 <= NEXT_AT) {
    const type = page[o];
    if (type === 0) return;
    const len = page.readUInt32LE(o + 4);
    if (!(type in DESC_NAMES)) {
      out.push(`    unknown descriptor type ${type} at offset ${o}: rest of page skipped`);
      return;
    }
    if (o + 8 + len > NEXT_AT) {
      out.push(`    ${DESC_NAMES[type]} descriptor at offset ${o} overruns the page (${len} payload bytes): rest of page skipped`);
      return;
    }
    const text = describe(type, page.subarray(o + 8, o + 8 + len));
    out.push(text === null ? `    ${DESC_NAMES[type]} descriptor at offset ${o}: payload of ${len} bytes too short` : `    ${text}`);
    o += (8 + len + 7) & ~7;  // payloads are padded to 8 bytes
  }
}

function dumpPage(index: number, page: Buffer, tag: number, out: string[]): void {
  const crc = crcLine(page);
  const next = page.readUInt32LE(NEXT_AT);
  const pageTag = page.readUInt32LE(TAG_AT);
  out.push(`page ${index}: blob ${hex(page.readBigUInt64LE(0))}, sequence ${page.readUInt32LE(8)}, ` +
    `next ${next === NO_NEXT ? 'none' : next}, crc ${crc.ok ? 'ok' : 'BAD'}${pageTag === tag ? '' : `, tag ${hex8(pageTag)} NOT the store's`}`);
  if (!crc.ok) out.push(`  page ${index}: ${crc.text}`);
  dumpDescriptors(page, out);
}

export function dumpStore(file: string, opts: { pages?: 'used' | 'all' } = {}): string {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
  const fd = fs.openSync(file, 'r');
  try {
    const sb = readAt(fd, 0, PAGE);
    if (sb.toString('latin1', 0, 8) !== SIGNATURE) throw new Error(`${file} holds no wstor blobstore (no signature in block 0)`);
    const fileBytes = fs.fstatSync(fd).size;
    const out: string[] = [`wstor blobstore dump of ${file} (${fileBytes} bytes)`];
    const s = dumpSuper(sb, out);
    dumpMasks(fd, s, fileBytes, out);
    out.push(`md pages ${s.mdStart}..${s.mdStart + s.mdLen - 1} (index within the md region below)`);
    // A damaged md_len may name more pages than FILE has: only those it has are read.
    const shown = Math.max(0, Math.min(s.mdLen, Math.floor(fileBytes / PAGE) - s.mdStart));
    if (shown < s.mdLen) out.push(`  the md region runs past the end of ${file}: only its first ${shown} pages are in it (md_len is damaged, or FILE was cut)`);
    for (let i = 0; i < shown; i++) {
      const page = readAt(fd, (s.mdStart + i) * PAGE, PAGE);
      if (page.every((b) => b === 0)) {
        if (opts.pages === 'all') out.push(`page ${i}: empty`);
        continue;
      }
      dumpPage(i, page, s.tag, out);
    }
    return out.join('\n') + '\n';
  } finally {
    fs.closeSync(fd);
  }
}
