// The nvme bdev module's public surface (SPDK's bdev_nvme over NVMe/TCP): attach, namespaces' bdevs, detach.
export {
  nvmeCtrlrAttach, nvmeCtrlrDetach, nvmeCtrlrNsCount, nvmeCtrlrNsInfo, nvmeCtrlrCntlid, nvmeCtrlrState, nvmeNsBdevCreate, isNvmeBdev, nvmeCtrlrResets, nvmeCtrlrId,
} from "./ctrlr";
export { nvmeCtrlrReset } from "./reset";
export { nvmeAdminSubmit, nvmeAdminSqe, NVME_ADMIN_REQ_BYTES, NVME_ADMIN_NO_CTRLR, NVME_ADMIN_NOT_READY } from "./admin";
export { NvmeAdminReq } from "./types";
