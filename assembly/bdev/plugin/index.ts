// The plugin bdev: a pass-through whose reads and writes go through a sandboxed Wasm plugin (docs/
// plugins.md). The plugin runs in the host, one instance per reactor, called synchronously through
// host_plugin_io on the reactor doing the I/O; the host copies the data in and out. Traps and fuel
// overruns are counted per bdev across reactors: past `maxTraps` within `trapWindowMs` every I/O fails.
// A plugin that keeps per-block metadata gets a reserved tail of the base for it, held in memory whole
// (the table: loaded at create, each write's entries stored after its data, then written through).

import { moduleTable, MODULE_KEY_BYTES, isModule } from "../module";
import {
  heapAlloc, heapAllocZeroed, heapFree, report, now_us, LEVEL_ERROR, LEVEL_WARN, EFAULT, ENOENT, ETIMEDOUT, EIO, ENOSPC, ENOMEM,
  host_plugin_open, host_plugin_close, host_plugin_io,
} from "../../runtime";
import { BdevModule, BdevIo, Bdev, IO_READ, IO_WRITE, IO_FLUSH, IO_RESET, IO_SUCCESS, IO_FAILED, IO_NOMEM } from "../types";
import { bdevIoComplete, bdevFreeIo, bdevSubmitBlocks, bdevWrite, bdevRead } from "../io";
import { bdevUnregister } from "../bdev";
import { getIoChannel, putIoChannel } from "../../thread";
import { slackBytes } from "../bounce";
import { bdevById } from "../registry";
import { Passthru, passthruError, passthruCreate, passthruForward, passthruChannel, passthruRelease, passthruChannelOpen, passthruChannelClose, PassthruChannel } from "../passthru";

const OP_READ: u32 = 0;
const OP_WRITE: u32 = 1;
/** The types a plugin bdev serves: unmap and write-zeroes would put on the base what the plugin never saw. */
const PLUGIN_IO_TYPES: u32 = (1 << IO_READ) | (1 << IO_WRITE) | (1 << IO_FLUSH) | (1 << IO_RESET);
/** Compare-and-swap attempts on the trap word before a trap is counted without its window (bounded). */
const TRAP_CAS_TRIES: i32 = 64;

/** What a plugin bdev keeps after its Passthru. Module bytes and config are heap blocks it owns. */
@unmanaged export class PluginState {
  pluginId: u32;
  moduleLen: u32;
  module: usize;
  config: usize;
  configLen: u32;
  fuel: u32;
  maxTraps: u32;
  trapWindowMs: u32;
  /** Atomic: the trap window's start (ms since createdUs) << 32 | traps in it. */
  trapWord: u64;
  createdUs: u64;
  trapsTotal: u32;          // atomic
  failed: u32;              // atomic: 1 once the trap budget is spent
  /** Per-block metadata: bytes per block (0: none), the table (aligned in tableBlock), where the tail starts on the base. */
  metaBytes: u32;
  metaBlocks: u32;
  table: usize;
  tableBlock: usize;
  metaFirstBlock: u64;
  /** While the table loads: the base channel it is read on, and who hears how the create ended. */
  loadChannel: usize;
  createdCb: usize;         // PluginCreatedFn
  createdArg: usize;
}

/** How a create ended: the bdev, or 0 and -errno. */
export type PluginCreatedFn = (arg: usize, bdev: usize, rc: i32) => void;
/** The largest table a plugin bdev may hold in memory. */
const TABLE_BYTES_MAX: u64 = 256 << 20;

const STATE_OFF: usize = (offsetof<Passthru>() + 15) & ~15;
const PLUGIN_CTX_BYTES: usize = STATE_OFF + offsetof<PluginState>();
const PLUGIN_CHANNEL_BYTES: u32 = <u32>offsetof<PassthruChannel>();

/** Ids are engine-wide: each instance's host keys its plugin instances by them. */
const NEXT_ID = memory.data(8);

const PLUGIN_KEY = memory.data(MODULE_KEY_BYTES);
function pluginModule(): BdevModule { return moduleTable(PLUGIN_KEY, "plugin", pluginSubmit, pluginChannelKey, pluginDestruct, null); }

function stateOf(ctx: usize): PluginState { return changetype<PluginState>(ctx + STATE_OFF); }
function pluginChannelKey(bdev: usize): usize { return changetype<Bdev>(bdev).ctx; }

function pluginDestruct(bdev: usize): void {
  const ctx = changetype<Bdev>(bdev).ctx;
  const st = stateOf(ctx);
  heapFree(st.module);
  heapFree(st.config);
  if (st.tableBlock != 0) heapFree(st.tableBlock);
  st.module = 0;
  st.config = 0;
  st.tableBlock = 0;
  st.table = 0;
  passthruRelease(ctx);
}

