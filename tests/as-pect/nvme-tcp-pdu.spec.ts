// NVMe/TCP PDUs (assembly/nvme/tcp/pdu.ts, pdu-check.ts): field offsets against the transport
// spec's figures, the writers' bytes, digests, and every refusal of a hostile host's PDU with the
// FES/FEI its TermReq carries.
import {
  PDU_IC_REQ, PDU_IC_RESP, PDU_CAPSULE_CMD, PDU_CAPSULE_RESP, PDU_H2C_DATA, PDU_C2H_DATA, PDU_R2T, PDU_H2C_TERM_REQ, PDU_C2H_TERM_REQ,
  FLAG_HDGSTF, FLAG_DDGSTF, FLAG_LAST_PDU, FLAG_SUCCESS, IC_BYTES, DATA_HLEN, CAPSULE_CMD_HLEN, TERM_REQ_HLEN,
  FES_INVALID_HEADER_FIELD, FES_PDU_SEQUENCE_ERROR, FES_HEADER_DIGEST_ERROR, FES_DATA_OUT_OF_RANGE, FES_DATA_LIMIT_EXCEEDED,
  IC_DGST_HEADER, IC_DGST_DATA,
  pduType, pduFlags, pduHlen, pduPdo, pduPlen, icPfv, icPda, icDigests, icReqMaxR2t, icRespMaxH2cData, capsuleSqe,
  dataCccid, dataTtag, dataOffset, dataLength, termFes, termFei, pduDataStart, headerDigestOk,
  pduWriteIcResp, pduWriteCapsuleResp, pduWriteC2HData, pduWriteR2t, pduWriteTermReq,
} from "../../assembly/nvme/tcp/pdu";
import {
  PduRules, PDU_OK, BAD_TYPE_UNKNOWN, BAD_TYPE_C2H, BAD_BEFORE_IC, BAD_IC_AGAIN, BAD_HLEN, BAD_HDGSTF, BAD_DDGSTF, BAD_PLEN_SHORT,
  BAD_PLEN_IC, BAD_PLEN_TERM_REQ, BAD_PDO, BAD_NO_DATA, BAD_CAPSULE_DATA_LIMIT, BAD_H2C_DATA_LIMIT, BAD_HEADER_DIGEST,
  BAD_IC_PFV, BAD_IC_HPDA, BAD_DATAL, BAD_DATA_CID, BAD_DATA_TTAG, BAD_DATA_OFFSET, BAD_DATA_RANGE, BAD_DATA_DIGEST, BAD_QUEUE_OVERRUN,
  verdictFes, verdictFei, verdictText, pduCheckCommon, pduCheckHeader, pduHeaderBytes, pduDataBytes, pduFixedHlen,
} from "../../assembly/nvme/tcp/pdu-check";
import { crc32c } from "../../assembly/runtime/crc32c";

function zeroed(n: u32): usize { const p = heap.alloc(n); memory.fill(p, 0, n); return p; }
function header(type: u8, flags: u8, hlen: u32, pdo: u32, plen: u32): usize {
  const p = zeroed(256);
  store<u8>(p, type); store<u8>(p + 1, flags); store<u8>(p + 2, <u8>hlen); store<u8>(p + 3, <u8>pdo); store<u32>(p + 4, plen);
  return p;
}
function rules(icDone: u32, hdgst: u32, ddgst: u32): PduRules {
  const r = changetype<PduRules>(zeroed(offsetof<PduRules>()));
  r.icDone = icDone; r.hdgst = hdgst; r.ddgst = ddgst; r.cpda = 0;
  r.maxInCapsule = 8192; r.maxH2cData = 131072;
  return r;
}

