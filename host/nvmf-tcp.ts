// The NVMe/TCP transport from Node: its options in SPDK's names (defaults, ranges, refusals), the
// listening sockets it makes (the core's poll groups accept on them through their io_uring; nothing
// of the data path runs here), and its per poll group counters. host/nvmf.ts calls it through
// NvmfTransportBackend; the core's side is assembly/nvme/tcp.
import type { Engine } from './engine.js';
import { WstorError } from './errors.js';
import { loadNative } from './native/index.js';

/** SPDK's TCP defaults (lib/nvmf/tcp.c), and wstor's bounds for each number (assembly/nvme/tcp/lifecycle.ts). */
const NUMBERS: Record<string, { def: number; min: number; max: number; why?: string }> = {
  max_queue_depth: { def: 128, min: 2, max: 4096 },
  max_io_qpairs_per_ctrlr: { def: 127, min: 1, max: 65535 },
  in_capsule_data_size: { def: 4096, min: 0, max: 131072, why: 'a multiple of 16' },
  max_io_size: { def: 131072, min: 4096, max: 1 << 20, why: 'a multiple of 4096' },
  io_unit_size: { def: 131072, min: 4096, max: 1 << 20, why: 'a multiple of 4096' },
  max_aq_depth: { def: 128, min: 2, max: 4096, why: 'at most max_queue_depth' },
  num_shared_buffers: { def: 511, min: 1, max: 65536 },
  buf_cache_size: { def: 32, min: 0, max: 0xffffffff },
  sock_priority: { def: 0, min: 0, max: 6 },
  acceptor_backlog: { def: 100, min: 1, max: 4096 },
  abort_timeout_sec: { def: 1, min: 0, max: 3600 },
  control_msg_num: { def: 32, min: 0, max: 65535 },
  acceptor_poll_rate: { def: 10000, min: 0, max: 0xffffffff },
  iobuf_small_cache_size: { def: 0, min: 0, max: 0xffffffff },
  iobuf_large_cache_size: { def: 0, min: 0, max: 0xffffffff },
};
/** Options taken only at SPDK's default: the feature behind any other value does not exist here. */
const FIXED: Record<string, { value: unknown; lacking: string }> = {
  kas: { value: 10, lacking: 'keep-alive granularity is fixed at 10 (1 s)' },
  min_kato: { value: 10000, lacking: 'the minimum keep-alive timeout is fixed at 10000 ms' },
  masked_oncs: { value: 0, lacking: 'the optional commands are what each namespace\'s bdev supports' },
  masked_fuses: { value: 0, lacking: 'fused commands are not supported' },
  zcopy: { value: false, lacking: 'wstor has no zero-copy bdev API' },
  dif_insert_or_strip: { value: false, lacking: 'wstor has no DIF' },
};
/** Options of other transports (RDMA, vfio-user) a TCP transport ignores at their defaults, as SPDK's does. */
const OTHER_TRANSPORTS = new Set(['num_cqe', 'max_srq_depth', 'no_srq', 'no_wr_batching', 'disable_mappable_bar0',
  'disable_adaptive_irq', 'disable_shadow_doorbells', 'ack_timeout', 'data_wr_pool_size', 'disable_command_passthru']);

const TRTYPE_TCP = 3;
/** NvmfTransportLimits (8 u32) then TcpOptions (4 u32): assembly/nvme/transport.ts, tcp/group.ts. */
const LIMITS_WORDS = 12;
/** f64 fields of each poll group's record, in the core's order (assembly/nvme/tcp/stats.ts). */
const STATS_FIELDS = ['reactor', 'current_qpairs', 'accepted_qpairs', 'closed_qpairs', 'commands', 'error_completions',
  'term_reqs_sent', 'term_reqs_received', 'pending_buffer_waits', 'free_buffers', 'total_buffers'] as const;