function openHere(ctx: usize): i32 {
  const st = stateOf(ctx);
  assert(st.module != 0, "plugin bdev: a channel opened after its module was freed");
  return host_plugin_open(st.pluginId, st.module, st.moduleLen, st.config, st.configLen,
    changetype<Bdev>(changetype<Passthru>(ctx).self).blockSize, st.fuel, changetype<Bdev>(changetype<Passthru>(ctx).self).name);
}

function pluginChannelCreate(key: usize, ctxBuf: usize): i32 {
  const rc = passthruChannelOpen(key, ctxBuf);
  if (rc != 0) return rc;
  const opened = openHere(key);
  if (opened != 0) { passthruChannelClose(ctxBuf); return opened; }
  return 0;
}

function pluginChannelDestroy(key: usize, ctxBuf: usize): void {
  host_plugin_close(stateOf(key).pluginId);
  passthruChannelClose(ctxBuf);
}

/** One more trap or overrun; the one that spends the budget fails the bdev (reported once). */
function countTrap(ctx: usize): void {
  const st = stateOf(ctx);
  const cell = ctx + STATE_OFF + offsetof<PluginState>("trapWord");
  const nowMs = <u32>((now_us() - st.createdUs) / 1000);
  let inWindow: u32 = 1;
  for (let i = 0; i < TRAP_CAS_TRIES; i++) {
    const word = atomic.load<u64>(cell);
    const start = <u32>(word >> 32), count = <u32>word;
    const fresh = nowMs - start > st.trapWindowMs;
    inWindow = fresh ? 1 : count + 1;
    const next = (<u64>(fresh ? nowMs : start) << 32) | <u64>inWindow;
    if (atomic.cmpxchg<u64>(cell, word, next) == word) break;
  }
  atomic.add<u32>(ctx + STATE_OFF + offsetof<PluginState>("trapsTotal"), 1);
  if (inWindow < st.maxTraps) return;
  if (atomic.cmpxchg<u32>(ctx + STATE_OFF + offsetof<PluginState>("failed"), 0, 1) != 0) return;
  report(LEVEL_ERROR, -EFAULT, "plugin bdev %s: its plugin trapped or ran out of fuel %d times within %d ms: every I/O on it fails from now on; delete it (bdev_plugin_delete)",
    changetype<Bdev>(changetype<Passthru>(ctx).self).name, 0, <f64>inWindow, <f64>st.trapWindowMs);
}

/** The plugin over `io`'s data on this reactor: 0 or -errno (a trap or overrun is counted). */
function runPlugin(ctx: usize, io: BdevIo, op: u32, out: usize): i32 {
  const st = stateOf(ctx);
  const meta = op == OP_READ && st.metaBytes != 0 ? st.table + <usize>(io.offsetBlocks * <u64>st.metaBytes) : 0;
  let rc = host_plugin_io(st.pluginId, op, <f64>io.offsetBlocks, <u32>io.numBlocks, io.iovs, io.iovcnt, out, meta, <u32>memory.size());
  if (rc == -ENOENT) {
    // The thread moved here from another reactor after its channel was made: open it here too.
    report(LEVEL_WARN, rc, "plugin bdev %s: an I/O thread moved to another reactor; the plugin is opened there as well",
      changetype<Bdev>(io.bdev).name);
    rc = openHere(ctx);
    if (rc == 0) rc = host_plugin_io(st.pluginId, op, <f64>io.offsetBlocks, <u32>io.numBlocks, io.iovs, io.iovcnt, out, meta, <u32>memory.size());
  }
  if (rc == -EFAULT || rc == -ETIMEDOUT) countTrap(ctx);
  return rc;
}

function readDone(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  const io = changetype<BdevIo>(parent);
  const ok = success && runPlugin(changetype<Bdev>(io.bdev).ctx, io, OP_READ, 0) == 0;
  bdevIoComplete(parent, ok ? IO_SUCCESS : IO_FAILED);
}

function writeFinished(parent: usize, success: bool): void {
  const io = changetype<BdevIo>(parent);
  heapFree(io.moduleData);
  io.moduleData = 0;
  bdevIoComplete(parent, success ? IO_SUCCESS : IO_FAILED);
}

function metaWritten(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  writeFinished(parent, success);
}

/**
 * The data is on the base: its blocks' metadata (after the data in our copy) goes into the table,
 * and the table's blocks that hold it are written through. Entries of other blocks in those table
 * blocks are whatever the table holds now: a write that changed one writes its table block after.
 */
