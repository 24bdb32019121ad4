// The host side of NVMe/TCP's PDUs: the host's writers (assembly/nvme/tcp/pdu.ts ICReq, CapsuleCmd,
// H2CData) pass the target's own checks, the target's writers pass the host's checks
// (assembly/nvme/host/pdu-check.ts), and every hostile field a controller could send is refused with
// its verdict, FES and text.
import {
  PDU_IC_REQ, PDU_IC_RESP, PDU_CAPSULE_CMD, PDU_CAPSULE_RESP, PDU_H2C_DATA, PDU_C2H_DATA, PDU_R2T, PDU_C2H_TERM_REQ,
  FLAG_HDGSTF, FLAG_DDGSTF, FLAG_LAST_PDU, FLAG_SUCCESS, IC_BYTES, CAPSULE_CMD_HLEN, DATA_HLEN, IC_DGST_HEADER, IC_DGST_DATA,
  FES_INVALID_HEADER_FIELD, FES_PDU_SEQUENCE_ERROR, FES_HEADER_DIGEST_ERROR, FES_DATA_OUT_OF_RANGE, FES_DATA_LIMIT_EXCEEDED,
  pduType, pduFlags, pduPdo, pduPlen, icPda, icDigests, icReqMaxR2t, capsuleSqe, dataCccid, dataTtag, dataOffset, dataLength,
  pduWriteIcReq, pduWriteCapsuleCmd, pduWriteH2CData, pduWriteIcResp, pduWriteCapsuleResp, pduWriteC2HData, pduWriteR2t,
  pduWriteTermReq,
} from "../../assembly/nvme/tcp/pdu";
import {
  PduRules, PDU_OK as TARGET_OK, BAD_TYPE_UNKNOWN, BAD_HLEN, BAD_HDGSTF, BAD_DDGSTF, BAD_PLEN_SHORT, BAD_PDO, BAD_NO_DATA,
  BAD_HEADER_DIGEST, pduCheckCommon, pduCheckHeader,
} from "../../assembly/nvme/tcp/pdu-check";
import {
  HostPduRules, PDU_OK, HBAD_TYPE_H2C, HBAD_BEFORE_IC, HBAD_IC_AGAIN, HBAD_PLEN_IC, HBAD_PLEN_TERM_REQ, HBAD_DATA_WHERE_NONE,
  HBAD_IC_PFV, HBAD_IC_CPDA, HBAD_IC_DIGESTS, HBAD_IC_MAXH2CDATA, HBAD_C2H_DATAL, HBAD_SUCCESS_NOT_LAST, HBAD_R2TL_ZERO,
  HBAD_CID, HBAD_DATA_DIRECTION, HBAD_DATA_OFFSET, HBAD_DATA_RANGE,
  hostCheckCommon, hostCheckHeader, hostCheckDataPlacement, hostPduHeaderBytes, hostPduDataBytes, hostVerdictFes, hostVerdictText,
} from "../../assembly/nvme/host/pdu-check";

function zeroed(n: u32): usize { const p = heap.alloc(n); memory.fill(p, 0, n); return p; }
function hostRules(icDone: u32, hdgst: u32, ddgst: u32, hpda: u32 = 0): HostPduRules {
  const r = changetype<HostPduRules>(zeroed(offsetof<HostPduRules>()));
  r.icDone = icDone; r.hdgst = hdgst; r.ddgst = ddgst; r.hpda = hpda;
  r.digestsAsked = IC_DGST_HEADER | IC_DGST_DATA;
  return r;
}
function targetRules(icDone: u32, hdgst: u32, ddgst: u32, cpda: u32 = 0): PduRules {
  const r = changetype<PduRules>(zeroed(offsetof<PduRules>()));
  r.icDone = icDone; r.hdgst = hdgst; r.ddgst = ddgst; r.cpda = cpda;
  r.maxInCapsule = 8192; r.maxH2cData = 131072;
  return r;
}
/** Both checks, as a receiver runs them: common header first, then the whole header. */
function hostVerdict(p: usize, r: HostPduRules): u32 {
  const v = hostCheckCommon(p, r);
  return v != PDU_OK ? v : hostCheckHeader(p, r);
}
function targetVerdict(p: usize, r: PduRules): u32 {
  const v = pduCheckCommon(p, r);
  return v != TARGET_OK ? v : pduCheckHeader(p, r);
}