function refuse(name: string, text: string): never {
  throw new WstorError('EINVAL', `nvmf_create_transport: ${name} ${text}`);
}

/** Every TCP option filled in (0 for a number means its default, as SPDK's clients send it), or a refusal naming the option. */
export function tcpTransportOptions(given: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = { trtype: 'TCP' };
  for (const [name, spec] of Object.entries(NUMBERS)) {
    const v = given[name];
    if (v === undefined || v === null || v === 0) { o[name] = spec.def; continue; }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) {
      refuse(name, `must be an integer ${spec.min}..${spec.max}${spec.why ? ` (${spec.why})` : ''}, not ${JSON.stringify(v)}`);
    }
    o[name] = v;
  }
  o.c2h_success = given.c2h_success ?? true;
  if (typeof o.c2h_success !== 'boolean') refuse('c2h_success', 'must be true or false');
  for (const [name, f] of Object.entries(FIXED)) {
    const v = given[name];
    const isDefault = v === undefined || v === null || v === f.value || (typeof f.value === 'number' && v === 0);
    if (!isDefault) {
      throw new WstorError('ENOTSUP', `nvmf_create_transport: ${name} ${JSON.stringify(v)} is not supported (${f.lacking}); leave it out or use ${JSON.stringify(f.value)}`);
    }
    o[name] = f.value;
  }
  for (const name of Object.keys(given)) {
    if (!(name in NUMBERS) && !(name in FIXED) && name !== 'c2h_success' && name !== 'trtype' && !OTHER_TRANSPORTS.has(name)) {
      refuse(name, 'is not an option of the TCP transport');
    }
  }
  const n = (k: string) => o[k] as number;
  if (n('in_capsule_data_size') % 16 !== 0) refuse('in_capsule_data_size', `must be a multiple of 16, not ${n('in_capsule_data_size')}`);
  if (n('max_io_size') % 4096 !== 0) refuse('max_io_size', `must be a multiple of 4096, not ${n('max_io_size')}`);
  if (n('io_unit_size') % 4096 !== 0) refuse('io_unit_size', `must be a multiple of 4096, not ${n('io_unit_size')}`);
  if (n('max_aq_depth') > n('max_queue_depth')) refuse('max_aq_depth', `${n('max_aq_depth')} is above max_queue_depth ${n('max_queue_depth')}`);
  // One I/O takes at most 16 buffers (the core's iovec bound) and must fit one poll group's share.
  const unitsPerIo = Math.ceil(n('max_io_size') / n('io_unit_size'));
  if (unitsPerIo > 16) refuse('io_unit_size', `${n('io_unit_size')} splits a max_io_size I/O into ${unitsPerIo} buffers; at most 16 (raise io_unit_size or lower max_io_size)`);
  if (n('num_shared_buffers') < unitsPerIo) refuse('num_shared_buffers', `${n('num_shared_buffers')} cannot hold one max_io_size I/O (${unitsPerIo} buffers)`);
  return o;
}

/** One TCP transport of one engine (host/nvmf.ts makes at most one). */
export class NvmfTcpTransport {
  /** Listening sockets by listener id (the core closes each at unlisten). */
  private readonly listening = new Set<number>();

  private constructor(private readonly engine: Engine, readonly ptr: number, readonly options: Record<string, unknown>) {}

