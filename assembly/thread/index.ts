// The thread library's public surface (SPDK's include/spdk/thread.h, in wstor's names).
export {
  MsgFn, PollerFn, ChannelCreateFn, ChannelDestroyFn, POLLER_BUSY, POLLER_IDLE, NO_REACTOR,
  THREAD_RUNNING, THREAD_EXITING, THREAD_EXITED, Thread,
} from "./types";
export {
  threadAlloc, threadGet, sendMsg, sendMsgs, threadPoll, threadExit, threadDestroy, threadIsExited, threadPending, threadOverflowTotal,
  threadRequestMove, threadSetExitTimeout, threadId, threadOwner, threadState,
  MSG_BATCH, DEFAULT_RING_SIZE, DEFAULT_EXIT_TIMEOUT_US,
} from "./thread";
export { pollerRegister, pollerUnregister, pollerSetPeriod, pollerReschedule } from "./poller";
export {
  ioDeviceRegister, ioDeviceUnregister, getIoChannel, putIoChannel, ioChannelCtx, ioChannelThread, ioChannelDevice, threadChannelFor,
} from "./io_channel";
export {
  forEachThread, threadWalkAlloc, threadWalkFree, forEachThreadWith, forEachChannel, forEachChannelContinue, forEachChannelCtx, forEachChannelIoChannel,
  ChannelIterFn, ChannelIterDoneFn,
} from "./for_each";
export {
  Reactor, reactorsCreate, reactorCount, reactorBind, reactorRun, reactorRequestStop, reactorWake, reactorSendEvent, threadSetDefaultRingSize,
  threadCreateOn, currentReactorId, reactorSleeping, reactorSetCurrent, reactorStat, reactorSetIdlePolicy,
  reactorSleepInKernel, reactorSleepsInKernel, reactorIdleSpinUs,
} from "./reactor";
export { registryInit, registryThreadCount, registryFindThread } from "./registry";
export { threadNowUs, cachedNowNs, cachedNowUs, clockSetManual, clockTick } from "./clock";
