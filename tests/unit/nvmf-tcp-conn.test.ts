// The NVMe/TCP connection state machine (assembly/nvme/tcp/conn*.ts, request.ts) in the deterministic
// harness over a hand-driven wire (tests/core/nvme-tcp-hooks.ts): the IC exchange, capsules with and
// without in-capsule data, R2T/H2CData, digests, bytes in any split, short sends, the queue's bounds,
// the buffer pool's wait list, and every fatal error answered by a TermReq and a close. The target
// core answers Invalid Opcode to every command until the controller model lands, which is enough to
// see a command reach it and its response come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, type Harness } from '../helpers/core.js';
import {
  PduDecoder, HOST_RECEIVES, PDU, FES, PDU_FLAG, encodeIcReq, encodeCapsuleCmd, encodeH2CData, encodeTermReq, encodePdu,
  sqe, setSqeCid, setSqeSgl, decodeCqe, identifySqe, writeSqe, readSqe, type Pdu, type PduOptions,
} from '../helpers/nvme-tcp-pdu.js';

// A command on a queue that has not done its Fabrics Connect: the controller answers Command Sequence Error.
const STATUS = {
  NOT_CONNECTED: 0x0c | 1 << 14, DATA_SGL_LENGTH_INVALID: 0x0f | 1 << 14, SGL_TYPE_INVALID: 0x11 | 1 << 14,
  INVALID_SGL_OFFSET: 0x16 | 1 << 14,
};
const CONN = { IC_WAIT: 0, READY: 1, TERMINATING: 2, CLOSING: 3 };
const STAT = { accepted: 0, closed: 1, termSent: 2, termReceived: 3, commands: 4, errors: 5, bufferWaits: 6 };
const UNIT = 8192, BUFFERS = 64;

interface Opts { depth?: number; inCapsule?: number; maxIo?: number; buffers?: number; c2hSuccess?: boolean }

class Host {
  readonly decoder = new PduDecoder({ accept: HOST_RECEIVES, maxPlen: 1 << 21 });
  pduOpts: PduOptions = {};
  constructor(readonly h: Harness, readonly t: number, readonly wire: number) {}
  get conn() { return this.h.core.htcp_conn(this.wire); }
  /** Bytes to the connection, `chunk` at a time (each fully taken before the next). */
  send(bytes: Uint8Array, chunk = bytes.length) {
    for (let at = 0; at < bytes.length; at += chunk) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + chunk));
      const p = this.h.scratch(piece.length);
      new Uint8Array(this.h.memory.buffer, p, piece.length).set(piece);
      this.h.core.htcp_feed(this.wire, p, piece.length);
      this.h.pollAll();
    }
  }
  /** Everything the connection sent (taking at most `max` bytes per sendv: short sends), decoded. */
  receive(max = 1 << 30): Pdu[] {
    const out: Pdu[] = [];
    for (let n = 0; n < 10_000; n++) {
      const pending = this.h.core.htcp_send_pending(this.wire);
      if (pending === 0) return out;
      const take = Math.min(pending, max);
      const p = this.h.scratch(take);
      assert.equal(this.h.core.htcp_take_sent(this.wire, p, take), take);
      const bytes = Buffer.from(new Uint8Array(this.h.memory.buffer, p, take));
      this.h.pollAll();
      out.push(...this.decoder.push(bytes));
    }
    throw new Error('the connection never stopped sending');
  }
  connect(digests: { hdgst?: boolean; ddgst?: boolean } = {}) {
    this.send(encodeIcReq({ hdgst: digests.hdgst, ddgst: digests.ddgst }));
    const [resp] = this.receive();
    assert.equal(resp.type, PDU.IC_RESP);
    this.decoder.setDigests(!!digests.hdgst, !!digests.ddgst);
    this.pduOpts = { hdgst: !!digests.hdgst, ddgst: !!digests.ddgst };
    return resp;
  }
  capsule(s: Buffer, data: Uint8Array | null = null, raw?: PduOptions['raw']) {
    this.send(encodeCapsuleCmd(s, data, { ...this.pduOpts, raw }));
  }
  state() { return this.h.core.htcp_conn_state(this.conn); }
  closed() { return this.h.core.htcp_wire_closed(this.wire) === 1; }
  stat(which: number) { return this.h.core.htcp_group_stat(this.t, which); }
}