  /** nvmf_create_transport -t TCP: a poll group on every reactor. */
  static async create(engine: Engine, given: Record<string, unknown>): Promise<NvmfTcpTransport> {
    const options = tcpTransportOptions(given);
    const n = (k: string) => options[k] as number;
    // SPDK's num_shared_buffers is the transport's; here each poll group owns a share (no buffer
    // crosses reactors), never less than one largest I/O.
    const unitsPerIo = Math.ceil(n('max_io_size') / n('io_unit_size'));
    const perGroup = Math.max(unitsPerIo, Math.ceil(n('num_shared_buffers') / engine.reactorCount));
    const words = [TRTYPE_TCP, n('max_queue_depth'), n('max_io_qpairs_per_ctrlr'), n('in_capsule_data_size'), n('max_io_size'),
      n('io_unit_size'), n('max_aq_depth'), n('abort_timeout_sec'), options.c2h_success ? 1 : 0, n('sock_priority'), perGroup, n('buf_cache_size')];
    const core = engine.core;
    const at = core.wstor_alloc(LIMITS_WORDS * 4) >>> 0;
    if (at === 0) throw new WstorError('ENOMEM', 'nvmf_create_transport: the engine\'s memory has no room for the options');
    try {
      new Uint32Array(engine.memory.buffer, at, LIMITS_WORDS).set(words);
      const bufferBytes = perGroup * n('io_unit_size') * engine.reactorCount;
      const ptr = await engine.request(`creating the TCP transport (${engine.reactorCount} poll groups, ${bufferBytes >> 20} MiB of buffers)`,
        (r) => core.nvmf_tcp_create(r, at));
      return new NvmfTcpTransport(engine, ptr >>> 0, options);
    } finally {
      core.wstor_free(at);
    }
  }

  /** Listen on `addr` for the core's listener `listenerId`; the bind's failure names the address and port. */
  async listen(listenerId: number, addr: { traddr: string; trsvcid: string }): Promise<void> {
    const native = loadNative();
    if (!native) throw new WstorError('ENOTSUP', 'NVMe/TCP needs the native addon (npm run build:native)');
    const port = Number(addr.trsvcid);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new WstorError('EINVAL', `trsvcid "${addr.trsvcid}" is not a TCP port (1..65535)`);
    }
    let fd: number;
    try {
      fd = native.tcpListen(addr.traddr, port, this.options.acceptor_backlog as number);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new WstorError(e.code ?? 'EIO', `listening on ${addr.traddr} port ${port}: ${e.message ?? String(err)}`);
    }
    // From here the core owns the fd, and closes it, even if the request fails.
    await this.engine.request(`accepting on ${addr.traddr} port ${port}`, (r) => this.engine.core.nvmf_tcp_listen(r, this.ptr, listenerId, fd));
    this.listening.add(listenerId);
  }

  async unlisten(listenerId: number): Promise<void> {
    if (!this.listening.delete(listenerId)) return;
    await this.engine.request(`closing listener ${listenerId}`, (r) => this.engine.core.nvmf_tcp_unlisten(r, this.ptr, listenerId));
  }

  /** Unlisten everything, close every connection, free the poll groups. */
  async destroy(): Promise<void> {
    for (const id of [...this.listening]) await this.unlisten(id);
    await this.engine.request('destroying the TCP transport', (r) => this.engine.core.nvmf_tcp_destroy(r, this.ptr));
  }

  /** One record per poll group, as nvmf_get_stats lists a transport's. */
  stats(): Record<string, unknown>[] {
    const core = this.engine.core;
    const bytes = this.engine.reactorCount * STATS_FIELDS.length * 8;
    const at = core.wstor_alloc(bytes) >>> 0;
    if (at === 0) throw new WstorError('ENOMEM', 'nvmf_get_stats: the engine\'s memory has no room for the counters');
    try {
      const n = core.nvmf_tcp_stats(this.ptr, at, bytes);
      if (n < 0) throw WstorError.fromErrno(n, 'nvmf_get_stats: reading the TCP poll groups');
      const f = new Float64Array(this.engine.memory.buffer, at, n / 8);
      const out: Record<string, unknown>[] = [];
      for (let g = 0; g * STATS_FIELDS.length < f.length; g++) {
        const rec: Record<string, unknown> = {};
        STATS_FIELDS.forEach((name, i) => { rec[name] = f[g * STATS_FIELDS.length + i]; });
        out.push(rec);
      }
      return out;
    } finally {
      core.wstor_free(at);
    }
  }
}
