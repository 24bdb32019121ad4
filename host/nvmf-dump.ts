// Reading the core's nvmf_subsystem_dump: a subsystem's controllers and queue pairs as the fixed-size
// records assembly/app/nvmf-exports.ts documents (sizes and offsets below, checked by tests/unit/nvmf-dump).
import type { CoreExports } from './core-abi.js';
import { WstorError } from './errors.js';
import { ERRNO } from './core-constants.js';

export const DUMP_HEADER_BYTES = 16;
export const DUMP_CTRLR_BYTES = 288;
export const DUMP_QPAIR_BYTES = 88;
const CTRLR_HOSTID_AT = 8;
const HOSTID_BYTES = 16;
const CTRLR_HOSTNQN_AT = 24;
const HOSTNQN_FIELD_BYTES = 256;
const CTRLR_FLAGS_AT = 280;
const CTRLR_IO_QUEUES_AT = 284;
const QPAIR_PEER_ADDR_AT = 24;
const PEER_ADDR_FIELD_BYTES = 64;
const FLAG_ENABLED = 1;
const FLAG_READY = 2;
const FLAG_ENDING = 4;
/** A first buffer that holds a few controllers with their queues; a bigger subsystem costs one retry. */
const FIRST_CAPACITY_BYTES = DUMP_HEADER_BYTES + 4 * DUMP_CTRLR_BYTES + 16 * DUMP_QPAIR_BYTES;
/** The dump grows between the sizing call and the retry only if hosts connect meanwhile: a few tries are plenty. */
const MAX_DUMP_TRIES = 4;

/** The core's qpair states (QPAIR_NEW, _CONNECTED, _CLOSING), in SPDK's words for nvmf_subsystem_get_qpairs. */
const QPAIR_STATES = ['uninitialized', 'enabled', 'deactivating'] as const;
export type QpairState = (typeof QPAIR_STATES)[number] | 'unknown';

export interface DumpedController {
  cntlid: number; qpairCount: number; katoMs: number; hostid: string; hostnqn: string;
  enabled: boolean; ready: boolean; ending: boolean; ioQueues: number;
}

export interface DumpedQpair {
  cntlid: number; qid: number; reactor: number; state: QpairState; entries: number;
  peerPort: number; listenerId: number; peerAddr: string;
}

export interface SubsystemDump { controllers: DumpedController[]; qpairs: DumpedQpair[] }

/** A NUL-terminated ASCII field of at most `max` bytes. */
function cString(bytes: Uint8Array, at: number, max: number): string {
  const field = bytes.subarray(at, at + max);
  const end = field.indexOf(0);
  return Buffer.from(field.subarray(0, end < 0 ? max : end)).toString('latin1');
}

/** 16 bytes as a UUID string (SPDK prints hostid that way). */
function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function controllerAt(bytes: Uint8Array, view: DataView, at: number): DumpedController {
  const flags = view.getUint32(at + CTRLR_FLAGS_AT, true);
  return {
    cntlid: view.getUint16(at, true), qpairCount: view.getUint16(at + 2, true), katoMs: view.getUint32(at + 4, true),
    hostid: uuidText(bytes.subarray(at + CTRLR_HOSTID_AT, at + CTRLR_HOSTID_AT + HOSTID_BYTES)),
    hostnqn: cString(bytes, at + CTRLR_HOSTNQN_AT, HOSTNQN_FIELD_BYTES),
    enabled: (flags & FLAG_ENABLED) !== 0, ready: (flags & FLAG_READY) !== 0, ending: (flags & FLAG_ENDING) !== 0,
    ioQueues: view.getUint32(at + CTRLR_IO_QUEUES_AT, true),
  };
}

