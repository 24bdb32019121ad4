// `npm start`'s walk-through: an app thread on reactor 0 asks a worker thread on reactor 1 to compute,
// by message; the worker answers by message; the app reports each step to the host. The rule it shows
// (LESSONS 3): work crosses reactors only as messages, each reactor polls only its own threads.

import { heapAllocZeroed, heapFree, host_event, now_us, ENOMEM } from "../runtime";
import { sendMsg, threadCreateOn, threadGet, currentReactorId } from "../thread";
import { EVENT_DEMO_STEP, EVENT_DEMO_DONE } from "../runtime";

@unmanaged class Demo {
  app: usize;
  worker: usize;
  rounds: u32;
  round: u32;
  input: u64;
  result: u64;
  computedOn: i32;
  wrong: u32;           // answers that are not n(n+1)(2n+1)/6
  startUs: u64;
  totalUs: u64;
}

/** Start the demo (host control instance). Returns 0 or a negative errno. */
export function demoStart(rounds: u32, workerReactor: i32): i32 {
  const d = changetype<Demo>(heapAllocZeroed(offsetof<Demo>()));
  if (changetype<usize>(d) == 0) return -ENOMEM;
  d.rounds = rounds;
  d.app = threadCreateOn(0, "app_thread");
  d.worker = threadCreateOn(workerReactor, "demo_worker");
  if (d.app == 0 || d.worker == 0) return -ENOMEM;
  sendMsg(d.app, nextRound, changetype<usize>(d));
  return 0;
}

/** On the app thread: send round N to the worker. */
function nextRound(ctx: usize): void {
  const d = changetype<Demo>(ctx);
  if (d.round == d.rounds) {
    host_event(EVENT_DEMO_DONE, <f64>d.rounds, <f64>d.totalUs, <f64>d.wrong);
    heapFree(ctx);
    return;
  }
  d.input = <u64>d.round + 1;
  d.startUs = now_us();
  sendMsg(d.worker, compute, ctx);
}

/** On the worker thread: sum of squares 1..input, then reply to the app thread. */
function compute(ctx: usize): void {
  const d = changetype<Demo>(ctx);
  let sum: u64 = 0;
  for (let i: u64 = 1; i <= d.input; i++) sum += i * i;
  d.result = sum;
  d.computedOn = currentReactorId();
  assert(threadGet() == d.worker);
  sendMsg(d.app, computed, ctx);
}

/** Back on the app thread: report and go on. */
function computed(ctx: usize): void {
  const d = changetype<Demo>(ctx);
  d.totalUs += now_us() - d.startUs;
  const n = d.input;
  if (d.result != n * (n + 1) * (2 * n + 1) / 6) d.wrong++;
  host_event(EVENT_DEMO_STEP, <f64>(d.round + 1), <f64>d.computedOn, <f64>d.result);
  d.round++;
  nextRound(ctx);
}
