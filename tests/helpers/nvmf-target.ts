// The NVMe-oF target core on the deterministic harness: the control exports on the app thread, and a
// fake transport's qpairs (tests/core/nvmf-hooks.ts) on two I/O threads, each command built here as
// a host would (tests/helpers/nvme-tcp-sqe.ts), run by message on its qpair's thread, polled to its
// completion and decoded.
import assert from 'node:assert/strict';
import { env, type Env } from './bdev-env.js';
import { ascii } from './nvmf-io-env.js';
export { ascii, mallocBdev } from './nvmf-io-env.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import {
  connectSqe, connectData, propertyGetSqe, propertySetSqe, setSqeCid, decodeCqe, statusText, PROP, type Cqe,
} from './nvme-tcp-sqe.js';

export const SUBNQN = 'nqn.2016-06.io.spdk:cnode1';
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:2b6e4a5c-7b0e-4f7e-9d5e-1c2a3b4c5d6e';
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
export const TCP = 3;
export const IPV4 = 1;
export const DNR = 1 << 14;
export const STATUS = {
  SUCCESS: 0, INVALID_OPCODE: 0x01 | DNR, INVALID_FIELD: 0x02 | DNR, ABORTED_BY_REQUEST: 0x07, ABORTED_SQ_DELETION: 0x08,
  INVALID_NAMESPACE: 0x0b | DNR, COMMAND_SEQUENCE_ERROR: 0x0c | DNR,
  CONNECT_INCOMPATIBLE_FORMAT: 0x180 | DNR, CONNECT_BUSY: 0x181, CONNECT_INVALID_PARAMETERS: 0x182 | DNR, CONNECT_INVALID_HOST: 0x184 | DNR,
  AER_LIMIT_EXCEEDED: 0x105 | DNR, INVALID_LOG_PAGE: 0x109 | DNR, FEATURE_NOT_SAVEABLE: 0x10d | DNR,
} as const;
/** The fake transport's limits. */
export const LIMITS = { maxQueueDepth: 128, maxAqDepth: 32, maxIoQpairs: 4, inCapsule: 8192, maxIo: 131072 } as const;
/** CC with EN, IOSQES 6 and IOCQES 4, as Linux writes it. */
export const CC_ENABLE = 1 | (6 << 16) | (4 << 20);

export interface TargetEnv extends Env { ops: number; io2: number; nextReq: number }

export async function targetEnv(): Promise<TargetEnv> {
  const e = await env();
  const io2 = e.h.core.h_thread_create(2, -1, 1024);
  const ops = e.h.core.hc_transport_new(LIMITS.maxQueueDepth, LIMITS.maxAqDepth, LIMITS.maxIoQpairs, LIMITS.inCapsule, LIMITS.maxIo) >>> 0;
  return Object.assign(e, { ops, io2, nextReq: 7000 });
}

/** Post a control request, run the threads until its EVENT_REQUEST_DONE: [rc, value]. */
export function run(e: TargetEnv, post: (req: number) => number): [number, number] {
  const req = e.nextReq++;
  assert.equal(post(req), 0, 'posted');
  const done = () => e.h.events.find((x) => x.kind === EVENT_REQUEST_DONE && x.a === req);
  e.h.pollUntil(`request ${req}`, () => done() !== undefined);
  return [done()!.b, done()!.c];
}
/** run(), expecting success: the value. */
export function ok(e: TargetEnv, post: (req: number) => number): number {
  const [rc, value] = run(e, post);
  assert.equal(rc, 0, `request failed with ${rc}: ${e.h.messages('error').slice(-2).join('; ')}`);
  return value;
}

export interface SubsystemOptions { serial?: string; model?: string; maxNamespaces?: number; allowAnyHost?: boolean; minCntlid?: number; maxCntlid?: number }
export function subsystemCreate(e: TargetEnv, nqn = SUBNQN, o: SubsystemOptions = {}): [number, number] {
  return run(e, (r) => e.h.core.nvmf_subsystem_create(r, ascii(e, nqn), ascii(e, o.serial ?? 'SPDK00000000000001'),
    ascii(e, o.model ?? 'wstor Controller'), o.maxNamespaces ?? 0, o.allowAnyHost === false ? 0 : 1, o.minCntlid ?? 1, o.maxCntlid ?? 0xffef));
}
/** A subsystem reachable through a new listener (127.0.0.1:port): [sub, listener id]. */
export function subsystemWithListener(e: TargetEnv, nqn = SUBNQN, o: SubsystemOptions = {}, port = '4420'): [number, number] {
  const [rc, sub] = subsystemCreate(e, nqn, o);
  assert.equal(rc, 0, `subsystem create: ${e.h.messages('error').slice(-1)}`);
  const id = listener(e, '127.0.0.1', port);
  ok(e, (r) => e.h.core.nvmf_subsystem_listener_add(r, sub, id));
  return [sub, id];
}
/** A target listener (TCP, IPv4): its id. */
export function listener(e: TargetEnv, addr: string, port: string): number {
  return ok(e, (r) => e.h.core.nvmf_listener_add(r, TCP, IPV4, ascii(e, addr), ascii(e, port)));
}

