// The I/O path's state packed in an NvmfReq's coreAux (assembly/nvme/io-req.ts): each field keeps its
// value while the others change, and the first failure is the one kept.
import { NvmfReq } from "../../assembly/nvme/transport";
import {
  reqWaitNext, reqSetWaitNext, reqDsmNext, reqSetDsmNext, reqDsmInflight, reqSetDsmInflight, reqFlushPhase, reqSetFlushPhase,
  reqFail, reqFailed, DSM_INFLIGHT_MAX,
} from "../../assembly/nvme/io-req";

function newReq(): NvmfReq { const p = heap.alloc(offsetof<NvmfReq>()); memory.fill(p, 0, offsetof<NvmfReq>()); return changetype<NvmfReq>(p); }

describe("NvmfReq.coreAux fields", () => {
  it("hold their largest values side by side", () => {
    const r = newReq();
    reqSetWaitNext(r, 0xfffffff0);
    reqSetDsmNext(r, 256);
    reqSetDsmInflight(r, DSM_INFLIGHT_MAX);
    reqSetFlushPhase(r);
    reqFail(r, 0x4000 | 0x80);
    expect(reqWaitNext(r)).toBe(0xfffffff0);
    expect(reqDsmNext(r)).toBe(256);
    expect(reqDsmInflight(r)).toBe(DSM_INFLIGHT_MAX);
    expect(reqFlushPhase(r)).toBe(true);
    expect(reqFailed(r)).toBe(0x4080);
  });
  it("change one at a time without touching the others", () => {
    const r = newReq();
    reqSetDsmNext(r, 17);
    reqSetDsmInflight(r, 3);
    reqSetWaitNext(r, 0x1234);
    reqSetWaitNext(r, 0);
    reqSetDsmInflight(r, 2);
    expect(reqDsmNext(r)).toBe(17);
    expect(reqDsmInflight(r)).toBe(2);
    expect(reqWaitNext(r)).toBe(0);
    expect(reqFlushPhase(r)).toBe(false);
    expect(reqFailed(r)).toBe(0);
  });
  it("keep the first failure", () => {
    const r = newReq();
    reqFail(r, 0x06);
    reqFail(r, 0x4001);
    expect(reqFailed(r)).toBe(0x06);
  });
});
