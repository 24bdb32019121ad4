// The nvme bdev module's public surface (SPDK's bdev_nvme over NVMe/TCP): attach, namespaces' bdevs, detach.
export {
  nvmeCtrlrAttach, nvmeCtrlrDetach, nvmeCtrlrNsCount, nvmeCtrlrNsInfo, nvmeCtrlrCntlid, nvmeCtrlrState, nvmeNsBdevCreate, isNvmeBdev, nvmeCtrlrResets,
} from "./ctrlr";
export { nvmeCtrlrReset } from "./reset";
