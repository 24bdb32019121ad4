// Target "nvmf-tcp" (assembly/fuzz/nvmf-tcp.ts): the bytes an NVMe/TCP host sends on one connection
// or two (an admin queue, then an I/O queue of its controller), into the real transport and
// controller. Input: byte 0 = bytes per receive (low 7 bits; 0: all that fit), bit 7: two
// connections, then a u16 LE length of the first stream; then the stream(s). The structure-aware
// mutator works PDU by PDU (framing from each common header): it drops, repeats, swaps and borrows
// whole PDUs, rewrites header and command fields with values that sit on boundaries, and fixes the
// digests the PDU claims, so changes get past the CRC checks.
import {
  PDU, PDU_FLAG, COMMON_HEADER_BYTES, DIGEST_BYTES, crc32c, encodeIcReq, encodeCapsuleCmd, encodeH2CData, encodeTermReq, FES,
  connectSqe, connectData, setSqeCid, setSqeSgl, identifySqe, propertySetSqe, propertyGetSqe, getLogPageSqe, getFeaturesSqe,
  setFeaturesSqe, keepAliveSqe, asyncEventRequestSqe, abortSqe, disconnectSqe, CNS, LID, PROP, FEATURE,
  writeSqe, readSqe, flushSqe, writeZeroesSqe, dsmSqe, dsmRanges,
} from '../../../tests/helpers/nvme-tcp-pdu.js';
import type { FuzzTarget, MutateContext } from '../targets.js';
import { rewriteSqeField, INTERESTING_U32 } from './sqe-fields.js';

/** The subsystem the core side sets up (assembly/fuzz/nvmf-tcp.ts NQN). */
const NQN = 'nqn.2016-06.io.wstor:fuzz';
const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000f022';
const CAPSULE_SQE_AT = COMMON_HEADER_BYTES;
const INTERESTING_U8 = [0, 1, 2, 3, 4, 7, 8, 0x0f, 0x10, 0x18, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff];

function session(subnqn: string, commands: Buffer[], digests = false): Uint8Array {
  const opts = { hdgst: digests, ddgst: digests };
  const out: Buffer[] = [Buffer.from([0]), encodeIcReq({ hdgst: digests, ddgst: digests })];
  const data = connectData({ hostId: Buffer.alloc(16, 0x22), cntlid: 0xffff, subnqn, hostnqn: HOSTNQN });
  out.push(encodeCapsuleCmd(setSqeSgl(setSqeCid(connectSqe({ qid: 0, queueEntries: 32, katoMs: 10_000 }), 1), 'IN_CAPSULE', data.length), data, opts));
  commands.forEach((c, i) => out.push(encodeCapsuleCmd(setSqeSgl(setSqeCid(c, i + 2), 'TRANSPORT', 4096), null, opts)));
  return Buffer.concat(out);
}

/**
 * Two connections: an admin queue that connects and enables the controller (cntlid 1: the first
 * one made from the snapshot), then an I/O queue of it writing, reading, flushing and trimming.
 */
function ioQueueSeed(): Uint8Array {
  const admin = session(NQN, [propertySetSqe(PROP.CC, 0x00460001, 4)]).subarray(1);
  const data = connectData({ hostId: Buffer.alloc(16, 0x22), cntlid: 1, subnqn: NQN, hostnqn: HOSTNQN });
  const block = Buffer.alloc(512, 0xa5);
  const io = Buffer.concat([
    encodeIcReq({}),
    encodeCapsuleCmd(setSqeSgl(setSqeCid(connectSqe({ qid: 1, queueEntries: 32 }), 1), 'IN_CAPSULE', data.length), data),
    encodeCapsuleCmd(setSqeSgl(setSqeCid(writeSqe(1, 0, 1), 2), 'IN_CAPSULE', block.length), block),
    encodeCapsuleCmd(setSqeSgl(setSqeCid(writeSqe(1, 8, 4), 3), 'TRANSPORT', 2048), null),
    encodeH2CData({ cccid: 3, ttag: 0, datao: 0, data: Buffer.alloc(2048, 0x5a), last: true }),
    encodeCapsuleCmd(setSqeSgl(setSqeCid(readSqe(1, 0, 2), 4), 'TRANSPORT', 1024), null),
    encodeCapsuleCmd(setSqeCid(flushSqe(1), 5), null),
    encodeCapsuleCmd(setSqeCid(writeZeroesSqe(1, 16, 8), 6), null),
    encodeCapsuleCmd(setSqeSgl(setSqeCid(dsmSqe(1, 1, { deallocate: true }), 7), 'IN_CAPSULE', 16),
      dsmRanges([{ slba: 32n, blocks: 8 }])),
  ]);
  return join(0, [admin, io], 1 << 16);
}

