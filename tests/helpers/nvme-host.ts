// Drives the NVMe/TCP host's test hooks (tests/core/nvme-host-hooks.ts) on a test engine: a controller
// brought up on a thread, I/O jobs (write then verified read) on any reactor, their counters.
import type { TestEngine } from './engine.js';
import { SUBNQN, HOSTNQN } from './nvmf-tcp-target.js';
import { until } from './rpc.js';

export const CSTAT = { start: 0, close: 1, nsCount: 2, blockBytes: 3, blocks: 4, inCapsule: 5, oncs: 6, vwc: 7, cntlid: 8, nn: 9, mdts: 10 } as const;
export const JSTAT = { ready: 0, completed: 1, errors: 2, firstError: 3, mismatches: 4, doubles: 5, closed: 6, inFlight: 7, refused: 8, digests: 9 } as const;
export const DGST_HEADER = 1, DGST_DATA = 2;

/** `text` NUL-terminated in engine memory (freed with the engine). */
export function cString(t: TestEngine, text: string): number {
  const bytes = Buffer.from(`${text}\0`);
  const ptr = t.core.h_alloc(bytes.length);
  new Uint8Array(t.engine.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

export interface HostCtrlr { ptr: number; stat(which: number): number }

export async function startCtrlr(t: TestEngine, port: number, o: { digests?: number; subnqn?: string; hostnqn?: string; addr?: string; timeoutMs?: number; reactor?: number } = {}): Promise<HostCtrlr> {
  const thread = t.core.t_thread_create(o.reactor ?? 0);
  const ptr = t.core.hn_ctrlr_start(thread, cString(t, o.addr ?? '127.0.0.1'), port, cString(t, o.subnqn ?? SUBNQN),
    cString(t, o.hostnqn ?? HOSTNQN), o.digests ?? 0, o.timeoutMs ?? 5000);
  const c = { ptr, stat: (w: number) => t.core.hn_ctrlr_stat(ptr, w) };
  await until(() => c.stat(CSTAT.start) !== 1, 'the controller bring-up ends', 20_000);
  return c;
}

export async function closeCtrlr(t: TestEngine, c: HostCtrlr): Promise<void> {
  t.core.hn_ctrlr_close(c.ptr);
  await until(() => c.stat(CSTAT.close) !== 1, 'the controller closes', 10_000);
}

export interface Job { ptr: number; stat(which: number): number }
/** I/O queue ids in use per controller: each job's qpair takes the next. */
const nextQid = new Map<number, number>();
export function startJob(t: TestEngine, c: HostCtrlr, reactor: number, o: { ioBytes: number; count: number; qd: number; entries?: number; seed?: number; qid?: number; lbaStart?: number }): Job {
  const qid = nextQid.get(c.ptr) ?? 1;
  nextQid.set(c.ptr, qid + 1);
  const ptr = t.core.hn_job_start(t.core.t_thread_create(reactor), c.ptr, o.qid ?? qid, o.lbaStart ?? (qid - 1) * 8192, o.ioBytes, o.count, o.qd, o.entries ?? 64, o.seed ?? reactor * 7 + 1);
  return { ptr, stat: (w: number) => t.core.hn_job_stat(ptr, w) };
}
export async function jobDone(j: Job, count: number): Promise<void> {
  await until(() => j.stat(JSTAT.completed) === 2 * count || j.stat(JSTAT.errors) > 0 || j.stat(JSTAT.closed) !== 1, 'the job ends', 30_000);
}
export async function stopJob(t: TestEngine, j: Job): Promise<void> {
  t.core.hn_job_stop(j.ptr);
  await until(() => j.stat(JSTAT.closed) !== 1, 'the job qpair closes', 10_000);
}