describe("host writers, read by the target's checks", () => {
  it("writes an ICReq the target takes: HPDA, digests, MAXR2T 0's based", () => {
    const p = zeroed(IC_BYTES);
    expect(pduWriteIcReq(p, 3, IC_DGST_HEADER | IC_DGST_DATA, 16)).toBe(IC_BYTES);
    expect(pduType(p)).toBe(PDU_IC_REQ);
    expect(pduPlen(p)).toBe(IC_BYTES);
    expect(icPda(p)).toBe(3);
    expect(icDigests(p)).toBe(IC_DGST_HEADER | IC_DGST_DATA);
    expect(icReqMaxR2t(p)).toBe(16);
    expect(targetVerdict(p, targetRules(0, 0, 0))).toBe(TARGET_OK);
  });

  it("writes CapsuleCmds with and without in-capsule data, digests and CPDA padding, that the target takes", () => {
    const sqe = zeroed(64);
    for (let i: u32 = 0; i < 64; i++) store<u8>(sqe + i, <u8>(i + 1));
    for (let hd: u32 = 0; hd < 2; hd++) {
      for (let dd: u32 = 0; dd < 2; dd++) {
        for (let cpda: u32 = 0; cpda < 32; cpda += 3) {
          const p = zeroed(256);
          const bare = pduWriteCapsuleCmd(p, sqe, 0, hd != 0, dd != 0, cpda);
          expect(bare).toBe(CAPSULE_CMD_HLEN + (hd != 0 ? 4 : 0));
          expect(pduPdo(p)).toBe(0);
          expect(pduFlags(p) & FLAG_DDGSTF).toBe(0);
          expect(targetVerdict(p, targetRules(1, hd, dd, cpda))).toBe(TARGET_OK);
          expect(memory.compare(capsuleSqe(p), sqe, 64)).toBe(0);
          const headerBytes = pduWriteCapsuleCmd(p, sqe, 4096, hd != 0, dd != 0, cpda);
          expect(headerBytes).toBe(pduPdo(p));
          expect(headerBytes % ((cpda + 1) * 4)).toBe(0);
          expect(pduPlen(p)).toBe(headerBytes + 4096 + (dd != 0 ? 4 : 0));
          expect(targetVerdict(p, targetRules(1, hd, dd, cpda))).toBe(TARGET_OK);
          // The padding is zeroes (no stale bytes go on the wire).
          for (let i = CAPSULE_CMD_HLEN + (hd != 0 ? 4 : 0); i < headerBytes; i++) expect(load<u8>(p + i)).toBe(0);
        }
      }
    }
  });

  it("writes H2CData the target takes (fields, LAST_PDU, digests, CPDA)", () => {
    const p = zeroed(256);
    const headerBytes = pduWriteH2CData(p, 7, 9, 8192, 4096, true, true, true, 7);
    expect(headerBytes).toBe(32);             // 24 + 4 digest, aligned to 32
    expect(pduType(p)).toBe(PDU_H2C_DATA);
    expect(pduFlags(p)).toBe(FLAG_HDGSTF | FLAG_DDGSTF | FLAG_LAST_PDU);
    expect(dataCccid(p)).toBe(7);
    expect(dataTtag(p)).toBe(9);
    expect(dataOffset(p)).toBe(8192);
    expect(dataLength(p)).toBe(4096);
    expect(pduPlen(p)).toBe(32 + 4096 + 4);
    expect(targetVerdict(p, targetRules(1, 1, 1, 7))).toBe(TARGET_OK);
  });
});

