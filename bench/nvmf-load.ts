// The load generator of bench/nvmf-tcp.ts, in its own process so that the target's CPU can be told from
// its own. One controller (tests/helpers/nvme-tcp-client.ts connects it and its I/O queues), then each
// I/O queue's socket is driven by a lean loop: one preformed read capsule per command id, patched (LBA,
// header digest) and resent as each completes, writes of one event-loop turn corked into one writev, and
// the target's PDUs parsed in place (data skipped, never copied). Latency goes to a 1 µs histogram.
// Protocol: the parent sends a LoadJob on IPC; this process answers 'measuring' once warm, then a LoadResult.
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { NvmeTcpController } from '../tests/helpers/nvme-tcp-client.js';
import { PDU, PDU_FLAG, CAPSULE_CMD_HLEN, DIGEST_BYTES, COMMON_HEADER_BYTES, crc32c, encodeCapsuleCmd, readSqe, setSqeSgl } from '../tests/helpers/nvme-tcp-pdu.js';

export interface LoadJob {
  port: number; subnqn: string; hostnqn: string;
  queues: number; qdPerQueue: number; blocks: number; blockBytes: number;
  warmupSeconds: number; seconds: number; digests: boolean;
  /** Reads per second per queue (0: as fast as the target answers, `qdPerQueue` always in flight). */
  ratePerQueue: number;
}
export interface LoadResult { ios: number; seconds: number; cpuUs: number; histogram: number[]; errors: string[] }

const HIST_US = 200_000;                      // latencies past 200 ms land in the last bucket
const SQE_CID_AT = CAPSULE_CMD_HLEN - 64 + 2; // the SQE follows the 8-byte common header
const SQE_SLBA_AT = CAPSULE_CMD_HLEN - 64 + 40;
const C2H_CCCID_AT = 8;
const RESP_CID_AT = 8 + 12;
const RESP_STATUS_AT = 8 + 14;

/** One I/O queue's socket at full depth: `qd` reads kept in flight until `stop()`. */
class QueueLoad {
  private readonly capsules: Buffer[] = [];
  private readonly sentAt: Float64Array;
  private readonly header = Buffer.alloc(64);  // a PDU header split over two chunks is gathered here
  private headerHave = 0;
  private skip = 0;                             // bytes of the current PDU after its header
  private finishOnSkip = -1;                    // a C2HData with SUCCESS: this cid completes after its data
  private stopping = false;
  private inFlight = 0;
  ios = 0;
  counting = false;
  readonly errors: string[] = [];
  private drained: (() => void) | null = null;
  // With a rate: command ids waiting for their turn, and how many reads were sent since `startedAt`.
  private readonly waiting: number[] = [];
  private sent = 0;
  private startedAt = 0;
  private pacer: NodeJS.Timeout | null = null;

  constructor(private readonly sock: net.Socket, private readonly job: LoadJob, private readonly histogram: Uint32Array) {
    this.sentAt = new Float64Array(job.qdPerQueue);
    for (let cid = 0; cid < job.qdPerQueue; cid++) {
      const sqe = setSqeSgl(readSqe(1, 0, 1), 'TRANSPORT', job.blockBytes);
      this.capsules.push(encodeCapsuleCmd(sqe, null, { hdgst: job.digests, ddgst: job.digests }));
      this.capsules[cid].writeUInt16LE(cid, SQE_CID_AT);
    }
    sock.on('data', (b: Buffer) => this.onData(b));
    sock.on('error', (e) => this.errors.push(`socket: ${e.message}`));
    // A target that closes ends the run with its reason, never a stop() that waits forever.
    sock.on('close', () => {
      if (this.inFlight > 0) this.errors.push(`the target closed the connection with ${this.inFlight} reads in flight`);
      this.inFlight = 0;
      this.stopping = true;
      if (this.drained) this.drained();
    });
  }

  start(): void {
    this.startedAt = performance.now();
    for (let cid = 0; cid < this.job.qdPerQueue; cid++) this.waiting.push(cid);
    if (this.job.ratePerQueue > 0) this.pacer = setInterval(() => this.sendDue(), 1);
    this.sendDue();
  }

  /** Send the waiting command ids the rate allows by now (all of them without a rate). */
  private sendDue(): void {
    const allowed = this.job.ratePerQueue > 0 ? ((performance.now() - this.startedAt) / 1000) * this.job.ratePerQueue - this.sent : Infinity;
    if (this.stopping || allowed < 1 || this.waiting.length === 0) return;
    this.sock.cork();
    for (let i = 0; i < allowed && this.waiting.length > 0; i++) this.send(this.waiting.pop()!);
    this.sock.uncork();
  }

