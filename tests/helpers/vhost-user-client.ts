// A scripted vhost-user-blk client that plays QEMU and the guest driver at once, for tests: guest
// memory is a memfd mapped into this process's own shared Wasm memory (so the test reads and writes
// it), messages and fds go over the controller's socket through the addon, and virtio-blk requests
// are built as descriptor chains on split rings. Raw access (messages, descriptors) lets tests act as
// a hostile guest.
import fs from 'node:fs';
import { loadNative, VHOST_RECV, type NativeAddon } from '../../host/native/index.js';

export const MSG = {
  GET_FEATURES: 1, SET_FEATURES: 2, SET_OWNER: 3, SET_MEM_TABLE: 5, SET_VRING_NUM: 8, SET_VRING_ADDR: 9, SET_VRING_BASE: 10,
  GET_VRING_BASE: 11, SET_VRING_KICK: 12, SET_VRING_CALL: 13, SET_VRING_ERR: 14, GET_PROTOCOL_FEATURES: 15, SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17, SET_VRING_ENABLE: 18, GET_CONFIG: 24, GET_INFLIGHT_FD: 31, SET_INFLIGHT_FD: 32, ADD_MEM_REG: 37,
  REM_MEM_REG: 38, SET_STATUS: 39,
} as const;
export const BLK = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;
const F_EVENT_IDX = 1n << 29n, F_PROTOCOL = 1n << 30n, PF_REPLY_ACK = 1n << 3n, PF_CONFIG = 1n << 9n, PF_MQ = 1n, PF_INFLIGHT = 1n << 12n;
const DESC_NEXT = 1, DESC_WRITE = 2;
const MiB = 1 << 20;
export const USER_BASE = 0x7f00_0000_0000n;    // where "QEMU" has guest memory in its address space
const MSG_AT = 0;                              // message buffer in our memory
const FDS_AT = 8192;
const GUEST_AT = MiB;                          // guest memory mapped here in our memory
const SLOTS_PER_QUEUE = 32;                    // data slots of one queue (slot(q))
const SLOT_BYTES = 72 * 1024;                  // header page, 64 KiB of data, status page

export interface Desc { addr: bigint; len: number; flags: number; next: number }

/** Something to Atomics.wait on for a few microseconds between looks at a used index. */
const SPIN_WAIT = new Int32Array(new SharedArrayBuffer(4));

export class VhostUserClient {
  readonly native: NativeAddon;
  readonly memory: WebAssembly.Memory;
  private readonly view: DataView;
  fd: number;
  readonly memfd: number;
  /** The inflight region QEMU would keep across a backend restart (setup({ inflight: true })). */
  inflightFd = -1;
  private inflightPayload: Uint8Array | null = null;
  private readonly queueSize: number;
  private lastUsed: number[] = [];
  /** Each queue's call eventfd (the backend signals it; tests read it). */
  readonly callFds: number[] = [];
  /** Our copies of the kick fds: a driver kicks when the device asks (used flags or avail_event). */
  readonly kickFds: number[] = [];
  /** Kicks sent per queue (tests look at how many the device asked for). */
  readonly kicks: number[] = [];
  private eventIdx = false;
  private availIdx: number[] = [];
  /** Per queue: requests submitted so far, which picks each one's data slot. */
  private nextSlot: number[] = [];
  /** Bytes of guest memory. */
  readonly guestBytes: number;
  /** Fds that came with replies, oldest first, until taken (GET_INFLIGHT_FD's) or closed. */
  private received: number[] = [];

  private constructor(native: NativeAddon, fd: number, guestBytes: number, queueSize: number, memoryFile?: string) {
    this.native = native;
    this.fd = fd;
    this.guestBytes = guestBytes;
    this.queueSize = queueSize;
    const pages = (GUEST_AT + guestBytes) / 65536;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.view = new DataView(this.memory.buffer);
    if (memoryFile === undefined) {
      this.memfd = native.memfdCreate('wstor-test-guest', guestBytes);          // sealed: it cannot shrink
      if (this.memfd < 0) throw new Error(`memfdCreate: ${this.memfd}`);
    } else {
      this.memfd = fs.openSync(memoryFile, 'w+');                                // a plain file: it can (shrinkMemory)
      fs.ftruncateSync(this.memfd, guestBytes);
    }
    const rc = native.mapIntoMemory(this.memory, GUEST_AT, guestBytes, this.memfd, 0);
    if (rc !== 0) throw new Error(`mapIntoMemory: ${rc}`);
  }