export function nsAdd(e: TargetEnv, sub: number, bdevId: number, nsid = 0): [number, number] {
  return run(e, (r) => e.h.core.nvmf_ns_add(r, sub, bdevId, nsid, 0, 0, 0));
}

/** A connection's qpair on `thread`, through listener `listenerId`. */
export function qpair(e: TargetEnv, thread: number, listenerId: number, peer = '10.0.2.15', port = 51000): number {
  const q = e.h.core.hc_qpair_new(e.ops, thread, listenerId, ascii(e, peer), port) >>> 0;
  e.h.pollAll();
  return q;
}

export interface Sent { req: number; cqe: () => Cqe; data: () => Buffer; done: () => boolean }

/** Give `sqe` (with `data` to send, or room for `bytes` to receive) to the core on q's thread, without waiting. */
export function submit(e: TargetEnv, q: number, sqe: Buffer, data?: Uint8Array, bytes = 0): Sent {
  const size = data ? data.length : bytes;
  const req = e.h.core.hc_req_new(q, size > 0 ? 1 : 0, size) >>> 0;
  setSqeCid(sqe, e.nextReq++ & 0xffff);
  new Uint8Array(e.h.memory.buffer, e.h.core.hc_req_sqe(req) >>> 0, 64).set(sqe);
  const base = e.h.u32(e.h.core.hc_req_iovs(req) >>> 0, 0);
  if (data) new Uint8Array(e.h.memory.buffer, base, data.length).set(data);
  e.h.core.hc_exec(req);
  return {
    req,
    cqe: () => decodeCqe(new Uint8Array(e.h.memory.buffer, e.h.core.hc_req_cqe(req) >>> 0, 16).slice()),
    data: () => Buffer.from(new Uint8Array(e.h.memory.buffer, base, e.h.core.hc_req_length(req)).slice()),
    done: () => e.h.core.hc_req_completions(req) > 0,
  };
}
/** submit(), then poll until it completed (exactly once): its CQE and the data it returned. */
export function send(e: TargetEnv, q: number, sqe: Buffer, data?: Uint8Array, bytes = 0): { cqe: Cqe; data: Buffer; sqe: Buffer } {
  const s = submit(e, q, sqe, data, bytes);
  e.h.pollUntil(`command 0x${sqe[0].toString(16)} to complete`, s.done);
  e.h.pollAll();
  assert.equal(e.h.core.hc_req_completions(s.req), 1, 'a command completes exactly once');
  return { cqe: s.cqe(), data: s.data(), sqe };
}
export function expectStatus(c: Cqe, status: number, what: string): void {
  assert.equal(c.status, status, `${what}: ${statusText(c.status)}, expected ${statusText(status)}`);
}

export interface ConnectOptions { qid?: number; entries?: number; katoMs?: number; cntlid?: number; subnqn?: string; hostnqn?: string; hostId?: Uint8Array }
export function connect(e: TargetEnv, q: number, o: ConnectOptions = {}): Cqe {
  const sqe = connectSqe({ qid: o.qid ?? 0, queueEntries: o.entries ?? 32, katoMs: o.katoMs ?? 0 });
  const data = connectData({ hostId: o.hostId ?? Buffer.alloc(16, 0xab), cntlid: o.cntlid ?? 0xffff, subnqn: o.subnqn ?? SUBNQN, hostnqn: o.hostnqn ?? HOSTNQN });
  return send(e, q, sqe, data).cqe;
}
export function propGet(e: TargetEnv, q: number, offset: number, size: 4 | 8 = 4): Cqe { return send(e, q, propertyGetSqe(offset, size)).cqe; }
export function propSet(e: TargetEnv, q: number, offset: number, value: number | bigint, size: 4 | 8 = 4): Cqe { return send(e, q, propertySetSqe(offset, value, size)).cqe; }

/** An admin qpair on the env's thread, connected and enabled (CC.EN, CSTS.RDY): [qpair, cntlid]. */
export function adminController(e: TargetEnv, listenerId: number, o: ConnectOptions = {}): [number, number] {
  const q = qpair(e, e.thread, listenerId);
  const c = connect(e, q, o);
  expectStatus(c, STATUS.SUCCESS, 'admin Connect');
  expectStatus(propSet(e, q, PROP.CC, CC_ENABLE), STATUS.SUCCESS, 'CC.EN');
  assert.equal(propGet(e, q, PROP.CSTS).dw0 & 1, 1, 'CSTS.RDY');
  return [q, c.dw0 & 0xffff];
}