function writeDone(child: usize, success: bool, parent: usize): void {
  bdevFreeIo(child);
  const io = changetype<BdevIo>(parent);
  const b = changetype<Bdev>(io.bdev);
  const ctx = b.ctx;
  const st = stateOf(ctx);
  if (!success || st.metaBytes == 0) { writeFinished(parent, success); return; }
  const shift = b.blockShift;
  const first = io.offsetBlocks * <u64>st.metaBytes, end = (io.offsetBlocks + io.numBlocks) * <u64>st.metaBytes;
  const copy = (io.moduleData + <usize>b.requiredAlign - 1) & ~(<usize>b.requiredAlign - 1);
  memory.copy(st.table + <usize>first, copy + <usize>(io.numBlocks << shift), <usize>(end - first));
  const fromBlock = first >> shift, toBlock = (end - 1) >> shift;
  assert(toBlock < <u64>st.metaBlocks, "plugin bdev: a write's metadata past the table");
  const p = changetype<Passthru>(ctx);
  const rc = bdevWrite(p.baseDesc, passthruChannel(parent).baseChannel, st.table + <usize>(fromBlock << shift),
    (st.metaFirstBlock + fromBlock) << shift, (toBlock - fromBlock + 1) << shift, metaWritten, parent);
  if (rc != 0) writeFinished(parent, false);
}

/** A write: the plugin's output goes to a copy of ours (the caller's buffer is left as it was), then to the base. */
function submitWrite(ctx: usize, io: BdevIo): void {
  const ioPtr = changetype<usize>(io);
  const b = changetype<Bdev>(io.bdev);
  const bytes = <usize>(io.numBlocks << b.blockShift);
  const align = <usize>b.requiredAlign;
  const block = heapAlloc(bytes + <usize>io.numBlocks * <usize>stateOf(ctx).metaBytes + slackBytes(align));
  if (block == 0) { bdevIoComplete(ioPtr, IO_NOMEM); return; }
  const copy = (block + align - 1) & ~(align - 1);
  if (runPlugin(ctx, io, OP_WRITE, copy) != 0) { heapFree(block); bdevIoComplete(ioPtr, IO_FAILED); return; }
  io.moduleData = block;
  const p = changetype<Passthru>(ctx);
  const rc = bdevWrite(p.baseDesc, passthruChannel(ioPtr).baseChannel, copy, io.offsetBlocks << b.blockShift, <u64>bytes, writeDone, ioPtr);
  if (rc != 0) { heapFree(block); io.moduleData = 0; bdevIoComplete(ioPtr, IO_FAILED); }
}

function pluginSubmit(ioPtr: usize): void {
  const io = changetype<BdevIo>(ioPtr);
  const ctx = changetype<Bdev>(io.bdev).ctx;
  if (atomic.load<u32>(ctx + STATE_OFF + offsetof<PluginState>("failed")) != 0) { bdevIoComplete(ioPtr, IO_FAILED); return; }
  if (io.type == IO_WRITE) { submitWrite(ctx, io); return; }
  if (io.type != IO_READ) { passthruForward(ioPtr); return; }
  const p = changetype<Passthru>(ctx);
  const rc = bdevSubmitBlocks(p.baseDesc, passthruChannel(ioPtr).baseChannel, IO_READ, io.iovs, io.iovcnt, io.offsetBlocks, io.numBlocks, readDone, ioPtr);
  if (rc != 0) bdevIoComplete(ioPtr, IO_FAILED);
}

/** Data blocks of a base of `baseBlocks` when each keeps `metaBytes` in a tail of whole blocks. */
function dataBlocksFor(baseBlocks: u64, blockSize: u64, metaBytes: u64): u64 {
  if (metaBytes == 0) return baseBlocks;
  let data = baseBlocks * blockSize / (blockSize + metaBytes);
  while (data > 0 && data + (data * metaBytes + blockSize - 1) / blockSize > baseBlocks) data--;
  return data;
}

function createEnded(ctx: usize, bdev: usize, rc: i32): void {
  const st = stateOf(ctx);
  changetype<PluginCreatedFn>(st.createdCb)(st.createdArg, bdev, rc);
}

function tableLoaded(io: usize, success: bool, ctx: usize): void {
  bdevFreeIo(io);
  const st = stateOf(ctx);
  putIoChannel(st.loadChannel);
  st.loadChannel = 0;
  const self = changetype<Passthru>(ctx).self;
  if (success) { createEnded(ctx, self, 0); return; }
  report(LEVEL_ERROR, -EIO, "plugin bdev %s: its metadata could not be read from the tail of its base bdev; not created", changetype<Bdev>(self).name);
  const cb = st.createdCb, arg = st.createdArg;
  bdevUnregister(self, null, 0);          // its destruct frees ctx: nothing of it is read after this
  changetype<PluginCreatedFn>(cb)(arg, 0, -EIO);
}

/** Read the whole table from the base's tail on this thread (a channel of its own on the base). */
function loadTable(ctx: usize): i32 {
  const st = stateOf(ctx);
  const p = changetype<Passthru>(ctx);
  const ch = getIoChannel(p.base);
  if (ch == 0) return -ENOMEM;
  st.loadChannel = ch;
  const shift = changetype<Bdev>(p.self).blockShift;
  const rc = bdevRead(p.baseDesc, ch, st.table, st.metaFirstBlock << shift, <u64>st.metaBlocks << shift, tableLoaded, ctx);
  if (rc != 0) { putIoChannel(ch); st.loadChannel = 0; }
  return rc;
}

