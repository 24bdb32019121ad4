// What a method table entry is: its schema (name, description, parameters) and the function that runs
// it against the target. Parameters arrive already checked against the schema (schema.ts).
import type { MethodSchema } from '../schema.js';
import type { Target } from '../../serve/target.js';

/** Checked parameters, by name (the schema guarantees each declared type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Params = Record<string, any>;

export interface Method extends MethodSchema {
  /** May run before framework_start_init (SPDK's SPDK_RPC_STARTUP); the rest wait for it. */
  startup?: boolean;
  run(params: Params, target: Target): unknown;
}
