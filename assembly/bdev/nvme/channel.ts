// A controller's channel on one thread: created with the thread's first bdev channel on any of the
// controller's namespaces, it makes and connects the thread's own I/O qpair (I/O waits meanwhile) and
// closes it when the thread lets go. Only this thread touches the qpair; its closure is heard through
// a link that outlives the channel, so a qpair still closing never writes into freed memory.

import { heapAllocZeroed, heapFree, ENOMEM } from "../../runtime";
import { threadGet } from "../../thread";
import {
  HostQpairOpts, QEV_READY, QEV_CLOSED, hostQpairNew, hostQpairConnect, hostQpairDisconnect, hostQpairFree, hostQpairSetInCapsule,
} from "../../nvme/host";
import { NvmeBdevCtrlr, NvmeChannel, NvmeQpairLink, NvmeReq, CH_CONNECTING, CH_READY, CH_FAILED, NC_FAILED } from "./types";
import { nvmeRunWaiting } from "./io";

/** io_device create: the thread's qpair, connecting. -ENOMEM when there is no memory or no queue id left. */
export function nvmeChannelCreate(device: usize, ctx: usize): i32 {
  const ctrlr = changetype<NvmeBdevCtrlr>(device);
  const ch = changetype<NvmeChannel>(ctx);
  ch.ctrlr = device;
  ch.thread = threadGet();
  ch.state = CH_CONNECTING;
  const qid = atomic.add<u32>(device + offsetof<NvmeBdevCtrlr>("nextQid"), 1);
  if (qid > ctrlr.qidMax || atomic.load<u32>(device + offsetof<NvmeBdevCtrlr>("state")) == NC_FAILED) {
    ch.state = CH_FAILED;           // its I/O fails with the report naming why
    atomic.add<u32>(device + offsetof<NvmeBdevCtrlr>("channels"), 1);
    return 0;
  }
  const optsBytes = (offsetof<HostQpairOpts>() + 7) & ~7;
  const link = heapAllocZeroed(((offsetof<NvmeQpairLink>() + 7) & ~7) + optsBytes);
  if (link == 0) return -ENOMEM;
  const opts = link + ((offsetof<NvmeQpairLink>() + 7) & ~7);
  memory.copy(opts, ctrlr.opts, offsetof<HostQpairOpts>());
  const o = changetype<HostQpairOpts>(opts);
  o.qid = qid;
  o.cntlid = ctrlr.cntlid;
  o.entries = ctrlr.ioEntries;
  o.katoMs = 0;
  o.eventCb = changetype<usize>(qpairEvent);
  o.eventCtx = link;
  const qpair = hostQpairNew(opts);
  if (qpair == 0) { heapFree(link); return -ENOMEM; }
  changetype<NvmeQpairLink>(link).channel = ctx;
  changetype<NvmeQpairLink>(link).qpair = qpair;
  ch.link = link;
  ch.qpair = qpair;
  atomic.add<u32>(device + offsetof<NvmeBdevCtrlr>("channels"), 1);
  hostQpairConnect(qpair);
  return 0;
}

function qpairEvent(qpair: usize, ctx: usize, event: u32, res: i32): void {
  const link = changetype<NvmeQpairLink>(ctx);
  const chPtr = link.channel;
  if (event == QEV_READY) {
    if (chPtr == 0) return;
    const ch = changetype<NvmeChannel>(chPtr);
    hostQpairSetInCapsule(qpair, changetype<NvmeBdevCtrlr>(ch.ctrlr).inCapsuleBytes);
    ch.state = CH_READY;
    nvmeRunWaiting(ch);
    return;
  }
  assert(event == QEV_CLOSED, "qpairEvent: ready or closed");
  if (chPtr != 0) {
    const ch = changetype<NvmeChannel>(chPtr);
    ch.state = CH_FAILED;
    ch.qpair = 0;
    ch.link = 0;
    nvmeRunWaiting(ch);          // what waited for the connect fails now
  }
  hostQpairFree(qpair);
  heapFree(ctx);
}

/** io_device destroy: the thread lets go. The qpair closes on its own time; waiting I/O fails now. */
export function nvmeChannelDestroy(device: usize, ctx: usize): void {
  const ch = changetype<NvmeChannel>(ctx);
  assert(threadGet() == ch.thread, "nvme channel: destroyed on its own thread");
  ch.state = CH_FAILED;
  nvmeRunWaiting(ch);
  if (ch.link != 0) {
    changetype<NvmeQpairLink>(ch.link).channel = 0;
    hostQpairDisconnect(ch.qpair);
  }
  ch.link = 0;
  ch.qpair = 0;
  for (let r = ch.freeReqs, n: u32 = 0; r != 0; n++) {
    assert(n < ch.reqs, "nvme channel: its free list holds only the requests it made");
    const next = changetype<NvmeReq>(r).next;
    heapFree(r);
    r = next;
  }
  ch.freeReqs = 0;
  atomic.sub<u32>(device + offsetof<NvmeBdevCtrlr>("channels"), 1);
}
