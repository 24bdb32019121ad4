// The engine: one compiled core.wasm, one shared memory, N reactor workers. The host keeps a control
// instance of its own on the same memory (arena CONTROL_ARENA) to create reactors and threads and to
// post work to them; it never polls a reactor's threads (LESSONS 3).

import { CompletionDrain } from './completions.js';
import {
  CONTROL_ARENA, MAX_REACTORS, PAGE_BYTES, MAX_MEMORY_PAGES, LEVEL_NAMES, LEVEL_FATAL, EVENT_REQUEST_DONE, instantiateCore,
  levelName, readReactorStats,
} from './core-abi.js';
import type { CoreEvent, CoreExports, LevelName, Report, ReactorStats } from './core-abi.js';
import { defaultPlatform } from './platform.js';
import type { Platform, ReactorHandle, WorkerMessage } from './platform.js';
import { planCpus } from './cpus.js';
import { WstorError } from './errors.js';
import { guardControl } from './control-guard.js';
import { BdevApi } from './bdev.js';
import { BlobstoreApi } from './blobstore.js';
import { EngineBuffers } from './engine-buffers.js';
import { LvolApi } from './lvol.js';
import type { VhostApi } from './vhost.js';
import type { NvmfApi } from './nvmf.js';

export interface EngineOptions {
  /** Number of reactors (default: one per CPU the process may use, or one per CPU in `cpus`). */
  reactors?: number;
  /** Shared memory size in bytes (the maximum; it grows on demand). Default 256 MiB, at most 4 GiB. */
  memoryBytes?: number;
  /** Pin reactor i to the i-th of these CPUs: a list, or an SPDK core mask ("0x3", "[0-1]"). */
  cpus?: number[] | string;
  /** Which build of the core to load: "core" (default), "core-test", or a path to a .wasm file. */
  core?: string;
  /** Reports from the core at or above this level go to `onReport` (default: 'notice'). */
  logLevel?: LevelName;
  /** Receives the core's reports (default: printed to stderr). */
  onReport?: (report: Report) => void;
  /** How long stop() waits for reactors to drain before terminating them (default 10 s). */
  stopTimeoutMs?: number;
  /** The platform (default: the one the imported entry point set: Node's, or the browser's). */
  platform?: Platform;
  /**
   * Where an idle reactor sleeps. 'kernel' (the default where the platform can: Node with the addon):
   * in its io_uring, woken by its I/O completions, vhost kicks or its wake eventfd, so a reactor
   * waiting for I/O uses no CPU. 'doorbell': Atomics.wait, so a reactor with I/O in flight polls for
   * it (the only choice in a browser).
   */
  sleep?: 'kernel' | 'doorbell';
  /**
   * How long a reactor with nothing to do keeps polling before it sleeps, in µs (default 100). Longer
   * answers a burst sooner; shorter spends less CPU between sparse events (each sleep and wake costs
   * a few µs of syscalls).
   */
  idleSpinUs?: number;
  /**
   * Messages each lightweight thread's ring holds before further messages overflow (in order, to the
   * heap) (default 4096; a power of two from 2 to 1048576). Small rings exercise the overflow (tests).
   */
  messageRingSize?: number;
}

/** A request in flight: settled by the engine when the core ends it. */
export interface PendingRequest {
  /** Names the request in its error (may be a getter: the data path builds it only on failure). */
  readonly what: string;
  /** Reports after this one may explain its failure (set by the engine). */
  reportSeq: number;
  resolve(value: number): void;
  reject(e: Error): void;
}

const MAX_REQUEST_ID = 0x7fffffff;
const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;
const INITIAL_PAGES = 64;      // 4 MiB committed at start; the rest on demand

function defaultReport(r: Report): void {
  const who = r.source === 'control' ? 'host' : `reactor ${r.source}`;
  console.error(`wstor ${r.level} [${who}] ${r.message}`);
}

export class Engine {
  readonly reactorCount: number;
  readonly memory: WebAssembly.Memory;
  /** The shared memory's maximum in bytes (EngineOptions.memoryBytes, rounded up to 64 KiB pages). */
  readonly memoryBytes: number;
  /** The host's own instance of the core (control plane only). */
  readonly core: CoreExports;
  /** CPU each reactor is pinned to, or null when they keep the process's affinity. */
  readonly pins: number[] | null;
  /** What this engine runs on (Node, a browser). */
  readonly platform: Platform;
  /** Kernel thread id of each pinned reactor (null when not pinned): for logs and affinity checks. */
  readonly reactorThreadIds: (number | null)[];

