// The NVMe/TCP host's public surface: a qpair on one thread (connect, submit, disconnect) and a
// controller's bring-up over its admin qpair. Everything else in this folder is internal.
export {
  HostReq, HostQpairOpts, HostQpairEventFn, HOST_REQ_BYTES, HOST_REQ_IOV_MAX, HOST_QUEUE_ENTRIES_MAX, QEV_READY, QEV_CLOSED,
  QP_NEW, QP_READY, QP_CLOSED, hostReqSqe,
} from "./types";
export {
  hostQpairNew, hostQpairConnect, hostQpairDisconnect, hostQpairFree, hostQpairSetInCapsule, hostQpairState, hostQpairCntlid,
  hostQpairInFlight, hostQpairSlots, hostQpairDigests,
} from "./qpair";
export { hostQpairSubmit } from "./cmd";
export {
  HostCtrlr, HostNs, HostCtrlrDoneFn, HOST_NS_MAX, CTRLR_READY, CTRLR_CLOSED, hostCtrlrNew, hostCtrlrStart, hostCtrlrClose,
  hostCtrlrFree, hostCtrlrNs, hostCtrlrOnLost,
} from "./ctrlr";
