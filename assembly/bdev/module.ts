// A module's function table, kept in the module's static key block (memory.data(MODULE_KEY_BYTES)):
// the first 16 bytes are the key's own words (a registration flag, a deferred-work function), the
// table follows. Writing it on every create is idempotent: the values are the same in every instance.

import { BdevModule, SubmitFn, ChannelKeyFn, DestructFn, AbortQueuedFn } from "./types";

export const MODULE_KEY_BYTES: i32 = 16 + 32;

export function moduleTable(key: usize, name: string, submit: SubmitFn, channelKey: ChannelKeyFn, destruct: DestructFn,
  abortQueued: AbortQueuedFn | null): BdevModule {
  const m = changetype<BdevModule>(key + 16);
  m.name = changetype<usize>(name);
  m.submit = changetype<usize>(submit);
  m.channelKey = changetype<usize>(channelKey);
  m.destruct = changetype<usize>(destruct);
  m.abortQueued = abortQueued == null ? 0 : changetype<usize>(abortQueued);
  return m;
}

/** Whether `bdevModule` (a Bdev's module field) is the table kept in `key`. */
export function isModule(bdevModule: usize, key: usize): bool { return bdevModule == key + 16; }
