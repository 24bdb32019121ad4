// A small NVMe/TCP initiator for tests and the load generator: one TCP connection per queue, the IC
// exchange, Fabrics Connect, the enable handshake on the admin queue, and commands with their data
// (in-capsule or through R2T/H2CData for writes; C2HData, with or without SUCCESS, for reads).
// Built on nvme-tcp-pdu.ts; every PDU the target sends is checked by its decoder, and anything the
// protocol does not allow at that point fails the queue (and every command on it) with the reason.
import net from 'node:net';
import {
  PDU, PduDecoder, HOST_RECEIVES, encodeIcReq, encodeCapsuleCmd, encodeH2CData, decodeCqe, setSqeCid, setSqeSgl,
  connectSqe, connectData, propertyGetSqe, propertySetSqe, identifySqe, CNS, PROP, encodeTermReq, FES,
  type Pdu, type Cqe, type PduOptions,
} from './nvme-tcp-pdu.js';

export interface QueueOptions {
  host: string;
  port: number;
  subnqn: string;
  hostnqn: string;
  /** 16 bytes; default: derived from hostnqn. */
  hostId?: Uint8Array;
  hdgst?: boolean;
  ddgst?: boolean;
  /** Entries of this queue (Connect's SQSIZE + 1). */
  queueEntries?: number;
  /** Admin queue only: keep-alive timeout in ms (0: none). */
  katoMs?: number;
  /** Bytes of data a command may carry in its capsule (the controller's IOCCSZ; 0: always R2T). */
  inCapsuleBytes?: number;
  /** How long a command may take before the queue fails (default 10 s). */
  timeoutMs?: number;
}

export interface Completion { cqe: Cqe; data: Buffer }

/** A failed queue: every command on it rejects with this. */
export class QueueError extends Error {
  constructor(message: string, readonly termReq?: { fes: number; fei: number }) { super(message); this.name = 'QueueError'; }
}

interface Pending {
  resolve: (c: Completion) => void;
  reject: (e: Error) => void;
  write: Buffer | null;       // data still to send on R2T
  read: Buffer | null;        // where C2HData lands
  received: number;
  timer: NodeJS.Timeout;
}

function defaultHostId(hostnqn: string): Uint8Array {
  const id = new Uint8Array(16);
  for (let i = 0; i < hostnqn.length; i++) id[i % 16] = (id[i % 16] * 31 + hostnqn.charCodeAt(i)) & 0xff;
  return id;
}

/** One queue pair: a TCP connection that has done the IC exchange and Connect. */
export class NvmeTcpQueue {
  readonly qid: number;
  cntlid = 0;
  maxh2cdata = 0;
  private readonly decoder: PduDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly freeCids: number[] = [];
  private failure: QueueError | null = null;
  private readonly opts: PduOptions;
  private icDone: ((maxh2cdata: number) => void) | null = null;
  private readonly closed: Promise<void>;

  private constructor(private readonly sock: net.Socket, private readonly o: QueueOptions, qid: number) {
    this.qid = qid;
    this.opts = { hdgst: !!o.hdgst, ddgst: !!o.ddgst };
    this.decoder = new PduDecoder({ accept: HOST_RECEIVES });
    const entries = o.queueEntries ?? 32;
    for (let cid = entries - 2; cid >= 0; cid--) this.freeCids.push(cid);   // one entry stays empty (a full queue's rule)
    sock.setNoDelay(true);
    sock.on('data', (b) => this.onData(b));
    this.closed = new Promise((resolve) => sock.on('close', () => { this.fail('the target closed the connection'); resolve(); }));
    sock.on('error', (e) => this.fail(`socket: ${e.message}`));
  }

  /** Connect queue `qid` (0: admin, which makes a controller; else an I/O queue of controller `cntlid`). */
  static async connect(o: QueueOptions, qid = 0, cntlid = 0xffff): Promise<NvmeTcpQueue> {
    const sock = net.connect(o.port, o.host);
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const q = new NvmeTcpQueue(sock, o, qid);
    q.maxh2cdata = await new Promise<number>((resolve, reject) => {
      q.icDone = resolve;
      q.closed.then(() => reject(q.failure));
      sock.write(encodeIcReq({ hdgst: !!o.hdgst, ddgst: !!o.ddgst, maxr2t: 0 }));
    });
    const entries = o.queueEntries ?? 32;
    const data = connectData({ hostId: o.hostId ?? defaultHostId(o.hostnqn), cntlid, subnqn: o.subnqn, hostnqn: o.hostnqn });
    const c = await q.submit(connectSqe({ qid, queueEntries: entries, katoMs: qid === 0 ? o.katoMs ?? 0 : 0 }), { write: data, inCapsule: true });
    if (c.cqe.status !== 0) {
      q.close();
      throw new QueueError(`Connect (qid ${qid}) refused: status 0x${c.cqe.status.toString(16)} dw0 0x${c.cqe.dw0.toString(16)}`);
    }
    q.cntlid = c.cqe.dw0 & 0xffff;
    return q;
  }

