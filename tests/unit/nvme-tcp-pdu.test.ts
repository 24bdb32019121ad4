// The NVMe/TCP PDU helper (tests/helpers/nvme-tcp-pdu.ts): CRC32C against the standard check value,
// every PDU type through the encoder and the streaming decoder (digests, padding, any split of the
// bytes), each kind of malformed PDU refused with its FES, and the SQE/CQE layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc32c, PDU, PDU_FLAG, FES, PduDecoder, PduError, HOST_RECEIVES, CONTROLLER_RECEIVES, type Pdu,
  encodeIcReq, encodeIcResp, encodeCapsuleCmd, encodeCapsuleResp, encodeH2CData, encodeC2HData, encodeR2T, encodeTermReq,
  connectSqe, connectData, propertyGetSqe, propertySetSqe, readSqe, writeSqe, writeZeroesSqe, dsmSqe, dsmRanges, getLogPageSqe,
  identifySqe, abortSqe, setSqeCid, setSqeSgl, decodeCqe, encodeCqe, statusText, PROP, LID,
} from '../helpers/nvme-tcp-pdu.js';

const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test('crc32c matches the Castagnoli check value and continues across pieces', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);                 // RFC 3720 B.4: 32 bytes of zeros
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);           // and of ones
  const b = bytes(1000);
  assert.equal(crc32c(b.subarray(300), crc32c(b.subarray(0, 300))), crc32c(b));
});

function decodeAll(wire: Buffer, opts: ConstructorParameters<typeof PduDecoder>[0] = {}): Pdu[] {
  return new PduDecoder(opts).push(wire);
}

test('every PDU type encodes and decodes back, with and without digests and data alignment', () => {
  const sqe = setSqeCid(setSqeSgl(writeSqe(1, 5n, 2), 'IN_CAPSULE', 1024), 7);
  for (const [hdgst, ddgst, pda] of [[false, false, 0], [true, false, 0], [false, true, 3], [true, true, 31]] as const) {
    const o = { hdgst, ddgst, pda };
    const data = bytes(1024);
    const wire = Buffer.concat([
      encodeCapsuleCmd(sqe, data, o), encodeCapsuleCmd(sqe, null, o), encodeCapsuleResp(encodeCqe({ cid: 7, status: 0x80 }), o),
      encodeH2CData({ cccid: 7, ttag: 3, datao: 4096, data, last: true }, o), encodeC2HData({ cccid: 9, datao: 0, data, last: true, success: true }, o),
      encodeR2T({ cccid: 7, ttag: 3, r2to: 8192, r2tl: 65536 }, o),
    ]);
    const pdus = decodeAll(wire, { hdgst, ddgst });
    assert.deepEqual(pdus.map((p) => p.type), [PDU.CAPSULE_CMD, PDU.CAPSULE_CMD, PDU.CAPSULE_RESP, PDU.H2C_DATA, PDU.C2H_DATA, PDU.R2T]);
    const [cmd, bare, resp, h2c, c2h, r2t] = pdus;
    assert.ok(cmd.type === PDU.CAPSULE_CMD && cmd.sqe.equals(sqe) && cmd.data.equals(data));
    assert.equal(cmd.pdo % ((pda + 1) * 4), 0, 'data aligned to the receiver\'s PDA');
    assert.equal(cmd.pdo >= 72 + (hdgst ? 4 : 0), true);
    assert.ok(bare.type === PDU.CAPSULE_CMD && bare.data.length === 0 && bare.pdo === 0);
    assert.ok(resp.type === PDU.CAPSULE_RESP);
    assert.deepEqual(decodeCqe(resp.cqe), { dw0: 0, dw1: 0, sqhd: 0, sqid: 0, cid: 7, status: 0x80, sc: 0x80, sct: 0, more: false, dnr: false });
    assert.ok(h2c.type === PDU.H2C_DATA && h2c.ttag === 3 && h2c.datao === 4096 && h2c.last && h2c.data.equals(data));
    assert.ok(c2h.type === PDU.C2H_DATA && c2h.cccid === 9 && c2h.success && c2h.last && c2h.data.equals(data));
    assert.ok(r2t.type === PDU.R2T && r2t.r2to === 8192 && r2t.r2tl === 65536 && r2t.plen === 24 + (hdgst ? 4 : 0));
    assert.equal(!!(cmd.flags & PDU_FLAG.HDGSTF), hdgst);
    assert.equal(!!(cmd.flags & PDU_FLAG.DDGSTF), ddgst);
    assert.equal(bare.flags & PDU_FLAG.DDGSTF, 0, 'no data digest flag without data');
  }
});

