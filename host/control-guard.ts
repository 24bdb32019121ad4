// The host's calls into its control instance, guarded. A trap there (a Wasm RuntimeError) becomes a
// WstorError naming the export and what the core reported just before it (its fatal report), never a bare
// "unreachable". Once an exception has unwound the instance, what it cut short is checked: a raw lock left
// held can never be released (every instance that needs it would spin for good), so the engine is stopped
// with that reason, and from then on only the lock-free calls that wind the engine down still reach the
// instance (any other could spin on that lock for good, and the host's thread with it); with no lock
// held, nothing shared is half-changed by the runtime's own code, so the shadow stack the unwound frames
// left is reset and the engine carries on. Core code may have done part of its work (a block allocated,
// not yet linked): that much may leak, nothing is corrupt.
import type { CoreExports } from './core-abi.js';
import { WstorError } from './errors.js';

export interface ControlGuardHooks {
  /** The fatal report the control instance made during the call that trapped (then forgotten), if any. */
  takeFatal(): { code: number; message: string } | null;
  /** A trap left a lock held: stop the engine with this error. */
  fail(error: WstorError): void;
}

const ERRNO_NAMES: Record<number, string> = { [-12]: 'ENOMEM', [-22]: 'EINVAL' };

/** Calls that take no lock, which stopping the engine still needs once a trap left a lock held. */
const LOCK_FREE_CALLS = new Set(['reactor_request_stop', 'reactor_stat', 'completions_drain', 'completions_pending', 'completions_queued']);

/** What Wasm throws when an instance traps (a stack overflow is a RangeError, the rest RuntimeErrors). */
function isTrap(err: unknown): err is Error {
  return err instanceof WebAssembly.RuntimeError || (err instanceof RangeError && /call stack/i.test(err.message));
}

/** `core` with every exported function guarded; other exports (the memory, globals) as they are. */
export function guardControl(core: CoreExports, hooks: ControlGuardHooks): CoreExports {
  const raw = core;
  let depth = 0;
  /** Set once a trap left a lock held: the reason every later call (but LOCK_FREE_CALLS) is refused with. */
  let poisoned: WstorError | null = null;
  const afterUnwind = (name: string, err: unknown): unknown => {
    if (depth > 0) return err;                   // an outer call into the instance is still on the stack
    const held = raw.wstor_locks_held();
    const fatal = hooks.takeFatal();
    const what = fatal?.message ?? (err instanceof Error ? err.message : String(err));
    if (held > 0) {
      const stop = new WstorError('ECONTROLTRAP', `the engine's control instance trapped in ${name} (${what}) holding ${held} lock(s) ` +
        'no one can release: the engine stops');
      poisoned = stop;
      hooks.fail(stop);
      return stop;
    }
    raw.wstor_stack_reset();
    if (!isTrap(err)) return err;
    if (fatal && ERRNO_NAMES[fatal.code]) {
      return new WstorError(ERRNO_NAMES[fatal.code], `${name}: ${fatal.message}`, fatal.code);
    }
    const detail = fatal ? fatal.message : `Wasm trap: ${err.message}`;
    return new WstorError('ECONTROLTRAP', `the engine's control instance stopped in ${name} (${detail}): a bug in wstor, please report it; ` +
      'no lock was held, so the engine carries on');
  };
  type Export = (...args: number[]) => unknown;
  // One wrapper per export, its arguments passed by name (no closure or rest array per call: blob I/O
  // calls the instance for every request). Extra arguments are ignored by an export, as from any caller.
  const guard = (name: string, fn: Export) => (a: number, b: number, c: number, d: number, e: number, f: number,
    g: number, h: number, i: number, j: number): unknown => {
    if (poisoned !== null && !LOCK_FREE_CALLS.has(name)) throw poisoned;
    depth++;
    try {
      const result = fn(a, b, c, d, e, f, g, h, i, j);
      depth--;
      return result;
    } catch (err) {
      depth--;
      throw afterUnwind(name, err);
    }
  };
  const guarded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'function') { guarded[name] = value; continue; }
    const fn = value as Export;
    if (fn.length > 10) throw new Error(`guardControl: export ${name} takes ${fn.length} arguments; the guard passes at most 10`);
    guarded[name] = guard(name, fn);
  }
  return guarded as unknown as CoreExports;
}
