// A controller's channel on one thread: created with the thread's first bdev channel on any of the
// controller's namespaces, it makes and connects the thread's own I/O qpair (I/O waits meanwhile) and
// closes it when the thread lets go. Only this thread touches the qpair; its closure is heard through
// a link that outlives the channel, so a qpair still closing never writes into freed memory.

import { heapAllocZeroed, heapFree, ENOMEM, ENXIO } from "../../runtime";
import { threadGet, sendMsg } from "../../thread";
import {
  HostQpairOpts, QEV_READY, QEV_CLOSED, hostQpairNew, hostQpairConnect, hostQpairDisconnect, hostQpairFree, hostQpairSetInCapsule,
} from "../../nvme/host";
import { NvmeBdevCtrlr, NvmeChannel, NvmeQpairLink, NvmeReq, CH_CONNECTING, CH_READY, CH_FAILED, CH_RESETTING, NC_FAILED, NC_RESETTING } from "./types";
import { nvmeRunWaiting, willReconnect } from "./io";
import { nvmeIoQpairLost } from "./reset";

/** io_device create: the thread's qpair, connecting. -ENOMEM when there is no memory. */
export function nvmeChannelCreate(device: usize, ctx: usize): i32 {
  const ch = changetype<NvmeChannel>(ctx);
  ch.ctrlr = device;
  ch.thread = threadGet();
  const state = atomic.load<u32>(device + offsetof<NvmeBdevCtrlr>("state"));
  atomic.add<u32>(device + offsetof<NvmeBdevCtrlr>("channels"), 1);
  if (state == NC_RESETTING) { ch.state = CH_RESETTING; return 0; }   // the reset's end opens its qpair
  return channelOpen(ch) == -ENOMEM ? -ENOMEM : 0;
}

/** Make and connect this thread's qpair to the controller as it is now; a channel with no qpair id left fails its I/O. */
function channelOpen(ch: NvmeChannel): i32 {
  const device = ch.ctrlr;
  const ctrlr = changetype<NvmeBdevCtrlr>(device);
  ch.state = CH_CONNECTING;
  const qid = atomic.add<u32>(device + offsetof<NvmeBdevCtrlr>("nextQid"), 1);
  if (qid > ctrlr.qidMax || atomic.load<u32>(device + offsetof<NvmeBdevCtrlr>("state")) == NC_FAILED) {
    ch.state = CH_FAILED;           // its I/O fails with the report naming why
    return -ENXIO;
  }
  const optsBytes = (offsetof<HostQpairOpts>() + 7) & ~7;
  const link = heapAllocZeroed(((offsetof<NvmeQpairLink>() + 7) & ~7) + optsBytes);
  if (link == 0) { ch.state = CH_FAILED; return -ENOMEM; }
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
  if (qpair == 0) { heapFree(link); ch.state = CH_FAILED; return -ENOMEM; }
  changetype<NvmeQpairLink>(link).channel = changetype<usize>(ch);
  changetype<NvmeQpairLink>(link).qpair = qpair;
  ch.link = link;
  ch.qpair = qpair;
  hostQpairConnect(qpair);
  return 0;
}

/** Reset, on the channel's thread: let go of the qpair (its commands come back aborted and wait again); hold I/O. */
export function nvmeChannelDrop(ch: NvmeChannel): void {
  if (ch.state == CH_FAILED && ch.link == 0) { ch.state = CH_RESETTING; return; }
  ch.state = CH_RESETTING;
  dropQpair(ch);
}

function dropQpair(ch: NvmeChannel): void {
  if (ch.link == 0) return;
  const qpair = ch.qpair;
  changetype<NvmeQpairLink>(ch.link).channel = 0;
  ch.link = 0;
  ch.qpair = 0;
  hostQpairDisconnect(qpair);      // its QEV_CLOSED frees it and the link
}

/** The reset ended well: a new qpair to the controller's new incarnation; held I/O goes once it connects. */
export function nvmeChannelReopen(ch: NvmeChannel): void {
  if (ch.state != CH_RESETTING) return;
  channelOpen(ch);
  if (ch.state == CH_FAILED) nvmeRunWaiting(ch);
}

/** The reset gave up (ctrlr_loss_timeout_sec) or fast_io_fail passed: what waits fails now. */
export function nvmeChannelFailHeld(ch: NvmeChannel, forGood: bool): void {
  if (forGood) ch.state = CH_FAILED;
  nvmeRunWaiting(ch);
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
    ch.qpair = 0;
    ch.link = 0;
    if (willReconnect(ch)) {
      // This thread's qpair failed by itself: hold its I/O and ask the owner for a reset.
      ch.state = CH_RESETTING;
      sendMsg(changetype<NvmeBdevCtrlr>(ch.ctrlr).thread, nvmeIoQpairLost, ch.ctrlr);
    } else {
      ch.state = CH_FAILED;
      nvmeRunWaiting(ch);        // what waited fails now
    }
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
  dropQpair(ch);
  for (let r = ch.freeReqs, n: u32 = 0; r != 0; n++) {
    assert(n < ch.reqs, "nvme channel: its free list holds only the requests it made");
    const next = changetype<NvmeReq>(r).next;
    heapFree(r);
    r = next;
  }
  ch.freeReqs = 0;
  atomic.sub<u32>(device + offsetof<NvmeBdevCtrlr>("channels"), 1);
}