describe("PDU layout", () => {
  it("reads the common header, ICReq, data PDU and TermReq fields at the spec's offsets", () => {
    const p = zeroed(128);
    store<u8>(p, PDU_IC_REQ); store<u8>(p + 1, 0x5a); store<u8>(p + 2, 128); store<u8>(p + 3, 7); store<u32>(p + 4, 0x01020304);
    expect(pduType(p)).toBe(PDU_IC_REQ);
    expect(pduFlags(p)).toBe(0x5a);
    expect(pduHlen(p)).toBe(128);
    expect(pduPdo(p)).toBe(7);
    expect(pduPlen(p)).toBe(0x01020304);
    store<u16>(p + 8, 0x1234); store<u8>(p + 10, 3); store<u8>(p + 11, 2); store<u32>(p + 12, 15);
    expect(icPfv(p)).toBe(0x1234);
    expect(icPda(p)).toBe(3);
    expect(icDigests(p)).toBe(IC_DGST_DATA);
    expect(icReqMaxR2t(p)).toBe(16);          // 0's based on the wire
    store<u32>(p + 12, 0xffffffff);
    expect(icReqMaxR2t(p)).toBe(0x100000000); // no overflow
    store<u16>(p + 8, 0xbeef); store<u16>(p + 10, 0x77); store<u32>(p + 12, 4096); store<u32>(p + 16, 8192);
    expect(dataCccid(p)).toBe(0xbeef);
    expect(dataTtag(p)).toBe(0x77);
    expect(dataOffset(p)).toBe(4096);
    expect(dataLength(p)).toBe(8192);
    expect(capsuleSqe(p)).toBe(p + 8);
    store<u16>(p + 8, 5); store<u32>(p + 10, 0x11223344);
    expect(termFes(p)).toBe(5);
    expect(termFei(p)).toBe(0x11223344);
  });

  it("places data after the header, its digest and the receiver's PDA padding", () => {
    expect(pduDataStart(72, false, 0)).toBe(72);
    expect(pduDataStart(72, true, 0)).toBe(76);
    expect(pduDataStart(24, false, 1)).toBe(24);
    expect(pduDataStart(24, true, 1)).toBe(32);
    expect(pduDataStart(24, true, 31)).toBe(128);
    expect(pduDataStart(24, false, 7)).toBe(32);
  });
});

describe("PDU writers", () => {
  it("writes an ICResp of 128 bytes with PFV 0, CPDA, digests and MAXH2CDATA", () => {
    const p = zeroed(128);
    memory.fill(p, 0xee, 128);
    expect(pduWriteIcResp(p, 2, IC_DGST_HEADER | IC_DGST_DATA, 131072)).toBe(IC_BYTES);
    expect(pduType(p)).toBe(PDU_IC_RESP);
    expect(pduFlags(p)).toBe(0);
    expect(pduHlen(p)).toBe(128);
    expect(pduPdo(p)).toBe(0);
    expect(pduPlen(p)).toBe(128);
    expect(icPfv(p)).toBe(0);
    expect(icPda(p)).toBe(2);
    expect(icDigests(p)).toBe(3);
    expect(icRespMaxH2cData(p)).toBe(131072);
    expect(load<u8>(p + 127)).toBe(0);           // reserved bytes zeroed
  });

  it("writes a CapsuleResp with the CQE, and its header digest when on", () => {
    const cqe = zeroed(16);
    for (let i: u32 = 0; i < 16; i++) store<u8>(cqe + i, <u8>(i + 1));
    const p = zeroed(64);
    expect(pduWriteCapsuleResp(p, cqe, false)).toBe(24);
    expect(pduType(p)).toBe(PDU_CAPSULE_RESP);
    expect(pduHlen(p)).toBe(24);
    expect(pduPlen(p)).toBe(24);
    expect(load<u8>(p + 8)).toBe(1);
    expect(load<u8>(p + 23)).toBe(16);
    expect(pduWriteCapsuleResp(p, cqe, true)).toBe(28);
    expect(pduFlags(p)).toBe(FLAG_HDGSTF);
    expect(pduPlen(p)).toBe(28);
    expect(load<u32>(p + 24)).toBe(crc32c(p, 24));
    expect(headerDigestOk(p)).toBe(true);
    store<u8>(p + 9, 0xff);
    expect(headerDigestOk(p)).toBe(false);
  });

  it("writes a C2HData header padded to HPDA, with LAST_PDU/SUCCESS and the digest flags", () => {
    const p = zeroed(128);
    memory.fill(p, 0xee, 128);
    const pdo = pduWriteC2HData(p, 9, 8192, 4096, true, true, true, true, 3);
    expect(pdo).toBe(32);                       // 24 + 4 digest, aligned to 16
    expect(pduType(p)).toBe(PDU_C2H_DATA);
    expect(pduFlags(p)).toBe(FLAG_HDGSTF | FLAG_DDGSTF | FLAG_LAST_PDU | FLAG_SUCCESS);
    expect(pduPdo(p)).toBe(32);
    expect(pduPlen(p)).toBe(32 + 4096 + 4);
    expect(dataCccid(p)).toBe(9);
    expect(dataTtag(p)).toBe(0);
    expect(dataOffset(p)).toBe(8192);
    expect(dataLength(p)).toBe(4096);
    expect(headerDigestOk(p)).toBe(true);
    expect(load<u32>(p + 28)).toBe(0);          // padding zeroed
    const plain = pduWriteC2HData(p, 9, 0, 512, false, false, false, false, 0);
    expect(plain).toBe(24);
    expect(pduFlags(p)).toBe(0);
    expect(pduPlen(p)).toBe(24 + 512);
  });

  it("writes an R2T and a C2HTermReq that keeps at most 128 offending bytes", () => {
    const p = zeroed(256);
    expect(pduWriteR2t(p, 4, 17, 8192, 65536, true)).toBe(28);
    expect(pduType(p)).toBe(PDU_R2T);
    expect(pduPdo(p)).toBe(0);
    expect(dataCccid(p)).toBe(4);
    expect(dataTtag(p)).toBe(17);
    expect(dataOffset(p)).toBe(8192);
    expect(dataLength(p)).toBe(65536);
    expect(headerDigestOk(p)).toBe(true);
    const bad = zeroed(200);
    memory.fill(bad, 0xab, 200);
    expect(pduWriteTermReq(p, FES_INVALID_HEADER_FIELD, 2, bad, 200)).toBe(152);
    expect(pduType(p)).toBe(PDU_C2H_TERM_REQ);
    expect(pduHlen(p)).toBe(TERM_REQ_HLEN);
    expect(pduPlen(p)).toBe(152);
    expect(termFes(p)).toBe(FES_INVALID_HEADER_FIELD);
    expect(termFei(p)).toBe(2);
    expect(load<u8>(p + 24)).toBe(0xab);
    expect(load<u8>(p + 151)).toBe(0xab);
    expect(pduWriteTermReq(p, FES_DATA_OUT_OF_RANGE, 16, bad, 24)).toBe(48);
    expect(termFei(p)).toBe(0);                 // FEI is reserved unless the FES names a field
  });

  it("computes CRC32C as NVMe/TCP digests store it", () => {
    const s = zeroed(9);
    for (let i: u32 = 0; i < 9; i++) store<u8>(s + i, <u8>(0x31 + i));   // "123456789"
    expect(crc32c(s, 9)).toBe(0xe3069283);
  });
});

