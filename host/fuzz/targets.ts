// What a fuzz target is on the host side, and the list `wstor fuzz --list` prints. The core side is a
// pair of exports in build/core.fuzz.wasm (assembly/fuzz/); this side knows how inputs look: seeds,
// a dictionary, and a mutator that keeps an input's structure while changing its content.
import type { FuzzRng } from './rng.js';
import type { FuzzTargetExportName } from '../core-exports.js';
import { nvmfTcpTarget } from './targets/nvmf-tcp.js';
import { selftestTarget } from './targets/selftest.js';
import { blobLoadTarget } from './targets/blob-load.js';
import { nvmeCmdTarget } from './targets/nvme-cmd.js';

export interface MutateContext {
  rng: FuzzRng;
  maxLen: number;
  /** Another input of the corpus, for crossing over. */
  other(): Uint8Array;
}

export interface FuzzTarget {
  name: string;
  /** One line for --list. */
  summary: string;
  /** Core exports: set-up once before the snapshot (returns 0 or -errno), then one run per input. */
  setupExport: FuzzTargetExportName;
  runExport: FuzzTargetExportName;
  /** Whether a heap block an input leaves behind is a finding (the target frees all it makes per input). */
  leaks: boolean;
  /** -max_len when none is given and no corpus input is longer. */
  maxLenDefault: number;
  /** Inputs the corpus starts from when its directories are empty. */
  seeds(): Uint8Array[];
  /** Tokens the byte mutators insert (-dict adds more). */
  dictionary: Uint8Array[];
  /** A structure-aware mutation of `input`, or null when it does not apply to this input. */
  mutate?(input: Uint8Array, ctx: MutateContext): Uint8Array | null;
}

/** The JSON-RPC fuzzer (rpc-fuzz.ts): host code, no core target; listed beside them. */
export const RPC_TARGET = { name: 'rpc', summary: 'JSON-RPC: every method, params from its schema, against a live engine (random, no coverage)' };

export const FUZZ_TARGETS: readonly FuzzTarget[] = [nvmfTcpTarget, nvmeCmdTarget, blobLoadTarget, selftestTarget];

export function fuzzTarget(name: string): FuzzTarget | undefined {
  return FUZZ_TARGETS.find((t) => t.name === name);
}