  get failed(): QueueError | null { return this.failure; }
  get inFlight(): number { return this.pending.size; }

  /**
   * Send `sqe` (its CID and SGL are set here). `write`: data to the controller, in the capsule when it
   * fits (or `inCapsule` forces it), else on R2T. `readBytes`: data the command returns.
   */
  submit(sqe: Buffer, io: { write?: Buffer; readBytes?: number; inCapsule?: boolean } = {}): Promise<Completion> {
    if (this.failure) return Promise.reject(this.failure);
    const cid = this.freeCids.pop();
    if (cid === undefined) return Promise.reject(new QueueError(`queue ${this.qid} is full (${this.pending.size} commands in flight)`));
    const cmd = Buffer.from(sqe);
    setSqeCid(cmd, cid);
    const write = io.write ?? null;
    const bytes = write ? write.length : io.readBytes ?? 0;
    const inCapsule = write !== null && (io.inCapsule || write.length <= (this.o.inCapsuleBytes ?? 0));
    if (bytes > 0) setSqeSgl(cmd, inCapsule ? 'IN_CAPSULE' : 'TRANSPORT', bytes);
    return new Promise<Completion>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`command cid ${cid} opcode 0x${cmd[0].toString(16)} took over ${this.o.timeoutMs ?? 10000} ms`), this.o.timeoutMs ?? 10000);
      this.pending.set(cid, { resolve, reject, write: inCapsule ? null : write, read: io.readBytes ? Buffer.alloc(io.readBytes) : null, received: 0, timer });
      this.sock.write(encodeCapsuleCmd(cmd, inCapsule ? write : null, this.opts));
    });
  }

  /**
   * Hand the connected socket to a caller that speaks the protocol itself from here on (the load
   * generator, bench/nvmf-load.ts); this queue is done with it. Only with nothing in flight.
   */
  takeSocket(): { sock: net.Socket; cpda: number } {
    if (this.failure || this.pending.size > 0) throw new QueueError(`queue ${this.qid}: cannot hand over its socket (${this.failure ? this.failure.message : `${this.pending.size} commands in flight`})`);
    this.sock.removeAllListeners('data');
    this.sock.removeAllListeners('close');
    this.sock.removeAllListeners('error');
    this.failure = new QueueError(`queue ${this.qid}: its socket was handed over`);
    return { sock: this.sock, cpda: this.opts.pda ?? 0 };
  }

  /** Send raw bytes (a hostile test's malformed PDU). */
  sendRaw(bytes: Uint8Array): void { this.sock.write(bytes); }

  close(): Promise<void> {
    this.sock.end();
    const t = setTimeout(() => this.sock.destroy(), 1000);
    return this.closed.finally(() => clearTimeout(t));
  }

  /** Drop the connection at once (a host that vanishes): every command in flight rejects. */
  destroy(): void { this.fail('destroyed by the test'); }

  private fail(why: string, termReq?: { fes: number; fei: number }): void {
    if (this.failure) return;
    this.failure = new QueueError(`queue ${this.qid}: ${why}`, termReq);
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(this.failure); }
    this.pending.clear();
    this.sock.destroy();
  }

  private finish(cid: number, cqe: Cqe): void {
    const p = this.pending.get(cid);
    if (!p) { this.protocolError(`a completion for cid ${cid}, which is not in flight`); return; }
    clearTimeout(p.timer);
    this.pending.delete(cid);
    this.freeCids.push(cid);
    if (p.read && cqe.status === 0 && p.received !== p.read.length) {
      p.reject(new QueueError(`cid ${cid}: success after ${p.received} of ${p.read.length} data bytes`));
      return;
    }
    p.resolve({ cqe, data: p.read ?? Buffer.alloc(0) });
  }

  private protocolError(why: string): void {
    this.sock.write(encodeTermReq(PDU.H2C_TERM_REQ, FES.PDU_SEQUENCE_ERROR, 0, Buffer.alloc(0)));
    this.fail(why);
  }

  private onData(bytes: Buffer): void {
    let pdus: Pdu[];
    try {
      pdus = this.decoder.push(bytes);
    } catch (e) {
      this.fail(`a bad PDU from the target: ${(e as Error).message}`);
      return;
    }
    for (const pdu of pdus) {
      if (this.failure) return;
      this.onPdu(pdu);
    }
  }

  private onPdu(pdu: Pdu): void {
    switch (pdu.type) {
      case PDU.IC_RESP:
        if (!this.icDone) { this.protocolError('a second ICResp'); return; }
        if (pdu.pfv !== 0 || pdu.hdgst !== !!this.o.hdgst || pdu.ddgst !== !!this.o.ddgst) { this.fail(`ICResp: pfv ${pdu.pfv}, digests ${pdu.hdgst}/${pdu.ddgst}`); return; }
        this.decoder.setDigests(pdu.hdgst, pdu.ddgst);
        this.opts.pda = pdu.cpda;
        this.icDone(pdu.maxh2cdata);
        this.icDone = null;
        return;
      case PDU.CAPSULE_RESP: {
        const cqe = decodeCqe(pdu.cqe);
        this.finish(cqe.cid, cqe);
        return;
      }
      case PDU.C2H_DATA: {
        const p = this.pending.get(pdu.cccid);
        if (!p || !p.read) { this.protocolError(`C2HData for cid ${pdu.cccid}, which reads nothing`); return; }
        if (pdu.datao !== p.received || pdu.datao + pdu.datal > p.read.length) {
          this.protocolError(`C2HData for cid ${pdu.cccid}: offset ${pdu.datao} length ${pdu.datal}, expected offset ${p.received} within ${p.read.length}`);
          return;
        }
        pdu.data.copy(p.read, pdu.datao);
        p.received += pdu.datal;
        if (pdu.success) this.finish(pdu.cccid, { dw0: 0, dw1: 0, sqhd: 0, sqid: this.qid, cid: pdu.cccid, status: 0, sc: 0, sct: 0, more: false, dnr: false });
        return;
      }
      case PDU.R2T: {
        const p = this.pending.get(pdu.cccid);
        if (!p || !p.write || pdu.r2to + pdu.r2tl > p.write.length || pdu.r2tl === 0) {
          this.protocolError(`R2T for cid ${pdu.cccid} (offset ${pdu.r2to}, ${pdu.r2tl} bytes) that no write of ours covers`);
          return;
        }
        const chunk = Math.max(4096, this.maxh2cdata);
        for (let off = pdu.r2to; off < pdu.r2to + pdu.r2tl; off += chunk) {
          const n = Math.min(chunk, pdu.r2to + pdu.r2tl - off);
          this.sock.write(encodeH2CData({ cccid: pdu.cccid, ttag: pdu.ttag, datao: off, data: p.write.subarray(off, off + n), last: off + n === pdu.r2to + pdu.r2tl }, this.opts));
        }
        return;
      }
      case PDU.C2H_TERM_REQ:
        this.fail(`the target ended the connection: TermReq FES ${pdu.fes} FEI ${pdu.fei}`, { fes: pdu.fes, fei: pdu.fei });
        return;
      default:
        this.protocolError(`an unexpected PDU type 0x${(pdu as Pdu).type.toString(16)}`);
    }
  }
}