  /** Close an fd the addon made (sockets: fs.closeSync does not know them). */
  static closeFd(fd: number): void { loadNative()?.closeFd(fd); }

  /** `memoryFile`: guest memory in a plain file made there (unsealed: the guest may shrink it) instead of a sealed memfd. */
  static async connect(socket: string, opts: { guestBytes?: number; queueSize?: number; memoryFile?: string } = {}): Promise<VhostUserClient> {
    const native = loadNative();
    if (!native) throw new Error('the native addon is not built');
    const fd = native.unixConnect(socket);
    if (fd < 0) throw new Error(`connect ${socket}: ${fd}`);
    return new VhostUserClient(native, fd, opts.guestBytes ?? 16 * MiB, opts.queueSize ?? 128, opts.memoryFile);
  }

  /**
   * A hostile guest's move: shrink the file behind guest memory (connect with `memoryFile`) to `bytes`.
   * Our own view of it is unmapped first, so only the backend's next access finds it gone; this client's
   * rings and buffers are unusable afterwards.
   */
  shrinkMemory(bytes = 0): void {
    this.native.unmapFromMemory(this.memory, GUEST_AT, this.guestBytes);
    fs.ftruncateSync(this.memfd, bytes);
  }

  // ---- guest memory ----
  /** Guest physical address → offset in our memory. */
  private at(gpa: number): number { return GUEST_AT + gpa; }
  bytes(gpa: number, len: number): Uint8Array { return new Uint8Array(this.memory.buffer, this.at(gpa), len); }
  // Ring layout per queue: 64 KiB each from gpa 0; data slots from 4 MiB.
  private ringBase(q: number) { return q * 65536; }
  private descAt(q: number, i: number) { return this.ringBase(q) + 16 * i; }
  private availAt(q: number) { return this.ringBase(q) + 16 * this.queueSize; }
  private usedAt(q: number) { return this.ringBase(q) + 32768; }

  // ---- messages ----
  /** Send one message (header + payload, fds with it). */
  send(request: number, payload: Uint8Array = new Uint8Array(0), opts: { fds?: number[]; needReply?: boolean; size?: number } = {}): void {
    const v = this.view;
    v.setUint32(MSG_AT, request, true);
    v.setUint32(MSG_AT + 4, 1 | (opts.needReply ? 8 : 0), true);
    v.setUint32(MSG_AT + 8, opts.size ?? payload.length, true);
    new Uint8Array(this.memory.buffer, MSG_AT + 12, payload.length).set(payload);
    const rc = this.native.sendMsg(this.fd, this.memory, MSG_AT, 12 + payload.length, opts.fds ?? []);
    if (rc !== 12 + payload.length) throw new Error(`send ${request}: ${rc}`);
  }

