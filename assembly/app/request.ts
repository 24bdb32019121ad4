// Control-plane requests from the host that need a thread (opening bdevs with events, unregistering):
// the host's control instance posts them to the app thread (reactor 0, created at engine start, as
// SPDK's app thread), and each ends with EVENT_REQUEST_DONE(id, rc, value) so the host can resolve
// one promise per request, many in flight at once.

import { EINVAL, APP_THREAD } from "../runtime";
import { threadCreateOn, sendMsg, MsgFn } from "../thread";

const APP_THREAD_SLOT: usize = APP_THREAD;

export function appThread(): usize { return atomic.load<usize>(APP_THREAD_SLOT); }

/** Create the app thread on reactor 0 (host, at start). 0 or -errno. */
export function appThreadCreate(): i32 {
  if (appThread() != 0) return 0;
  const t = threadCreateOn(0, "app_thread");
  if (t == 0) return -12;
  atomic.store<usize>(APP_THREAD_SLOT, t);
  return 0;
}

/** Test harness: use a hand-polled thread as the app thread. */
export function appThreadSet(thread: usize): void { atomic.store<usize>(APP_THREAD_SLOT, thread); }

export { requestDone } from "../runtime";

/** Run fn(ctx) on the app thread; -EINVAL if there is none yet. */
export function onAppThread(fn: MsgFn, ctx: usize): i32 {
  const t = appThread();
  if (t == 0) return -EINVAL;
  sendMsg(t, fn, ctx);
  return 0;
}
