// nvmf_tcp_stats: one fixed-size record per poll group (the host's NvmfTcpTransport.stats() reads it).
// Counters are written by each group's thread and read here from any thread: each is one aligned
// 8-byte load, so a record may mix moments but no field is torn.

import { ENOSPC } from "../../runtime";
import { TcpTransport, TcpGroup } from "./types";
import { TcpBufPool } from "./bufpool";
import { tcpGroupAt } from "./group";

/** f64 fields of a record, in this order (host/nvmf-tcp.ts STATS_FIELDS names them). */
export const STATS_FIELDS: u32 = 11;
export const STATS_RECORD_BYTES: u32 = STATS_FIELDS * 8;

/** Records into [buf, buf + cap): bytes written, or -ENOSPC when cap is short (the host asks again with more). */
export function tcpStats(transport: usize, buf: usize, cap: u32): i32 {
  const t = changetype<TcpTransport>(transport);
  const need = t.groupCount * STATS_RECORD_BYTES;
  if (cap < need) return -ENOSPC;
  for (let i: u32 = 0; i < t.groupCount; i++) {
    const g = tcpGroupAt(t, i);
    const at = buf + <usize>(i * STATS_RECORD_BYTES);
    const pool = changetype<TcpBufPool>(g.pool);
    store<f64>(at, <f64>g.reactor);
    store<f64>(at, <f64>g.connCount, 8);
    store<f64>(at, <f64>g.accepted, 16);
    store<f64>(at, <f64>g.closed, 24);
    store<f64>(at, <f64>g.commands, 32);
    store<f64>(at, <f64>g.errorCompletions, 40);
    store<f64>(at, <f64>g.termReqsSent, 48);
    store<f64>(at, <f64>g.termReqsReceived, 56);
    store<f64>(at, <f64>g.bufferWaits, 64);
    store<f64>(at, g.pool == 0 ? 0 : <f64>pool.free, 72);
    store<f64>(at, g.pool == 0 ? 0 : <f64>pool.count, 80);
  }
  return <i32>need;
}
