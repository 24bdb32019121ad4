// core.wasm's exports: the small integer-only interface the host calls (declared for the host in
// host/core-exports.ts). Every reactor worker and the host's control instance instantiate this same
// module over one shared memory. Each component's host-facing surface lives in assembly/app/.

export * from "./app/engine-exports";
export * from "./app/bdev-exports";
export * from "./app/bdev-requests";
export * from "./app/perf-exports";
export * from "./app/vhost-exports";
export {
  bs_init, bs_load, bs_unload, bs_free_clusters, bs_total_clusters, bs_grow, bs_cluster_bytes, bs_io_unit_bytes, blob_create, blob_open, blob_close,
  blob_sync, blob_resize, blob_delete, blob_set_xattr, blob_get_xattr, blob_remove_xattr, blob_clusters,
  bs_next_blob, blob_is_thin, blob_allocated_clusters, bs_set_super, bs_get_super,
  blob_snapshot, blob_clone, blob_parent, blob_is_snapshot, blob_inflate, blob_decouple, blob_xattr_names,
  bs_probe, blob_set_read_only, blob_is_read_only,
} from "./app/bs-requests";
export { bs_io_thread_create, blob_io_on, bs_io_release } from "./app/bs-io";
export { bdev_flush } from "./app/bdev-flush";
export {
  nvmf_listener_add, nvmf_listener_remove, nvmf_subsystem_create, nvmf_subsystem_delete, nvmf_discovery_subsystem, nvmf_ns_add,
  nvmf_ns_remove, nvmf_host_add, nvmf_host_remove, nvmf_allow_any_host, nvmf_subsystem_listener_add, nvmf_subsystem_listener_remove,
  nvmf_referral_add, nvmf_referral_remove, nvmf_subsystem_dump,
} from "./app/nvmf-exports";
export { nvmf_tcp_create, nvmf_tcp_listen, nvmf_tcp_unlisten, nvmf_tcp_destroy, nvmf_tcp_stats } from "./app/nvmf-tcp-exports";
export { bdev_plugin_create, bdev_plugin_info } from "./app/plugin-exports";
export { bdev_nvme_attach, bdev_nvme_ns_bdev, bdev_nvme_detach, bdev_nvme_reset, bdev_nvme_ns_count, bdev_nvme_ns_info, bdev_nvme_ctrlr_info } from "./app/bdev-nvme-exports";
