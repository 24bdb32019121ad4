// The Node API's blob I/O, on I/O threads: one lightweight thread per reactor (the host creates it on
// first use and picks among them), each with its own channel per store, kept until the host releases
// it before the store's unload. Metadata requests stay on the app thread (bs-requests.ts). Each
// request ends with EVENT_REQUEST_DONE(id, rc, reactor that ran it).

import { heapAlloc, heapAllocZeroed, heapFree, ENOMEM, EINVAL } from "../runtime";
import { threadCreateOn, sendMsg, putIoChannel, currentReactorId } from "../thread";
import { Store, Blob, storeGetChannel, blobOp, BLOB_READ, BLOB_WRITE, BLOB_UNMAP, BLOB_WRITE_ZEROES } from "../blob";
import { requestDoneQuick } from "./completions";

/** One I/O thread. `channels` is touched only on `thread`. */
@unmanaged class IoThread {
  thread: usize;
  channels: usize;          // StoreChannel list: at most one entry per loaded store
}

@unmanaged class StoreChannel {
  store: usize;
  channel: usize;
  next: usize;
}

/** A request's arguments, copied at post time; freed when it completes. */
@unmanaged class IoReq {
  id: u32;
  kind: u32;                // BLOB_* operation, or K_RELEASE
  iot: usize;
  store: usize;
  blob: usize;
  buf: usize;
  offset: u64;              // io units
  units: u64;
}

const K_RELEASE: u32 = 100;

/** A new I/O thread on `reactor` (host, on its first blob I/O there): the IoThread, or 0. */
export function bs_io_thread_create(reactor: i32): usize {
  const iot = changetype<IoThread>(heapAllocZeroed(offsetof<IoThread>()));
  if (changetype<usize>(iot) == 0) return 0;
  iot.thread = threadCreateOn(reactor, "bs_io");
  if (iot.thread == 0) { heapFree(changetype<usize>(iot)); return 0; }
  return changetype<usize>(iot);
}

function post(kind: u32, id: u32, iot: usize, store: usize, blob: usize, buf: usize, offset: u64, units: u64): i32 {
  const r = changetype<IoReq>(heapAlloc(offsetof<IoReq>()));
  if (changetype<usize>(r) == 0) return -ENOMEM;
  r.id = id; r.kind = kind; r.iot = iot; r.store = store; r.blob = blob; r.buf = buf; r.offset = offset; r.units = units;
  sendMsg(changetype<IoThread>(iot).thread, run, changetype<usize>(r));
  return 0;
}

function finish(req: usize, rc: i32): void {
  const id = changetype<IoReq>(req).id;
  heapFree(req);
  requestDoneQuick(id, rc, <u32>currentReactorId());
}

/** This I/O thread's channel on the store's bdev (created on its first I/O), or 0. */
function channelFor(iot: IoThread, store: usize): usize {
  for (let e = iot.channels; e != 0; e = changetype<StoreChannel>(e).next) {
    if (changetype<StoreChannel>(e).store == store) return changetype<StoreChannel>(e).channel;
  }
  const e = changetype<StoreChannel>(heapAlloc(offsetof<StoreChannel>()));
  if (changetype<usize>(e) == 0) return 0;
  const ch = storeGetChannel(changetype<Store>(store));
  if (ch == 0) { heapFree(changetype<usize>(e)); return 0; }
  e.store = store;
  e.channel = ch;
  e.next = iot.channels;
  iot.channels = changetype<usize>(e);
  return ch;
}

/** Put back this thread's channel for the store, if it has one. */
function releaseChannel(iot: IoThread, storePtr: usize): void {
  let link = changetype<usize>(iot) + offsetof<IoThread>("channels");
  for (let e = load<usize>(link); e != 0; e = load<usize>(link)) {
    const entry = changetype<StoreChannel>(e);
    if (entry.store == storePtr) {
      store<usize>(link, entry.next);
      putIoChannel(entry.channel);
      heapFree(e);
      return;
    }
    link = e + offsetof<StoreChannel>("next");
  }
}

function ioDone(req: usize, rc: i32): void { finish(req, rc); }

/** On the I/O thread. */
function run(req: usize): void {
  const r = changetype<IoReq>(req);
  const iot = changetype<IoThread>(r.iot);
  if (r.kind == K_RELEASE) { releaseChannel(iot, r.store); finish(req, 0); return; }
  const ch = channelFor(iot, r.store);
  if (ch == 0) { finish(req, -ENOMEM); return; }
  const rc = blobOp(changetype<Blob>(r.blob), ch, r.kind, r.buf, r.offset, r.units, ioDone, req);
  if (rc != 0) finish(req, rc);
}

/**
 * On I/O thread `iot`: read (op 0), write (1), unmap (2) or write zeroes (3) over `units` io units at
 * unit `offset` of the open blob, with the host's buffer for reads and writes.
 */
export function blob_io_on(req: u32, iot: usize, store: usize, blob: usize, op: u32, buf: usize, offset: f64, units: f64): i32 {
  let kind: u32;
  switch (op) {
    case 0: kind = BLOB_READ; break;
    case 1: kind = BLOB_WRITE; break;
    case 2: kind = BLOB_UNMAP; break;
    case 3: kind = BLOB_WRITE_ZEROES; break;
    default: return -EINVAL;
  }
  return post(kind, req, iot, store, blob, buf, <u64>offset, <u64>units);
}

/** On I/O thread `iot`: put back its channel for the store (the host does this on every one before an unload). */
export function bs_io_release(req: u32, iot: usize, store: usize): i32 {
  return post(K_RELEASE, req, iot, store, 0, 0, 0, 0);
}
