// One fuzzing instance: build/core.fuzz.wasm on a memory of its own, a target set up once, then each
// input run against the state right after that set-up. Reset is a snapshot put back: the whole
// memory (copied once after set-up) plus every mutable global (the instrumented module saves and
// restores them). That is exact (the next input sees byte for byte what the first did, so a finding
// replays) and cheap next to re-instantiating and re-running set-up (a few MiB copied per input;
// see docs/fuzzing.md). It also survives a trap: whatever a broken assertion left half-done is
// overwritten by the snapshot.
import { CONTROL_ARENA, LEVEL_FATAL, instantiateCore } from '../core-abi.js';
import type { CoreExports } from '../core-abi.js';
import type { FuzzInstrumentExports } from '../core-exports.js';
import { WstorError } from '../errors.js';
import type { FuzzTarget } from './targets.js';

const MEMORY_PAGES_MAX = 4096;      // 256 MiB: a run that needs more is itself a finding (ENOMEM traps)
const MEMORY_PAGES_INITIAL = 8;
/** assembly/runtime/layout.ts PAGE_ROOT, and PageRoot.top's offset in it (after lock, initState, heapStart). */
const PAGE_ROOT = 1088;
const PAGE_ROOT_TOP = 12;

export type Outcome =
  | { kind: 'ok'; result: number }
  | { kind: 'crash'; message: string }
  | { kind: 'leak'; message: string };

type FuzzCore = CoreExports & FuzzInstrumentExports & Record<string, (...args: number[]) => number>;

export class FuzzInstance {
  /** Sites of the coverage build (one u8 counter each). */
  readonly sites: number;
  private snapshot: Uint8Array = new Uint8Array(0);
  private globalsAt = 0;
  private inputAt = 0;
  private liveBlocksAfterSetup = 0;
  private lastFatal = '';

  private constructor(private readonly core: FuzzCore, private readonly memory: WebAssembly.Memory,
    private readonly target: FuzzTarget, private readonly inputCap: number) {
    this.sites = core.__fuzz_counters_bytes();
  }

  static async create(module: WebAssembly.Module, target: FuzzTarget, inputCap: number): Promise<FuzzInstance> {
    const memory = new WebAssembly.Memory({ initial: MEMORY_PAGES_INITIAL, maximum: MEMORY_PAGES_MAX, shared: true });
    const holder: { instance: FuzzInstance | null } = { instance: null };
    const core = await instantiateCore(module, memory, {
      report(level, _code, message) { if (level === LEVEL_FATAL && holder.instance) holder.instance.lastFatal = message; },
      event() {},
    }) as FuzzCore;
    for (const name of [target.setupExport, target.runExport, '__fuzz_counters', '__fuzz_globals_save']) {
      if (typeof core[name] !== 'function') {
        throw new WstorError('ENOENT', `${name} is not in the coverage build: rebuild it (npm run build:wasm) from sources that have target ${target.name}`);
      }
    }
    core.wstor_attach(CONTROL_ARENA);
    core.wstor_memory_limit(MEMORY_PAGES_MAX);
    const instance = new FuzzInstance(core, memory, target, inputCap);
    holder.instance = instance;
    instance.setUp();
    return instance;
  }

  private setUp(): void {
    const rc = this.core[this.target.setupExport]();
    if (rc < 0) throw new WstorError('EFUZZSETUP', `target ${this.target.name}: set-up failed with ${rc}`);
    this.inputAt = this.core.wstor_alloc(this.inputCap + 1) >>> 0;
    this.globalsAt = this.core.wstor_alloc(this.core.__fuzz_globals_bytes()) >>> 0;
    if (this.inputAt === 0 || this.globalsAt === 0) throw new WstorError('ENOMEM', `no room for a ${this.inputCap}-byte input in the fuzz instance`);
    this.liveBlocksAfterSetup = this.core.heap_live_blocks_all();
    this.counters().fill(0);
    this.core.__fuzz_globals_save(this.globalsAt);
    this.snapshot = new Uint8Array(this.memory.buffer).slice();
  }

  /** The counters of the last run (a view: valid until the next run or reset). */
  counters(): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.core.__fuzz_counters() >>> 0, this.sites);
  }

  /** Put the state back as set-up left it. */
  private reset(): void {
    const now = new Uint8Array(this.memory.buffer);
    // Memory an input grew is zeroed, as fresh pages are, so the next run sees none of its bytes;
    // only up to the page allocator's top (never-allocated pages are untouched), because a memory
    // never shrinks: zeroing all of it after one input that took 200 MiB would slow every later run.
    if (now.length > this.snapshot.length) now.fill(0, this.snapshot.length, Math.min(now.length, this.pagesTop()));
    now.set(this.snapshot);
    this.core.__fuzz_globals_restore(this.globalsAt);
  }

  /** The first address the core's page allocator never handed out (PageRoot.top, assembly/runtime/pages.ts). */
  private pagesTop(): number {
    const top = new DataView(this.memory.buffer).getUint32(PAGE_ROOT + PAGE_ROOT_TOP, true);
    if (top === 0 || top % 65536 !== 0) {
      throw new WstorError('EFUZZ', `the page allocator's top reads ${top}: host/fuzz/instance.ts no longer matches assembly/runtime/pages.ts PageRoot`);
    }
    return top;
  }

  /** Run one input from the snapshot state; the counters then say what it covered. */
  run(input: Uint8Array): Outcome {
    if (input.length > this.inputCap) throw new WstorError('EINVAL', `an input of ${input.length} bytes is over this instance's ${this.inputCap}`);
    this.reset();
    new Uint8Array(this.memory.buffer, this.inputAt, input.length).set(input);
    this.lastFatal = '';
    let result: number;
    try {
      result = this.core[this.target.runExport](this.inputAt, input.length);
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError)) throw err;
      return { kind: 'crash', message: this.lastFatal || err.message };
    }
    if (this.target.leaks) {
      const live = this.core.heap_live_blocks_all();
      if (live !== this.liveBlocksAfterSetup) {
        return { kind: 'leak', message: `${live - this.liveBlocksAfterSetup} heap block(s) still live after the input (${this.liveBlocksAfterSetup} after set-up, ${live} now)` };
      }
    }
    return { kind: 'ok', result };
  }
}