describe("PDU checks: the common header", () => {
  it("accepts a well-formed ICReq, CapsuleCmd with and without data, H2CData and TermReq", () => {
    const pre = rules(0, 0, 0);
    expect(pduCheckCommon(header(PDU_IC_REQ, 0, 128, 0, 128), pre)).toBe(PDU_OK);
    expect(pduCheckCommon(header(PDU_H2C_TERM_REQ, 0, 24, 0, 24), pre)).toBe(PDU_OK);
    const r = rules(1, 1, 1);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, FLAG_HDGSTF, 72, 0, 76), r)).toBe(PDU_OK);
    const cap = header(PDU_CAPSULE_CMD, FLAG_HDGSTF | FLAG_DDGSTF, 72, 76, 76 + 4096 + 4);
    expect(pduCheckCommon(cap, r)).toBe(PDU_OK);
    expect(pduHeaderBytes(cap, r)).toBe(76);
    expect(pduDataBytes(cap, r)).toBe(4096);
    const h2c = header(PDU_H2C_DATA, FLAG_HDGSTF | FLAG_DDGSTF | FLAG_LAST_PDU, 24, 28, 28 + 512 + 4);
    expect(pduCheckCommon(h2c, r)).toBe(PDU_OK);
    expect(pduDataBytes(h2c, r)).toBe(512);
    expect(pduDataBytes(header(PDU_H2C_TERM_REQ, 0, 24, 0, 24 + 72), r)).toBe(72);
  });

  it("refuses unknown and controller-to-host types, and PDUs out of the IC order", () => {
    const r = rules(1, 0, 0);
    expect(pduCheckCommon(header(0x08, 0, 24, 0, 24), r)).toBe(BAD_TYPE_UNKNOWN);
    expect(pduCheckCommon(header(0x7f, 0, 24, 0, 24), r)).toBe(BAD_TYPE_UNKNOWN);
    expect(pduCheckCommon(header(PDU_IC_RESP, 0, 128, 0, 128), r)).toBe(BAD_TYPE_C2H);
    expect(pduCheckCommon(header(PDU_CAPSULE_RESP, 0, 24, 0, 24), r)).toBe(BAD_TYPE_C2H);
    expect(pduCheckCommon(header(PDU_C2H_DATA, 0, 24, 24, 48), r)).toBe(BAD_TYPE_C2H);
    expect(pduCheckCommon(header(PDU_R2T, 0, 24, 0, 24), r)).toBe(BAD_TYPE_C2H);
    expect(pduCheckCommon(header(PDU_IC_REQ, 0, 128, 0, 128), r)).toBe(BAD_IC_AGAIN);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 0, 72), rules(0, 0, 0))).toBe(BAD_BEFORE_IC);
  });

  it("refuses a wrong hlen for each type, a short or wrong plen, IC and TermReq plen bounds", () => {
    const r = rules(1, 0, 0);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 71, 0, 72), r)).toBe(BAD_HLEN);
    expect(pduCheckCommon(header(PDU_H2C_DATA, 0, 28, 28, 60), r)).toBe(BAD_HLEN);
    expect(pduCheckCommon(header(PDU_IC_REQ, 0, 72, 0, 128), rules(0, 0, 0))).toBe(BAD_HLEN);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 0, 70), r)).toBe(BAD_PLEN_SHORT);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, FLAG_HDGSTF, 72, 0, 72), rules(1, 1, 0))).toBe(BAD_PLEN_SHORT);
    expect(pduCheckCommon(header(PDU_IC_REQ, 0, 128, 0, 132), rules(0, 0, 0))).toBe(BAD_PLEN_IC);
    expect(pduCheckCommon(header(PDU_H2C_TERM_REQ, 0, 24, 0, 153), r)).toBe(BAD_PLEN_TERM_REQ);
    expect(pduCheckCommon(header(PDU_H2C_TERM_REQ, 0, 24, 0, 20), r)).toBe(BAD_PLEN_TERM_REQ);
    expect(pduCheckCommon(header(PDU_H2C_TERM_REQ, 0, 24, 0, 152), r)).toBe(PDU_OK);
  });

  it("refuses digest flags that differ from what ICReq negotiated", () => {
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, FLAG_HDGSTF, 72, 0, 76), rules(1, 0, 0))).toBe(BAD_HDGSTF);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 0, 72), rules(1, 1, 0))).toBe(BAD_HDGSTF);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 72, 72 + 64), rules(1, 0, 1))).toBe(BAD_DDGSTF);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, FLAG_DDGSTF, 72, 0, 72), rules(1, 0, 1))).toBe(BAD_DDGSTF);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, FLAG_DDGSTF, 72, 72, 72 + 68), rules(1, 0, 0))).toBe(BAD_DDGSTF);
  });

  it("refuses a pdo that is not where the data starts, and data where none may be or none where some must", () => {
    const r = rules(1, 0, 0);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 4, 72), r)).toBe(BAD_PDO);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 64, 72 + 512), r)).toBe(BAD_PDO);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 80, 72 + 512), r)).toBe(BAD_PDO);
    expect(pduCheckCommon(header(PDU_H2C_DATA, 0, 24, 0, 24), r)).toBe(BAD_NO_DATA);
    expect(pduCheckCommon(header(PDU_H2C_DATA, FLAG_DDGSTF, 24, 24, 28), rules(1, 0, 1))).toBe(BAD_NO_DATA);
    const aligned = rules(1, 0, 0);
    aligned.cpda = 3;                           // 16-byte alignment: data at 80
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 72, 72 + 512), aligned)).toBe(BAD_PDO);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 80, 80 + 512), aligned)).toBe(PDU_OK);
  });

  it("refuses in-capsule data over in_capsule_data_size and H2CData over MAXH2CDATA", () => {
    const r = rules(1, 0, 0);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 72, 72 + 8192), r)).toBe(PDU_OK);
    expect(pduCheckCommon(header(PDU_CAPSULE_CMD, 0, 72, 72, 72 + 8196), r)).toBe(BAD_CAPSULE_DATA_LIMIT);
    expect(pduCheckCommon(header(PDU_H2C_DATA, 0, 24, 24, 24 + 131072), r)).toBe(PDU_OK);
    expect(pduCheckCommon(header(PDU_H2C_DATA, 0, 24, 24, 24 + 131076), r)).toBe(BAD_H2C_DATA_LIMIT);
    expect(pduCheckCommon(header(PDU_H2C_DATA, 0, 24, 24, 0xfffffff0), r)).toBe(BAD_H2C_DATA_LIMIT);
  });
});

