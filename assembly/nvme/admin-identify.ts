// Identify (admin opcode 0x06): the controller (CNS 1), the active namespace list (CNS 2), a namespace
// (CNS 0) and its identification descriptors (CNS 3), the last two from the namespace (ns.ts). A
// discovery controller answers CNS 1 only (as nvmet). The fields filled are those Linux's host reads.
import { NvmfReq, NvmfQpair, NvmfTransportLimits } from "./transport";
import { STATUS_SUCCESS, STATUS_INVALID_FIELD, STATUS_INVALID_NAMESPACE, sqeCdw, sqeNsid } from "./spec";
import {
  IDENTIFY_BYTES, CNS_NAMESPACE, CNS_CONTROLLER, CNS_ACTIVE_NS_LIST, CNS_NS_ID_DESCRIPTORS, IDC_VID, IDC_SSVID, IDC_SN,
  IDC_MN, IDC_FR, IDC_RAB, IDC_CMIC, IDC_MDTS, IDC_CNTLID, IDC_VER, IDC_OAES, IDC_CTRATT, IDC_CNTRLTYPE, IDC_ACL, IDC_AERL,
  IDC_FRMW, IDC_LPA, IDC_ELPE, IDC_KAS, IDC_SQES, IDC_CQES, IDC_MAXCMD, IDC_NN, IDC_ONCS, IDC_VWC, IDC_SGLS, IDC_SUBNQN,
  IDC_IOCCSZ, IDC_IORCSZ, IDC_ICDOFF, IDC_FCATT, IDC_MSDBD, IDC_SN_BYTES, IDC_MN_BYTES, IDC_FR_BYTES, CNTRLTYPE_IO,
  CNTRLTYPE_DISCOVERY, ONCS_DSM, ONCS_WRITE_ZEROES, OAES_NS_ATTRIBUTE, putSpacePadded,
} from "./identify";
import { VS_1_3, NQN_FIELD_BYTES, CC_IOSQES_64B, CC_IOCQES_16B } from "./fabrics";
import { SQE_BYTES, CQE_BYTES } from "./spec";
import { nvmfReqComplete } from "./complete";
import { reqReply } from "./req-data";
import { cStringBytes } from "./registry";
import { NvmfSubsystem, subsystemNqn, subsystemSerial, subsystemModel, subsystemNs, subsystemNextNsid } from "./subsystem";
import { NvmfCtrlr, AER_MAX, ABORT_MAX } from "./ctrlr";
import { nvmfNsIdentify, nvmfNsIdDescriptors, nvmfNsSupportsUnmap, nvmfNsSupportsWriteZeroes, nvmfNsSupportsFlush } from "./ns";

/** Firmware revision (FR): the engine's version. */
const FIRMWARE_REVISION: string = "0.1.0";
/** The least page size (CAP.MPSMIN 0): MDTS counts in these. */
const MIN_PAGE_BYTES: u32 = 4096;
/** Keep-alive granularity (KAS) in 100 ms units: the timer is checked at a quarter of KATO, KATO in ms. */
const KAS_100MS: u16 = 1;
/** SGLS: SGLs supported (bit 0), the address field as an offset (bit 20), as NVMe/TCP's in-capsule data needs. */
const SGLS_SUPPORTED: u32 = 1 | (1 << 20);
/** CMIC bit 1: the subsystem may have more than one controller (several hosts). */
const CMIC_MULTI_CTRLR: u8 = 2;
/** CTRATT bit 0: 128-bit host identifiers (Fabrics Connect carries one). */
const CTRATT_HOSTID_128: u32 = 1;
/** LPA bit 2: extended data for Get Log Page (NUMDU, the offset), which discovery hosts use. */
const LPA_EXTENDED: u8 = 4;
/** FRMW: one firmware slot, read-only. */
const FRMW_ONE_READONLY_SLOT: u8 = (1 << 1) | 1;
const CNS_LIST_MAX: u32 = IDENTIFY_BYTES / 4;

export function identifyExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const c = changetype<NvmfQpair>(r.qpair).ctrlr;
  const ct = changetype<NvmfCtrlr>(c);
  const cns = sqeCdw(r.sqe, 10) & 0xff;
  const isDiscovery = changetype<NvmfSubsystem>(ct.subsys).isDiscovery != 0;
  const buf = ct.scratch;
  memory.fill(buf, 0, IDENTIFY_BYTES);
  let st = STATUS_SUCCESS;
  if (cns == CNS_CONTROLLER) identifyController(c, buf);
  else if (isDiscovery) st = STATUS_INVALID_FIELD;
  else if (cns == CNS_ACTIVE_NS_LIST) st = activeNsList(ct.subsys, sqeNsid(r.sqe), buf);
  else if (cns == CNS_NAMESPACE || cns == CNS_NS_ID_DESCRIPTORS) st = identifyNs(ct, sqeNsid(r.sqe), cns, buf);
  else st = STATUS_INVALID_FIELD;
  if (st == STATUS_SUCCESS) reqReply(req, buf, IDENTIFY_BYTES);
  nvmfReqComplete(req, st, 0);
}

function identifyNs(ct: NvmfCtrlr, nsid: u32, cns: u32, buf: usize): u32 {
  const s = changetype<NvmfSubsystem>(ct.subsys);
  if (nsid == 0 || nsid > s.maxNamespaces) return STATUS_INVALID_NAMESPACE;
  const ns = subsystemNs(ct.subsys, nsid);
  // An inactive NSID of the range: CNS 0 is all zeroes (the spec's answer), CNS 3 has no descriptors to give.
  if (ns == 0) return cns == CNS_NAMESPACE ? STATUS_SUCCESS : STATUS_INVALID_NAMESPACE;
  if (cns == CNS_NAMESPACE) nvmfNsIdentify(ns, buf); else nvmfNsIdDescriptors(ns, buf);
  return STATUS_SUCCESS;
}