test('the IC exchange and TermReqs are never digested, even with digests on', () => {
  const wire = Buffer.concat([
    encodeIcReq({ hpda: 2, hdgst: true, ddgst: true, maxr2t: 3 }), encodeIcResp({ cpda: 1, hdgst: true, maxh2cdata: 131072 }),
    encodeTermReq(PDU.C2H_TERM_REQ, FES.INVALID_HEADER_FIELD, 2, bytes(200), { hdgst: true, ddgst: true }),
  ]);
  const [req, resp, term] = decodeAll(wire, { hdgst: true, ddgst: true });
  assert.ok(req.type === PDU.IC_REQ && req.plen === 128 && req.hpda === 2 && req.hdgst && req.ddgst && req.maxr2t === 3);
  assert.ok(resp.type === PDU.IC_RESP && resp.cpda === 1 && resp.hdgst && !resp.ddgst && resp.maxh2cdata === 131072);
  assert.ok(term.type === PDU.C2H_TERM_REQ && term.fes === 1 && term.fei === 2);
  assert.equal(term.plen, 152, 'the offending PDU is cut to 128 bytes');
  assert.ok(term.data.equals(bytes(128)));
});

test('the decoder takes bytes in any split: one at a time, and at every cut of two PDUs', () => {
  const o = { hdgst: true, ddgst: true };
  const wire = Buffer.concat([encodeC2HData({ cccid: 1, datao: 0, data: bytes(300), last: false }, o), encodeCapsuleResp(encodeCqe({ cid: 1 }), o)]);
  const d = new PduDecoder(o);
  const seen: Pdu[] = [];
  for (const b of wire) seen.push(...d.push(Buffer.from([b])));
  assert.deepEqual(seen.map((p) => p.type), [PDU.C2H_DATA, PDU.CAPSULE_RESP]);
  assert.equal(d.pendingBytes, 0);
  for (let cut = 0; cut <= wire.length; cut++) {
    const e = new PduDecoder(o);
    const got = [...e.push(wire.subarray(0, cut)), ...e.push(wire.subarray(cut))];
    assert.equal(got.length, 2, `cut at ${cut}`);
    assert.ok(got[0].data.equals(bytes(300)));
  }
});

function refusal(wire: Buffer, opts: ConstructorParameters<typeof PduDecoder>[0] = {}): PduError {
  try {
    new PduDecoder(opts).push(wire);
  } catch (e) {
    assert.ok(e instanceof PduError, String(e));
    return e;
  }
  assert.fail('the decoder accepted a malformed PDU');
}