  /** Stop submitting; resolves when every command in flight has come back. */
  stop(): Promise<void> {
    this.stopping = true;
    if (this.pacer) clearInterval(this.pacer);
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => { this.drained = r; });
  }

  /** Close the queue's connection (after stop(): nothing in flight). */
  end(): void { this.sock.end(); }

  private send(cid: number): void {
    const c = this.capsules[cid];
    const lba = Math.floor(Math.random() * this.job.blocks);
    c.writeUInt32LE(lba >>> 0, SQE_SLBA_AT);
    c.writeUInt32LE(Math.floor(lba / 0x1_0000_0000), SQE_SLBA_AT + 4);
    if (this.job.digests) c.writeUInt32LE(crc32c(c.subarray(0, CAPSULE_CMD_HLEN)) >>> 0, CAPSULE_CMD_HLEN);
    this.sentAt[cid] = performance.now();
    this.inFlight++;
    this.sent++;
    this.sock.write(c);
  }

  private complete(cid: number, status: number): void {
    if (cid >= this.job.qdPerQueue) { this.errors.push(`a completion for cid ${cid}, which was never sent`); return; }
    if (status !== 0) this.errors.push(`cid ${cid}: status 0x${status.toString(16)}`);
    this.inFlight--;
    if (this.counting) {
      this.ios++;
      const us = Math.min(HIST_US - 1, Math.floor((performance.now() - this.sentAt[cid]) * 1000));
      this.histogram[us]++;
    }
    if (this.stopping) { if (this.inFlight === 0 && this.drained) this.drained(); return; }
    this.waiting.push(cid);
    if (this.job.ratePerQueue === 0) this.send(this.waiting.pop()!);
    else this.sendDue();
  }

  private onData(b: Buffer): void {
    this.sock.cork();
    let at = 0;
    while (at < b.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, b.length - at);
        this.skip -= n; at += n;
        if (this.skip === 0 && this.finishOnSkip >= 0) { const cid = this.finishOnSkip; this.finishOnSkip = -1; this.complete(cid, 0); }
        continue;
      }
      // Gather the common header, then the rest of the PDU's header (its HLEN, plus a digest).
      const need = this.headerHave < COMMON_HEADER_BYTES ? COMMON_HEADER_BYTES : this.headerBytes();
      const n = Math.min(need - this.headerHave, b.length - at);
      b.copy(this.header, this.headerHave, at, at + n);
      this.headerHave += n; at += n;
      if (this.headerHave === need && need > COMMON_HEADER_BYTES) this.onHeader();
    }
    this.sock.uncork();
  }

  private headerBytes(): number {
    const hlen = this.header[2];
    return Math.min(this.header.length, hlen + (this.job.digests ? DIGEST_BYTES : 0));
  }

  private onHeader(): void {
    const h = this.header;
    const type = h[0], flags = h[1], plen = h.readUInt32LE(4);
    const headerBytes = this.headerBytes();
    this.headerHave = 0;
    this.skip = plen - headerBytes;
    if (type === PDU.CAPSULE_RESP) this.complete(h.readUInt16LE(RESP_CID_AT), h.readUInt16LE(RESP_STATUS_AT) >> 1);
    else if (type === PDU.C2H_DATA) { if (flags & PDU_FLAG.SUCCESS) this.finishOnSkip = h.readUInt16LE(C2H_CCCID_AT); }
    else this.errors.push(`an unexpected PDU type 0x${type.toString(16)}`);
    if (this.skip === 0 && this.finishOnSkip >= 0) { const cid = this.finishOnSkip; this.finishOnSkip = -1; this.complete(cid, 0); }
  }
}

async function runLoad(job: LoadJob, measuring: () => void): Promise<LoadResult> {
  const ctrl = await NvmeTcpController.connect({ host: '127.0.0.1', port: job.port, subnqn: job.subnqn, hostnqn: job.hostnqn, hdgst: job.digests, ddgst: job.digests });
  const histogram = new Uint32Array(HIST_US);
  const loads: QueueLoad[] = [];
  for (let qid = 1; qid <= job.queues; qid++) {
    const q = await ctrl.ioQueue(qid, job.qdPerQueue + 1);
    loads.push(new QueueLoad(q.takeSocket().sock, job, histogram));
  }
  for (const l of loads) l.start();
  await new Promise((r) => setTimeout(r, job.warmupSeconds * 1000));
  measuring();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const l of loads) l.counting = true;
  await new Promise((r) => setTimeout(r, job.seconds * 1000));
  for (const l of loads) l.counting = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await Promise.all(loads.map((l) => l.stop()));
  for (const l of loads) l.end();
  await ctrl.close();
  return { ios: loads.reduce((a, l) => a + l.ios, 0), seconds, cpuUs: cpu.user + cpu.system, histogram: Array.from(histogram), errors: loads.flatMap((l) => l.errors) };
}

/** The value at quantile `q` (0..1) of a 1 µs histogram, in µs. */
export function histogramQuantile(histogram: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < histogram.length; i++) total += histogram[i];
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) { seen += histogram[i]; if (seen >= total * q) return i; }
  return histogram.length;
}

if (process.send && process.argv.includes('--load-generator')) {
  process.once('message', (job: LoadJob) => {
    runLoad(job, () => process.send!({ type: 'measuring' })).then(
      (r) => process.send!({ type: 'result', result: r }, () => process.exit(0)),
      (e: Error) => process.send!({ type: 'error', message: e.stack ?? e.message }, () => process.exit(1)));
  });
}