describe("host checks on the target's PDUs", () => {
  it("takes what the target's writers make: ICResp, CapsuleResp, C2HData (HPDA padding, SUCCESS), R2T, TermReq", () => {
    const p = zeroed(256);
    pduWriteIcResp(p, 0, IC_DGST_HEADER, 131072);
    expect(hostVerdict(p, hostRules(0, 0, 0))).toBe(PDU_OK);
    const cqe = zeroed(16);
    for (let hd: u32 = 0; hd < 2; hd++) {
      for (let dd: u32 = 0; dd < 2; dd++) {
        const r = hostRules(1, hd, dd, 5);
        pduWriteCapsuleResp(p, cqe, hd != 0);
        expect(hostVerdict(p, r)).toBe(PDU_OK);
        expect(hostPduHeaderBytes(p, r)).toBe(24 + (hd != 0 ? 4 : 0));
        pduWriteC2HData(p, 3, 0, 4096, true, true, hd != 0, dd != 0, 5);
        expect(hostVerdict(p, r)).toBe(PDU_OK);
        expect(hostPduDataBytes(p, r)).toBe(4096);
        expect(hostCheckDataPlacement(p, 4096, 0)).toBe(PDU_OK);
        pduWriteR2t(p, 3, 1, 0, 65536, hd != 0);
        expect(hostVerdict(p, r)).toBe(PDU_OK);
      }
    }
    pduWriteTermReq(p, FES_INVALID_HEADER_FIELD, 2, zeroed(8), 8);
    expect(hostVerdict(p, hostRules(1, 0, 0))).toBe(PDU_OK);
    expect(hostVerdict(p, hostRules(0, 0, 0))).toBe(PDU_OK);   // a TermReq may come before the ICResp
  });

  it("refuses unknown types, host-only types, PDUs before the ICResp and a second ICResp", () => {
    const p = zeroed(256);
    store<u8>(p, 0x0f);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_TYPE_UNKNOWN);
    pduWriteIcReq(p, 0, 0, 1);
    expect(hostCheckCommon(p, hostRules(0, 0, 0))).toBe(HBAD_TYPE_H2C);
    pduWriteH2CData(p, 1, 1, 0, 512, true, false, false, 0);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(HBAD_TYPE_H2C);
    pduWriteCapsuleResp(p, zeroed(16), false);
    expect(hostCheckCommon(p, hostRules(0, 0, 0))).toBe(HBAD_BEFORE_IC);
    pduWriteIcResp(p, 0, 0, 4096);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(HBAD_IC_AGAIN);
  });

  it("refuses a wrong hlen or plen, digest flags the ICResp did not agree, a pdo off its place, data where none goes", () => {
    const p = zeroed(256);
    pduWriteIcResp(p, 0, 0, 4096);
    store<u32>(p + 4, 132);
    expect(hostCheckCommon(p, hostRules(0, 0, 0))).toBe(HBAD_PLEN_IC);
    pduWriteTermReq(p, FES_INVALID_HEADER_FIELD, 0, p, 0);
    store<u32>(p + 4, 153);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(HBAD_PLEN_TERM_REQ);
    const cqe = zeroed(16);
    pduWriteCapsuleResp(p, cqe, false);
    store<u8>(p + 2, 28);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_HLEN);
    pduWriteCapsuleResp(p, cqe, false);
    expect(hostCheckCommon(p, hostRules(1, 1, 0))).toBe(BAD_HDGSTF);
    pduWriteCapsuleResp(p, cqe, true);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_HDGSTF);
    pduWriteCapsuleResp(p, cqe, false);
    store<u32>(p + 4, 20);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_PLEN_SHORT);
    pduWriteCapsuleResp(p, cqe, false);
    store<u8>(p + 3, 24);
    store<u32>(p + 4, 24 + 512);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(HBAD_DATA_WHERE_NONE);
    pduWriteR2t(p, 1, 1, 0, 4096, false);
    store<u8>(p + 3, 8);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_PDO);
    pduWriteC2HData(p, 1, 0, 4096, false, false, false, false, 0);
    expect(hostCheckCommon(p, hostRules(1, 0, 0, 3))).toBe(BAD_PDO);     // the host asked for 16-byte alignment
    pduWriteC2HData(p, 1, 0, 4096, false, false, false, true, 0);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_DDGSTF);
    pduWriteC2HData(p, 1, 0, 4096, false, false, false, false, 0);
    store<u8>(p + 3, 0);
    store<u32>(p + 4, 24);
    expect(hostCheckCommon(p, hostRules(1, 0, 0))).toBe(BAD_NO_DATA);
  });

  it("refuses an ICResp with PFV not 0, CPDA over 31, a digest not asked for, or a MAXH2CDATA under 4096 or not a multiple of 4", () => {
    const p = zeroed(256);
    const r = hostRules(0, 0, 0);
    pduWriteIcResp(p, 0, 0, 4096);
    store<u16>(p + 8, 1);
    expect(hostVerdict(p, r)).toBe(HBAD_IC_PFV);
    pduWriteIcResp(p, 0, 0, 4096);
    store<u8>(p + 10, 32);
    expect(hostVerdict(p, r)).toBe(HBAD_IC_CPDA);
    r.digestsAsked = IC_DGST_HEADER;
    pduWriteIcResp(p, 0, IC_DGST_DATA, 4096);
    expect(hostVerdict(p, r)).toBe(HBAD_IC_DIGESTS);
    r.digestsAsked = IC_DGST_HEADER | IC_DGST_DATA;
    pduWriteIcResp(p, 0, 0, 4096);
    store<u8>(p + 11, 4);
    expect(hostVerdict(p, r)).toBe(HBAD_IC_DIGESTS);
    pduWriteIcResp(p, 0, 0, 4096);
    store<u32>(p + 12, 4092);
    expect(hostVerdict(p, r)).toBe(HBAD_IC_MAXH2CDATA);
    store<u32>(p + 12, 4098);
    expect(hostVerdict(p, r)).toBe(HBAD_IC_MAXH2CDATA);
  });

  it("refuses a wrong header digest, a C2HData datal off its plen, SUCCESS without LAST, an R2T for 0 bytes", () => {
    const p = zeroed(256);
    pduWriteC2HData(p, 1, 0, 4096, true, false, true, false, 0);
    const r = hostRules(1, 1, 0);
    expect(hostVerdict(p, r)).toBe(PDU_OK);
    store<u8>(p + 24, load<u8>(p + 24) ^ 1);
    expect(hostVerdict(p, r)).toBe(BAD_HEADER_DIGEST);
    pduWriteC2HData(p, 1, 0, 4096, false, false, false, false, 0);
    store<u32>(p + 16, 4095);
    expect(hostVerdict(p, hostRules(1, 0, 0))).toBe(HBAD_C2H_DATAL);
    pduWriteC2HData(p, 1, 0, 4096, false, false, false, false, 0);
    store<u8>(p + 1, FLAG_SUCCESS);
    expect(hostVerdict(p, hostRules(1, 0, 0))).toBe(HBAD_SUCCESS_NOT_LAST);
    pduWriteR2t(p, 1, 1, 0, 4096, false);
    store<u32>(p + 16, 0);
    expect(hostVerdict(p, hostRules(1, 0, 0))).toBe(HBAD_R2TL_ZERO);
  });

  it("refuses data out of order or beyond the command", () => {
    const p = zeroed(256);
    pduWriteC2HData(p, 1, 4096, 4096, true, false, false, false, 0);
    expect(hostCheckDataPlacement(p, 8192, 4096)).toBe(PDU_OK);
    expect(hostCheckDataPlacement(p, 8192, 0)).toBe(HBAD_DATA_OFFSET);
    expect(hostCheckDataPlacement(p, 8191, 4096)).toBe(HBAD_DATA_RANGE);
    store<u32>(p + 12, 0xfffff000);
    store<u32>(p + 16, 0x2000);
    expect(hostCheckDataPlacement(p, 0xffffffff, 0xfffff000)).toBe(HBAD_DATA_RANGE);   // no wrap
  });

  it("gives each refusal the FES of its H2CTermReq and a sentence", () => {
    expect(hostVerdictFes(BAD_HEADER_DIGEST)).toBe(FES_HEADER_DIGEST_ERROR);
    expect(hostVerdictFes(HBAD_BEFORE_IC)).toBe(FES_PDU_SEQUENCE_ERROR);
    expect(hostVerdictFes(HBAD_CID)).toBe(FES_PDU_SEQUENCE_ERROR);
    expect(hostVerdictFes(HBAD_DATA_DIRECTION)).toBe(FES_PDU_SEQUENCE_ERROR);
    expect(hostVerdictFes(HBAD_DATA_RANGE)).toBe(FES_DATA_OUT_OF_RANGE);
    expect(hostVerdictFes(HBAD_IC_MAXH2CDATA)).toBe(FES_INVALID_HEADER_FIELD);
    expect(hostVerdictFes(BAD_PDO)).toBe(FES_INVALID_HEADER_FIELD);
    const all: u32[] = [BAD_TYPE_UNKNOWN, HBAD_TYPE_H2C, HBAD_BEFORE_IC, HBAD_IC_AGAIN, BAD_HLEN, HBAD_PLEN_IC, HBAD_PLEN_TERM_REQ,
      BAD_HDGSTF, BAD_DDGSTF, BAD_PLEN_SHORT, BAD_PDO, BAD_NO_DATA, HBAD_DATA_WHERE_NONE, BAD_HEADER_DIGEST, HBAD_IC_PFV,
      HBAD_IC_CPDA, HBAD_IC_DIGESTS, HBAD_IC_MAXH2CDATA, HBAD_C2H_DATAL, HBAD_SUCCESS_NOT_LAST, HBAD_R2TL_ZERO, HBAD_CID,
      HBAD_DATA_DIRECTION, HBAD_DATA_OFFSET, HBAD_DATA_RANGE];
    for (let i = 0; i < all.length; i++) expect(hostVerdictText(all[i]).length).toBeGreaterThan(10);
    expect(FES_DATA_LIMIT_EXCEEDED).toBe(5);
    expect(PDU_C2H_DATA).toBe(7);
    expect(PDU_CAPSULE_CMD).toBe(4);
    expect(PDU_CAPSULE_RESP).toBe(5);
    expect(PDU_IC_RESP).toBe(1);
    expect(PDU_R2T).toBe(9);
    expect(PDU_C2H_TERM_REQ).toBe(3);
    expect(DATA_HLEN).toBe(24);
  });
});
