// NvmfApi's controllers and qpairs and the RPC results built on them, over real connections the test
// makes on the deterministic harness (tests/helpers/nvmf-target.ts) after NvmfApi made the subsystem,
// its host and its listener: each qpair joined with its host and listen address, in SPDK's fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targetEnv, qpair, connect, adminController, expectStatus, STATUS, SUBNQN, HOSTNQN } from '../helpers/nvmf-target.js';
import { harnessEngine } from '../helpers/harness-engine.js';
import { useFakeTcpTransport } from '../helpers/fake-nvmf-transport.js';
import { NvmfApi, pollGroupName } from '../../host/nvmf.js';
import { nvmfMethods } from '../../host/rpc/methods/nvmf.js';
import type { Target } from '../../host/serve/target.js';

const LISTEN = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: '4420' };
const HOSTID = '00112233-4455-6677-8899-aabbccddeeff';

function rpc(nvmf: NvmfApi, name: string, params: Record<string, unknown>): unknown {
  const m = nvmfMethods.find((x) => x.name === name)!;
  return m.run(params, { engine: { nvmf } } as unknown as Target);
}

test('get_controllers and get_qpairs over two live queues: host, listen and peer addresses, states, in SPDK\'s fields', async () => {
  const fake = useFakeTcpTransport();
  try {
    const e = await targetEnv();
    const nvmf = new NvmfApi(harnessEngine(e.h));
    await nvmf.createTransport('TCP');
    await nvmf.createSubsystem(SUBNQN);
    await nvmf.addHost(SUBNQN, HOSTNQN);
    await nvmf.addListener(SUBNQN, LISTEN);
    const [lid] = fake.created[0].listening.keys();
    const hostId = Buffer.from(HOSTID.replace(/-/g, ''), 'hex');
    const [, cntlid] = adminController(e, lid, { katoMs: 3000, hostId });
    const io = qpair(e, e.io2, lid, '192.168.1.7', 40001);
    expectStatus(connect(e, io, { qid: 1, cntlid, entries: 64, hostId }), STATUS.SUCCESS, 'I/O Connect');

    assert.deepEqual(rpc(nvmf, 'nvmf_subsystem_get_controllers', { nqn: SUBNQN }),
      [{ cntlid, cntrltype: 'io', hostnqn: HOSTNQN, hostid: HOSTID, num_io_qpairs: 2 }]);
    const [admin] = nvmf.qpairs(SUBNQN).filter((q) => q.qid === 0);
    const qpairs = rpc(nvmf, 'nvmf_subsystem_get_qpairs', { nqn: SUBNQN }) as { qid: number }[];
    assert.deepEqual(qpairs.sort((a, b) => a.qid - b.qid), [
      { cntlid, qid: 0, state: 'enabled', thread: pollGroupName(admin.reactor), hostnqn: HOSTNQN, listen_address: LISTEN,
        peer_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '10.0.2.15', trsvcid: '51000' } },
      { cntlid, qid: 1, state: 'enabled', thread: pollGroupName(admin.reactor), hostnqn: HOSTNQN, listen_address: LISTEN,
        peer_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '192.168.1.7', trsvcid: '40001' } },
    ]);

    // The listener goes: the connected host stays (as in SPDK), its qpairs without a listen address now.
    await nvmf.removeListener(SUBNQN, LISTEN);
    const after = rpc(nvmf, 'nvmf_subsystem_get_qpairs', { nqn: SUBNQN }) as Record<string, unknown>[];
    assert.equal(after.length, 2);
    assert.ok(after.every((q) => !('listen_address' in q) && q.hostnqn === HOSTNQN), JSON.stringify(after));
  } finally {
    fake.restore();
  }
});
