// Target "selftest" (assembly/fuzz/selftest.ts): planted bugs behind magic words, for checking that the
// fuzzer finds a crash, a hang and a leak, writes their artifacts and replays them.
import type { FuzzTarget } from '../targets.js';

const ascii = (s: string) => new TextEncoder().encode(s);

export const selftestTarget: FuzzTarget = {
  name: 'selftest',
  summary: 'planted bugs ("FUZZ" asserts, "HANG" hangs, "LEAK" leaks): checks the fuzzer itself',
  setupExport: 'fuzz_selftest_setup',
  runExport: 'fuzz_selftest_run',
  leaks: true,
  maxLenDefault: 64,
  seeds: () => [ascii('....')],
  dictionary: [],
};
