// The NVMe/TCP host qpair's way down: refusals named (no IP literal, connection refused, unknown subsystem,
// host not allowed), a controller that breaks the protocol (a completion for a CID not in flight, data
// for a command that reads none, a wrong header digest, silence, a close) ends the qpair with an
// H2CTermReq where one is due and a report naming the fault; a target that vanishes mid-I/O completes
// every request once as aborted (SQ deletion); a full command table queues requests instead of failing.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { withTestEngine, reportsMatching } from '../helpers/engine.js';
import { startTarget, stopTarget, SUBNQN } from '../helpers/nvmf-tcp-target.js';
import { CSTAT, JSTAT, DGST_HEADER, startCtrlr, closeCtrlr, startJob, jobDone, stopJob } from '../helpers/nvme-host.js';
import { PDU, PduDecoder, CONTROLLER_RECEIVES, encodeIcResp, encodeCapsuleResp, encodeC2HData, type Pdu } from '../helpers/nvme-tcp-pdu.js';
import { freePort } from '../helpers/free-port.js';
import { until } from '../helpers/rpc.js';

const EINVAL = -22, ECONNREFUSED = -111, ENOENT = -2, EPERM = -1, EPROTO = -71, ETIMEDOUT = -110, ECONNRESET = -104;
const ABORTED_SQ_DELETION = 0x08;

test('nvme host qpair: refusals are named: no IP literal, connection refused, unknown subsystem, host not allowed', async () => {
  const target = await startTarget();
  try {
    // A second subsystem that admits no host (allow_any_host false, no host added).
    const closed = 'nqn.2016-06.io.spdk:closed';
    const e = target.engine;
    const str = (s: string) => { const b = Buffer.from(`${s}\0`); const p = e.core.wstor_alloc(b.length) >>> 0; new Uint8Array(e.memory.buffer, p, b.length).set(b); return p; };
    const sub2 = await e.request('subsystem', (r) => e.core.nvmf_subsystem_create(r, str(closed), str('SN2'), str('closed'), 32, 0, 1, 0xffef));
    await e.request('sub listener', (r) => e.core.nvmf_subsystem_listener_add(r, sub2, target.listenerId));
    const gone = await freePort();
    await withTestEngine(async (t) => {
      const named = await startCtrlr(t, target.port, { addr: 'localhost' });
      assert.equal(named.stat(CSTAT.start), EINVAL, 'a host name is refused (no lookup on a reactor)');
      assert.equal((await reportsMatching(t.reports, /not an IP literal/)).length, 1, 'and the report says so');
      const refused = await startCtrlr(t, gone);
      assert.equal(refused.stat(CSTAT.start), ECONNREFUSED, 'nobody listening: ECONNREFUSED');
      const unknown = await startCtrlr(t, target.port, { subnqn: 'nqn.2016-06.io.spdk:nosuch' });
      assert.equal(unknown.stat(CSTAT.start), ENOENT, 'an unknown subsystem: ENOENT');
      assert.equal((await reportsMatching(t.reports, /no subsystem of that NQN/)).length, 1);
      const denied = await startCtrlr(t, target.port, { subnqn: closed });
      assert.equal(denied.stat(CSTAT.start), EPERM, 'a host the subsystem does not allow: EPERM');
      assert.equal((await reportsMatching(t.reports, /host NQN is not allowed/)).length, 1);
      for (const c of [named, refused, unknown, denied]) {
        await closeCtrlr(t, c);
        assert.equal(c.stat(CSTAT.close), 0, 'a failed controller closes once more, at once');
      }
    });
  } finally {
    await stopTarget(target);
  }
});

type Misbehaviour = 'wrong-cid' | 'c2h-for-connect' | 'bad-header-digest' | 'silent' | 'close';