  /** Read exactly n bytes (polling); null if the peer closed the connection. */
  private async readExactly(n: number, timeoutMs: number): Promise<Uint8Array | null> {
    let have = 0;
    const until = Date.now() + timeoutMs;
    while (have < n) {
      const r = this.native.recvMsg(this.fd, this.memory, MSG_AT + have, n - have, FDS_AT, 8);
      if (r === 0) return null;
      if (r === -11) {
        if (Date.now() > until) throw new Error(`no reply within ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 1));
        continue;
      }
      if (r < 0) return null;                  // reset by the peer: closed
      have += r % VHOST_RECV.FDS_SCALE;
      const fds = Math.floor(r / VHOST_RECV.FDS_SCALE) % (VHOST_RECV.FLAGS_SCALE / VHOST_RECV.FDS_SCALE);
      this.received.push(...new Int32Array(this.memory.buffer, FDS_AT, fds));
    }
    return new Uint8Array(this.memory.buffer, MSG_AT, n).slice();
  }

  /** The next reply's payload, or null if the backend closed the connection. */
  async reply(request: number, timeoutMs = 5000): Promise<Uint8Array | null> {
    const hdr = await this.readExactly(12, timeoutMs);
    if (!hdr) return null;
    const dv = new DataView(hdr.buffer);
    if (dv.getUint32(0, true) !== request || (dv.getUint32(4, true) & 4) === 0) throw new Error(`reply to ${dv.getUint32(0, true)}, expected ${request}`);
    return (await this.readExactly(dv.getUint32(8, true), timeoutMs)) ?? null;
  }

  /**
   * After whatever a hostile session sent: is the backend still answering? GET_FEATURES, then every
   * answer is read until its own: 'answered'; 'closed' if the connection ends first; 'silent' if
   * nothing comes within `timeoutMs` (a backend that hangs on a guest). Fds that came are closed.
   */
  async liveness(timeoutMs = 3000): Promise<'answered' | 'closed' | 'silent'> {
    try { this.send(MSG.GET_FEATURES); } catch { return 'closed'; }   // EPIPE / ECONNRESET
    const until = Date.now() + timeoutMs;
    try {
      for (let answers = 0; answers < 256; answers++) {
        const hdr = await this.readExactly(12, Math.max(1, until - Date.now()));
        if (!hdr) return 'closed';
        const dv = new DataView(hdr.buffer);
        const size = dv.getUint32(8, true);
        if (size > 4096) return 'silent';                              // no answer of ours is that long
        if (size > 0 && !(await this.readExactly(size, Math.max(1, until - Date.now())))) return 'closed';
        if (dv.getUint32(0, true) === MSG.GET_FEATURES && (dv.getUint32(4, true) & 4) !== 0) return 'answered';
      }
      return 'silent';
    } catch {
      return 'silent';
    } finally {
      for (const fd of this.received.splice(0)) this.native.closeFd(fd);
    }
  }

  /** Whether the backend has closed the connection (reads until EOF or timeout). */
  async closedByPeer(timeoutMs = 2000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const r = this.native.recvMsg(this.fd, this.memory, MSG_AT, 4096, FDS_AT, 8);
      if (r === 0 || (r < 0 && r !== -11)) return true;
      await new Promise((res) => setTimeout(res, 2));
    }
    return false;
  }

  async u64(request: number): Promise<bigint> {
    this.send(request);
    const p = await this.reply(request);
    if (!p) throw new Error(`connection closed after ${request}`);
    return new DataView(p.buffer).getBigUint64(0, true);
  }

  /** A message with REPLY_ACK: resolves with the ack (0 = done), or null if the backend closed. */
  async acked(request: number, payload: Uint8Array, fds: number[] = []): Promise<bigint | null> {
    this.send(request, payload, { fds, needReply: true });
    const p = await this.reply(request);
    return p ? new DataView(p.buffer).getBigUint64(0, true) : null;
  }

  static le(...fields: [number | bigint, 4 | 8][]): Uint8Array {
    const out = new Uint8Array(fields.reduce((n, [, w]) => n + w, 0));
    const dv = new DataView(out.buffer);
    let at = 0;
    for (const [v, w] of fields) { if (w === 4) dv.setUint32(at, Number(v), true); else dv.setBigUint64(at, BigInt(v), true); at += w; }
    return out;
  }

  /** The handshake QEMU does: features, memory, then each queue's size, base, addresses, call, kick, enable. */
  async setup(queues = 1, opts: { inflight?: boolean; resume?: boolean; eventIdx?: boolean } = {}): Promise<{ features: bigint; config: Uint8Array }> {
    const le = VhostUserClient.le;
    const offered = await this.u64(MSG.GET_FEATURES);
    const proto = await this.u64(MSG.GET_PROTOCOL_FEATURES);
    // Without EVENT_IDX every poll that completes something interrupts (unless the driver says not to).
    const features = offered & ((1n << 33n) - 1n) & (opts.eventIdx === false ? ~F_EVENT_IDX : ~0n) | F_PROTOCOL;
    this.eventIdx = (features & F_EVENT_IDX) !== 0n;
    this.send(MSG.SET_FEATURES, le([features, 8]));
    this.send(MSG.SET_PROTOCOL_FEATURES, le([proto & (PF_REPLY_ACK | PF_CONFIG | PF_MQ | (opts.inflight ? PF_INFLIGHT : 0n)), 8]));
    if (await this.acked(MSG.SET_OWNER, new Uint8Array(0)) !== 0n) throw new Error('SET_OWNER');
    const region = le([1, 4], [0, 4], [0, 8], [this.guestBytes, 8], [USER_BASE, 8], [0, 8]);
    if (await this.acked(MSG.SET_MEM_TABLE, region, [this.memfd]) !== 0n) throw new Error('SET_MEM_TABLE');
    if (opts.inflight) await this.inflight(queues);
    for (let q = 0; q < queues; q++) await this.startQueue(q, opts.resume === true);
    // GET_CONFIG's payload carries the buffer to fill: the request is as long as the answer.
    const ask = new Uint8Array(12 + 60);
    ask.set(le([0, 4], [60, 4], [0, 4]));
    this.send(MSG.GET_CONFIG, ask);
    const config = await this.reply(MSG.GET_CONFIG);
    return { features: offered, config: config!.slice(12) };
  }

  /** QEMU's first start: GET_INFLIGHT_FD (kept), then SET_INFLIGHT_FD; after a backend restart only the SET. */
  private async inflight(queues: number): Promise<void> {
    const le = VhostUserClient.le;
    if (this.inflightFd < 0) {
      this.send(MSG.GET_INFLIGHT_FD, le([0, 8], [0, 8], [queues | (this.queueSize << 16), 4], [0, 4]));
      const hdr = await this.readExactly(12, 5000);
      if (!hdr) throw new Error('closed on GET_INFLIGHT_FD');
      const fd = this.received.shift();
      if (fd === undefined) throw new Error('GET_INFLIGHT_FD answered without an fd');
      this.inflightFd = fd;
      const payload = await this.readExactly(new DataView(hdr.buffer).getUint32(8, true), 5000);
      this.inflightPayload = payload;
    }
    if (await this.acked(MSG.SET_INFLIGHT_FD, this.inflightPayload!, [this.inflightFd]) !== 0n) throw new Error('SET_INFLIGHT_FD');
  }

  /** A new connection to a (restarted) backend, as QEMU's reconnect= does; guest memory and rings stay. */
  reconnect(socket: string): void {
    this.native.closeFd(this.fd);
    const fd = this.native.unixConnect(socket);
    if (fd < 0) throw new Error(`connect ${socket}: ${fd}`);
    this.fd = fd;
  }

  async startQueue(q: number, resume = false): Promise<void> {
    const le = VhostUserClient.le;
    if (!resume) {
      this.bytes(this.ringBase(q), 65536).fill(0);
      this.lastUsed[q] = 0;
      this.availIdx[q] = 0;
    }
    const ok = async (r: number, p: Uint8Array, fds: number[] = []) => { if (await this.acked(r, p, fds) !== 0n) throw new Error(`message ${r} on queue ${q}`); };
    await ok(MSG.SET_VRING_NUM, le([q, 4], [this.queueSize, 4]));
    // After a backend crash QEMU cannot ask where the ring was: it starts from the used index.
    const base = resume ? this.view.getUint16(this.at(this.usedAt(q)) + 2, true) : 0;
    await ok(MSG.SET_VRING_BASE, le([q, 4], [base, 4]));
    const uva = (gpa: number) => USER_BASE + BigInt(gpa);
    await ok(MSG.SET_VRING_ADDR, le([q, 4], [0, 4], [uva(this.descAt(q, 0)), 8], [uva(this.usedAt(q)), 8], [uva(this.availAt(q)), 8], [0, 8]));
    const call = this.native.eventfdCreate(), kick = this.native.eventfdCreate();
    await ok(MSG.SET_VRING_CALL, le([q, 8]), [call]);
    await ok(MSG.SET_VRING_KICK, le([q, 8]), [kick]);
    if (this.kickFds[q] !== undefined) this.native.closeFd(this.kickFds[q]);
    this.kickFds[q] = kick;
    this.kicks[q] = 0;
    this.callFds[q] = call;
    await ok(MSG.SET_VRING_ENABLE, le([q, 4], [1, 4]));
  }

  /** GET_VRING_BASE: the ring stops (its requests drain first); resolves with where the backend stopped. */
  async stopQueue(q: number): Promise<number> {
    this.send(MSG.GET_VRING_BASE, VhostUserClient.le([q, 4], [0, 4]));
    const p = await this.reply(MSG.GET_VRING_BASE);
    if (!p) throw new Error(`connection closed after GET_VRING_BASE on queue ${q}`);
    return new DataView(p.buffer).getUint32(4, true);
  }

  /** Start a stopped queue again as it was (size, base and addresses kept): a new kick fd, then enable. */
  async restartQueue(q: number): Promise<void> {
    const le = VhostUserClient.le;
    const kick = this.native.eventfdCreate();
    if (await this.acked(MSG.SET_VRING_KICK, le([q, 8]), [kick]) !== 0n) throw new Error(`SET_VRING_KICK on queue ${q}`);
    this.native.closeFd(this.kickFds[q]);
    this.kickFds[q] = kick;
    if (await this.acked(MSG.SET_VRING_ENABLE, le([q, 4], [1, 4])) !== 0n) throw new Error(`SET_VRING_ENABLE on queue ${q}`);
  }

  // ---- the driver ----
  /** Put a chain whose head is descriptor `head` (already written) on the avail ring. */
  publish(q: number, head: number): void {
    const idx = this.availIdx[q];
    this.view.setUint16(this.at(this.availAt(q) + 4 + 2 * (idx % this.queueSize)), head, true);
    this.availIdx[q] = (idx + 1) & 0xffff;
    Atomics.store(new Uint16Array(this.memory.buffer, this.at(this.availAt(q)), 2), 1, this.availIdx[q]);
    if (this.deviceWantsKick(q, idx, this.availIdx[q])) {
      this.kicks[q]++;
      this.native.eventfdWrite(this.kickFds[q], 1);
    }
  }

  /** As a virtio driver decides (after the index store: both are sequentially consistent atomics). */
  private deviceWantsKick(q: number, old: number, fresh: number): boolean {
    if (this.kickFds[q] === undefined) return false;
    const used = new Uint16Array(this.memory.buffer, this.at(this.usedAt(q)), 2 + 4 * this.queueSize + 1);
    if (!this.eventIdx) return (Atomics.load(used, 0) & 1) === 0;     // VRING_USED_F_NO_NOTIFY
    const event = Atomics.load(used, 2 + 4 * this.queueSize);         // avail_event, after the used ring
    return ((fresh - event - 1) & 0xffff) < ((fresh - old) & 0xffff);
  }

  /** Entries of each queue's descriptor table (and of its rings). */
  get ringSize(): number { return this.queueSize; }

  /** A hostile driver's move: the avail index jumps `by` entries past what it published (no kick). */
  jumpAvail(q: number, by: number): void {
    this.availIdx[q] = (this.availIdx[q] + by) & 0xffff;
    Atomics.store(new Uint16Array(this.memory.buffer, this.at(this.availAt(q)), 2), 1, this.availIdx[q]);
  }

  /** EVENT_IDX: the used index after which the driver wants its next interrupt. */
  setUsedEvent(q: number, idx: number): void {
    this.view.setUint16(this.at(this.availAt(q) + 4 + 2 * this.queueSize), idx & 0xffff, true);
  }

  /** How many interrupts arrived on queue q's call eventfd since the last look. */
  interrupts(q: number): number { const n = this.native.eventfdRead(this.callFds[q]); return n < 0 ? 0 : n; }

  /** The used index the backend has written so far. */
  usedIdx(q: number): number { return this.lastUsed[q]; }

  writeDesc(q: number, i: number, d: Desc): void {
    const at = this.at(this.descAt(q, i));
    this.view.setBigUint64(at, d.addr, true);
    this.view.setUint32(at + 8, d.len, true);
    this.view.setUint16(at + 12, d.flags, true);
    this.view.setUint16(at + 14, d.next, true);
  }

  /** Wait for the next used element: {id, len}; throws on timeout. */
  async used(q: number, timeoutMs = 5000): Promise<{ id: number; len: number }> {
    const idxView = new Uint16Array(this.memory.buffer, this.at(this.usedAt(q)), 2);
    const until = Date.now() + timeoutMs;
    while (Atomics.load(idxView, 1) === this.lastUsed[q]) {
      if (Date.now() > until) throw new Error(`queue ${q}: no used element within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 1));
    }
    return this.takeUsed(q);
  }

