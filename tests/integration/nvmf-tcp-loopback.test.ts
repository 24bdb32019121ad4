// The NVMe/TCP transport over real loopback sockets: the core's poll groups accept, receive and send
// on their reactors' io_uring; a TypeScript initiator (tests/helpers/nvme-tcp-client.ts) drives it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NvmeTcpController } from '../helpers/nvme-tcp-client.js';
import { startTarget, stopTarget, qpairPeers, qopts, type Target } from '../helpers/nvmf-tcp-target.js';
import { readSqe, writeSqe, flushSqe } from '../helpers/nvme-tcp-sqe.js';

const CASES = [
  { name: 'malloc, digests off', digests: false },
  { name: 'malloc, digests on', digests: true },
  { name: 'a file bdev: its completions and the sockets\' share each reactor\'s ring', digests: false, file: true },
  { name: 'the addon\'s fallback (no kernel ring): nonblocking sockets, -EAGAIN retried inside the core', digests: true, fallback: true },
];
for (const { name, digests, file, fallback } of CASES) {
  test(`loopback: connect, enable, write and read back on two I/O queues (${name})`, async () => {
    const dir = file ? mkdtempSync(path.join(os.tmpdir(), 'wstor-nvmf-')) : '';
    if (file) writeFileSync(path.join(dir, 'ns.img'), Buffer.alloc(32 << 20));
    if (fallback) process.env.WSTOR_URING_FORCE_FALLBACK = '1';     // read by each reactor worker as it starts
    let t: Target;
    try {
      t = await startTarget({ file: file ? path.join(dir, 'ns.img') : undefined });
    } finally {
      delete process.env.WSTOR_URING_FORCE_FALLBACK;
    }
    try {
      const ctrl = await NvmeTcpController.connect(qopts(t.port, { hdgst: digests, ddgst: digests }));
      const queues = [await ctrl.ioQueue(1), await ctrl.ioQueue(2)];
      assert.deepEqual(qpairPeers(t).map((p) => p.addr), ['127.0.0.1', '127.0.0.1', '127.0.0.1'], 'each qpair knows its peer');
      const sizes = [1, 8, 64, 256];      // blocks: in-capsule, R2T, several C2HData PDUs
      const writes: Promise<unknown>[] = [];
      const expect = new Map<number, Buffer>();
      let lba = 0;
      for (let i = 0; i < 32; i++) {
        const blocks = sizes[i % sizes.length];
        const data = randomBytes(blocks * 512);
        expect.set(lba, data);
        writes.push(queues[i % 2].submit(writeSqe(1, lba, blocks), { write: data }).then((c) => assert.equal(c.cqe.status, 0, `write at ${lba}`)));
        lba += blocks;
      }
      await Promise.all(writes);
      const f = await queues[0].submit(flushSqe(1));
      assert.equal(f.cqe.status, 0);
      let i = 0;
      await Promise.all([...expect].map(([at, data]) => queues[i++ % 2].submit(readSqe(1, at, data.length / 512), { readBytes: data.length }).then((c) => {
        assert.equal(c.cqe.status, 0, `read at ${at}`);
        assert.ok(c.data.equals(data), `data at lba ${at}`);
      })));
      for (const q of queues) await q.close();
      await ctrl.close();
      const stats = t.transport.stats();
      assert.equal(stats.length, 2);
      assert.equal(stats.reduce((n, s) => n + (s.accepted_qpairs as number), 0), 3, 'three connections accepted over both groups');
    } finally {
      await stopTarget(t);
      if (file) rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('loopback: a host that goes away mid-write leaves the target serving others, every buffer back', async () => {
  const t = await startTarget();
  try {
    const ctrl = await NvmeTcpController.connect(qopts(t.port));
    const q = await ctrl.ioQueue(1);
    // Large writes through R2T, then the connection drops with them in flight.
    const pending = [0, 1, 2, 3].map((k) => q.submit(writeSqe(1, k * 256, 256), { write: randomBytes(256 * 512) }).catch(() => undefined));
    q.destroy();
    await Promise.all(pending);
    await ctrl.close();
    const again = await NvmeTcpController.connect(qopts(t.port));
    const q2 = await again.ioQueue(1);
    const data = randomBytes(4096);
    assert.equal((await q2.submit(writeSqe(1, 0, 8), { write: data })).cqe.status, 0);
    assert.ok((await q2.submit(readSqe(1, 0, 8), { readBytes: 4096 })).data.equals(data));
    await q2.close();
    await again.close();
    for (let i = 0; i < 100; i++) {
      const s = t.transport.stats();
      if (s.every((g) => g.current_qpairs === 0 && g.free_buffers === g.total_buffers)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const g of t.transport.stats()) {
      assert.equal(g.current_qpairs, 0);
      assert.equal(g.free_buffers, g.total_buffers, 'every data buffer back in its pool');
    }
  } finally {
    await stopTarget(t);
  }
});
