// The test hooks' operation codes and context-block words (tests/core/*-hooks.ts), declared once.
// This file is both TypeScript (the tests import it) and AssemblyScript (the hooks import it; asc
// compiles it into core-test.wasm), so the two sides cannot disagree: keep to what both languages
// share, namespaces of untyped integer constants (i32 in AssemblyScript, number in TypeScript).

/** bdev-hooks.ts: what hb_send_op runs (BdevWord.op). */
export namespace BdevOp {
  export const open = 1;
  export const close = 2;
  export const getChannel = 3;
  export const putChannel = 4;
  export const read = 5;
  export const write = 6;
  export const unmap = 7;
  export const writeZeroes = 8;
  export const flush = 9;
  export const reset = 10;
  export const unregister = 11;
  export const claim = 12;
  /** Submit `flag` reads of one block; on -ENOMEM wait for a free bdev_io and retry. */
  export const readMany = 13;
  /** buf points at {u32 base, u32 len} pairs, flag = their count, len = the total. */
  export const readv = 14;
  export const writev = 15;
  /** bdevReadLent of len at off; the data is copied to buf at completion. */
  export const readLent = 16;
  /** buf points at external entries (bdev/extiov.ts), flag = their count, len = the total. */
  export const readExt = 17;
  export const writeExt = 18;
}

/** bdev-hooks.ts: the u32 words of an hb_ctx_new block (128 bytes). */
export namespace BdevWord {
  export const op = 0;
  export const bdev = 1;             // bdev id
  export const desc = 2;             // descriptor handle (set by open)
  export const ch = 3;               // io channel (set by getChannel)
  export const rc = 4;               // rc of the last submit
  export const done = 5;             // completions
  export const ok = 6;               // successes
  export const failed = 7;           // failures
  export const status = 8;           // status of the last completion
  export const removeEvents = 9;
  export const buf = 10;
  export const off = 11;             // bytes (low word)
  export const len = 12;
  export const flag = 13;            // open: write; readMany: count; readv/writev: iovcnt
  export const unregistered = 14;    // unregister completions
  export const waitCallbacks = 15;   // io-wait callbacks run
  export const retries = 16;         // readMany: reads left to submit
  export const inflight = 17;
  export const waitEntry = 18;       // 18..21: the io-wait entry (16 bytes)
  export const lentAt = 26;          // bdevIoData of the last completed io
}

/** blob-hooks.ts: what hbs_send runs (word 0 of an hbs_ctx_new block). */
export namespace BlobOp {
  export const init = 1;
  export const load = 2;
  export const unload = 3;
  export const create = 4;
  export const open = 5;
  export const close = 6;
  export const sync = 7;
  export const resize = 8;
  export const deleteBlob = 9;
  export const setXattr = 10;
  export const getXattr = 11;
  export const removeXattr = 12;
  export const read = 13;
  export const write = 14;
  export const abandon = 15;
  export const channel = 16;
  export const snapshot = 17;
  export const clone = 18;
  export const inflate = 19;
  export const decouple = 20;
  export const readv = 21;
  export const writev = 22;
  export const freeze = 23;
  export const unfreeze = 24;
  /** The clone index checked against the blobs' md; the value is the differences found. */
  export const verifyIndex = 25;
  /** A load that writes nothing (wstor bs's read-only commands). */
  export const loadReadOnly = 26;
  /** Give back the channel of ctx[13] (a store unloads only once every channel is put). */
  export const putChannel = 27;
}