  /** The used element at our used index (the backend has written it), and the index moves on. */
  private takeUsed(q: number): { id: number; len: number } {
    const e = this.at(this.usedAt(q) + 4 + 8 * (this.lastUsed[q] % this.queueSize));
    this.lastUsed[q] = (this.lastUsed[q] + 1) & 0xffff;
    return { id: this.view.getUint32(e, true), len: this.view.getUint32(e + 4, true) };
  }

  /**
   * As used(), but spinning on this thread (no timer between looks): for floods of thousands of
   * requests. Throws once `timeoutMs` passed with nothing new.
   */
  usedSync(q: number, timeoutMs = 5000): { id: number; len: number } {
    const idxView = new Uint16Array(this.memory.buffer, this.at(this.usedAt(q)), 2);
    const until = Date.now() + timeoutMs;
    while (Atomics.load(idxView, 1) === this.lastUsed[q]) {
      if (Date.now() > until) throw new Error(`queue ${q}: no used element within ${timeoutMs} ms`);
      Atomics.wait(SPIN_WAIT, 0, 0, 0.02);
    }
    return this.takeUsed(q);
  }

  /**
   * Queue q's next data slot (header, up to 64 KiB of data, status): each queue has 32 of its own, so
   * a request's slot is not reused before 32 more on its queue, however fast another queue runs (a
   * shared ring let a quick queue lap a slow one and write 0xee over a status not yet read).
   */
  private slot(q: number): number {
    const n = this.nextSlot[q] ?? 0;
    this.nextSlot[q] = n + 1;
    const at = 4 * MiB + (q * SLOTS_PER_QUEUE + (n % SLOTS_PER_QUEUE)) * SLOT_BYTES;
    if (at + SLOT_BYTES > this.guestBytes) throw new Error(`queue ${q}: its data slots do not fit in ${this.guestBytes} bytes of guest memory`);
    return at;
  }

