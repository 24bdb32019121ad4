// The NVMe protocol core's public surface: spec structures, the target's transport seam.
export * from "./spec";
export * from "./transport";
export { nvmfQpairInit, nvmfReqExec } from "./target";
export { nvmfQpairClose } from "./qpair-close";
export { nvmfReqComplete, nvmfReqCompleteValue, nvmfReqCompleteError } from "./complete";
export * from "./fabrics";
export * from "./identify";
export { nsIdsDerive, NGUID_BYTES, EUI64_BYTES, UUID_BYTES } from "./ns-ids";
export {
  NvmfNs, nvmfNsOpen, nvmfNsClose, nvmfNsIdentify, nvmfNsIdDescriptors, nvmfNsSupportsUnmap, nvmfNsSupportsWriteZeroes,
  nvmfNsSupportsFlush, nvmfNsNguid, nvmfNsEui64, nvmfNsUuid, NS_EVENT_RESIZED, NS_EVENT_REMOVED, NsEventFn,
} from "./ns";
export { nvmfIoExec } from "./io";
