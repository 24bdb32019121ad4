// Bugs planted on purpose, for the fuzzer's benchmark only (bench/fuzz-planted.ts: how fast the
// guided fuzzer finds each, against random fuzzing). A site asks planted(PLANT_…) and takes its buggy
// path only in a build compiled with `--use WSTOR_PLANT=<mask>`; in every other build (core.wasm, the
// tests', core.fuzz.wasm) planted() folds to false at compile time, so the sites change nothing there.

/** Get Log Page accepts a window one dword longer than the host's buffer (an off-by-one in a length check). */
export const PLANT_LOG_PAGE_WINDOW: i32 = 0;
/** Dataset Management checks the data for one range fewer than it walks (a missing bound on a list walk). */
export const PLANT_DSM_RANGES: i32 = 1;
/** An NVMe/TCP capsule refused before it runs keeps its request's previous length (a real bug, fixed in a9350ed). */
export const PLANT_STALE_LENGTH: i32 = 2;
/** A blob open that meets a damaged md page forgets the blob it was building (a leak on an error path). */
export const PLANT_OPEN_LEAK: i32 = 3;
export const PLANT_COUNT: i32 = 4;

// @ts-ignore: decorator
@inline export function planted(bug: i32): bool {
  // @ts-ignore: WSTOR_PLANT exists only in a build given --use WSTOR_PLANT=<mask>
  if (isDefined(WSTOR_PLANT)) return (WSTOR_PLANT & (1 << bug)) != 0;
  return false;
}
