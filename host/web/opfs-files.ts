// The page's side of the OPFS worker: starts it for an engine's memory with one ring per reactor,
// and opens, closes and removes OPFS files there (the worker owns their sync access handles).

import { WstorError } from '../errors.js';
import { BELL_BYTES, RING_BYTES } from './opfs-ring.js';
import type { OpfsReply, OpfsRequest } from './opfs-protocol.js';

/** What BdevApi.createOpfs needs of the platform (Platform.opfs). */
export interface OpfsFiles {
  /** Open (and with `create`, make) the file; grow it to `sizeBytes` when given. The bdev's fd and bytes. */
  open(name: string, sizeBytes: number | null, create: boolean): Promise<{ fd: number; bytes: number }>;
  /** Flush and close its access handle (another engine or a later bdev may then open it). */
  close(fd: number): Promise<void>;
  /** Delete a file that no bdev has open. */
  remove(name: string): Promise<void>;
}

/** OPFS file names: one entry at the root of the origin's file system. */
export function checkOpfsName(name: string): void {
  if (typeof name !== 'string' || name.length < 1 || name.length > 255 || /[/\\\0]/.test(name) || name === '.' || name === '..') {
    throw new WstorError('EINVAL', `OPFS file name "${name}" must be 1-255 characters without / \\ or NUL, and not . or ..`);
  }
}

/** The rings a reactor is given at spawn, and the OPFS worker that serves them. */
export class OpfsService implements OpfsFiles {
  // Made with the first ring, not here: a page without shared memory must get the engine's own
  // refusal (loadCore's), not a ReferenceError from making its platform.
  private bellBuffer: SharedArrayBuffer | null = null;
  private readonly rings: SharedArrayBuffer[] = [];
  private worker: Worker | null = null;
  private memory: WebAssembly.Memory | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(r: OpfsReply): void }>();

  constructor(private readonly workerUrl: URL, private readonly onReport: (reactor: number, code: number, message: string) => void) {}

  /** The bell every reactor's ring rings when the OPFS worker sleeps. */
  get bell(): SharedArrayBuffer {
    this.bellBuffer ??= new SharedArrayBuffer(BELL_BYTES);
    return this.bellBuffer;
  }

  /** The ring of a new reactor over `memory` (its index is the reactor's id). */
  ringFor(reactor: number, memory: WebAssembly.Memory): SharedArrayBuffer {
    if (reactor !== this.rings.length) throw new WstorError('EINVAL', `reactor ${reactor} spawned out of order (expected ${this.rings.length})`);
    if (this.worker) throw new WstorError('EINVAL', `reactor ${reactor} spawned after the OPFS worker started`);
    this.memory = memory;
    const ring = new SharedArrayBuffer(RING_BYTES);
    this.rings.push(ring);
    return ring;
  }

  /**
   * Start the worker on first use: by then the engine has spawned every reactor (Engine.start
   * resolved), so every ring exists. An engine that never opens an OPFS file starts none.
   */
  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    if (!this.memory) throw new WstorError('ENODEV', 'OPFS files need a running engine (its reactors were not started)');
    this.worker = new Worker(this.workerUrl, { type: 'module', name: 'wstor_opfs' });
    this.worker.onmessage = (e: MessageEvent<OpfsReply>) => this.onReply(e.data);
    this.worker.onerror = (e) => {
      const failure: OpfsReply = { type: 'failed', id: 0, code: 'EIO', message: `the OPFS worker failed: ${e.message}` };
      for (const [id, w] of this.waiting) { this.waiting.delete(id); w.resolve({ ...failure, id }); }
      this.onReport(0, -5, failure.message);
    };
    void this.call({ type: 'attach', id: 0, memory: this.memory, bell: this.bell, rings: this.rings });
    return this.worker;
  }

  private onReply(r: OpfsReply): void {
    if (r.type === 'report') { this.onReport(r.reactor, r.code, r.message); return; }
    const w = this.waiting.get(r.id);
    this.waiting.delete(r.id);
    w?.resolve(r);
  }

  private call(request: OpfsRequest): Promise<OpfsReply> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const reply = new Promise<OpfsReply>((resolve) => this.waiting.set(id, { resolve }));
    worker.postMessage({ ...request, id });
    return reply;
  }

  private async expect(request: OpfsRequest): Promise<OpfsReply> {
    const reply = await this.call(request);
    if (reply.type === 'failed') throw new WstorError(reply.code, reply.message);
    return reply;
  }

  async open(name: string, sizeBytes: number | null, create: boolean): Promise<{ fd: number; bytes: number }> {
    checkOpfsName(name);
    const r = await this.expect({ type: 'open', id: 0, name, sizeBytes, create });
    if (r.type !== 'opened') throw new WstorError('EIO', `the OPFS worker answered ${r.type} to opening ${name}`);
    return { fd: r.fd, bytes: r.bytes };
  }

  async close(fd: number): Promise<void> { await this.expect({ type: 'close', id: 0, fd }); }

  async remove(name: string): Promise<void> {
    checkOpfsName(name);
    await this.expect({ type: 'remove', id: 0, name });
  }

  /** Close every file and end the worker (all reactors have stopped); a next engine starts afresh. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (worker) {
      await this.call({ type: 'stop', id: 0 });
      worker.terminate();
    }
    this.worker = null;
    this.memory = null;
    this.rings.length = 0;
  }
}
