// NVMe-oF namespaces and I/O commands on the deterministic harness: bdevs made through the core's
// exports, a namespace opened on the app thread, and requests of a fake transport's qpair
// (tests/core/nvmf-io-hooks.ts) run on the I/O thread and polled to completion.
import assert from 'node:assert/strict';
import { env, name, request, type Env } from './bdev-env.js';
import { EVENT_TEST } from '../../host/core-abi.js';
import { decodeCqe, type Cqe } from './nvme-tcp-sqe.js';

export const SUBNQN = 'nqn.2016-06.io.spdk:cnode1';

export interface NsEnv extends Env { qpair: number; nextTag: number }

export async function nsEnv(): Promise<NsEnv> {
  const e = await env();
  return Object.assign(e, { qpair: e.h.core.hn_qpair_new(e.thread) >>> 0, nextTag: 1 });
}

/** A NUL-terminated ASCII string in core memory. */
export function ascii(e: Env, text: string): number {
  const bytes = Buffer.from(`${text}\0`, 'latin1');
  const p = e.h.scratch(bytes.length);
  new Uint8Array(e.h.memory.buffer, p, bytes.length).set(bytes);
  return p;
}

export function mallocBdev(e: Env, blocks: number, blockSize = 512, label = 'm0'): number {
  const id = e.h.core.bdev_malloc_create(name(e, label), blockSize, blocks);
  assert.ok(id > 0, `malloc bdev: ${id}`);
  return id;
}
export function nullBdev(e: Env, blocks: number, blockSize = 512, label = 'n0'): number {
  const id = e.h.core.bdev_null_create(name(e, label), blockSize, blocks);
  assert.ok(id > 0, `null bdev: ${id}`);
  return id;
}
export function errorBdev(e: Env, baseId: number, label = 'e0'): number {
  return request(e, (r) => e.h.core.bdev_error_create(r, name(e, label), baseId));
}

/** Events EVENT_TEST with tag `tag`, in order. */
export function tagged(e: Env, tag: number) { return e.h.events.filter((x) => x.kind === EVENT_TEST && x.a === tag); }

/** Open namespace `nsid` over `bdevId`; the NvmfNs pointer and the tag its events carry. */
export function openNs(e: NsEnv, bdevId: number, nsid = 1, nqn = SUBNQN): { ns: number; tag: number } {
  const tag = 9000 + e.nextTag++;
  assert.equal(e.h.core.hn_ns_open(bdevId, nsid, ascii(e, nqn), tag), 0);
  e.h.pollUntil('namespace open', () => tagged(e, tag).length > 0);
  const [ev] = tagged(e, tag);
  assert.equal(ev.b, 0, `nvmfNsOpen: ${ev.b}: ${e.h.messages('error').join('; ')}`);
  return { ns: ev.c >>> 0, tag };
}

/** Close `ns`; resolves to the completions counted when its done ran (after polling to quiet). */
export function closeNs(e: NsEnv, ns: number): number {
  const tag = 9000 + e.nextTag++;
  assert.equal(e.h.core.hn_ns_close(ns, tag), 0);
  e.h.pollUntil('namespace close', () => tagged(e, tag).length > 0);
  return tagged(e, tag)[0].c;
}

export interface Req { ptr: number; iovs: { base: number; len: number }[] }

/** A request with `sqe` and `iovcnt` buffers of `iovBytes`; data (if given) fills them in order. */
export function newReq(e: NsEnv, sqe: Buffer, iovcnt = 0, iovBytes = 0, data?: Uint8Array): Req {
  const ptr = e.h.core.hn_req_new(e.qpair, iovcnt, iovBytes, 100 + e.nextTag++) >>> 0;
  new Uint8Array(e.h.memory.buffer, e.h.core.hn_req_sqe(ptr) >>> 0, 64).set(sqe);
  const table = e.h.core.hn_req_iovs(ptr) >>> 0;
  const iovs = Array.from({ length: iovcnt }, (_, i) => ({ base: e.h.u32(table, 2 * i), len: e.h.u32(table, 2 * i + 1) }));
  if (data) {
    let at = 0;
    for (const v of iovs) { new Uint8Array(e.h.memory.buffer, v.base, v.len).set(data.subarray(at, at + v.len)); at += v.len; }
  }
  return { ptr, iovs };
}

/** The request's buffers, concatenated. */
export function reqData(e: NsEnv, r: Req): Buffer {
  return Buffer.concat(r.iovs.map((v) => Buffer.from(new Uint8Array(e.h.memory.buffer, v.base, v.len))));
}

export function cqeOf(e: NsEnv, r: Req): Cqe {
  return decodeCqe(new Uint8Array(e.h.memory.buffer, e.h.core.hn_req_cqe(r.ptr) >>> 0, 16).slice());
}

/** Give the requests to the I/O path on namespace `ns` (0: none), poll until each completed, then to quiet. */
export function exec(e: NsEnv, ns: number, ...reqs: Req[]): Cqe[] {
  for (const r of reqs) e.h.core.hn_exec(r.ptr, ns);
  e.h.pollUntil('requests to complete', () => reqs.every((r) => e.h.core.hn_req_completions(r.ptr) > 0));
  e.h.pollAll();
  for (const r of reqs) assert.equal(e.h.core.hn_req_completions(r.ptr), 1, 'each request completes exactly once');
  assert.equal(e.h.core.hn_qpair_outstanding(e.qpair), 0, 'the qpair holds no request');
  return reqs.map((r) => cqeOf(e, r));
}

/** Completed bdev I/Os of `id` by type (read, write, flush, unmap, writeZeroes, reset). */
export function bdevOps(e: Env, id: number): number[] {
  const out = e.h.scratch(e.h.core.bdev_stats_bytes());
  assert.equal(e.h.core.bdev_stats(id, out), 0);
  const v = new DataView(e.h.memory.buffer, out, 48);
  return Array.from({ length: 6 }, (_, i) => Number(v.getBigUint64(i * 8, true)));
}

export function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}
