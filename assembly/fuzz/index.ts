// The fuzz targets' core side, compiled with assembly/index.ts into build/core.fuzz.wasm only (never
// into core.wasm). Each target exports fuzz_<name>_setup() (once, before the runner's snapshot) and
// fuzz_<name>_run(ptr, len) (one input placed in core memory); host/fuzz/targets/ describes them.
export { fuzz_nvmf_tcp_setup, fuzz_nvmf_tcp_run } from "./nvmf-tcp";
export { fuzz_selftest_setup, fuzz_selftest_run } from "./selftest";
export { fuzz_blob_load_setup, fuzz_blob_load_run } from "./blob-load";
export { fuzz_nvme_cmd_setup, fuzz_nvme_cmd_run } from "./nvme-cmd";