describe("PDU checks: the whole header", () => {
  it("refuses a wrong header digest", () => {
    const r = rules(1, 1, 0);
    const p = zeroed(64);
    pduWriteR2t(p, 1, 2, 0, 4096, true);        // a digested 24-byte header, retyped as H2CData
    store<u8>(p, PDU_H2C_DATA);
    store<u8>(p + 3, 28);
    store<u32>(p + 4, 28 + 4096);
    store<u32>(p + 24, crc32c(p, 24));
    expect(pduCheckHeader(p, r)).toBe(PDU_OK);
    store<u32>(p + 24, crc32c(p, 24) ^ 1);
    expect(pduCheckHeader(p, r)).toBe(BAD_HEADER_DIGEST);
  });

  it("refuses an ICReq with PFV other than 0 or HPDA over 31", () => {
    const r = rules(0, 0, 0);
    const p = header(PDU_IC_REQ, 0, 128, 0, 128);
    expect(pduCheckHeader(p, r)).toBe(PDU_OK);
    store<u16>(p + 8, 1);
    expect(pduCheckHeader(p, r)).toBe(BAD_IC_PFV);
    store<u16>(p + 8, 0);
    store<u8>(p + 10, 32);
    expect(pduCheckHeader(p, r)).toBe(BAD_IC_HPDA);
  });

  it("refuses H2CData whose datal is not its data length", () => {
    const r = rules(1, 0, 0);
    const p = header(PDU_H2C_DATA, 0, 24, 24, 24 + 4096);
    store<u32>(p + 16, 4096);
    expect(pduCheckHeader(p, r)).toBe(PDU_OK);
    store<u32>(p + 16, 8192);
    expect(pduCheckHeader(p, r)).toBe(BAD_DATAL);
  });
});

