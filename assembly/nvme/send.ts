// How the NVMe-oF target core sends a message to a thread: never while this instance holds a lock
// (registry.ts's rule). Whatever a locked section finds to message is collected there (chained
// through the targets' own fields) and sent after the unlock, so a lock covers only what it guards.
import { rawLocksHeld } from "../runtime";
import { MsgFn, sendMsg } from "../thread";

/** sendMsg, for the core: the caller holds no raw lock (asserted). */
export function nvmfSend(thread: usize, fn: MsgFn, ctx: usize): void {
  assert(rawLocksHeld() == 0, "nvmf: a message sent while holding a lock: collect under the lock, send after it is released");
  sendMsg(thread, fn, ctx);
}
