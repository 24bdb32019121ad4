// The nvme bdev's I/O on one thread: each bdev I/O becomes NVMe commands on the thread's own I/O qpair
// (Read/Write within MDTS, Flush, Write Zeroes within 65536 blocks, Unmap as Dataset Management
// deallocate), sent one after another when it needs several. I/O that arrives before the qpair is
// connected, or finds no request free, waits in the channel (bounded by the bdevs' io pools).

import { heapAllocZeroed, report, LEVEL_ERROR } from "../../runtime";
import { ioChannelCtx } from "../../thread";
import { BdevIo, Bdev, BdevChannel, IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_WRITE_ZEROES, IO_SUCCESS, IO_FAILED } from "../types";
import { bdevIoComplete } from "../io";
import { OPC_READ, OPC_WRITE, OPC_FLUSH, OPC_WRITE_ZEROES, OPC_DATASET_MANAGEMENT, STATUS_ABORTED_SQ_DELETION, sqeInit, sqeSetCdw } from "../../nvme/spec";
import { HostReq, HOST_REQ_BYTES, hostReqSqe, hostQpairSubmit } from "../../nvme/host";
import {
  NvmeChannel, NvmeReq, NvmeNsBdev, NvmeBdevCtrlr, NVME_CHANNEL_REQS_MAX, NVME_WRITE_ZEROES_BLOCKS_MAX, NVME_DSM_RANGE_BLOCKS_MAX,
  CH_READY, CH_FAILED, CH_RESETTING, NC_READY, NC_FAILED, NC_RESETTING,
} from "./types";

const REQ_HEAD: usize = (offsetof<NvmeReq>() + 7) & ~7;
const DSM_RANGE_BYTES: u32 = 16;
const REQ_BYTES: usize = REQ_HEAD + <usize>HOST_REQ_BYTES + 8 + DSM_RANGE_BYTES;
function hostReqOf(r: usize): usize { return r + REQ_HEAD; }
function rangeIovOf(r: usize): usize { return r + REQ_HEAD + HOST_REQ_BYTES; }
function rangeOf(r: usize): usize { return rangeIovOf(r) + 8; }

function channelOf(io: usize): NvmeChannel {
  return changetype<NvmeChannel>(ioChannelCtx(changetype<BdevChannel>(changetype<BdevIo>(io).channel).moduleChannel));
}

export function nvmeSubmit(io: usize): void {
  const ch = channelOf(io);
  if (mustFail(ch)) { failGone(ch, io); return; }
  if (ch.state != CH_READY || ch.waitHead != 0) { park(ch, io); return; }
  start(ch, io, 0);
}

/** The controller is gone for good, this thread's qpair failed, or a reset passed fast_io_fail_timeout_sec. */
function mustFail(ch: NvmeChannel): bool {
  const c = ch.ctrlr;
  const state = atomic.load<u32>(c + offsetof<NvmeBdevCtrlr>("state"));
  if (state == NC_FAILED || ch.state == CH_FAILED) return true;
  return (state == NC_RESETTING || ch.state == CH_RESETTING) && atomic.load<u32>(c + offsetof<NvmeBdevCtrlr>("fastFailed")) != 0;
}

/** The controller or this thread's qpair is gone for good: the I/O fails, said once per channel. */
function failGone(ch: NvmeChannel, io: usize): void {
  if (ch.failed++ == 0) {
    report(LEVEL_ERROR, -6, "bdev %s: its NVMe controller is unreachable (qpair failed or controller detached); I/O fails with ENXIO",
      changetype<Bdev>(changetype<BdevIo>(io).bdev).name);
  }
  bdevIoComplete(io, IO_FAILED);
}

function park(ch: NvmeChannel, io: usize): void {
  changetype<BdevIo>(io).next = 0;
  if (ch.waitTail != 0) changetype<BdevIo>(ch.waitTail).next = io; else ch.waitHead = io;
  ch.waitTail = io;
  ch.waiting++;
}

/** The qpair connected, or a request came free: start what waits, in order, while requests last. */
export function nvmeRunWaiting(ch: NvmeChannel): void {
  const waiting = ch.waiting;
  for (let n: u32 = 0; ch.waitHead != 0 && n < waiting; n++) {
    const fail = mustFail(ch);
    if (!fail && ch.state != CH_READY) return;             // still connecting or resetting: they wait
    if (!fail && ch.freeReqs == 0 && ch.reqs >= NVME_CHANNEL_REQS_MAX) return;
    const io = ch.waitHead;
    ch.waitHead = changetype<BdevIo>(io).next;
    if (ch.waitHead == 0) ch.waitTail = 0;
    ch.waiting--;
    if (fail) failGone(ch, io); else start(ch, io, 0);
  }
}

/**
 * The qpair's loss is followed by a new one: a reset is under way (asked for, or a reconnect), or the
 * policy reconnects a lost controller; and nothing is failing for good.
 */
export function willReconnect(ch: NvmeChannel): bool {
  const c = changetype<NvmeBdevCtrlr>(ch.ctrlr);
  const state = atomic.load<u32>(ch.ctrlr + offsetof<NvmeBdevCtrlr>("state"));
  if (mustFail(ch)) return false;
  return state == NC_RESETTING || ch.state == CH_RESETTING || (c.lossTimeoutSec != 0 && state == NC_READY);
}