async function setup(o: Opts = {}) {
  const h = await newHarness();
  const thread = h.core.h_thread_create(1, -1, 1024);
  const t = h.core.htcp_transport_new(thread, o.depth ?? 32, o.inCapsule ?? 8192, o.maxIo ?? 131072, UNIT,
    o.buffers ?? BUFFERS, o.c2hSuccess ? 1 : 0);
  h.pollAll();
  const host = await newConn(h, t);
  return { h, t, host };
}
async function newConn(h: Harness, t: number) {
  const wire = h.core.htcp_conn_new(t);
  h.pollAll();
  assert.notEqual(h.core.htcp_conn(wire), 0, 'the connection was made');
  return new Host(h, t, wire);
}

const pattern = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

function only<T extends Pdu['type']>(pdus: Pdu[], type: T): Extract<Pdu, { type: T }> {
  assert.equal(pdus.length, 1, `one PDU, got ${pdus.map((p) => p.type).join(',')}`);
  assert.equal(pdus[0].type, type);
  return pdus[0] as Extract<Pdu, { type: T }>;
}
function response(pdus: Pdu[]) { return decodeCqe(only(pdus, PDU.CAPSULE_RESP).cqe); }

/** The connection answered with a C2HTermReq carrying `fes` (and `fei`), then closed and freed everything. */
function assertTerminated(host: Host, fes: number, fei?: number) {
  const pdus = host.receive();
  const term = pdus.find((p) => p.type === PDU.C2H_TERM_REQ);
  assert.ok(term && term.type === PDU.C2H_TERM_REQ, `a C2HTermReq, got ${pdus.map((p) => p.type).join(',')}`);
  assert.equal(term.fes, fes, 'FES');
  if (fei !== undefined) assert.equal(term.fei, fei, 'FEI');
  host.h.pollAll();
  assert.ok(host.closed(), 'the connection closed after its TermReq');
  assert.equal(host.h.core.htcp_transport_conns(host.t), 0, 'and was freed');
  assert.equal(host.h.core.htcp_pool_free(host.t), BUFFERS, 'every data buffer is back');
  assert.ok(host.h.messages('warn').some((m) => m.includes('TermReq')), 'a report names the refusal');
}

test('ICReq gets an ICResp: PFV 0, CPDA 0, the digests asked for, MAXH2CDATA 128 KiB', async () => {
  const { host } = await setup();
  assert.equal(host.state(), CONN.IC_WAIT);
  const r = host.connect({ hdgst: true, ddgst: false });
  assert.ok(r.type === PDU.IC_RESP);
  assert.equal(r.pfv, 0);
  assert.equal(r.cpda, 0);
  assert.equal(r.hdgst, true);
  assert.equal(r.ddgst, false);
  assert.equal(r.maxh2cdata, 131072);
  assert.equal(host.state(), CONN.READY);
});

test('a command capsule reaches the core and its CapsuleResp comes back with its CID', async () => {
  const { h, t, host } = await setup();
  host.connect();
  host.capsule(setSqeSgl(setSqeCid(identifySqe(1), 0x1234), 'TRANSPORT', 4096));
  const cqe = response(host.receive());
  assert.equal(cqe.cid, 0x1234);
  assert.equal(cqe.status, STATUS.NOT_CONNECTED);
  assert.equal(h.core.htcp_conn_reqs_busy(host.conn), 0, 'the request is free again');
  assert.equal(h.core.htcp_pool_free(t), BUFFERS, 'its read buffer is back');
  assert.equal(host.stat(STAT.commands), 1);
});

test('bytes split anywhere (one at a time) and sends cut short still make whole PDUs both ways', async () => {
  const { host } = await setup();
  host.send(encodeIcReq({ hdgst: true, ddgst: true }), 1);
  const [ic] = host.receive(5);
  assert.equal(ic.type, PDU.IC_RESP);
  host.decoder.setDigests(true, true);
  host.pduOpts = { hdgst: true, ddgst: true };
  const wire = Buffer.concat([
    encodeCapsuleCmd(setSqeSgl(setSqeCid(writeSqe(1, 0, 1), 7), 'IN_CAPSULE', 4096), pattern(4096), host.pduOpts),
    encodeCapsuleCmd(setSqeCid(sqe(0x18), 8), null, host.pduOpts),
  ]);
  host.send(wire, 1);
  const pdus = host.receive(3);
  assert.deepEqual(pdus.map((p) => p.type === PDU.CAPSULE_RESP && decodeCqe(p.cqe).cid), [7, 8]);
  assert.ok(pdus.every((p) => (p.flags & PDU_FLAG.HDGSTF) !== 0), 'header digests on every response');
});

