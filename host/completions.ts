// The host side of the completion queue (assembly/app/completions.ts): blob I/O that succeeded comes
// back as (request id, value) pairs in shared memory, drained in batches, instead of one worker
// message each. The drain waits on the queue's doorbell with Atomics.waitAsync after announcing it
// (the core rings the doorbell only then), and looks at the queue once more in between, so no
// completion is left waiting: the same pattern as a reactor's sleep.

import type { CoreExports } from './core-abi.js';

const BELL = 1, WAITING = 2;             // i32 indexes in the queue's block (assembly/app/completions.ts)
const BATCH = 256;
type WaitAsync = (a: Int32Array, index: number, value: number, timeoutMs: number) => { async: boolean; value: Promise<unknown> | unknown };
/** ES2024's Atomics.waitAsync (V8 has it; older runtimes fall back to looking every millisecond). */
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
/**
 * Bounds what a lost wake-up would cost (none is expected): a timer rings the bell this often. Not a
 * timeout per wait: Node keeps each waitAsync timeout as a scheduled task until it expires, and at
 * tens of thousands of waits a second removing them cost the main thread ~5 % in a profile.
 */
const SAFETY_RING_MS = 1000;

/** The completion-queue exports the drain uses. */
export type CompletionCore = Pick<CoreExports, 'completions_create' | 'completions_block' | 'completions_drain' | 'completions_pending' | 'wstor_alloc' | 'wstor_free'>;

export class CompletionDrain {
  private readonly block: Int32Array;
  private readonly out: number;
  /**
   * The drain buffer's words, viewed once: a shared memory's views stay valid as it grows, and each
   * read of memory.buffer makes a new SharedArrayBuffer whose bookkeeping only a full GC clears.
   */
  private readonly pairs: Uint32Array;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly safety: ReturnType<typeof setInterval>;

  /** Starts draining; `settle(id, value)` ends each request. Throws if the queue cannot be made. */
  constructor(private readonly core: CompletionCore, private readonly memory: WebAssembly.Memory,
    private readonly settle: (id: number, value: number) => void) {
    const rc = core.completions_create();
    if (rc < 0) throw new Error(`no memory for the completion queue (${rc})`);
    this.out = core.wstor_alloc(BATCH * 8) >>> 0;
    if (this.out === 0) throw new Error('no memory for the completion queue\'s buffer');
    this.block = new Int32Array(memory.buffer, core.completions_block() >>> 0, 16);
    this.pairs = new Uint32Array(memory.buffer, this.out, BATCH * 2);
    this.safety = setInterval(() => this.ring(), SAFETY_RING_MS);
    (this.safety as { unref?: () => void }).unref?.();
    this.done = this.run();
  }

  private ring(): void {
    Atomics.add(this.block, BELL, 1);
    Atomics.notify(this.block, BELL);
  }

  /** Take every completion waiting now. */
  private drain(): number {
    let total = 0;
    for (;;) {
      const n = this.core.completions_drain(this.out, BATCH);
      if (n === 0) return total;
      const pairs = this.pairs;
      for (let i = 0; i < n; i++) this.settle(pairs[2 * i], pairs[2 * i + 1]);
      total += n;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.drain();
      const seen = Atomics.load(this.block, BELL);
      Atomics.store(this.block, WAITING, 1);
      if (this.core.completions_pending() === 0 && !this.stopped) {
        if (waitAsync) {
          const w = waitAsync(this.block, BELL, seen, Infinity);
          if (w.async) await w.value;
        } else {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
      Atomics.store(this.block, WAITING, 0);
    }
    this.drain();
  }

  /** Stop waiting (after the reactors stopped: nothing completes any more). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.safety);
    this.ring();
    await this.done;
  }
}
