// Fuzz target "selftest": bugs planted on purpose, behind a few bytes that coverage has to find one
// at a time, so the fuzzer itself can be checked (tests/unit/fuzz-runner.test.ts, `wstor fuzz selftest`).
// "FUZZ" breaks an assertion, "HANG" never returns, "LEAK" keeps a block; nothing else does anything.
import { heapAlloc } from "../runtime";

/** How far into a magic word the last input got: a store per level keeps the compiler from merging the tests. */
let depth: u32 = 0;

function byteAt(ptr: usize, len: u32, i: u32): u32 { return i < len ? <u32>load<u8>(ptr + i) : 0; }

export function fuzz_selftest_setup(): i32 { return 0; }

export function fuzz_selftest_run(ptr: usize, len: u32): i32 {
  depth = 0;
  const b0 = byteAt(ptr, len, 0);
  if (b0 == 0x46) {                                            // F U Z Z
    depth = 1;
    if (byteAt(ptr, len, 1) == 0x55) {
      depth = 2;
      if (byteAt(ptr, len, 2) == 0x5a) {
        depth = 3;
        if (byteAt(ptr, len, 3) == 0x5a) assert(false, "selftest: the planted assertion");
      }
    }
  } else if (b0 == 0x48) {                                     // H A N G
    depth = 1;
    if (byteAt(ptr, len, 1) == 0x41) {
      depth = 2;
      if (byteAt(ptr, len, 2) == 0x4e) {
        depth = 3;
        if (byteAt(ptr, len, 3) == 0x47) while (byteAt(ptr, len, 0) == 0x48) depth++;   // the planted hang
      }
    }
  } else if (b0 == 0x4c) {                                     // L E A K
    depth = 1;
    if (byteAt(ptr, len, 1) == 0x45) {
      depth = 2;
      if (byteAt(ptr, len, 2) == 0x41) {
        depth = 3;
        if (byteAt(ptr, len, 3) == 0x4b) heapAlloc(64);        // the planted leak: the block is never freed
      }
    }
  }
  return <i32>depth;
}
