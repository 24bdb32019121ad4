// nvmf_subsystem_dump: a subsystem's controllers and qpairs as fixed-size records, for the host's
// nvmf_subsystem_get_controllers / get_qpairs; the format is documented once, in app/nvmf-exports.ts.
// Read under registryLock from any thread (the lists change under it; a qpair stays valid while it is
// in its controller's list).
import { ENOSPC, ENOENT } from "../runtime";
import { threadOwner } from "../thread";
import { NvmfQpair } from "./transport";
import { HOSTID_BYTES, NQN_FIELD_BYTES } from "./fabrics";
import { registryLock, registryUnlock, cStringBytes } from "./registry";
import { NvmfSubsystem, subsystemKnownLocked } from "./subsystem";
import { NvmfCtrlr, ctrlrHostId, ctrlrHostNqn } from "./ctrlr";

export const DUMP_HEADER_BYTES: u32 = 16;
export const DUMP_CTRLR_BYTES: u32 = 288;
export const DUMP_QPAIR_BYTES: u32 = 88;
const PEER_ADDR_BYTES: u32 = 64;

function ctrlrRecord(c: usize, at: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  memory.fill(at, 0, DUMP_CTRLR_BYTES);
  store<u16>(at, <u16>ct.cntlid);
  store<u16>(at, <u16>ct.qpairCount, 2);
  store<u32>(at, ct.katoMs, 4);
  memory.copy(at + 8, ctrlrHostId(c), HOSTID_BYTES);
  memory.copy(at + 24, ctrlrHostNqn(c), <usize>cStringBytes(ctrlrHostNqn(c), NQN_FIELD_BYTES));
  store<u32>(at, (ct.cc & 1) | ((ct.csts & 1) << 1) | (ct.failed != 0 ? 4 : 0), 280);
  store<u32>(at, ct.ioQueues, 284);
}

function qpairRecord(cntlid: u32, q: usize, at: usize): void {
  const qp = changetype<NvmfQpair>(q);
  memory.fill(at, 0, DUMP_QPAIR_BYTES);
  store<u16>(at, <u16>cntlid);
  store<u16>(at, <u16>qp.qid, 2);
  store<i32>(at, threadOwner(qp.thread), 4);
  store<u32>(at, qp.state, 8);
  store<u32>(at, qp.sqsize, 12);
  store<u32>(at, qp.peerPort, 16);
  store<u32>(at, qp.listener, 20);
  if (qp.peerAddr != 0) {
    const n = cStringBytes(qp.peerAddr, PEER_ADDR_BYTES);
    memory.copy(at + 24, qp.peerAddr, <usize>(n < 0 ? PEER_ADDR_BYTES - 1 : <u32>n));
  }
}

/** Bytes written (> 0), -ENOSPC, or -ENOENT when `sub` is not (or no longer) a subsystem. */
export function subsystemDump(sub: usize, buf: usize, cap: u32): i32 {
  const s = changetype<NvmfSubsystem>(sub);
  registryLock();
  if (!subsystemKnownLocked(sub)) { registryUnlock(); return -ENOENT; }
  let ctrlrs: u32 = 0, qpairs: u32 = 0;
  let c = s.ctrlrs;
  for (let i: u32 = 0; c != 0 && i < s.ctrlrCount; i++) { ctrlrs++; qpairs += changetype<NvmfCtrlr>(c).qpairCount; c = changetype<NvmfCtrlr>(c).next; }
  const needed = DUMP_HEADER_BYTES + ctrlrs * DUMP_CTRLR_BYTES + qpairs * DUMP_QPAIR_BYTES;
  if (cap >= DUMP_HEADER_BYTES) {
    store<u32>(buf, needed); store<u32>(buf, ctrlrs, 4); store<u32>(buf, qpairs, 8); store<u32>(buf, 0, 12);
  }
  if (cap < needed) { registryUnlock(); return -ENOSPC; }
  let at = buf + DUMP_HEADER_BYTES;
  let qat = buf + DUMP_HEADER_BYTES + <usize>ctrlrs * DUMP_CTRLR_BYTES;
  c = s.ctrlrs;
  for (let i: u32 = 0; i < ctrlrs; i++) {
    const ct = changetype<NvmfCtrlr>(c);
    ctrlrRecord(c, at);
    at += DUMP_CTRLR_BYTES;
    let q = ct.qpairs;
    for (let k: u32 = 0; q != 0 && k < ct.qpairCount; k++) { qpairRecord(ct.cntlid, q, qat); qat += DUMP_QPAIR_BYTES; q = changetype<NvmfQpair>(q).coreLink; }
    c = ct.next;
  }
  registryUnlock();
  return <i32>needed;
}