test('a write larger than the in-capsule size gets one R2T for its length; the response waits for all its H2CData', async () => {
  const { h, t, host } = await setup({ inCapsule: 4096 });
  host.connect({ hdgst: true, ddgst: true });
  host.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 16), 3), 'TRANSPORT', 65536));
  const r2t = only(host.receive(), PDU.R2T);
  assert.equal(r2t.cccid, 3);
  assert.equal(r2t.r2to, 0);
  assert.equal(r2t.r2tl, 65536);
  assert.equal(h.core.htcp_conn_units(host.conn), 8, 'the write holds 64 KiB of data buffers');
  const data = pattern(65536, 5);
  host.send(encodeH2CData({ cccid: 3, ttag: r2t.ttag, datao: 0, data: data.subarray(0, 32768), last: false }, host.pduOpts));
  assert.deepEqual(host.receive(), [], 'no response before the last data');
  host.send(encodeH2CData({ cccid: 3, ttag: r2t.ttag, datao: 32768, data: data.subarray(32768), last: true }, host.pduOpts));
  const cqe = response(host.receive());
  assert.equal(cqe.cid, 3);
  assert.equal(cqe.status, STATUS.NOT_CONNECTED);
  assert.equal(h.core.htcp_pool_free(t), BUFFERS);
});

test('bad SGLs get an error completion and the connection goes on', async () => {
  const { host } = await setup({ inCapsule: 4096, maxIo: 65536 });
  host.connect();
  const cases: [string, Buffer, Uint8Array | null, number][] = [
    ['length over max_io_size', setSqeSgl(readSqe(1, 0, 32), 'TRANSPORT', 131072), null, STATUS.DATA_SGL_LENGTH_INVALID],
    ['in-capsule length unlike the data', setSqeSgl(writeSqe(1, 0, 1), 'IN_CAPSULE', 4096), pattern(512), STATUS.DATA_SGL_LENGTH_INVALID],
    ['in-capsule data over in_capsule_data_size', setSqeSgl(writeSqe(1, 0, 2), 'IN_CAPSULE', 8192), null, STATUS.DATA_SGL_LENGTH_INVALID],
    ['in-capsule SGL on a read', setSqeSgl(readSqe(1, 0, 1), 'IN_CAPSULE', 4096), null, 0x11 | 1 << 14],
    ['data in a capsule whose SGL asks for R2T', setSqeSgl(writeSqe(1, 0, 1), 'TRANSPORT', 4096), pattern(4096), STATUS.DATA_SGL_LENGTH_INVALID],
  ];
  let cid = 10;
  for (const [what, s, data, status] of cases) {
    host.capsule(setSqeCid(s, cid), data);
    const cqe = response(host.receive());
    assert.equal(cqe.cid, cid, what);
    assert.equal(cqe.status, status, what);
    cid++;
  }
  const badType = setSqeCid(setSqeSgl(writeSqe(1, 0, 1), 'TRANSPORT', 4096), cid);
  badType[39] = 0x20;                                   // segment descriptor: not what NVMe/TCP allows
  host.capsule(badType);
  assert.equal(response(host.receive()).status, STATUS.SGL_TYPE_INVALID);
  const offset = setSqeCid(setSqeSgl(writeSqe(1, 0, 1), 'IN_CAPSULE', 512), cid + 1);
  offset.writeUInt32LE(16, 24);                         // an offset into the capsule's data other than 0
  host.capsule(offset, pattern(512));
  assert.equal(response(host.receive()).status, STATUS.INVALID_SGL_OFFSET);
  assert.equal(host.state(), CONN.READY);
  assert.equal(host.stat(STAT.errors), cases.length + 2);
});

test('with c2h_success a read that succeeds would end in C2HData SUCCESS; a failed read gets a CapsuleResp and no data', async () => {
  const { host } = await setup({ c2hSuccess: true });
  host.connect();
  host.capsule(setSqeSgl(setSqeCid(readSqe(1, 0, 1), 4), 'TRANSPORT', 4096));
  const cqe = response(host.receive());                // the core refuses it: no data goes out
  assert.equal(cqe.cid, 4);
  assert.equal(cqe.status, STATUS.NOT_CONNECTED);
});