/** The seeds as plain Uint8Arrays: a Buffer's slice() is a view, and the mutators rely on slice() copying. */
function seeds(): Uint8Array[] {
  return seedBuffers().map((b) => new Uint8Array(b));
}

function seedBuffers(): Uint8Array[] {
  const enable = propertySetSqe(PROP.CC, 0x00460001, 4);
  return [
    Buffer.concat([Buffer.from([0]), encodeIcReq({})]),
    session(NQN, [propertyGetSqe(PROP.CAP, 8), enable, propertyGetSqe(PROP.CSTS, 4), identifySqe(CNS.CONTROLLER),
      identifySqe(CNS.NAMESPACE, 1), identifySqe(CNS.ACTIVE_NS_LIST), getLogPageSqe(LID.SMART, 512), keepAliveSqe()]),
    session(NQN, [enable, getFeaturesSqe(FEATURE.NUMBER_OF_QUEUES), setFeaturesSqe(FEATURE.NUMBER_OF_QUEUES, 0x00010001),
      asyncEventRequestSqe(), abortSqe(0, 5), getLogPageSqe(LID.ERROR, 64), disconnectSqe()], true),
    session(DISCOVERY_NQN, [enable, getLogPageSqe(LID.DISCOVERY, 1024), identifySqe(CNS.CONTROLLER)]),
    ioQueueSeed(),
    Buffer.concat([Buffer.from([3]), encodeIcReq({}), encodeH2CData({ cccid: 1, ttag: 0, datao: 0, data: Buffer.alloc(16), last: true }),
      encodeTermReq(PDU.H2C_TERM_REQ, FES.INVALID_HEADER_FIELD, 0, Buffer.alloc(8))]),
  ];
}

const TWO_CONNECTIONS = 0x80;

/** An input taken apart: the receive size, and one stream per connection (a second one: an I/O queue). */
interface Streams { chunk: number; streams: Uint8Array[] }

function split(input: Uint8Array): Streams {
  const chunk = input.length > 0 ? input[0] & 0x7f : 0;
  if (input.length < 3 || (input[0] & TWO_CONNECTIONS) === 0) return { chunk, streams: [input.subarray(1)] };
  const firstBytes = Math.min(input[1] | (input[2] << 8), input.length - 3);
  return { chunk, streams: [input.subarray(3, 3 + firstBytes), input.subarray(3 + firstBytes)] };
}

function join(chunk: number, streams: Uint8Array[], maxLen: number): Uint8Array {
  const two = streams.length > 1;
  const head = two ? [chunk | TWO_CONNECTIONS, streams[0].length & 0xff, (streams[0].length >> 8) & 0xff] : [chunk];
  const out = new Uint8Array(Math.min(maxLen, head.length + streams.reduce((n, x) => n + x.length, 0)));
  out.set(head.slice(0, out.length));
  let at = head.length;
  for (const x of streams) { if (at >= out.length) break; out.set(x.subarray(0, out.length - at), at); at += x.length; }
  return out;
}

/** The PDUs of one stream, by each common header's PLEN; what does not frame is one tail. */
function pdusOf(stream: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let at = 0;
  while (at < stream.length && out.length < 256) {
    const plen = at + COMMON_HEADER_BYTES <= stream.length ? view.getUint32(at + 4, true) : 0;
    const bytes = plen >= COMMON_HEADER_BYTES && at + plen <= stream.length ? plen : stream.length - at;
    out.push(stream.slice(at, at + bytes));
    at += bytes;
  }
  return out;
}

