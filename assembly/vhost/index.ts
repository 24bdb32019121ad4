// vhost-user-blk's public surface: controllers on reactors serving one guest each.
export { vhostCtrlrCreate, vhostCtrlrDelete, vhostCtrlrInfo, vhostCtrlrSetCoalescing } from "./ctrlr";
