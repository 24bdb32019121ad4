// The error bdev (SPDK's bdev_error): a pass-through that fails, holds or corrupts the next N I/Os of
// a type. Injections are set from any instance (atomics) and consumed by the I/O threads.

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import { heapAllocZeroed, heapFree } from "../../runtime";
import { BdevModule, BdevIo, Bdev, IO_TYPE_COUNT, IO_READ, IO_WRITE, IO_SUCCESS, IO_FAILED, IO_ABORTED } from "../types";
import { bdevIoComplete, bdevFreeIo, bdevSubmitBlocks } from "../io";
import { Passthru, PassthruChannel, passthruCreate, passthruForward, passthruChannel, passthruRelease } from "../passthru";

export const ERR_FAILURE: u32 = 1;       // complete with failure
export const ERR_PENDING: u32 = 2;       // never complete, until a reset or removal aborts it
export const ERR_CORRUPT: u32 = 3;       // corrupt the data (reads after, writes before the base)
/** An injection for every I/O type at once (SPDK's io_type "all"). */
export const IO_ALL: u32 = 0xff;

// Module state: a Passthru, then per IO type {u32 remaining, u32 kind} at INJECT_OFF.
const INJECT_OFF: usize = (offsetof<Passthru>() + 15) & ~15;
const ERROR_CTX_BYTES: usize = INJECT_OFF + <usize>IO_TYPE_COUNT * 8;

// Module channel: PassthruChannel, then the held (pending) ios.
const HELD_OFF: usize = offsetof<PassthruChannel>();
const ERROR_CHANNEL_BYTES: u32 = <u32>HELD_OFF + 8;

const ERROR_KEY = memory.data(MODULE_KEY_BYTES);
function errorModule(): BdevModule { return moduleTable(ERROR_KEY, "error", errorSubmit, errorChannelKey, errorDestruct, errorAbortHeld); }

function errorChannelKey(bdev: usize): usize { return changetype<Bdev>(bdev).ctx; }
function errorDestruct(bdev: usize): void {
  const ctx = changetype<Bdev>(bdev).ctx;
  passthruRelease(ctx);
}

/** Take one injection for `type`, if any is left: its kind, or 0. */
function consume(ctx: usize, type: u32): u32 {
  const cell = ctx + INJECT_OFF + (<usize>type << 3);
  let left = atomic.load<u32>(cell);
  while (left != 0) {
    const was = atomic.cmpxchg<u32>(cell, left, left - 1);
    if (was == left) return atomic.load<u32>(cell + 4);
    left = was;
  }
  return 0;
}

function corrupt(io: BdevIo): void {
  // Flip every bit of the first byte of each buffer: any checksum or compare will notice.
  for (let i: u32 = 0; i < io.iovcnt; i++) {
    const base = <usize>load<u32>(io.iovs + (<usize>i << 3));
    if (load<u32>(io.iovs + (<usize>i << 3), 4) != 0) store<u8>(base, ~load<u8>(base));
  }
}

function corruptedReadDone(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  if (success) corrupt(changetype<BdevIo>(parent));
  bdevIoComplete(parent, success ? IO_SUCCESS : IO_FAILED);
}

function errorSubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const ctx = changetype<Bdev>(io.bdev).ctx;
  const kind = consume(ctx, io.type);
  if (kind == ERR_FAILURE) { bdevIoComplete(ioPtr, IO_FAILED); return; }
  if (kind == ERR_PENDING) {
    const pc = passthruChannel(ioPtr);
    const head = changetype<usize>(pc) + HELD_OFF;
    io.next = load<usize>(head);
    store<usize>(head, ioPtr);
    return;
  }
  if (kind == ERR_CORRUPT && io.type == IO_WRITE) corrupt(io);
  if (kind == ERR_CORRUPT && io.type == IO_READ) {
    const p = changetype<Passthru>(ctx);
    const rc = bdevSubmitBlocks(p.baseDesc, passthruChannel(ioPtr).baseChannel, IO_READ, io.iovs, io.iovcnt,
      io.offsetBlocks, io.numBlocks, corruptedReadDone, ioPtr);
    if (rc != 0) bdevIoComplete(ioPtr, IO_FAILED);
    return;
  }
  passthruForward(ioPtr);
}

/** Held (pending) ios complete as aborted on reset or removal. */
function errorAbortHeld(moduleChannel: usize, _bdev: usize): void {
  const head = moduleChannel + HELD_OFF;
  let io = load<usize>(head);
  store<usize>(head, 0);
  while (io != 0) {
    const next = changetype<BdevIo>(io).next;
    bdevIoComplete(io, IO_ABORTED);
    io = next;
  }
}

/** Create an error bdev over `baseId` (on the current thread). The bdev, or 0 (passthruError). */
export function errorBdevCreate(name: usize, baseId: u32): usize {
  const ctx = heapAllocZeroed(ERROR_CTX_BYTES);
  if (ctx == 0) return 0;
  const b = passthruCreate(errorModule(), name, baseId, ctx, ERROR_CHANNEL_BYTES);
  if (b == 0) heapFree(ctx);
  return b;
}

/**
 * Fail/hold/corrupt the next `count` I/Os of `type` (IO_* or IO_ALL). count 0 clears. -EINVAL for
 * an unknown type or kind.
 */
export function errorInject(bdev: usize, type: u32, kind: u32, count: u32): i32 {
  if (kind < ERR_FAILURE || kind > ERR_CORRUPT) return -22;
  if (type != IO_ALL && type >= IO_TYPE_COUNT) return -22;
  const ctx = changetype<Bdev>(bdev).ctx;
  for (let t: u32 = 0; t < IO_TYPE_COUNT; t++) {
    if (type != IO_ALL && t != type) continue;
    const cell = ctx + INJECT_OFF + (<usize>t << 3);
    atomic.store<u32>(cell + 4, kind);
    atomic.store<u32>(cell, count);
  }
  return 0;
}

export function isErrorBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, ERROR_KEY); }