function qpairAt(bytes: Uint8Array, view: DataView, at: number): DumpedQpair {
  const state = view.getUint32(at + 8, true);
  return {
    cntlid: view.getUint16(at, true), qid: view.getUint16(at + 2, true), reactor: view.getInt32(at + 4, true),
    state: QPAIR_STATES[state] ?? 'unknown', entries: view.getUint32(at + 12, true), peerPort: view.getUint32(at + 16, true),
    listenerId: view.getUint32(at + 20, true), peerAddr: cString(bytes, at + QPAIR_PEER_ADDR_AT, PEER_ADDR_FIELD_BYTES),
  };
}

/**
 * Decode a dump (a copy of the bytes the core wrote). Throws EIO when the header's counts and size
 * disagree with each other or with the bytes there are: a core bug, not a user error.
 */
export function parseSubsystemDump(bytes: Uint8Array): SubsystemDump {
  if (bytes.length < DUMP_HEADER_BYTES) throw new WstorError('EIO', `nvmf_subsystem_dump: ${bytes.length} bytes is shorter than its ${DUMP_HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getUint32(0, true);
  const ctrlrCount = view.getUint32(4, true);
  const qpairCount = view.getUint32(8, true);
  const expected = DUMP_HEADER_BYTES + ctrlrCount * DUMP_CTRLR_BYTES + qpairCount * DUMP_QPAIR_BYTES;
  if (size !== expected || size > bytes.length) {
    throw new WstorError('EIO', `nvmf_subsystem_dump: the header says ${size} bytes for ${ctrlrCount} controllers and ${qpairCount} qpairs ` +
      `(that is ${expected}), with ${bytes.length} bytes written`);
  }
  const controllers: DumpedController[] = [];
  for (let i = 0; i < ctrlrCount; i++) controllers.push(controllerAt(bytes, view, DUMP_HEADER_BYTES + i * DUMP_CTRLR_BYTES));
  const qpairsAt = DUMP_HEADER_BYTES + ctrlrCount * DUMP_CTRLR_BYTES;
  const qpairs: DumpedQpair[] = [];
  for (let i = 0; i < qpairCount; i++) qpairs.push(qpairAt(bytes, view, qpairsAt + i * DUMP_QPAIR_BYTES));
  const listed = controllers.reduce((n, c) => n + c.qpairCount, 0);
  if (listed !== qpairCount) throw new WstorError('EIO', `nvmf_subsystem_dump: its controllers count ${listed} qpairs, its header ${qpairCount}`);
  return { controllers, qpairs };
}

/**
 * Dump subsystem `sub` (a core pointer) through the host's own instance: a first try with room for a
 * few controllers, then, on -ENOSPC, one with the size the header asked for.
 */
export function dumpSubsystem(core: Pick<CoreExports, 'nvmf_subsystem_dump' | 'wstor_alloc' | 'wstor_free'>, memory: WebAssembly.Memory,
                              sub: number, what: string, firstCapacity = FIRST_CAPACITY_BYTES): SubsystemDump {
  let capacity = firstCapacity;
  for (let tries = 0; tries < MAX_DUMP_TRIES; tries++) {
    const buf = core.wstor_alloc(capacity) >>> 0;
    if (buf === 0) throw new WstorError('ENOMEM', `${what}: the engine's memory has no room for a ${capacity}-byte dump: free something, or start the engine with more memory`);
    try {
      const rc = core.nvmf_subsystem_dump(sub, buf, capacity);
      // Read the buffer after the call (a copy: the shared memory's buffer may grow under us).
      const header = new DataView(memory.buffer, buf, DUMP_HEADER_BYTES);
      if (rc === -ERRNO.ENOSPC) { capacity = header.getUint32(0, true); continue; }
      if (rc === -ERRNO.ENOENT) throw new WstorError('ENOENT', `${what}: the core no longer knows the subsystem (deleted meanwhile?)`, rc);
      if (rc < 0) throw WstorError.fromErrno(rc, what);
      return parseSubsystemDump(new Uint8Array(memory.buffer, buf, rc).slice());
    } finally {
      core.wstor_free(buf);
    }
  }
  throw new WstorError('EAGAIN', `${what}: the subsystem's controllers changed ${MAX_DUMP_TRIES} times while it was being dumped: try again`);
}