test('commands beyond the queue wait while responses are still being sent, and are refused when none are', async () => {
  const { h, host } = await setup();
  host.connect();
  // Before Connect the queue has one entry; the second command waits for the first's response to leave.
  host.capsule(setSqeCid(sqe(0x18), 1));
  host.capsule(setSqeCid(sqe(0x18), 2));
  assert.equal(h.core.htcp_conn_reqs_busy(host.conn), 1, 'one entry busy, its response unsent');
  const pdus = host.receive();
  assert.deepEqual(pdus.map((p) => p.type === PDU.CAPSULE_RESP && decodeCqe(p.cqe).cid), [1, 2]);
  // Connected with 2 entries: two writes waiting for data hold both; a third command overruns the queue.
  h.core.htcp_qpair_connect(host.conn, 2);
  host.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 4), 5), 'TRANSPORT', 16384));
  host.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 4), 6), 'TRANSPORT', 16384));
  assert.equal(host.receive().filter((p) => p.type === PDU.R2T).length, 2);
  host.capsule(setSqeCid(sqe(0x18), 7));
  assertTerminated(host, FES.PDU_SEQUENCE_ERROR);
});

test('a connection holds at most its share of the group\'s buffers: more waits, and a close gives everything back', async () => {
  const { h, t, host } = await setup({ buffers: 32, depth: 8 });   // a quarter of 32 units, at least one 128 KiB I/O: 16
  host.connect();
  h.core.htcp_qpair_connect(host.conn, 8);
  host.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 32), 1), 'TRANSPORT', 131072));
  assert.equal(only(host.receive(), PDU.R2T).cccid, 1);
  host.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 32), 2), 'TRANSPORT', 131072));
  assert.deepEqual(host.receive(), [], 'the second write waits for buffers');
  assert.equal(host.stat(STAT.bufferWaits), 1);
  assert.equal(h.core.htcp_conn_units(host.conn), 16);
  // Another connection on the group is not held up by the first one's cap.
  const other = await newConn(h, t);
  other.connect();
  h.core.htcp_qpair_connect(other.conn, 8);
  other.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 32), 9), 'TRANSPORT', 131072));
  assert.equal(only(other.receive(), PDU.R2T).cccid, 9);
  // The first write's data arrives and it completes: its buffers go to the write that waited.
  host.send(encodeH2CData({ cccid: 1, ttag: 0, datao: 0, data: pattern(131072), last: true }));
  const pdus = host.receive();
  assert.deepEqual(pdus.map((p) => p.type), [PDU.CAPSULE_RESP, PDU.R2T]);
  assert.equal(pdus[1].type === PDU.R2T && pdus[1].cccid, 2, 'the waiting write got its R2T');
  h.core.htcp_peer_close(host.wire);
  h.pollAll();
  assert.ok(host.closed());
  assert.equal(h.core.htcp_transport_conns(t), 1);
  h.core.htcp_peer_close(other.wire);
  h.pollAll();
  assert.equal(h.core.htcp_pool_free(t), 32, 'every buffer is back');
  assert.equal(h.core.htcp_transport_conns(t), 0);
});

test('the host\'s TermReq ends the connection without an answer', async () => {
  const { host } = await setup();
  host.connect();
  host.send(encodeTermReq(PDU.H2C_TERM_REQ, FES.INVALID_HEADER_FIELD, 2, Buffer.alloc(24)));
  assert.deepEqual(host.receive(), []);
  host.h.pollAll();
  assert.ok(host.closed());
  assert.equal(host.stat(STAT.termReceived), 1);
});

// ---- hostile hosts: each malformed PDU gets a TermReq with the spec's FES (and FEI for a header field) ----