  private readonly handles: ReactorHandle[] = [];
  /** Blob I/O completions through shared memory (host/completions.ts). */
  private completions: CompletionDrain | null = null;
  private readonly wakeFds: Platform['wakeFds'];
  /** Closed once every worker has ended (an instance may write one until then). */
  private readonly openWakeFds: number[] = [];
  private readonly eventListeners: Set<(e: CoreEvent) => void>;
  private readonly stopTimeoutMs: number;
  private exited: Promise<void> = Promise.resolve();
  private readonly stats: (ReactorStats | null)[];
  private failure: WstorError | null = null;
  private stopping = false;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  /** Error reports as they arrive (bounded), so a failed request can say what the core said about it. */
  private readonly recentErrors: { seq: number; code: number; message: string }[] = [];
  private reportSeq = 0;
  private report: (level: number, code: number, message: string, source: Report['source']) => void;

  private constructor(args: {
    memory: WebAssembly.Memory; memoryBytes: number; core: CoreExports; reactorCount: number; pins: number[] | null;
    stopTimeoutMs: number; report: Engine['report']; eventListeners: Set<(e: CoreEvent) => void>; platform: Platform;
    filter: { threshold: number }; wakeFds: Platform['wakeFds'];
  }) {
    this.platform = args.platform;
    this.eventListeners = args.eventListeners;
    this.memory = args.memory;
    this.memoryBytes = args.memoryBytes;
    this.core = args.core;
    this.reactorCount = args.reactorCount;
    this.pins = args.pins;
    this.stopTimeoutMs = args.stopTimeoutMs;
    this.report = args.report;
    this.filter = args.filter;
    this.wakeFds = args.wakeFds;
    this.stats = new Array(args.reactorCount).fill(null);
    this.reactorThreadIds = new Array(args.reactorCount).fill(null);
    this.eventListeners.add((e) => this.onRequestDone(e));
  }

