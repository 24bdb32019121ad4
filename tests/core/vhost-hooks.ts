// Test hooks for the vhost target's pure parts, driven by tests/unit/vhost-*.test.ts through the
// deterministic harness (times are given, not read from a clock).

import { LogLimit, logLimitNew, logLimitTake } from "../../assembly/vhost/loglimit";

export function hv_loglimit_new(): usize { return changetype<usize>(logLimitNew()); }
/** logLimitTake at `nowUs`: -1 (left out) or how many were left out before this one. */
export function hv_loglimit_take(limit: usize, nowUs: f64): f64 { return <f64>logLimitTake(changetype<LogLimit>(limit), <u64>nowUs); }