/** Recompute the digests a PDU's flags claim, after its header or data changed. */
function fixDigests(pdu: Uint8Array): void {
  if (pdu.length < COMMON_HEADER_BYTES) return;
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const flags = pdu[1], hlen = pdu[2], pdo = pdu[3];
  if (pdu[0] === PDU.IC_REQ || pdu[0] === PDU.H2C_TERM_REQ) return;
  if (flags & PDU_FLAG.HDGSTF && hlen >= COMMON_HEADER_BYTES && hlen + DIGEST_BYTES <= pdu.length) view.setUint32(hlen, crc32c(pdu.subarray(0, hlen)), true);
  // Where the PDU says it ends (a rewritten PLEN may say less than the bytes it came with).
  const plen = view.getUint32(4, true);
  const end = plen >= COMMON_HEADER_BYTES && plen <= pdu.length ? plen : pdu.length;
  if (flags & PDU_FLAG.DDGSTF && pdo >= COMMON_HEADER_BYTES && pdo + DIGEST_BYTES <= end) {
    view.setUint32(end - DIGEST_BYTES, crc32c(pdu.subarray(pdo, end - DIGEST_BYTES)), true);
  }
}

/** Change one field of one PDU: a header byte, or a command's opcode, CID, NSID, dwords or SGL. */
function rewriteField(pdu: Uint8Array, rng: MutateContext['rng']): void {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const capsule = pdu[0] === PDU.CAPSULE_CMD && pdu.length >= CAPSULE_SQE_AT + 64;
  if (!capsule || rng.oneIn(3)) {
    const field = rng.int(Math.min(pdu.length, COMMON_HEADER_BYTES));
    if (field >= 4 && pdu.length >= COMMON_HEADER_BYTES) view.setUint32(4, (rng.choose(INTERESTING_U32) + (rng.oneIn(2) ? pdu.length : 0)) >>> 0, true);
    else pdu[field] = rng.choose(INTERESTING_U8);
    return;
  }
  rewriteSqeField(pdu, CAPSULE_SQE_AT, rng);
}

function mutate(input: Uint8Array, ctx: MutateContext): Uint8Array | null {
  if (input.length < 1 + COMMON_HEADER_BYTES) return null;
  const { rng } = ctx;
  const { chunk, streams } = split(input);
  const which = rng.int(streams.length);
  const pdus = pdusOf(streams[which]);
  if (pdus.length === 0) return null;
  switch (rng.int(5)) {
    case 0: if (pdus.length > 1) pdus.splice(rng.int(pdus.length), 1); break;
    case 1: pdus.splice(rng.int(pdus.length + 1), 0, rng.choose(pdus).slice()); break;
    case 2: { const a = rng.int(pdus.length), b = rng.int(pdus.length); [pdus[a], pdus[b]] = [pdus[b], pdus[a]]; break; }
    case 3: {
      const donor = split(ctx.other()).streams.flatMap(pdusOf);
      if (donor.length > 0) pdus.splice(rng.int(pdus.length + 1), 0, rng.choose(donor));
      break;
    }
    default: { const p = rng.choose(pdus); rewriteField(p, rng); fixDigests(p); }
  }
  streams[which] = Buffer.concat(pdus);
  return join(rng.oneIn(8) ? rng.choose([0, 1, 7, 8, 9, 72, 127]) : chunk, streams, ctx.maxLen);
}

export const nvmfTcpTarget: FuzzTarget = {
  name: 'nvmf-tcp',
  summary: 'NVMe/TCP PDU stream of one connection into the transport and a controller (admin, discovery, Fabrics)',
  setupExport: 'fuzz_nvmf_tcp_setup',
  runExport: 'fuzz_nvmf_tcp_run',
  leaks: true,
  maxLenDefault: 8192,
  seeds,
  dictionary: [NQN, DISCOVERY_NQN, HOSTNQN].map((s) => new TextEncoder().encode(s)),
  mutate,
};
