// Hostile and slow initiators against the NVMe/TCP target over real sockets: each bad connection gets a
// C2HTermReq naming what was wrong and is closed; nothing leaks; other hosts keep being served; a host
// that stops reading stalls only itself.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { NvmeTcpController } from '../helpers/nvme-tcp-client.js';
import { startTarget, stopTarget, qopts, type Target } from '../helpers/nvmf-tcp-target.js';
import { PDU, FES, PduDecoder, HOST_RECEIVES, encodeIcReq, encodeCapsuleCmd, encodePdu, type Pdu } from '../helpers/nvme-tcp-pdu.js';
import { readSqe, writeSqe } from '../helpers/nvme-tcp-sqe.js';

/** Send `bytes` on a fresh connection; the PDUs the target sent until it closed (within 5 s). */
async function sendAndCollect(port: number, chunks: Buffer[]): Promise<Pdu[]> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const dec = new PduDecoder({ accept: HOST_RECEIVES });
  const got: Pdu[] = [];
  sock.on('data', (b) => { for (const p of dec.push(b)) { got.push(p); if (p.type === PDU.IC_RESP) dec.setDigests(p.hdgst, p.ddgst); } });
  sock.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  for (const c of chunks) sock.write(c);
  const timer = setTimeout(() => sock.destroy(new Error('the target kept the connection open')), 5000);
  await closed;
  clearTimeout(timer);
  return got;
}

function termReq(pdus: Pdu[]): { fes: number; fei: number } {
  const t = pdus.find((p) => p.type === PDU.C2H_TERM_REQ);
  assert.ok(t, `a C2HTermReq among ${JSON.stringify(pdus.map((p) => p.type))}`);
  return t as { fes: number; fei: number };
}

async function settled(t: Target): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (t.transport.stats().every((g) => g.current_qpairs === 0 && g.free_buffers === g.total_buffers)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`connections or buffers left: ${JSON.stringify(t.transport.stats())}`);
}

const IC = encodeIcReq({ hdgst: false, ddgst: false, maxr2t: 0 });
const IC_HDGST = encodeIcReq({ hdgst: true, ddgst: false, maxr2t: 0 });

test('hostile initiators over real sockets: a TermReq each, connections closed, nothing leaked, a good host served after', async () => {
  const t = await startTarget();
  try {
    const unknownType = Buffer.from(IC); unknownType[0] = 0x7f;
    const badHlen = Buffer.from(IC); badHlen[2] = 64;
    const capsuleFirst = encodeCapsuleCmd(readSqe(1, 0, 1), null);
    const badPfv = encodeIcReq({ pfv: 1 });
    const hugePlen = Buffer.from(encodeCapsuleCmd(readSqe(1, 0, 1), null)); hugePlen.writeUInt32LE(0x7fffffff, 4);
    const badDigest = Buffer.from(encodeCapsuleCmd(readSqe(1, 0, 1), null, { hdgst: true })); badDigest[badDigest.length - 1] ^= 0xff;
    const cases: { name: string; chunks: Buffer[]; fes: number }[] = [
      { name: 'an unknown PDU type first', chunks: [unknownType], fes: FES.INVALID_HEADER_FIELD },
      { name: 'an ICReq with a wrong HLEN', chunks: [badHlen], fes: FES.INVALID_HEADER_FIELD },
      { name: 'a command capsule before the ICReq', chunks: [capsuleFirst], fes: FES.PDU_SEQUENCE_ERROR },
      { name: 'an ICReq of an unknown PFV', chunks: [badPfv], fes: FES.INVALID_HEADER_FIELD },
      { name: 'a capsule with a PLEN past any limit', chunks: [IC, hugePlen], fes: FES.INVALID_HEADER_FIELD },
      { name: 'a capsule with a wrong header digest', chunks: [IC_HDGST, badDigest], fes: FES.HEADER_DIGEST_ERROR },
    ];
    for (const c of cases) {
      const tr = termReq(await sendAndCollect(t.port, c.chunks));
      assert.equal(tr.fes, c.fes, `${c.name}: FES`);
    }
    // Garbage of every length, many times over: the target closes each and keeps nothing.
    for (let i = 0; i < 40; i++) await sendAndCollect(t.port, [randomBytes(1 + (i * 37) % 300)]).catch(() => []);
    // A host that says nothing at all after the ICReq and hangs up, and one that half-sends a PDU.
    await sendAndCollect(t.port, [IC, encodePdu(PDU.CAPSULE_CMD, 0, Buffer.alloc(64), null).subarray(0, 30)]).catch(() => []);
    await settled(t);
    const ctrl = await NvmeTcpController.connect(qopts(t.port));
    const q = await ctrl.ioQueue(1);
    const data = randomBytes(8192);
    assert.equal((await q.submit(writeSqe(1, 8, 16), { write: data })).cqe.status, 0);
    assert.ok((await q.submit(readSqe(1, 8, 16), { readBytes: 8192 })).data.equals(data));
    await q.close();
    await ctrl.close();
    await settled(t);
  } finally {
    await stopTarget(t);
  }
});

test('a host that stops reading stalls only its own connection; it gets every byte once it reads again', async () => {
  const t = await startTarget();
  try {
    const fast = await NvmeTcpController.connect(qopts(t.port));
    const fastQueues = [await fast.ioQueue(1), await fast.ioQueue(2)];      // one on each poll group
    const slow = await NvmeTcpController.connect(qopts(t.port));
    const slowQueues = [await slow.ioQueue(1, 64), await slow.ioQueue(2, 64)];
    const pattern = randomBytes(256 * 512);
    assert.equal((await fastQueues[0].submit(writeSqe(1, 0, 256), { write: pattern })).cqe.status, 0);
    // The slow host's socket stops being read: its reads fill the kernel's buffers and then the target's.
    for (const q of slowQueues) (q as unknown as { sock: net.Socket }).sock.pause();
    const slowReads = slowQueues.flatMap((q) => Array.from({ length: 60 }, () =>
      q.submit(readSqe(1, 0, 256), { readBytes: pattern.length })));
    await new Promise((r) => setTimeout(r, 300));
    // Meanwhile the other host's I/O on both groups goes through, briskly.
    const started = Date.now();
    for (let i = 0; i < 40; i++) {
      const c = await fastQueues[i % 2].submit(readSqe(1, 0, 256), { readBytes: pattern.length });
      assert.ok(c.data.equals(pattern));
    }
    assert.ok(Date.now() - started < 5000, `the fast host's 40 reads took ${Date.now() - started} ms`);
    for (const q of slowQueues) (q as unknown as { sock: net.Socket }).sock.resume();
    for (const c of await Promise.all(slowReads)) {
      assert.equal(c.cqe.status, 0);
      assert.ok(c.data.equals(pattern));
    }
    for (const q of [...fastQueues, ...slowQueues]) await q.close();
    await fast.close();
    await slow.close();
    await settled(t);
  } finally {
    await stopTarget(t);
  }
});