/** A controller that does the IC exchange and then breaks the protocol at the Connect. */
async function hostileController(how: Misbehaviour): Promise<{ port: number; termReqs: { fes: number }[]; close(): void }> {
  const termReqs: { fes: number }[] = [];
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    const dec = new PduDecoder({ accept: CONTROLLER_RECEIVES });
    let hdgst = false;
    sock.on('data', (bytes) => {
      let pdus: Pdu[];
      try { pdus = dec.push(bytes); } catch { sock.destroy(); return; }
      for (const p of pdus) {
        if (p.type === PDU.IC_REQ) {
          if (how === 'silent') return;
          if (how === 'close') { sock.destroy(); return; }
          hdgst = p.hdgst;
          dec.setDigests(p.hdgst, false);
          sock.write(encodeIcResp({ maxh2cdata: 131072, hdgst: p.hdgst }));
        } else if (p.type === PDU.CAPSULE_CMD) {
          const cid = p.sqe.readUInt16LE(2);
          const cqe = Buffer.alloc(16);
          cqe.writeUInt16LE(how === 'wrong-cid' ? cid + 5 : cid, 12);
          if (how === 'c2h-for-connect') { sock.write(encodeC2HData({ cccid: cid, datao: 0, data: Buffer.alloc(16), last: true }, {})); continue; }
          const resp = encodeCapsuleResp(cqe, { hdgst });
          if (how === 'bad-header-digest') resp[resp.length - 1] ^= 0xff;
          sock.write(resp);
        } else if (p.type === PDU.H2C_TERM_REQ) {
          termReqs.push({ fes: p.fes });
        }
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, termReqs, close: () => server.close() };
}

const CASES: { how: Misbehaviour; res: number; report: RegExp; fes?: number; digests?: number }[] = [
  { how: 'wrong-cid', res: EPROTO, report: /command ID not in flight/, fes: 2 },
  { how: 'c2h-for-connect', res: EPROTO, report: /C2HData for a command that sends data/, fes: 2 },
  { how: 'bad-header-digest', res: EPROTO, report: /wrong header digest/, fes: 3, digests: DGST_HEADER },
  { how: 'silent', res: ETIMEDOUT, report: /did not answer the connect within connect_timeout/ },
  { how: 'close', res: ECONNRESET, report: /the controller closed the connection/ },
];

for (const c of CASES) {
  test(`nvme host qpair: a controller that breaks the protocol (${c.how}) ends the qpair, named`, async () => {
    const hostile = await hostileController(c.how);
    try {
      await withTestEngine(async (t) => {
        const ctrlr = await startCtrlr(t, hostile.port, { digests: c.digests ?? 0, timeoutMs: 500 });
        assert.equal(ctrlr.stat(CSTAT.start), c.res, `the bring-up fails with ${c.res}`);
        assert.equal((await reportsMatching(t.reports, c.report)).length, 1, `one report names it (${c.report})`);
        if (c.fes !== undefined) {
          await until(() => hostile.termReqs.length > 0, 'the H2CTermReq', 5000);
          assert.equal(hostile.termReqs[0].fes, c.fes, `H2CTermReq FES ${c.fes}`);
        }
        await closeCtrlr(t, ctrlr);
      });
    } finally {
      hostile.close();
    }
  });
}

test('nvme host qpair: a target that vanishes mid-I/O: every request completes once, aborted; a full table queues', async () => {
  const target = await startTarget();
  let stopped = false;
  try {
    await withTestEngine(async (t) => {
      const c = await startCtrlr(t, target.port);
      assert.equal(c.stat(CSTAT.start), 0);
      // 3 command slots (entries 4) under 16 requests at a time: the rest wait for a slot, none fails.
      const queued = startJob(t, c, 1, { ioBytes: 4096, count: 200, qd: 16, entries: 4 });
      await jobDone(queued, 200);
      assert.equal(queued.stat(JSTAT.errors), 0, `no errors (first 0x${queued.stat(JSTAT.firstError).toString(16)})`);
      assert.equal(queued.stat(JSTAT.mismatches), 0);
      assert.equal(queued.stat(JSTAT.doubles), 0);
      await stopJob(t, queued);

      const jobs = [0, 1].map((r) => startJob(t, c, r, { ioBytes: 65536, count: 100000, qd: 32 }));
      await until(() => jobs.every((j) => j.stat(JSTAT.completed) > 50), 'I/O under way on both reactors', 20_000);
      await stopTarget(target);
      stopped = true;
      for (const j of jobs) {
        await until(() => j.stat(JSTAT.closed) !== 1, 'the qpair is closed', 10_000);
        assert.ok(j.stat(JSTAT.closed) < 0, `closed with an error (${j.stat(JSTAT.closed)})`);
        assert.equal(j.stat(JSTAT.inFlight), 0, 'every request in flight was called back');
        assert.equal(j.stat(JSTAT.doubles), 0, 'and only once');
        assert.ok(j.stat(JSTAT.errors) >= 1, 'those in flight failed');
        assert.equal(j.stat(JSTAT.firstError), ABORTED_SQ_DELETION, 'as aborted (SQ deletion)');
        assert.equal(j.stat(JSTAT.mismatches), 0, 'no read returned wrong data');
      }
      await until(() => c.stat(CSTAT.close) !== 1 || c.stat(11) === 4, 'the admin qpair is gone too', 10_000);
      await closeCtrlr(t, c);
    });
  } finally {
    if (!stopped) await stopTarget(target);
  }
});