  /**
   * One virtio-blk request on queue q: header, data (`data` to write, or `readBytes` to read), status.
   * Resolves with the status byte, the bytes read and the used length.
   */
  async request(q: number, type: number, sector: bigint, opts: { data?: Uint8Array; readBytes?: number; segments?: number } = {}): Promise<{ status: number; data: Uint8Array; usedLen: number }> {
    const p = this.submit(q, type, sector, opts);
    const u = await this.used(q);
    if (u.id !== p.head) throw new Error(`used id ${u.id}, expected ${p.head}`);
    return { status: this.bytes(p.status, 1)[0], data: this.bytes(p.dataAt, p.len).slice(), usedLen: u.len };
  }

  /** Put a request on the ring without waiting: its head and where its status and data are. */
  submit(q: number, type: number, sector: bigint, opts: { data?: Uint8Array; readBytes?: number; segments?: number } = {}): { head: number; status: number; dataAt: number; len: number } {
    const base = this.slot(q);
    const hdr = base, dataAt = base + 4096, len = opts.data?.length ?? opts.readBytes ?? 0, status = base + 4096 + 65536;
    this.view.setUint32(this.at(hdr), type, true);
    this.view.setUint32(this.at(hdr) + 4, 0, true);
    this.view.setBigUint64(this.at(hdr) + 8, sector, true);
    if (opts.data) this.bytes(dataAt, len).set(opts.data);
    this.bytes(status, 1)[0] = 0xee;
    const head = (this.availIdx[q] * 20) % this.queueSize;   // descriptors of different requests do not collide for a while
    let i = head;
    const put = (addr: number, l: number, flags: number, last: boolean) => {
      const next = (i + 1) % this.queueSize;
      this.writeDesc(q, i, { addr: BigInt(addr), len: l, flags: flags | (last ? 0 : DESC_NEXT), next });
      i = next;
    };
    put(hdr, 16, 0, false);
    const segments = len === 0 ? 0 : opts.segments ?? 1;
    for (let s = 0; s < segments; s++) {
      const piece = Math.ceil(len / segments), from = s * piece;
      put(dataAt + from, Math.min(piece, len - from), opts.data ? 0 : DESC_WRITE, false);
    }
    put(status, 1, DESC_WRITE, true);
    this.publish(q, head);
    return { head, status, dataAt, len };
  }

  statusOf(statusGpa: number): number { return this.bytes(statusGpa, 1)[0]; }

  close(): void {
    for (const fd of this.received.splice(0)) this.native.closeFd(fd);
    for (const fd of this.callFds) if (fd !== undefined) this.native.closeFd(fd);
    for (const fd of this.kickFds) if (fd !== undefined) this.native.closeFd(fd);
    if (this.inflightFd >= 0) this.native.closeFd(this.inflightFd);
    this.native.closeFd(this.fd);
    this.native.unmapFromMemory(this.memory, GUEST_AT, this.guestBytes);
    this.native.closeFd(this.memfd);
  }
}