/** Active NSIDs above `after`, ascending, up to 1024 (0xfffffffe and 0xffffffff name none above). */
function activeNsList(sub: usize, after: u32, buf: usize): u32 {
  if (after >= 0xfffffffe) return STATUS_INVALID_NAMESPACE;
  let n: u32 = 0;
  for (let nsid = subsystemNextNsid(sub, after); nsid != 0 && n < CNS_LIST_MAX; nsid = subsystemNextNsid(sub, nsid)) {
    store<u32>(buf + (<usize>n << 2), nsid);
    n++;
  }
  return STATUS_SUCCESS;
}

function log2(v: u32): u32 { return 31 - clz(v); }

function identifyController(c: usize, buf: usize): void {
  const ct = changetype<NvmfCtrlr>(c);
  const sub = ct.subsys;
  const s = changetype<NvmfSubsystem>(sub);
  const limits = changetype<NvmfTransportLimits>(ct.limits);
  const isDiscovery = s.isDiscovery != 0;
  store<u16>(buf + IDC_VID, 0);
  store<u16>(buf + IDC_SSVID, 0);
  putSpacePadded(buf + IDC_SN, IDC_SN_BYTES, subsystemSerial(sub), <u32>cStringBytes(subsystemSerial(sub), IDC_SN_BYTES + 1));
  putSpacePadded(buf + IDC_MN, IDC_MN_BYTES, subsystemModel(sub), <u32>cStringBytes(subsystemModel(sub), IDC_MN_BYTES + 1));
  memory.fill(buf + IDC_FR, 0x20, IDC_FR_BYTES);
  for (let i = 0; i < FIRMWARE_REVISION.length; i++) store<u8>(buf + IDC_FR + <usize>i, <u8>FIRMWARE_REVISION.charCodeAt(i));
  const mdts = limits.maxIoSize >= MIN_PAGE_BYTES ? log2(limits.maxIoSize / MIN_PAGE_BYTES) : 0;
  store<u8>(buf + IDC_MDTS, <u8>min<u32>(mdts, 255));
  store<u16>(buf + IDC_CNTLID, <u16>ct.cntlid);
  store<u32>(buf + IDC_VER, VS_1_3);
  store<u8>(buf + IDC_CNTRLTYPE, isDiscovery ? CNTRLTYPE_DISCOVERY : CNTRLTYPE_IO);
  store<u8>(buf + IDC_AERL, <u8>(AER_MAX - 1));
  store<u8>(buf + IDC_LPA, LPA_EXTENDED);
  store<u16>(buf + IDC_KAS, KAS_100MS);
  store<u16>(buf + IDC_MAXCMD, <u16>min<u32>(limits.maxQueueDepth, 0xffff));
  store<u32>(buf + IDC_SGLS, SGLS_SUPPORTED);
  const nqn = subsystemNqn(sub);
  memory.copy(buf + IDC_SUBNQN, nqn, <usize>cStringBytes(nqn, NQN_FIELD_BYTES));
  if (isDiscovery) return;
  store<u8>(buf + IDC_RAB, 6);
  store<u8>(buf + IDC_CMIC, CMIC_MULTI_CTRLR);
  store<u32>(buf + IDC_OAES, OAES_NS_ATTRIBUTE);
  store<u32>(buf + IDC_CTRATT, CTRATT_HOSTID_128);
  store<u8>(buf + IDC_ACL, <u8>(ABORT_MAX - 1));
  store<u8>(buf + IDC_FRMW, FRMW_ONE_READONLY_SLOT);
  store<u8>(buf + IDC_ELPE, 0);
  store<u8>(buf + IDC_SQES, <u8>((CC_IOSQES_64B << 4) | CC_IOSQES_64B));
  store<u8>(buf + IDC_CQES, <u8>((CC_IOCQES_16B << 4) | CC_IOCQES_16B));
  store<u32>(buf + IDC_NN, s.maxNamespaces);
  let unmap = true, zeroes = true, flush = false, any = false;
  for (let nsid = subsystemNextNsid(sub, 0); nsid != 0; nsid = subsystemNextNsid(sub, nsid)) {
    const ns = subsystemNs(sub, nsid);
    if (ns == 0) continue;
    any = true;
    unmap = unmap && nvmfNsSupportsUnmap(ns);
    zeroes = zeroes && nvmfNsSupportsWriteZeroes(ns);
    flush = flush || nvmfNsSupportsFlush(ns);
  }
  // Controller-wide capabilities: a command every namespace takes (a namespace added later is checked the same way).
  store<u16>(buf + IDC_ONCS, (any && unmap ? ONCS_DSM : 0) | (any && zeroes ? ONCS_WRITE_ZEROES : 0));
  store<u8>(buf + IDC_VWC, flush ? 1 : 0);
  store<u32>(buf + IDC_IOCCSZ, (SQE_BYTES + limits.inCapsuleDataSize) / 16);
  store<u32>(buf + IDC_IORCSZ, CQE_BYTES / 16);
  store<u16>(buf + IDC_ICDOFF, 0);
  store<u8>(buf + IDC_FCATT, 0);
  store<u8>(buf + IDC_MSDBD, 1);
}