/** The table for `metaBytes` per block over base `baseId`, in ctx's state; 0 or -errno. */
function tableAlloc(ctx: usize, baseId: u32, metaBytes: u32): i32 {
  const base = bdevById(baseId);
  if (base == 0) return -19;
  const b = changetype<Bdev>(base);
  const st = stateOf(ctx);
  const data = dataBlocksFor(b.blockCount, <u64>b.blockSize, <u64>metaBytes);
  if (data == 0) return -ENOSPC;
  const tableBytes = ((data * <u64>metaBytes + <u64>b.blockSize - 1) >> b.blockShift) << b.blockShift;
  if (tableBytes > TABLE_BYTES_MAX) return -ENOSPC;
  const align = <usize>b.requiredAlign;
  st.tableBlock = heapAllocZeroed(<usize>tableBytes + slackBytes(align));
  if (st.tableBlock == 0) return -ENOMEM;
  st.table = (st.tableBlock + align - 1) & ~(align - 1);
  st.metaBytes = metaBytes;
  st.metaBlocks = <u32>(tableBytes >> b.blockShift);
  st.metaFirstBlock = data;
  return 0;
}

/**
 * Create a plugin bdev over `baseId` (on the current thread); `done(arg, bdev, rc)` tells how it
 * ended (after its metadata table is read, when it keeps one). `module` and `config` are heap blocks
 * that become the bdev's: freed with it, or here when it cannot be made.
 */
export function pluginBdevCreate(name: usize, baseId: u32, module: usize, moduleLen: u32, config: usize, configLen: u32,
  fuel: u32, maxTraps: u32, trapWindowMs: u32, metaBytes: u32, done: PluginCreatedFn, arg: usize): void {
  assert(module != 0 && moduleLen != 0 && maxTraps != 0, "pluginBdevCreate: no module, or a trap budget of 0");
  const ctx = heapAllocZeroed(PLUGIN_CTX_BYTES);
  if (ctx == 0) { heapFree(module); heapFree(config); done(arg, 0, -ENOMEM); return; }
  const st = stateOf(ctx);
  st.pluginId = atomic.add<u32>(NEXT_ID, 1) + 1;
  st.module = module; st.moduleLen = moduleLen;
  st.config = config; st.configLen = configLen;
  st.fuel = fuel; st.maxTraps = maxTraps; st.trapWindowMs = trapWindowMs;
  st.createdUs = now_us();
  st.createdCb = changetype<usize>(done); st.createdArg = arg;
  const tableRc = metaBytes == 0 ? 0 : tableAlloc(ctx, baseId, metaBytes);
  const b = tableRc != 0 ? 0 : passthruCreate(pluginModule(), name, baseId, ctx, PLUGIN_CHANNEL_BYTES, pluginChannelCreate, pluginChannelDestroy);
  if (b == 0) {
    const rc = tableRc != 0 ? tableRc : passthruError != 0 ? passthruError : -ENOMEM;
    if (st.tableBlock != 0) heapFree(st.tableBlock);
    heapFree(module); heapFree(config); heapFree(ctx);
    done(arg, 0, rc);
    return;
  }
  const bdev = changetype<Bdev>(b);
  bdev.ioTypes &= PLUGIN_IO_TYPES;
  if (metaBytes == 0) { done(arg, b, 0); return; }
  // Nobody has the bdev yet (its id goes to the host with the create's completion): its size can shrink to the data blocks.
  bdev.blockCount = st.metaFirstBlock;
  const rc = loadTable(ctx);
  if (rc != 0) { bdevUnregister(b, null, 0); done(arg, 0, rc); }
}

export function isPluginBdev(bdev: usize): bool { return isModule(changetype<Bdev>(bdev).module, PLUGIN_KEY); }

/** `which` 0: traps and overruns so far; 1: failed (0/1); 2: the plugin id; 3: metadata bytes per block. -1 for another kind of bdev. */
export function pluginBdevInfo(bdev: usize, which: u32): f64 {
  if (!isPluginBdev(bdev)) return -1;
  const ctx = changetype<Bdev>(bdev).ctx;
  const st = stateOf(ctx);
  if (which == 0) return <f64>atomic.load<u32>(ctx + STATE_OFF + offsetof<PluginState>("trapsTotal"));
  if (which == 1) return <f64>atomic.load<u32>(ctx + STATE_OFF + offsetof<PluginState>("failed"));
  if (which == 2) return <f64>st.pluginId;
  if (which == 3) return <f64>st.metaBytes;
  return -1;
}