test('malformed PDUs are refused, each with the FES a target answers and a reason', () => {
  const cmd = (raw: object, o: object = {}) => encodeCapsuleCmd(writeSqe(1, 0, 1), bytes(512), { ...o, raw });
  const cases: [string, Buffer, object, number, RegExp][] = [
    ['unknown type', cmd({ type: 0x08 }), {}, FES.INVALID_HEADER_FIELD, /unknown PDU type 0x8/],
    ['wrong hlen', cmd({ hlen: 64 }), {}, FES.INVALID_HEADER_FIELD, /hlen 64, expected 72/],
    ['plen shorter than the header', cmd({ plen: 40 }), {}, FES.INVALID_HEADER_FIELD, /plen 40 is shorter/],
    ['plen over the limit', cmd({ plen: 1 << 24 }), {}, FES.LIMIT_EXCEEDED, /over the limit/],
    ['pdo inside the header', cmd({ pdo: 64 }), {}, FES.INVALID_HEADER_FIELD, /pdo 64 is outside/],
    ['pdo beyond plen', cmd({ pdo: 255, plen: 200 }), {}, FES.INVALID_HEADER_FIELD, /pdo 255 is outside/],
    ['bad header digest', cmd({ hdgst: 0x1234 }, { hdgst: true }), { hdgst: true }, FES.HEADER_DIGEST_ERROR, /header digest 0x1234/],
    ['bad data digest', cmd({ ddgst: 7 }, { ddgst: true }), { ddgst: true }, 0, /data digest 0x7/],
    ['digest flag without negotiation', cmd({}, { hdgst: true }), {}, FES.INVALID_HEADER_FIELD, /HDGSTF set but header digests are off/],
    ['data digest flag without negotiation', cmd({}, { ddgst: true }), {}, FES.INVALID_HEADER_FIELD, /DDGSTF set on a PDU with data, data digests off/],
    ['missing digest after negotiation', cmd({}), { hdgst: true }, FES.INVALID_HEADER_FIELD, /HDGSTF clear/],
    ['IC PDU with a wrong plen', encodeIcReq({}, { raw: { plen: 132, trailing: bytes(4) } }), {}, FES.INVALID_HEADER_FIELD, /IC PDU plen 132/],
    ['data on a PDU that has none', encodeR2T({ cccid: 1, ttag: 1, r2to: 0, r2tl: 4 }, { raw: { plen: 28, trailing: bytes(4) } }), {}, FES.INVALID_HEADER_FIELD, /carries no data/],
    ['datal unlike the data', encodeH2CData({ cccid: 1, ttag: 1, datao: 0, data: bytes(64), last: true, datal: 128 }), {}, FES.INVALID_HEADER_FIELD, /datal 128 but 64/],
    ['SUCCESS without LAST_PDU', encodeC2HData({ cccid: 1, datao: 0, data: bytes(8), last: false, success: true }), {}, FES.INVALID_HEADER_FIELD, /SUCCESS without LAST_PDU/],
    ['TermReq too long', encodeTermReq(PDU.H2C_TERM_REQ, 1, 0, bytes(8), { raw: { plen: 200, trailing: bytes(168) } }), {}, FES.INVALID_HEADER_FIELD, /TermReq plen 200/],
  ];
  for (const [name, wire, opts, fes, why] of cases) {
    const e = refusal(wire, opts);
    assert.equal(e.fes, fes, `${name}: ${e.message}`);
    assert.match(e.message, why, name);
  }
  assert.match(refusal(encodeCapsuleCmd(readSqe(1, 0, 1), null), { accept: HOST_RECEIVES }).message, /not one this side receives/);
  assert.equal(new PduDecoder({ accept: CONTROLLER_RECEIVES }).push(encodeCapsuleCmd(readSqe(1, 0, 1), null)).length, 1);
});

test('a bad plen is refused from the common header alone, and the decoder stays failed', () => {
  const d = new PduDecoder({ maxPlen: 4096 });
  const bad = encodeCapsuleCmd(readSqe(1, 0, 1), null, { raw: { plen: 0xffffffff } });
  assert.throws(() => d.push(bad.subarray(0, 8)), /over the limit 4096/);
  assert.throws(() => d.push(encodeCapsuleCmd(readSqe(1, 0, 1), null)), /over the limit 4096/);
});

