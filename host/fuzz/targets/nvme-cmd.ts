// Target "nvme-cmd" (assembly/fuzz/nvme-cmd.ts): admin and I/O commands straight into a controller the
// harness has connected and enabled. Input: byte 0 flags (bit 0: the admin queue closes first at the
// end), then records {u8 head (bit 0 I/O queue, bits 1-2 buffers - 1, bit 3 wait for the earlier
// commands), u16 LE data length, 64-byte SQE, data for a host-to-controller command}. The mutator
// works record by record: it drops, repeats, swaps and borrows whole records, rewrites SQE fields
// with boundary values (shared with nvmf-tcp), and changes a record's length, queue and buffers.
import {
  identifySqe, getLogPageSqe, getFeaturesSqe, setFeaturesSqe, keepAliveSqe, asyncEventRequestSqe, abortSqe, propertyGetSqe,
  propertySetSqe, writeSqe, readSqe, flushSqe, writeZeroesSqe, dsmSqe, dsmRanges, setSqeCid, CNS, LID, PROP, FEATURE,
} from '../../../tests/helpers/nvme-tcp-pdu.js';
import type { FuzzTarget, MutateContext } from '../targets.js';
import { rewriteSqeField } from './sqe-fields.js';

const SQE_BYTES = 64;
const RECORD_HEAD = 3;
const HEAD_IO_QUEUE = 1, HEAD_BARRIER = 8;
/** The transport's data limit (assembly/fuzz/nvme-cmd.ts DATA_MAX), and lengths on a block's edges. */
const DATA_MAX = 65536;
const LENGTHS = [0, 1, 15, 16, 64, 511, 512, 513, 1024, 4095, 4096, 4097, 8192, 65024, 65535];
const XFER_HOST_TO_CTRLR = 1;
const OPC_FABRICS = 0x7f;

interface CommandRecord { head: number; length: number; sqe: Uint8Array; data: Uint8Array }

/** Whether the SQE's command carries host data, as the core side decides it (nvme/fabrics.ts sqeXfer). */
function carriesData(sqe: Uint8Array): boolean {
  return ((sqe[0] === OPC_FABRICS ? sqe[4] : sqe[0]) & 3) === XFER_HOST_TO_CTRLR;
}

function parse(input: Uint8Array): { flags: number; records: CommandRecord[] } {
  const records: CommandRecord[] = [];
  let at = input.length > 0 ? 1 : 0;
  while (at + RECORD_HEAD + SQE_BYTES <= input.length && records.length < 256) {
    const length = input[at + 1] | (input[at + 2] << 8);
    const sqe = input.slice(at + RECORD_HEAD, at + RECORD_HEAD + SQE_BYTES);
    at += RECORD_HEAD + SQE_BYTES;
    const given = carriesData(sqe) ? Math.min(length, input.length - at) : 0;
    records.push({ head: input[at - RECORD_HEAD - SQE_BYTES], length, sqe, data: input.slice(at, at + given) });
    at += given;
  }
  return { flags: input.length > 0 ? input[0] : 0, records };
}

function encode(flags: number, records: CommandRecord[], maxLen = Infinity): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(flags)];
  for (const r of records) {
    parts.push(Uint8Array.of(r.head, r.length & 0xff, (r.length >> 8) & 0xff), r.sqe);
    // All `length` bytes, zero-padded: a record with fewer would take the next record's as its data.
    if (carriesData(r.sqe)) { const data = new Uint8Array(r.length); data.set(r.data.subarray(0, r.length)); parts.push(data); }
  }
  const out = Buffer.concat(parts);
  return new Uint8Array(out.subarray(0, Math.min(out.length, maxLen)));
}

function record(queue: 'admin' | 'io', sqe: Buffer, cid: number, data: Uint8Array | null = null, length = data ? data.length : 0, head = 0): CommandRecord {
  return { head: head | (queue === 'io' ? HEAD_IO_QUEUE : 0), length, sqe: new Uint8Array(setSqeCid(sqe, cid)), data: data ?? new Uint8Array(0) };
}