function takeReq(ch: NvmeChannel): usize {
  if (ch.freeReqs != 0) {
    const r = ch.freeReqs;
    ch.freeReqs = changetype<NvmeReq>(r).next;
    return r;
  }
  if (ch.reqs >= NVME_CHANNEL_REQS_MAX) return 0;
  const r = heapAllocZeroed(REQ_BYTES);    // warming up: kept and reused until the channel goes
  if (r != 0) ch.reqs++;
  return r;
}
export function nvmeReqBytes(): usize { return REQ_BYTES; }

function giveReq(ch: NvmeChannel, r: usize): void {
  changetype<NvmeReq>(r).next = ch.freeReqs;
  ch.freeReqs = r;
}

/** Send the I/O's next command, from `doneBlocks` on. */
function start(ch: NvmeChannel, io: usize, doneBlocks: u64): void {
  const r = takeReq(ch);
  if (r == 0) { park(ch, io); return; }
  const nr = changetype<NvmeReq>(r);
  nr.io = io;
  nr.channel = changetype<usize>(ch);
  nr.doneBlocks = doneBlocks;
  send(ch, r);
}

function send(ch: NvmeChannel, r: usize): void {
  const nr = changetype<NvmeReq>(r);
  const b = changetype<BdevIo>(nr.io);
  const bdev = changetype<Bdev>(b.bdev);
  const ns = changetype<NvmeNsBdev>(bdev.ctx);
  const ctrlr = changetype<NvmeBdevCtrlr>(ns.ctrlr);
  const hr = changetype<HostReq>(hostReqOf(r));
  const sqe = hostReqSqe(hostReqOf(r));
  const lba = b.offsetBlocks + nr.doneBlocks;
  const left = b.numBlocks - nr.doneBlocks;
  hr.cb = changetype<usize>(commandDone);
  hr.ctx = r;
  hr.iovs = 0;
  hr.iovcnt = 0;
  hr.iovOffset = 0;
  hr.length = 0;
  let chunk = left;
  if (b.type == IO_READ || b.type == IO_WRITE) {
    const most = ctrlr.maxTransferBytes == 0 ? left : <u64>(ctrlr.maxTransferBytes >> bdev.blockShift);
    chunk = min(left, min(most, NVME_WRITE_ZEROES_BLOCKS_MAX));   // NLB is 16 bits for reads and writes too
    sqeInit(sqe, b.type == IO_READ ? OPC_READ : OPC_WRITE, ns.nsid);
    hr.iovs = b.iovs;
    hr.iovcnt = b.iovcnt;
    hr.iovOffset = <u32>(nr.doneBlocks << bdev.blockShift);
    hr.length = <u32>(chunk << bdev.blockShift);
  } else if (b.type == IO_WRITE_ZEROES) {
    chunk = min(left, NVME_WRITE_ZEROES_BLOCKS_MAX);
    sqeInit(sqe, OPC_WRITE_ZEROES, ns.nsid);
  } else if (b.type == IO_UNMAP) {
    chunk = min(left, NVME_DSM_RANGE_BLOCKS_MAX);
    sqeInit(sqe, OPC_DATASET_MANAGEMENT, ns.nsid);
    sqeSetCdw(sqe, 10, 0);              // one range (0's based)
    sqeSetCdw(sqe, 11, 1 << 2);         // AD: deallocate
    const range = rangeOf(r);
    store<u32>(range, 0);               // context attributes
    store<u32>(range, <u32>chunk, 4);
    store<u64>(range, lba, 8);
    store<u32>(rangeIovOf(r), <u32>range);
    store<u32>(rangeIovOf(r), DSM_RANGE_BYTES, 4);
    hr.iovs = rangeIovOf(r);
    hr.iovcnt = 1;
    hr.length = DSM_RANGE_BYTES;
  } else {
    assert(b.type == IO_FLUSH, "nvme bdev: the I/O types it announced");
    chunk = left;
    sqeInit(sqe, OPC_FLUSH, ns.nsid);
  }
  if (b.type != IO_FLUSH && b.type != IO_UNMAP) {
    sqeSetCdw(sqe, 10, <u32>lba);
    sqeSetCdw(sqe, 11, <u32>(lba >> 32));
    sqeSetCdw(sqe, 12, <u32>(chunk - 1));
  }
  nr.chunkBlocks = b.type == IO_FLUSH ? b.numBlocks : chunk;
  const rc = hostQpairSubmit(ch.qpair, hostReqOf(r));
  if (rc != 0) {
    // The qpair is going down (its closure fails what waits): this I/O fails now.
    giveReq(ch, r);
    failGone(ch, nr.io);
  }
}

function commandDone(req: usize): void {
  const hr = changetype<HostReq>(req);
  const r = hr.ctx;
  const nr = changetype<NvmeReq>(r);
  const ch = changetype<NvmeChannel>(nr.channel);
  const io = nr.io;
  const b = changetype<BdevIo>(io);
  if (hr.status == 0 && b.type != IO_FLUSH && nr.doneBlocks + nr.chunkBlocks < b.numBlocks) {
    nr.doneBlocks += nr.chunkBlocks;
    send(ch, r);          // the next command of a split I/O, in the same request
    return;
  }
  giveReq(ch, r);
  // A command aborted because its qpair went, on a controller that reconnects, was never done: it
  // waits for the new qpair and goes again whole (nothing of it was acknowledged).
  if (hr.status == STATUS_ABORTED_SQ_DELETION && willReconnect(ch)) { park(ch, io); return; }
  bdevIoComplete(io, hr.status == 0 ? IO_SUCCESS : IO_FAILED);
  if (ch.waitHead != 0 && ch.state == CH_READY) nvmeRunWaiting(ch);
}
