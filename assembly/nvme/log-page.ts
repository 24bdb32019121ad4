// Get Log Page (admin opcode 0x02): error information (01: this target records no error entries, so
// the page is zeroes), SMART / health (02: the controller's command and data counters), changed
// namespace list (04, aer.ts), discovery (0x70, discovery controllers only: discovery-log.ts). The
// host's offset (LPO) and length (NUMD) choose a window of the page.
import { threadNowUs } from "../thread";
import { NvmfReq, NvmfQpair, NvmfTransportLimits } from "./transport";
import { SCT_COMMAND_SPECIFIC, STATUS_DNR, STATUS_SUCCESS, STATUS_INVALID_FIELD, status, sqeCdw } from "./spec";
import {
  LID_ERROR, LID_SMART, LID_CHANGED_NS, LID_DISCOVERY, ERROR_LOG_ENTRY_BYTES, SMART_LOG_BYTES, SMART_AVAILABLE_SPARE,
  SMART_SPARE_THRESHOLD, SMART_DATA_UNITS_READ, SMART_DATA_UNITS_WRITTEN, SMART_HOST_READS, SMART_HOST_WRITES,
  SMART_POWER_ON_HOURS, CHANGED_NS_LIST_BYTES, IDENTIFY_BYTES, logPageId, logPageBytes, logPageOffset,
} from "./identify";
import { nvmfReqComplete } from "./complete";
import { reqWriteAt, reqZeroFrom } from "./req-data";
import { NvmfSubsystem } from "./subsystem";
import { NvmfCtrlr, ctrlrHostNqn } from "./ctrlr";
import { changedNsLog } from "./aer";
import { discoveryLog } from "./discovery-log";
import { planted, PLANT_LOG_PAGE_WINDOW } from "../runtime/planted";

const SC_INVALID_LOG_PAGE: u32 = 0x09;
/** The error log's entries (Identify ELPE + 1). */
const ERROR_LOG_ENTRIES: u32 = 1;
/** SMART data units count thousands of 512-byte units. */
const DATA_UNIT_BYTES: u64 = 512_000;

export function getLogPageExec(req: usize): void {
  const r = changetype<NvmfReq>(req);
  const c = changetype<NvmfQpair>(r.qpair).ctrlr;
  const ct = changetype<NvmfCtrlr>(c);
  const cdw10 = sqeCdw(r.sqe, 10);
  const lid = logPageId(cdw10);
  const bytes = logPageBytes(cdw10, sqeCdw(r.sqe, 11));
  const offset = logPageOffset(sqeCdw(r.sqe, 12), sqeCdw(r.sqe, 13));
  const retain = (cdw10 & (1 << 15)) != 0;
  const isDiscovery = changetype<NvmfSubsystem>(ct.subsys).isDiscovery != 0;
  const room = planted(PLANT_LOG_PAGE_WINDOW) ? <u64>r.length + 4 : <u64>r.length;
  if ((offset & 3) != 0 || bytes > room) { nvmfReqComplete(req, STATUS_INVALID_FIELD, 0); return; }
  r.length = <u32>bytes;
  if (isDiscovery != (lid == LID_DISCOVERY) || !(lid == LID_ERROR || lid == LID_SMART || lid == LID_CHANGED_NS || lid == LID_DISCOVERY)) {
    nvmfReqComplete(req, isDiscovery ? STATUS_INVALID_FIELD : status(SCT_COMMAND_SPECIFIC, SC_INVALID_LOG_PAGE) | STATUS_DNR, 0);
    return;
  }
  let ok = true;
  if (lid == LID_DISCOVERY) {
    ok = discoveryLog(req, offset, <u32>bytes, ctrlrHostNqn(c), changetype<NvmfTransportLimits>(ct.limits).maxAqDepth, ct.scratch);
  } else {
    const buf = ct.scratch;
    memory.fill(buf, 0, IDENTIFY_BYTES);
    let size: u32 = ERROR_LOG_ENTRIES * ERROR_LOG_ENTRY_BYTES;
    if (lid == LID_SMART) { smartLog(ct, buf); size = SMART_LOG_BYTES; }
    else if (lid == LID_CHANGED_NS) { changedNsLog(c, buf, retain); size = CHANGED_NS_LIST_BYTES; }
    ok = offset < <u64>size;
    if (ok) {
      reqZeroFrom(req, 0);
      reqWriteAt(req, 0, buf + <usize>offset, <u32>min<u64>(bytes, <u64>size - offset));
    }
  }
  nvmfReqComplete(req, ok ? STATUS_SUCCESS : STATUS_INVALID_FIELD, 0);
}

function smartLog(ct: NvmfCtrlr, buf: usize): void {
  store<u8>(buf + SMART_AVAILABLE_SPARE, 100);   // no media wears out under a bdev this target knows of
  store<u8>(buf + SMART_SPARE_THRESHOLD, 10);
  store<u64>(buf + SMART_DATA_UNITS_READ, (atomic.load<u64>(changetype<usize>(ct) + offsetof<NvmfCtrlr>("bytesRead")) + DATA_UNIT_BYTES - 1) / DATA_UNIT_BYTES);
  store<u64>(buf + SMART_DATA_UNITS_WRITTEN, (atomic.load<u64>(changetype<usize>(ct) + offsetof<NvmfCtrlr>("bytesWritten")) + DATA_UNIT_BYTES - 1) / DATA_UNIT_BYTES);
  store<u64>(buf + SMART_HOST_READS, atomic.load<u64>(changetype<usize>(ct) + offsetof<NvmfCtrlr>("readCommands")));
  store<u64>(buf + SMART_HOST_WRITES, atomic.load<u64>(changetype<usize>(ct) + offsetof<NvmfCtrlr>("writeCommands")));
  store<u64>(buf + SMART_POWER_ON_HOURS, (threadNowUs() - ct.createdUs) / 3_600_000_000);
}