function seeds(): Uint8Array[] {
  const block = new Uint8Array(512).fill(0xa5);
  return [
    encode(0, [
      record('admin', identifySqe(CNS.CONTROLLER), 10, null, 4096), record('admin', identifySqe(CNS.NAMESPACE, 1), 11, null, 4096),
      record('admin', identifySqe(CNS.ACTIVE_NS_LIST), 12, null, 4096), record('admin', getLogPageSqe(LID.SMART, 512), 13, null, 512),
      record('admin', getLogPageSqe(LID.ERROR, 64), 14, null, 64), record('admin', propertyGetSqe(PROP.CSTS, 4), 15),
      record('admin', keepAliveSqe(), 16),
    ]),
    encode(1, [
      record('admin', getFeaturesSqe(FEATURE.NUMBER_OF_QUEUES), 20), record('admin', setFeaturesSqe(FEATURE.NUMBER_OF_QUEUES, 0x00010001), 21),
      record('admin', asyncEventRequestSqe(), 22), record('admin', abortSqe(0, 22), 23),
      record('admin', propertySetSqe(PROP.CC, 0x00464001, 4), 24, null, 0, HEAD_BARRIER),   // a shutdown while I/O may run
      record('io', readSqe(1, 0, 1), 25, null, 512),
    ]),
    encode(0, [
      record('io', writeSqe(1, 0, 1), 30, block), record('io', writeSqe(1, 8, 4), 31, new Uint8Array(2048).fill(0x5a), 2048, 2 << 1),
      record('io', readSqe(1, 0, 2), 32, null, 1024, (1 << 1) | HEAD_BARRIER), record('io', flushSqe(1), 33),
      record('io', writeZeroesSqe(1, 16, 8), 34), record('io', dsmSqe(1, 1, { deallocate: true }), 35, dsmRanges([{ slba: 32n, blocks: 8 }])),
      record('io', readSqe(1, 2040, 16), 36, null, 8192),
    ]),
  ];
}

function mutateRecord(r: CommandRecord, rng: MutateContext['rng']): void {
  switch (rng.int(4)) {
    case 0: rewriteSqeField(r.sqe, 0, rng); break;
    case 1: r.length = rng.oneIn(4) ? rng.int(DATA_MAX) : rng.choose(LENGTHS); break;
    case 2: r.head ^= 1 << rng.int(4); break;
    default: {
      const bytes = new Uint8Array(Math.min(r.length, DATA_MAX)).map(() => rng.int(256));
      r.data = rng.oneIn(2) ? bytes : new Uint8Array(r.length).fill(rng.choose([0, 0xff, 0xa5]));
    }
  }
}

function mutate(input: Uint8Array, ctx: MutateContext): Uint8Array | null {
  const { rng } = ctx;
  const { flags, records } = parse(input);
  if (records.length === 0) return null;
  const copy = (r: CommandRecord): CommandRecord => ({ ...r, sqe: r.sqe.slice(), data: r.data.slice() });
  switch (rng.int(6)) {
    case 0: if (records.length > 1) records.splice(rng.int(records.length), 1); break;
    case 1: records.splice(rng.int(records.length + 1), 0, copy(rng.choose(records))); break;
    case 2: { const a = rng.int(records.length), b = rng.int(records.length); [records[a], records[b]] = [records[b], records[a]]; break; }
    case 3: {
      const donor = parse(ctx.other()).records;
      if (donor.length > 0) records.splice(rng.int(records.length + 1), 0, copy(rng.choose(donor)));
      break;
    }
    default: mutateRecord(rng.choose(records), rng);
  }
  return encode(rng.oneIn(16) ? flags ^ 1 : flags, records, ctx.maxLen);
}

export const nvmeCmdTarget: FuzzTarget = {
  name: 'nvme-cmd',
  summary: 'NVMe admin and I/O commands straight into a connected, enabled controller (no transport framing)',
  setupExport: 'fuzz_nvme_cmd_setup',
  runExport: 'fuzz_nvme_cmd_run',
  leaks: true,
  maxLenDefault: 16384,
  seeds,
  dictionary: [],
  mutate,
};
