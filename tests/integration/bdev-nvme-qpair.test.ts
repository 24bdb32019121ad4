// The NVMe/TCP host qpair (assembly/nvme/host) against wstor's own target on loopback: the bring-up of a
// controller (Connect, CAP/VS, CC.EN, CSTS.RDY, Identify controller and namespaces), I/O qpairs on both
// reactors writing then reading back every byte (in-capsule and by R2T/H2CData, digests off and on,
// reads ending in C2HData SUCCESS or a CapsuleResp), every request called back exactly once.
import test from 'node:test';
import assert from 'node:assert/strict';
import { withTestEngine } from '../helpers/engine.js';
import { startTarget, stopTarget } from '../helpers/nvmf-tcp-target.js';
import { CSTAT, JSTAT, DGST_HEADER, DGST_DATA, startCtrlr, closeCtrlr, startJob, jobDone, stopJob } from '../helpers/nvme-host.js';

for (const c2hSuccess of [true, false]) {
  test(`nvme host qpair: bring-up, then I/O on both reactors read back byte for byte (c2h_success ${c2hSuccess})`, async () => {
    const target = await startTarget({ transport: { c2h_success: c2hSuccess, max_io_size: 524288, in_capsule_data_size: 8192 } });
    try {
      await withTestEngine(async (t) => {
        const c = await startCtrlr(t, target.port);
        assert.equal(c.stat(CSTAT.start), 0, 'the controller came up');
        assert.equal(c.stat(CSTAT.nsCount), 1, 'one active namespace');
        assert.equal(c.stat(CSTAT.blockBytes), 512);
        assert.equal(c.stat(CSTAT.blocks), 65536);
        assert.equal(c.stat(CSTAT.inCapsule), 8192, 'IOCCSZ gives the in-capsule size');
        assert.ok(c.stat(CSTAT.cntlid) > 0, 'a controller id');
        // 4 KiB writes go in the capsule; 256 KiB ones by R2T, each answered in MAXH2CDATA pieces.
        const small = [startJob(t, c, 0, { ioBytes: 4096, count: 64, qd: 16, seed: 1 }), startJob(t, c, 1, { ioBytes: 4096, count: 64, qd: 16, seed: 2 })];
        for (const j of small) await jobDone(j, 64);
        for (const j of small) {
          assert.equal(j.stat(JSTAT.errors), 0, `no errors (first: 0x${j.stat(JSTAT.firstError).toString(16)})`);
          assert.equal(j.stat(JSTAT.completed), 128);
          assert.equal(j.stat(JSTAT.mismatches), 0, 'every byte read back as written');
          assert.equal(j.stat(JSTAT.doubles), 0, 'each request called back once');
          await stopJob(t, j);
          assert.equal(j.stat(JSTAT.closed), 0, 'closed as asked');
        }
        const large = startJob(t, c, 1, { ioBytes: 262144, count: 16, qd: 4, seed: 3 });
        await jobDone(large, 16);
        assert.equal(large.stat(JSTAT.errors), 0, `no errors (first: 0x${large.stat(JSTAT.firstError).toString(16)})`);
        assert.equal(large.stat(JSTAT.mismatches), 0);
        assert.equal(large.stat(JSTAT.doubles), 0);
        await stopJob(t, large);
        await closeCtrlr(t, c);
        assert.equal(c.stat(CSTAT.close), 0);
      });
    } finally {
      await stopTarget(target);
    }
  });
}

test('nvme host qpair: header and data digests asked are agreed and carry every byte', async () => {
  const target = await startTarget({ transport: { max_io_size: 524288 } });
  try {
    await withTestEngine(async (t) => {
      const c = await startCtrlr(t, target.port, { digests: DGST_HEADER | DGST_DATA });
      assert.equal(c.stat(CSTAT.start), 0);
      const jobs = [startJob(t, c, 0, { ioBytes: 4096, count: 32, qd: 8 }), startJob(t, c, 1, { ioBytes: 131072 + 4096, count: 8, qd: 4 })];
      for (const j of jobs) await jobDone(j, j === jobs[0] ? 32 : 8);
      for (const j of jobs) {
        assert.equal(j.stat(JSTAT.digests), 3, 'both digests on');
        assert.equal(j.stat(JSTAT.errors), 0, `no errors (first: 0x${j.stat(JSTAT.firstError).toString(16)})`);
        assert.equal(j.stat(JSTAT.mismatches), 0);
        assert.equal(j.stat(JSTAT.doubles), 0);
        await stopJob(t, j);
      }
      await closeCtrlr(t, c);
    });
  } finally {
    await stopTarget(target);
  }
});