test('SQEs carry their fields where NVMe and NVMe-oF put them', () => {
  const c = connectSqe({ qid: 2, queueEntries: 128, katoMs: 15000 });
  assert.deepEqual([c[0], c[1], c[4], c.readUInt16LE(42), c.readUInt16LE(44), c.readUInt32LE(48)], [0x7f, 0x40, 0x01, 2, 127, 15000]);
  const d = connectData({ hostId: bytes(16), cntlid: 0xffff, subnqn: 'nqn.2014-08.org.nvmexpress.discovery', hostnqn: 'nqn.host' });
  assert.equal(d.length, 1024);
  assert.equal(d.readUInt16LE(16), 0xffff);
  assert.equal(d.toString('latin1', 256, 256 + 36), 'nqn.2014-08.org.nvmexpress.discovery');
  assert.equal(d.toString('latin1', 512, 520), 'nqn.host');
  const g = propertyGetSqe(PROP.CAP, 8);
  assert.deepEqual([g[4], g[40], g.readUInt32LE(44)], [0x04, 1, 0]);
  const s = propertySetSqe(PROP.CC, 0x460001, 4);
  assert.deepEqual([s[4], s[40], s.readUInt32LE(44), s.readUInt32LE(48)], [0x00, 0, 0x14, 0x460001]);
  const r = setSqeSgl(setSqeCid(readSqe(1, 0x1_0000_0002n, 8, { fua: true }), 0x1234), 'TRANSPORT', 4096);
  assert.deepEqual([r[0], r.readUInt16LE(2), r.readUInt32LE(4), r.readUInt32LE(40), r.readUInt32LE(44), r.readUInt32LE(48)],
    [0x02, 0x1234, 1, 2, 1, 7 | (1 << 30)]);
  assert.deepEqual([r.readUInt32LE(32), r[39]], [4096, 0x5a]);
  assert.equal(setSqeSgl(writeSqe(1, 0, 1), 'IN_CAPSULE', 512)[39], 0x01);
  assert.equal(writeZeroesSqe(1, 0, 16, { deallocate: true }).readUInt32LE(48), 15 | (1 << 25));
  assert.deepEqual([dsmSqe(1, 2, { deallocate: true }).readUInt32LE(40), dsmSqe(1, 2, { deallocate: true }).readUInt32LE(44)], [1, 4]);
  const ranges = dsmRanges([{ slba: 8n, blocks: 4 }, { slba: 100, blocks: 1 }]);
  assert.deepEqual([ranges.readUInt32LE(4), ranges.readBigUInt64LE(8), ranges.readUInt32LE(20), ranges.readBigUInt64LE(24)], [4, 8n, 1, 100n]);
  const lp = getLogPageSqe(LID.DISCOVERY, 1 << 20, 4096, { rae: true });
  assert.deepEqual([lp.readUInt32LE(40), lp.readUInt32LE(44), lp.readUInt32LE(48)], [(0x70 | (1 << 15) | ((((1 << 18) - 1) & 0xffff) << 16)) >>> 0, 3, 4096]);
  assert.equal(identifySqe(1).readUInt32LE(40), 1);
  assert.equal(abortSqe(1, 9).readUInt32LE(40), 1 | (9 << 16));
  assert.throws(() => readSqe(1, 0, 0), /NLB is 1\.\.65536/);
  assert.throws(() => getLogPageSqe(1, 6), /whole dwords/);
});

test('a CQE decodes status, DNR and More; statusText names it', () => {
  const b = encodeCqe({ cid: 3, status: 0x184 | (1 << 14), dw0: 0xdeadbeef, sqhd: 5, sqid: 1 });
  const c = decodeCqe(b);
  assert.deepEqual([c.cid, c.sc, c.sct, c.dnr, c.more, c.dw0, c.sqhd, c.sqid], [3, 0x84, 1, true, false, 0xdeadbeef, 5, 1]);
  assert.equal(statusText(c.status), 'sct 1 sc 0x84 (connect: invalid host), DNR');
  assert.equal(statusText(0x80), 'sct 0 sc 0x80 (LBA out of range)');
});
