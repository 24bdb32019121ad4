// The NVMe protocol core's public surface: spec structures, the target's transport seam.
export * from "./spec";
export * from "./transport";
export { nvmfQpairInit, nvmfReqExec, nvmfReqCompleteError, nvmfQpairClose } from "./target";
export * from "./fabrics";
export * from "./identify";
export { nsIdsDerive, NGUID_BYTES, EUI64_BYTES, UUID_BYTES } from "./ns-ids";