const hostile: [string, (host: Host) => void, number, number?][] = [
  ['a capsule before ICReq', (host) => host.send(encodeCapsuleCmd(sqe(0x18), null)), FES.PDU_SEQUENCE_ERROR],
  ['a second ICReq', (host) => { host.connect(); host.send(encodeIcReq({})); }, FES.PDU_SEQUENCE_ERROR],
  ['an unknown PDU type', (host) => { host.connect(); host.send(encodePdu(0x0b, 0, Buffer.alloc(16), null)); }, FES.INVALID_HEADER_FIELD, 0],
  ['a PDU type only controllers send', (host) => { host.connect(); host.send(encodePdu(PDU.R2T, 0, Buffer.alloc(16), null)); }, FES.INVALID_HEADER_FIELD, 0],
  ['a wrong hlen', (host) => { host.connect(); host.capsule(sqe(0x18), null, { hlen: 70 }); }, FES.INVALID_HEADER_FIELD, 2],
  ['a plen shorter than the header', (host) => { host.connect(); host.capsule(sqe(0x18), null, { plen: 40 }); }, FES.INVALID_HEADER_FIELD, 4],
  ['a wrong pdo', (host) => { host.connect(); host.capsule(setSqeSgl(writeSqe(1, 0, 1), 'IN_CAPSULE', 512), pattern(512), { pdo: 80 }); }, FES.INVALID_HEADER_FIELD, 3],
  ['an ICReq with PFV 1', (host) => host.send(encodeIcReq({ pfv: 1 })), FES.INVALID_HEADER_FIELD, 8],
  ['an ICReq with HPDA 32', (host) => host.send(encodeIcReq({ hpda: 32 })), FES.INVALID_HEADER_FIELD, 10],
  ['in-capsule data over the limit', (host) => { host.connect(); host.capsule(setSqeSgl(writeSqe(1, 0, 3), 'IN_CAPSULE', 12288), pattern(12288)); }, FES.LIMIT_EXCEEDED],
  ['a wrong header digest', (host) => { host.connect({ hdgst: true }); host.capsule(sqe(0x18), null, { hdgst: 0x12345678 }); }, FES.HEADER_DIGEST_ERROR],
  ['a wrong data digest', (host) => { host.connect({ ddgst: true }); host.capsule(setSqeSgl(writeSqe(1, 0, 1), 'IN_CAPSULE', 512), pattern(512), { ddgst: 1 }); }, FES.HEADER_DIGEST_ERROR],
  ['HDGSTF without header digests', (host) => { host.connect(); host.capsule(sqe(0x18), null, { flags: PDU_FLAG.HDGSTF, plen: 76 }); }, FES.INVALID_HEADER_FIELD, 1],
  ['H2CData for a transfer tag no R2T gave', (host) => {
    host.connect();
    host.send(encodeH2CData({ cccid: 1, ttag: 0, datao: 0, data: pattern(512), last: true }));
  }, FES.INVALID_HEADER_FIELD, 10],
  ...h2cCases(),
];

/** H2CData against an outstanding R2T (cid 5, 16 KiB): wrong CID, offset, beyond its length, datal unlike plen. */
function h2cCases(): [string, (host: Host) => void, number, number?][] {
  const withR2t = (host: Host) => {
    host.connect();
    host.h.core.htcp_qpair_connect(host.conn, 4);
    host.capsule(setSqeSgl(setSqeCid(writeSqe(1, 0, 4), 5), 'TRANSPORT', 16384));
    return only(host.receive(), PDU.R2T);
  };
  return [
    ['H2CData with the wrong CID', (host) => { const r = withR2t(host); host.send(encodeH2CData({ cccid: 6, ttag: r.ttag, datao: 0, data: pattern(512), last: false })); }, FES.INVALID_HEADER_FIELD, 8],
    ['H2CData out of order', (host) => { const r = withR2t(host); host.send(encodeH2CData({ cccid: 5, ttag: r.ttag, datao: 4096, data: pattern(512), last: false })); }, FES.DATA_OUT_OF_RANGE],
    ['H2CData beyond the R2T', (host) => { const r = withR2t(host); host.send(encodeH2CData({ cccid: 5, ttag: r.ttag, datao: 0, data: pattern(20480), last: true })); }, FES.DATA_OUT_OF_RANGE],
    ['H2CData whose datal is not its data', (host) => { const r = withR2t(host); host.send(encodeH2CData({ cccid: 5, ttag: r.ttag, datao: 0, data: pattern(512), datal: 1024, last: false })); }, FES.INVALID_HEADER_FIELD, 16],
  ];
}

for (const [what, act, fes, fei] of hostile) {
  test(`hostile host: ${what} gets a TermReq (FES ${fes}) and the connection closes`, async () => {
    const { host } = await setup();
    act(host);
    assertTerminated(host, fes, fei);
    assert.equal(host.stat(STAT.termSent), 1);
  });
}

test('a host that never takes the TermReq is closed after the linger bound', async () => {
  const { h, host } = await setup();
  h.core.h_clock_set(1_000_000);
  host.connect();
  host.send(encodePdu(0x0b, 0, Buffer.alloc(16), null));
  assert.equal(host.state(), CONN.TERMINATING);
  assert.ok(h.core.htcp_send_pending(host.wire) > 0, 'the TermReq waits to be taken');
  h.core.h_clock_set(1_300_000);
  h.pollAll();
  assert.ok(host.closed(), 'closed anyway');
});