describe("PDU verdicts", () => {
  it("carry the FES and FEI the spec gives each refusal, and say what was wrong", () => {
    expect(verdictFes(BAD_HLEN)).toBe(FES_INVALID_HEADER_FIELD);
    expect(verdictFei(BAD_HLEN)).toBe(2);
    expect(verdictFei(BAD_HDGSTF)).toBe(1);
    expect(verdictFei(BAD_PDO)).toBe(3);
    expect(verdictFei(BAD_PLEN_SHORT)).toBe(4);
    expect(verdictFes(BAD_IC_AGAIN)).toBe(FES_PDU_SEQUENCE_ERROR);
    expect(verdictFes(BAD_BEFORE_IC)).toBe(FES_PDU_SEQUENCE_ERROR);
    expect(verdictFes(BAD_HEADER_DIGEST)).toBe(FES_HEADER_DIGEST_ERROR);
    expect(verdictFes(BAD_CAPSULE_DATA_LIMIT)).toBe(FES_DATA_LIMIT_EXCEEDED);
    expect(verdictFes(BAD_H2C_DATA_LIMIT)).toBe(FES_DATA_LIMIT_EXCEEDED);
    expect(verdictFei(BAD_IC_PFV)).toBe(8);
    expect(verdictFei(BAD_IC_HPDA)).toBe(10);
    expect(verdictFei(BAD_DATAL)).toBe(16);
    expect(verdictFei(BAD_DATA_CID)).toBe(8);
    expect(verdictFei(BAD_DATA_TTAG)).toBe(10);
    expect(verdictFes(BAD_DATA_OFFSET)).toBe(FES_DATA_OUT_OF_RANGE);
    expect(verdictFes(BAD_DATA_RANGE)).toBe(FES_DATA_OUT_OF_RANGE);
    expect(verdictFes(BAD_DATA_DIGEST)).toBe(FES_HEADER_DIGEST_ERROR);
    expect(verdictFes(BAD_QUEUE_OVERRUN)).toBe(FES_PDU_SEQUENCE_ERROR);
    expect(verdictText(BAD_TYPE_UNKNOWN)).toBe("unknown PDU type");
    for (let v: u32 = BAD_TYPE_UNKNOWN; v <= BAD_QUEUE_OVERRUN; v++) expect(verdictText(v).length).toBeGreaterThan(8);
    expect(verdictFes(BAD_PLEN_IC)).toBe(FES_INVALID_HEADER_FIELD);
    expect(verdictFes(BAD_PLEN_TERM_REQ)).toBe(FES_INVALID_HEADER_FIELD);
    expect(verdictFes(BAD_NO_DATA)).toBe(FES_INVALID_HEADER_FIELD);
    expect(verdictFes(BAD_TYPE_C2H)).toBe(FES_INVALID_HEADER_FIELD);
    expect(verdictFes(BAD_DDGSTF)).toBe(FES_INVALID_HEADER_FIELD);
  });

  it("knows each type's fixed header length", () => {
    expect(pduFixedHlen(PDU_IC_REQ)).toBe(IC_BYTES);
    expect(pduFixedHlen(PDU_CAPSULE_CMD)).toBe(CAPSULE_CMD_HLEN);
    expect(pduFixedHlen(PDU_H2C_DATA)).toBe(DATA_HLEN);
    expect(pduFixedHlen(PDU_H2C_TERM_REQ)).toBe(TERM_REQ_HLEN);
    expect(pduFixedHlen(0x08)).toBe(0);
  });
});
