// Every export of core.wasm, declared once: its wasm parameter and result types, from which the host's
// typed view (CoreExports) is derived. tests/unit/core-abi.test.ts holds this table against the
// exports and signatures of the built core.wasm (and core-test.wasm), so a misspelt export, a missing
// one or a changed signature fails a test instead of compiling. Names of the parameters are in the
// comments (the AssemblyScript declarations in assembly/index.ts and assembly/app/ are the reference).

/** A wasm value type at the boundary (i64 would be a bigint in JS; the core exports none). */
export type WasmType = 'i32' | 'i64' | 'f64';
export type CoreSignature = readonly [params: readonly WasmType[], result: WasmType | 'void'];

type JsOf<W> = W extends 'i64' ? bigint : number;
// Mapped over a type parameter, so a tuple of wasm types becomes a tuple of JS types.
type JsArgs<P extends readonly WasmType[]> = { -readonly [I in keyof P]: JsOf<P[I]> };
type FunctionOf<S extends CoreSignature> = (...args: JsArgs<S[0]>) => S[1] extends 'void' ? void : JsOf<S[1]>;

export const CORE_EXPORTS = {
  _start: [[], 'void'],
  wstor_attach: [['i32'], 'void'],  // (arenaId)
  wstor_memory_limit: [['i32'], 'void'],  // (pages)
  thread_set_default_ring_size: [['i32'], 'i32'],  // (entries)
  wstor_stack_mark: [[], 'void'],
  wstor_stack_reset: [[], 'void'],
  wstor_locks_held: [[], 'i32'],
  pages_room_bytes: [[], 'f64'],
  wstor_create_reactors: [['i32'], 'i32'],  // (count)
  reactor_bind: [['i32'], 'void'],  // (id)
  reactor_sleep_in_kernel: [['i32'], 'i32'],  // (wakeFd)
  reactor_run: [[], 'i32'],
  reactor_request_stop: [['i32'], 'void'],  // (id)
  reactor_stat: [['i32', 'i32'], 'f64'],  // (id, which)
  reactor_set_idle_policy: [['i32', 'i32', 'i32'], 'void'],  // (id, idleSpinUs, maxSleepUs)
  heap_live_blocks: [[], 'i32'],
  heap_live_blocks_all: [[], 'i32'],
  heap_pages_in_use: [[], 'i32'],
  thread_count: [[], 'i32'],
  demo_start: [['i32', 'i32'], 'i32'],  // (rounds, workerReactor)
  wstor_string_new: [['i32'], 'i32'],  // (byteLength)
  wstor_alloc: [['i32'], 'i32'],  // (bytes)
  wstor_free: [['i32'], 'void'],  // (ptr)
  bdev_null_create: [['i32', 'i32', 'f64'], 'i32'],  // (name, blockSize, blockCount)
  bdev_malloc_create: [['i32', 'i32', 'f64'], 'i32'],  // (name, blockSize, blockCount)
  bdev_info: [['i32', 'i32'], 'f64'],  // (id, which)
  bdev_stats: [['i32', 'i32'], 'i32'],  // (id, out)
  bdev_stats_bytes: [[], 'i32'],
  perf_start: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'f64'],  // (bdevId, reactors, workload, readPercent, queueDepth, ioBytes, durationMs, seed, flags)
  perf_start_blob: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'f64'],  // (blob, reactors, workload, readPercent, queueDepth, ioBytes, durationMs, seed)
  perf_stop: [['i32'], 'void'],  // (run)
  perf_jobs_done: [['i32'], 'i32'],  // (run)
  perf_stat: [['i32', 'i32', 'i32'], 'f64'],  // (run, job, field)
  perf_hist: [['i32', 'i32'], 'i32'],  // (run, job)
  perf_free: [['i32'], 'i32'],  // (run)
  hist_buckets: [[], 'i32'],
  hist_bucket_start: [['i32'], 'f64'],  // (bucket)
  wstor_app_thread_create: [[], 'i32'],
  completions_create: [[], 'i32'],
  completions_block: [[], 'i32'],
  completions_drain: [['i32', 'i32'], 'i32'],  // (out, max)
  completions_pending: [[], 'i32'],
  completions_queued: [[], 'f64'],
  bdev_error_create: [['i32', 'i32', 'i32'], 'i32'],  // (reqId, name, baseId)
  bdev_delay_create: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (reqId, name, baseId, avgRead, p99Read, avgWrite, p99Write)
  bdev_crash_create: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (reqId, name, baseId, maxCacheMiB)
  bdev_error_inject: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (id, type, kind, count)
  bdev_delay_update_latency: [['i32', 'i32', 'i32'], 'i32'],  // (id, which, us)
  bdev_plugin_create: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (reqId, name, baseId, module, moduleLen, config, configLen, limits)
  bdev_plugin_info: [['i32', 'i32'], 'f64'],  // (id, which)
  bdev_crash_cut: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (reqId, id, mode, seed)
  bdev_delete: [['i32', 'i32'], 'i32'],  // (reqId, id)
  bdev_lvol_create: [['i32', 'i32', 'i32'], 'i32'],  // (reqId, name, blob)
  bdev_lvol_freeze: [['i32', 'i32', 'i32'], 'i32'],  // (reqId, id, thaw)
  bdev_lvol_resized: [['i32'], 'i32'],  // (id)
  bdev_lvol_detach: [['i32', 'i32'], 'i32'],  // (reqId, id)
  bdev_resize: [['i32', 'f64'], 'i32'],  // (id, blockCount)
  bdev_uring_create: [['i32', 'i32', 'i32', 'f64', 'i32', 'i32'], 'i32'],  // (name, fd, blockSize, blockCount, direct, map)
  pages_reserve: [['f64'], 'i32'],  // (bytes)
  pages_release: [['i32', 'f64'], 'void'],  // (base, bytes)
  bdev_uring_fd: [['i32'], 'i32'],  // (id)
  vhost_ctrlr_create: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, name, bdevId, listenFd, reactor, readOnly)
  vhost_ctrlr_delete: [['i32', 'i32', 'i32'], 'i32'],  // (req, ctrlr, force)
  vhost_ctrlr_info: [['i32', 'i32'], 'f64'],  // (ctrlr, which)
  vhost_ctrlr_set_coalescing: [['i32', 'i32', 'i32'], 'void'],  // (ctrlr, delayUs, iopsThreshold)
  bs_init: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, bdevId, clusterBytes, mdPages)
  bs_load: [['i32', 'i32', 'i32'], 'i32'],  // (req, bdevId, readOnly)
  bs_unload: [['i32', 'i32'], 'i32'],  // (req, store)
  bs_free_clusters: [['i32'], 'f64'],  // (store)
  bs_total_clusters: [['i32'], 'f64'],  // (store)
  bs_grow: [['i32', 'i32'], 'i32'],  // (req, store)
  bs_cluster_bytes: [['i32'], 'i32'],  // (store)
  bs_io_unit_bytes: [['i32'], 'i32'],  // (store)
  blob_create: [['i32', 'i32', 'f64', 'i32'], 'i32'],  // (req, store, clusters, thin)
  blob_open: [['i32', 'i32', 'f64'], 'i32'],  // (req, store, id)
  blob_close: [['i32', 'i32'], 'i32'],  // (req, blob)
  blob_sync: [['i32', 'i32'], 'i32'],  // (req, blob)
  blob_resize: [['i32', 'i32', 'f64'], 'i32'],  // (req, blob, clusters)
  blob_delete: [['i32', 'i32', 'f64'], 'i32'],  // (req, store, id)
  blob_set_xattr: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, blob, name, nameBytes, value, valueBytes)
  blob_get_xattr: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, blob, name, nameBytes)
  blob_remove_xattr: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, blob, name, nameBytes)
  blob_clusters: [['i32'], 'f64'],  // (blob)
  bs_next_blob: [['i32', 'i32'], 'i32'],  // (store, from)
  blob_is_thin: [['i32'], 'i32'],  // (blob)
  blob_allocated_clusters: [['i32'], 'f64'],  // (blob)
  bs_set_super: [['i32', 'i32', 'f64'], 'i32'],  // (req, store, id)
  bs_get_super: [['i32'], 'f64'],  // (store)
  blob_snapshot: [['i32', 'i32'], 'i32'],  // (req, blob)
  blob_clone: [['i32', 'i32', 'f64'], 'i32'],  // (req, store, snapshotId)
  blob_parent: [['i32'], 'f64'],  // (blob)
  blob_is_snapshot: [['i32'], 'i32'],  // (blob)
  blob_inflate: [['i32', 'i32'], 'i32'],  // (req, blob)
  blob_decouple: [['i32', 'i32'], 'i32'],  // (req, blob)
  blob_xattr_names: [['i32', 'i32'], 'i32'],  // (req, blob)
  bs_probe: [['i32', 'i32'], 'i32'],  // (req, bdevId)
  blob_set_read_only: [['i32', 'i32'], 'i32'],  // (req, blob)
  blob_is_read_only: [['i32'], 'i32'],  // (blob)
  bs_io_thread_create: [['i32'], 'i32'],  // (reactor)
  blob_io_on: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'f64'], 'i32'],  // (req, iot, store, blob, op, buf, offset, units)
  bs_io_release: [['i32', 'i32', 'i32'], 'i32'],  // (req, iot, store)
  bdev_flush: [['i32', 'i32'], 'i32'],  // (reqId, id)
  bdev_nvme_attach: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'i32', 'i32', 'i32'], 'i32'],  // (req, traddr, port | digests << 16, subnqn, hostnqn, hostId16, connectTimeoutUs, lossTimeoutSec, reconnectDelaySec, fastIoFailSec)
  bdev_nvme_reset: [['i32', 'i32'], 'i32'],  // (req, ctrlr)
  bdev_nvme_ns_bdev: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, ctrlr, index, name)
  bdev_nvme_detach: [['i32', 'i32'], 'i32'],  // (req, ctrlr)
  bdev_nvme_ns_count: [['i32'], 'i32'],  // (ctrlr)
  bdev_nvme_ns_info: [['i32', 'i32', 'i32'], 'f64'],  // (ctrlr, index, which)
  bdev_nvme_ctrlr_info: [['i32', 'i32'], 'f64'],  // (ctrlr, which)
  nvmf_listener_add: [['i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, trtype, adrfam, traddr, trsvcid)
  nvmf_listener_remove: [['i32', 'i32'], 'i32'],  // (req, id)
  nvmf_subsystem_create: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, nqn, serial, model, maxNamespaces, allowAnyHost, minCntlid, maxCntlid)
  nvmf_subsystem_delete: [['i32', 'i32'], 'i32'],  // (req, sub)
  nvmf_discovery_subsystem: [[], 'i32'],
  nvmf_ns_add: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, sub, bdevId, nsid, uuid16, nguid16, eui64_8)
  nvmf_ns_remove: [['i32', 'i32', 'i32'], 'i32'],  // (req, sub, nsid)
  nvmf_host_add: [['i32', 'i32', 'i32'], 'i32'],  // (req, sub, hostnqn)
  nvmf_host_remove: [['i32', 'i32', 'i32'], 'i32'],  // (req, sub, hostnqn)
  nvmf_allow_any_host: [['i32', 'i32', 'i32'], 'i32'],  // (req, sub, allow)
  nvmf_subsystem_listener_add: [['i32', 'i32', 'i32'], 'i32'],  // (req, sub, listenerId)
  nvmf_subsystem_listener_remove: [['i32', 'i32', 'i32'], 'i32'],  // (req, sub, listenerId)
  nvmf_referral_add: [['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, trtype, adrfam, traddr, trsvcid, subnqn)
  nvmf_referral_remove: [['i32', 'i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, trtype, adrfam, traddr, trsvcid)
  nvmf_subsystem_dump: [['i32', 'i32', 'i32'], 'i32'],  // (sub, buf, cap)
  nvmf_tcp_create: [['i32', 'i32'], 'i32'],  // (req, limitsPtr): value = the transport
  nvmf_tcp_listen: [['i32', 'i32', 'i32', 'i32'], 'i32'],  // (req, transport, listenerId, fd)
  nvmf_tcp_unlisten: [['i32', 'i32', 'i32'], 'i32'],  // (req, transport, listenerId)
  nvmf_tcp_destroy: [['i32', 'i32'], 'i32'],  // (req, transport)
  nvmf_tcp_stats: [['i32', 'i32', 'i32'], 'i32'],  // (transport, buf, cap): bytes or -ENOSPC
} as const satisfies Record<string, CoreSignature>;

export type CoreExportName = keyof typeof CORE_EXPORTS;
/** The typed exports of core.wasm. */
export type CoreExportFunctions = { [K in CoreExportName]: FunctionOf<(typeof CORE_EXPORTS)[K]> };

/** What the runtime (assembly/runtime/rt.ts, asc's --runtime) exports: asc adds them; the host never calls them. */
export const RUNTIME_EXPORTS = ['newObjectOrNull', '__alloc', '__realloc', '__free', '__new', '__renew', '__link', '__pin', '__unpin', '__visit', '__collect'] as const;

/**
 * What scripts/instrument-coverage.mjs adds to build/core.fuzz.wasm (on top of CORE_EXPORTS): the
 * instance's coverage counters and a snapshot of its mutable globals (host/fuzz/ reads them).
 */
export const FUZZ_INSTRUMENT_EXPORTS = {
  __fuzz_counters: [[], 'i32'],  // -> address of the u8 counters (0 before wstor_attach)
  __fuzz_counters_bytes: [[], 'i32'],  // -> how many sites (one counter each)
  __fuzz_globals_bytes: [[], 'i32'],  // -> bytes __fuzz_globals_save writes
  __fuzz_globals_save: [['i32'], 'void'],  // (ptr)
  __fuzz_globals_restore: [['i32'], 'void'],  // (ptr)
} as const satisfies Record<string, CoreSignature>;

export type FuzzInstrumentExports = { [K in keyof typeof FUZZ_INSTRUMENT_EXPORTS]: FunctionOf<(typeof FUZZ_INSTRUMENT_EXPORTS)[K]> };

/** The fuzz targets' core side (assembly/fuzz/, in build/core.fuzz.wasm only): set-up once, then one run per input. */
export const FUZZ_TARGET_EXPORTS = {
  fuzz_nvmf_tcp_setup: [[], 'i32'],
  fuzz_nvmf_tcp_run: [['i32', 'i32'], 'i32'],  // (ptr, len) -> bytes the connection took
  fuzz_blob_load_setup: [[], 'i32'],
  fuzz_blob_load_run: [['i32', 'i32'], 'i32'],  // (ptr, len) -> the load's rc
  fuzz_nvme_cmd_setup: [[], 'i32'],
  fuzz_nvme_cmd_run: [['i32', 'i32'], 'i32'],  // (ptr, len) -> bytes the records took
  fuzz_selftest_setup: [[], 'i32'],
  fuzz_selftest_run: [['i32', 'i32'], 'i32'],  // (ptr, len) -> how far into a magic word it got
} as const satisfies Record<string, CoreSignature>;

export type FuzzTargetExportName = keyof typeof FUZZ_TARGET_EXPORTS;