  /** Compile the core once, create the shared memory, start the reactors; resolves when all are ready. */
  static async start(options: EngineOptions = {}): Promise<Engine> {
    const platform = options.platform ?? defaultPlatform();
    if (!platform) {
      throw new WstorError('EINVAL', 'no platform to run on: import Engine from wstor\'s entry point (build/host/index.js in Node, ' +
        'build/host/web/index.js in a browser) or pass options.platform');
    }
    const plan = planCpus(platform.allowedCpus(), options.reactors, options.cpus);
    if (!Number.isInteger(plan.reactors) || plan.reactors < 1 || plan.reactors > MAX_REACTORS) {
      throw new WstorError('EINVAL', `reactors must be an integer from 1 to ${MAX_REACTORS} (got ${plan.reactors})`);
    }
    const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    const maxPages = Math.ceil(memoryBytes / PAGE_BYTES);
    if (!Number.isFinite(memoryBytes) || maxPages < 2 * INITIAL_PAGES || maxPages > MAX_MEMORY_PAGES) {
      throw new WstorError('EINVAL', `memoryBytes must be between ${(2 * INITIAL_PAGES * PAGE_BYTES) >> 20} MiB and 4 GiB (got ${memoryBytes})`);
    }
    const filter = { threshold: LEVEL_NAMES.indexOf(options.logLevel ?? 'notice') };
    const sink = options.onReport ?? defaultReport;
    const report = (level: number, code: number, message: string, source: Report['source']) => {
      if (level <= filter.threshold) sink({ level: levelName(level), code, message, source });
    };

    const module = await WebAssembly.compile(await platform.loadCore(options.core ?? 'core'));
    const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: maxPages, shared: true });
    const listeners = new Set<(e: CoreEvent) => void>();
    if (options.sleep !== undefined && options.sleep !== 'kernel' && options.sleep !== 'doorbell') {
      throw new WstorError('EINVAL', `sleep must be 'kernel' or 'doorbell' (got ${String(options.sleep)})`);
    }
    const wakeFds = options.sleep === 'doorbell' ? undefined : platform.wakeFds;
    const idleSpinUs = options.idleSpinUs;
    if (idleSpinUs !== undefined && !(Number.isInteger(idleSpinUs) && idleSpinUs >= 0 && idleSpinUs <= 1_000_000)) {
      throw new WstorError('EINVAL', `idleSpinUs must be an integer from 0 to 1000000 (got ${idleSpinUs})`);
    }
    // What a trap of the control instance needs to explain itself and, if it left a lock held, stop the engine.
    const control: { fatal: { code: number; message: string } | null; engine: Engine | null } = { fatal: null, engine: null };
    const rawCore = await instantiateCore(module, memory, {
      wake: wakeFds?.write,
      crc32c: platform.crc32c?.(memory),
      report: (level, code, message) => {
        if (level === LEVEL_FATAL) control.fatal = { code, message };
        report(level, code, message, 'control');
      },
      event: (kind, a, b, c) => { for (const l of listeners) l({ kind, a, b, c, reactor: 'control' }); },
    });
    rawCore.wstor_attach(CONTROL_ARENA);
    rawCore.wstor_stack_mark();
    const core = guardControl(rawCore, {
      takeFatal: () => { const f = control.fatal; control.fatal = null; return f; },
      fail: (err) => control.engine?.fail(err),
    });
    core.wstor_memory_limit(maxPages);
    if (options.messageRingSize !== undefined && core.thread_set_default_ring_size(options.messageRingSize) !== 0) {
      throw new WstorError('EINVAL', `messageRingSize must be a power of two from 2 to 1048576 (got ${options.messageRingSize})`);
    }
    const rc = core.wstor_create_reactors(plan.reactors);
    if (rc < 0) throw WstorError.fromErrno(rc, `creating ${plan.reactors} reactors`);
    if (idleSpinUs !== undefined) for (let i = 0; i < plan.reactors; i++) core.reactor_set_idle_policy(i, idleSpinUs, 0);

    const engine = new Engine({ memory, memoryBytes: maxPages * PAGE_BYTES, core, reactorCount: plan.reactors, pins: plan.pins, wakeFds,
      stopTimeoutMs: options.stopTimeoutMs ?? 10_000, report, eventListeners: listeners, platform, filter });
    control.engine = engine;
    await engine.spawn(platform, module);
    if (platform.probeBlockIo) {
      const probe = platform.probeBlockIo(memory);
      if (probe.mode !== 'io_uring') {
        report(2, -38, `io_uring unavailable (${probe.reason ?? 'unknown'}); file bdevs use the slower synchronous fallback`, 'control');
      }
    }
    const app = core.wstor_app_thread_create();
    if (app < 0) {
      await engine.stop().catch(() => undefined);
      throw WstorError.fromErrno(app, 'creating the app thread');
    }
    engine.completions = new CompletionDrain(core, memory, (id, value) => engine.settle(id, value));
    return engine;
  }

  private spawn(platform: Platform, module: WebAssembly.Module): Promise<void> {
    const exits: Promise<void>[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      let readyCount = 0;
      for (let reactor = 0; reactor < this.reactorCount; reactor++) {
        const pin = this.pins ? this.pins[reactor] : null;
        const wakeFd = this.wakeFds ? this.wakeFds.create() : -1;
        if (wakeFd >= 0) this.openWakeFds.push(wakeFd);
        const handle = platform.spawnReactor({ module, memory: this.memory, reactor, pin, wakeFd: Math.max(wakeFd, -1) });
        this.handles.push(handle);
        handle.onMessage((m: WorkerMessage) => {
          this.onWorkerMessage(m);
          if (m.type === 'ready' && ++readyCount === this.reactorCount) resolve();
          if (m.type === 'trap' && readyCount < this.reactorCount) reject(this.failure);
        });
        exits.push(new Promise<void>((done) => handle.onExit((code) => {
          if (code !== 0 && !this.failure && !this.stopping) {
            this.fail(new WstorError('EREACTOREXIT', `reactor ${reactor} exited with code ${code}`));
          }
          done();
        })));
      }
    });
    this.exited = Promise.all(exits).then(() => undefined);
    return ready.catch(async (err) => {
      await this.shutdown();
      throw err;
    });
  }

  private onWorkerMessage(m: WorkerMessage): void {
    switch (m.type) {
      case 'report':
        this.noteReport(LEVEL_NAMES.indexOf(m.level), m.code, m.message);
        this.report(LEVEL_NAMES.indexOf(m.level), m.code, m.message, m.reactor);
        break;
      case 'event':
        for (const l of this.eventListeners) l({ kind: m.kind, a: m.a, b: m.b, c: m.c, reactor: m.reactor });
        break;
      case 'stopped':
        this.stats[m.reactor] = m.stats;
        break;
      case 'trap':
        this.fail(new WstorError('EREACTORTRAP', `reactor ${m.reactor} trapped: ${m.message}\n${m.stack}`));
        break;
      case 'ready':
        this.reactorThreadIds[m.reactor] = m.threadId;
        break;
    }
  }

  /**
   * Run a control-plane request on the app thread: `post(id)` calls a core export that posts it and
   * returns 0 (or a negative errno if it could not be posted); the core ends it with
   * EVENT_REQUEST_DONE(id, rc, value). Resolves with the value, rejects with a WstorError naming `what`.
   * Any number may be in flight at once.
   */
  request(what: string, post: (id: number) => number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const p: PendingRequest = { what, reportSeq: 0, resolve, reject };
      const id = this.track(p);
      if (id !== 0) this.posted(id, post(id));
    });
  }

  /**
   * Register `p` as a request about to be posted: its id, or 0 when the engine takes no requests
   * (`p` was rejected then). The caller posts it and hands the core's answer to posted().
   * @internal
   */
  track(p: PendingRequest): number {
    if (this.failure) { p.reject(this.failure); return 0; }
    if (this.stopping) { p.reject(new WstorError('ESHUTDOWN', `${p.what}: the engine is stopping`)); return 0; }
    // Ids travel as u32 and 0 means none: wrap before 2^31 (hours at a million a second), skipping
    // any id still in flight.
    let id = this.nextRequestId;
    for (;;) {
      if (id > MAX_REQUEST_ID) id = 1;
      if (!this.pending.has(id)) break;
      id++;
    }
    this.nextRequestId = id + 1;
    p.reportSeq = this.reportSeq;
    this.pending.set(id, p);
    return id;
  }

  /**
   * What posting tracked request `id` returned: a negative errno rejects it (`why`, when given, says
   * what to do about it). @internal
   */
  posted(id: number, rc: number, why?: string): void {
    if (rc >= 0) return;
    const p = this.takePending(id);
    if (!p) return;
    const err = WstorError.fromErrno(rc, p.what);
    const because = why ?? (rc === -12 ? 'the engine\'s memory has no room to post it: free something, or start the engine with more memory' : undefined);
    p.reject(because === undefined ? err : new WstorError(err.code, `${err.message}: ${because}`, rc));
  }

  /** Request `id` ended (through the completion queue, or as an event); its entry, or undefined. */
  private takePending(id: number) {
    const p = this.pending.get(id);
    if (p) this.pending.delete(id);
    return p;
  }

  /** A request that succeeded through the completion queue. */
  private settle(id: number, value: number): void {
    this.takePending(id)?.resolve(value);
  }

  private onRequestDone(e: CoreEvent): void {
    if (e.kind !== EVENT_REQUEST_DONE) return;
    const p = this.takePending(e.a);
    if (!p) return;
    if (e.b >= 0) { p.resolve(e.c); return; }
    // The core explains a failure in a report just before it completes the request (same worker,
    // same order): name it in the error, matched by errno, from after the request was posted.
    const why = this.recentErrors.filter((r) => r.seq > p.reportSeq && r.code === e.b).at(-1);
    const err = WstorError.fromErrno(e.b, p.what);
    p.reject(why ? new WstorError(err.code, `${err.message}: ${why.message}`, e.b) : err);
  }

  private noteReport(level: number, code: number, message: string): void {
    if (level > 1) return;
    this.recentErrors.push({ seq: ++this.reportSeq, code, message });
    if (this.recentErrors.length > 64) this.recentErrors.shift();
  }

  /** A reactor died: record why and stop the others, so the process never hangs on them. */
  private fail(error: WstorError): void {
    if (!this.failure) this.failure = error;
    for (const [id, p] of this.pending) { this.pending.delete(id); p.reject(error); }
    this.report(0, -5, error.message.split('\n')[0], 'control');
    void this.shutdown();
  }

  private readonly filter: { threshold: number };

  /** Reports at or above this level reach onReport (SPDK's log_set_level / log_get_level). */
  get logLevel(): LevelName { return LEVEL_NAMES[this.filter.threshold]; }
  set logLevel(level: LevelName) {
    const i = LEVEL_NAMES.indexOf(level);
    if (i < 0) throw new WstorError('EINVAL', `log level ${level} must be one of ${LEVEL_NAMES.join(', ')}`);
    this.filter.threshold = i;
  }

  /** A host-side report (the lvol layer, the RPC server), through the same filter and sink as the core's. */
  log(level: LevelName, message: string): void {
    this.report(LEVEL_NAMES.indexOf(level), 0, message, 'control');
  }

  private lvolApi: LvolApi | null = null;
  /** Logical volumes: lvstores on bdevs, lvols served as bdevs (found again by examine). */
  get lvol(): LvolApi {
    this.lvolApi ??= new LvolApi(this);
    return this.lvolApi;
  }

  private nvmfApi: NvmfApi | null = null;
  /** The NVMe-oF target: transports, subsystems, listeners (Node only). */
  get nvmf(): NvmfApi {
    this.nvmfApi ??= this.targets('the NVMe-oF target').nvmf(this);
    return this.nvmfApi;
  }

  private vhostApi: VhostApi | null = null;
  /** vhost-user-blk controllers (Node only). */
  get vhost(): VhostApi {
    this.vhostApi ??= this.targets('vhost-user').vhost(this);
    return this.vhostApi;
  }

  /** The platform's storage-target APIs, or ENOTSUP naming `what` (a browser has no sockets). */
  private targets(what: string): NonNullable<Platform['targets']> {
    if (!this.platform.targets) throw new WstorError('ENOTSUP', `${what} is not available on ${this.platform.name} (it needs Node and the addon)`);
    return this.platform.targets;
  }

  private bdevApi: BdevApi | null = null;
  private buffersApi: EngineBuffers | null = null;
  /**
   * Buffers in the engine's memory (SPDK's DMA buffers): blob readv into one and write from one skip
   * the copy through a staging buffer. `alloc(bytes)` -> Uint8Array, `free(buffer)`.
   */
  get buffers(): EngineBuffers {
    this.buffersApi ??= new EngineBuffers(this);
    return this.buffersApi;
  }
  private blobstoreApi: BlobstoreApi | null = null;
  /** Blobstores on bdevs: init, load, then blobs. */
  get blobstore(): BlobstoreApi {
    this.blobstoreApi ??= new BlobstoreApi(this);
    return this.blobstoreApi;
  }
  /** Block devices: create, inspect, inject faults, delete. */
  get bdev(): BdevApi {
    this.bdevApi ??= new BdevApi(this);
    return this.bdevApi;
  }

  /** The error that stopped the engine, if a reactor trapped or died. */
  get error(): WstorError | null { return this.failure; }

  /** Events from the core (demo steps, test hooks). Returns a function that removes the listener. */
  onEvent(listener: (e: CoreEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Statistics of each reactor: live while running, final after stop. */
  reactorStats(): ReactorStats[] {
    return this.stats.map((s, i) => s ?? readReactorStats(this.core, i));
  }

  private async shutdown(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new WstorError('ESHUTDOWN', `${p.what}: the engine stopped before it completed`));
    }
    for (let i = 0; i < this.handles.length; i++) this.core.reactor_request_stop(i);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), this.stopTimeoutMs); });
    const late = await Promise.race([this.exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.report(1, -110, `reactors did not stop within ${this.stopTimeoutMs} ms; terminating them`, 'control');
      await Promise.all(this.handles.map((h) => h.terminate()));
    }
    await this.exited;
    await this.completions?.stop();
    for (const fd of this.openWakeFds.splice(0)) this.wakeFds?.close(fd);
    await this.platform.stopped?.(this.memory);
  }

  /**
   * Stop every reactor: each asks its threads to exit, drains them, and returns. Resolves when all
   * workers have ended; rejects with the error if a reactor had trapped.
   */
  async stop(): Promise<void> {
    // Controllers first (they hold bdevs open), then lvstores, the engine's own: unloaded cleanly
    // (a user's blobstores are the user's to unload).
    if (this.nvmfApi && !this.failure && !this.stopping) {
      await this.nvmfApi.deleteAll().catch((err: Error) => this.log('error', `deleting the NVMe-oF target at stop: ${err.message}`));
    }
    if (this.vhostApi && !this.failure && !this.stopping) {
      await this.vhostApi.deleteAll().catch((err: Error) => this.log('error', `deleting vhost controllers at stop: ${err.message}`));
    }
    if (this.lvolApi && !this.failure && !this.stopping) {
      await this.lvolApi.unloadAll().catch((err: Error) => this.log('error', `unloading lvstores at stop: ${err.message}`));
    }
    await this.shutdown();
    await this.exited;
    if (this.failure) throw this.failure;
  }
}
