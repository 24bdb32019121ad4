// Test-only exports, compiled into build/core-test.wasm next to the real core (never into core.wasm).
export * from "./harness";
export * from "./stress";
export * from "../../bench/core/bench";
export * from "./bdev-hooks";
export * from "./blob-hooks";
export * from "./vhost-hooks";
export * from "./control-hooks";
export * from "./nvmf-io-hooks";
export * from "./nvmf-hooks";
export * from "./nvme-tcp-hooks";
export * from "./sock-hooks";
export * from "./crc-hooks";
export * from "./sock-connect-hooks";
export * from "./nvme-host-hooks";
export * from "./nvme-driver-stress-hooks";