/** CC for an enable: EN, IOSQES 6 (64 B), IOCQES 4 (16 B), CSS NVM. */
const CC_ENABLE = 1 | (6 << 16) | (4 << 20);
const CSTS_RDY = 1;

/** A controller: its admin queue, enabled, and what Identify Controller said. */
export class NvmeTcpController {
  private constructor(readonly admin: NvmeTcpQueue, readonly identify: Buffer, private readonly o: QueueOptions) {}

  /** Connect the admin queue, enable the controller (CC.EN, wait for CSTS.RDY), Identify it. */
  static async connect(o: QueueOptions): Promise<NvmeTcpController> {
    const admin = await NvmeTcpQueue.connect({ ...o, queueEntries: o.queueEntries ?? 32 }, 0, 0xffff);
    try {
      const set = await admin.submit(propertySetSqe(PROP.CC, CC_ENABLE, 4));
      if (set.cqe.status !== 0) throw new QueueError(`Property Set CC: status 0x${set.cqe.status.toString(16)}`);
      for (let i = 0; ; i++) {
        const csts = await admin.submit(propertyGetSqe(PROP.CSTS, 4));
        if (csts.cqe.dw0 & CSTS_RDY) break;
        if (i > 100) throw new QueueError('CSTS.RDY stayed 0 after CC.EN');
        await new Promise((r) => setTimeout(r, 10));
      }
      const id = await admin.submit(identifySqe(CNS.CONTROLLER), { readBytes: 4096 });
      if (id.cqe.status !== 0) throw new QueueError(`Identify Controller: status 0x${id.cqe.status.toString(16)}`);
      return new NvmeTcpController(admin, id.data, o);
    } catch (e) {
      await admin.close();
      throw e;
    }
  }

  get cntlid(): number { return this.admin.cntlid; }
  /** In-capsule data the controller takes: (IOCCSZ * 16) - 64 bytes. */
  get inCapsuleBytes(): number { return this.identify.readUInt32LE(1792) * 16 - 64; }

  /** An I/O queue of this controller. */
  ioQueue(qid: number, queueEntries = 128): Promise<NvmeTcpQueue> {
    return NvmeTcpQueue.connect({ ...this.o, queueEntries, inCapsuleBytes: this.o.inCapsuleBytes ?? this.inCapsuleBytes }, qid, this.cntlid);
  }

  close(): Promise<void> { return this.admin.close(); }
}
