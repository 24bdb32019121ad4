// host/nvmf.ts (NvmfApi) on a real engine with the fake TCP transport (tests/helpers/fake-nvmf-transport.ts):
// the transport seam, subsystems, namespaces, hosts, shared listeners and referrals added and removed,
// every refusal by name with nothing changed, and controllers/qpairs through the core's dump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../host/index.js';
import { WstorError } from '../../host/errors.js';
import { DISCOVERY_NQN, registerNvmfTransport } from '../../host/nvmf.js';
import { useFakeTcpTransport, type FakeTransports } from '../helpers/fake-nvmf-transport.js';

const NQN = 'nqn.2026-12.io.wstor:api1';
const NQN2 = 'nqn.2026-12.io.wstor:api2';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0c3f6a2e-2d1b-4c3d-8e4f-5a6b7c8d9e01';
const at = (trsvcid: string, traddr = '127.0.0.1') => ({ trtype: 'TCP', traddr, trsvcid });
const full = (trsvcid: string, traddr = '127.0.0.1') => ({ trtype: 'TCP', adrfam: 'IPv4', traddr, trsvcid });

/** A rejection with WstorError `code` whose message matches `message`. */
const refused = (code: string, message: RegExp) => (err: WstorError) => {
  assert.equal(err.code, code, `${err.message}`);
  assert.match(err.message, message);
  return true;
};

async function withEngine(body: (engine: Engine, fake: FakeTransports) => Promise<void>, transport = true): Promise<void> {
  const fake = useFakeTcpTransport();
  const withdrawn = transport ? () => undefined : registerNvmfTransport('TCP', null);
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    await body(engine, fake);
  } finally {
    await engine.stop();
    withdrawn();
    fake.restore();
  }
}

test('without a registered TCP module, nvmf_create_transport is ENOTSUP naming the transport; an unknown type is named too', async () => {
  await withEngine(async (engine) => {
    await assert.rejects(engine.nvmf.createTransport('tcp'), refused('ENOTSUP', /NVMe-oF TCP transport is not available/));
    await assert.rejects(engine.nvmf.createTransport('RDMA'), refused('ENOTSUP', /transport type RDMA is not supported \(wstor knows: TCP\)/));
    assert.deepEqual(engine.nvmf.transports(), []);
    assert.throws(() => registerNvmfTransport('FC', null), refused('EINVAL', /FC has no NVMe-oF number/));
  }, false);
});

test('the registered factory makes the TCP transport once, with its options filled in; a second is EEXIST', async () => {
  await withEngine(async (engine, fake) => {
    // Two at once: the second sees the first (they run in turn), and the factory runs once.
    const results = await Promise.allSettled([engine.nvmf.createTransport('TCP', { max_queue_depth: 64, io_unit_size: 0 }), engine.nvmf.createTransport('TCP')]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected']);
    assert.equal(fake.created.length, 1);
    const [t] = engine.nvmf.transports();
    assert.equal(t.trtype, 'TCP');
    assert.equal(t.options.max_queue_depth, 64);
    assert.equal(t.options.io_unit_size, 131072, 'a 0 means the default');
    await assert.rejects(engine.nvmf.createTransport('TCP'), refused('EEXIST', /TCP transport already exists/));
    assert.throws(() => engine.nvmf.transports('RDMA'), refused('ENODEV', /no RDMA transport/));
  });
});

test('subsystems: created with defaults, refused by name for a bad or taken NQN, bad fields, the limit; deleted', async () => {
  await withEngine(async (engine) => {
    const nvmf = engine.nvmf;
    await nvmf.createSubsystem(NQN, { serialNumber: 'WSTOR1', allowAnyHost: true });
    const [s] = nvmf.subsystems(NQN);
    assert.deepEqual(
      [s.subtype, s.serialNumber, s.modelNumber, s.maxNamespaces, s.allowAnyHost, s.minCntlid, s.maxCntlid],
      ['NVMe', 'WSTOR1', 'wstor bdev Controller', 32, true, 1, 0xffef]);
    assert.deepEqual(nvmf.subsystems().map((x) => x.nqn), [DISCOVERY_NQN, NQN]);
    await assert.rejects(nvmf.createSubsystem('iqn.2026-12.io.wstor:x'), refused('EINVAL', /is not an NQN/));
    await assert.rejects(nvmf.createSubsystem(`nqn.2026-12.io.wstor:${'x'.repeat(220)}`), refused('EINVAL', /at most 223/));
    await assert.rejects(nvmf.createSubsystem(NQN), refused('EEXIST', /subsystem .*api1 already exists/));
    await assert.rejects(nvmf.createSubsystem(DISCOVERY_NQN), refused('EEXIST', /is the discovery subsystem/));
    await assert.rejects(nvmf.createSubsystem(NQN2, { serialNumber: 'S'.repeat(21) }), refused('EINVAL', /serial_number .* at most 20/));
    await assert.rejects(nvmf.createSubsystem(NQN2, { modelNumber: 'mödel' }), refused('EINVAL', /model_number .* printable ASCII/));
    await assert.rejects(nvmf.createSubsystem(NQN2, { minCntlid: 10, maxCntlid: 5 }), refused('EINVAL', /min_cntlid 10 and max_cntlid 5/));
    assert.throws(() => nvmf.setMaxSubsystems(3), refused('EPERM', /before the first subsystem/));
    await nvmf.deleteSubsystem(NQN);
    await assert.rejects(nvmf.deleteSubsystem(NQN), refused('ENODEV', /no subsystem .*api1/));
    nvmf.setMaxSubsystems(2);
    await nvmf.createSubsystem(NQN);
    await assert.rejects(nvmf.createSubsystem(NQN2), refused('ENOSPC', /has its 2 subsystems \(with discovery\)/));
    assert.deepEqual(nvmf.subsystems().map((x) => x.nqn), [DISCOVERY_NQN, NQN], 'nothing half-made');
  });
});

test('namespaces: the lowest free nsid, a chosen one, ids kept; refusals name the bdev, nsid or subsystem', async () => {
  await withEngine(async (engine) => {
    const nvmf = engine.nvmf;
    engine.bdev.createMalloc('m0', { blockCount: 256 });
    engine.bdev.createMalloc('m1', { blockCount: 256 });
    await nvmf.createSubsystem(NQN, { maxNamespaces: 4 });
    assert.equal(await nvmf.addNamespace(NQN, { bdev: 'm0' }), 1);
    assert.equal(await nvmf.addNamespace(NQN, { bdev: 'm1', nsid: 3, uuid: '7d8e1c2a-0000-4000-8000-000000000003', eui64: '0011223344556677' }), 3);
    assert.deepEqual(nvmf.subsystems(NQN)[0].namespaces.map((n) => [n.nsid, n.bdev, n.uuid, n.eui64]),
      [[1, 'm0', undefined, undefined], [3, 'm1', '7d8e1c2a-0000-4000-8000-000000000003', '0011223344556677']]);
    await assert.rejects(nvmf.addNamespace(NQN, { bdev: 'nope' }), refused('ENODEV', /no bdev named nope/));
    await assert.rejects(nvmf.addNamespace(NQN, { bdev: 'm0', nsid: 3 }), refused('EEXIST', /already has namespace 3/));
    await assert.rejects(nvmf.addNamespace(NQN, { bdev: 'm0', nsid: 5 }), refused('EINVAL', /nsid 5 must be from 1 to max_namespaces \(4\)/));
    await assert.rejects(nvmf.addNamespace(NQN, { bdev: 'm0', nguid: 'xyz' }), refused('EINVAL', /nguid "xyz" must be 32 hexadecimal digits/));
    await assert.rejects(nvmf.addNamespace(NQN2, { bdev: 'm0' }), refused('ENODEV', /no subsystem .*api2/));
    await assert.rejects(nvmf.removeNamespace(NQN, 2), refused('ENOENT', /has no namespace 2/));
    await nvmf.removeNamespace(NQN, 1);
    assert.equal(await nvmf.addNamespace(NQN, { bdev: 'm0' }), 1, 'the freed nsid is the lowest free one again');
  });
});

test('hosts and allow_any_host: added, removed, refused for a bad NQN, a duplicate, one not listed, the discovery subsystem', async () => {
  await withEngine(async (engine) => {
    const nvmf = engine.nvmf;
    await nvmf.createSubsystem(NQN);
    await nvmf.addHost(NQN, HOST);
    assert.deepEqual(nvmf.subsystems(NQN)[0].hosts, [HOST]);
    await assert.rejects(nvmf.addHost(NQN, HOST), refused('EEXIST', /already allowed/));
    await assert.rejects(nvmf.addHost(NQN, 'host-1'), refused('EINVAL', /host NQN "host-1" is not an NQN/));
    await assert.rejects(nvmf.addHost(DISCOVERY_NQN, HOST), refused('EINVAL', /takes no host list/));
    await assert.rejects(nvmf.removeHost(NQN, 'nqn.2014-08.org.example:other'), refused('ENOENT', /is not on .*list/));
    await nvmf.removeHost(NQN, HOST);
    assert.deepEqual(nvmf.subsystems(NQN)[0].hosts, []);
    await nvmf.addHost(NQN, HOST);
    await nvmf.allowAnyHost(NQN, true);
    assert.equal(nvmf.subsystems(NQN)[0].allowAnyHost, true);
    await assert.rejects(nvmf.allowAnyHost(DISCOVERY_NQN, false), refused('EINVAL', /always lets any host in/));
  });
});

test('listeners: one socket per address shared by subsystems, closed by its last user; refusals name the address', async () => {
  await withEngine(async (engine, fake) => {
    const nvmf = engine.nvmf;
    await nvmf.createSubsystem(NQN);
    await nvmf.createSubsystem(NQN2);
    await assert.rejects(nvmf.addListener(NQN, at('4420')), refused('ENODEV', /no TCP transport serves 127\.0\.0\.1:4420: create it first/));
    await nvmf.createTransport('TCP');
    const [t] = fake.created;
    // Two subsystems on one new address at once: one socket, both listed.
    await Promise.all([nvmf.addListener(NQN, at('4420')), nvmf.addListener(NQN2, at('4420'))]);
    await nvmf.addListener(DISCOVERY_NQN, at('4420'));
    assert.equal(t.listening.size, 1);
    assert.deepEqual(nvmf.subsystems(NQN)[0].listeners, [full('4420')]);
    await assert.rejects(nvmf.addListener(NQN, { ...at('4420'), adrfam: 'ipv4' }), refused('EEXIST', /already listens on 127\.0\.0\.1:4420/));
    await assert.rejects(nvmf.addListener(NQN, { trtype: 'RDMA', traddr: '127.0.0.1' }), refused('ENOTSUP', /trtype RDMA is not supported/));
    await assert.rejects(nvmf.addListener(NQN, at('4420', '300.1.1.1')), refused('EINVAL', /"300\.1\.1\.1" is not an IPv4 address/));
    await assert.rejects(nvmf.addListener(NQN, at('70000')), refused('EINVAL', /trsvcid "70000" must be a TCP port/));
    await assert.rejects(nvmf.addListener(NQN, { ...at('4421'), adrfam: 'IB' }), refused('ENOTSUP', /adrfam IB is not supported/));
    await nvmf.removeListener(NQN, at('4420'));
    assert.equal(t.listening.size, 1, 'the others still listen there');
    await assert.rejects(nvmf.removeListener(NQN, at('4420')), refused('ENOENT', /does not listen on 127\.0\.0\.1:4420/));
    await nvmf.deleteSubsystem(NQN2);
    assert.equal(t.listening.size, 1, 'the discovery subsystem still listens there');
    await nvmf.removeListener(DISCOVERY_NQN, at('4420'));
    assert.equal(t.listening.size, 0, 'the last user closed it');
    assert.deepEqual(nvmf.subsystems(DISCOVERY_NQN)[0].listeners, []);
  });
});

test('a listen that fails leaves no listener behind: the same address works once the port is free', async () => {
  await withEngine(async (engine, fake) => {
    const nvmf = engine.nvmf;
    await nvmf.createTransport('TCP');
    await nvmf.createSubsystem(NQN);
    fake.takenPorts.add('4430');
    await assert.rejects(nvmf.addListener(NQN, at('4430')), refused('EADDRINUSE', /127\.0\.0\.1:4430/));
    assert.deepEqual(nvmf.subsystems(NQN)[0].listeners, []);
    fake.takenPorts.delete('4430');
    await nvmf.addListener(NQN, at('4430'));
    assert.deepEqual([...fake.created[0].listening.values()], [full('4430')]);
  });
});

test('referrals: added, listed, removed (the subnqn checked when given); refusals name the address', async () => {
  await withEngine(async (engine) => {
    const nvmf = engine.nvmf;
    await nvmf.addReferral(at('8009', '10.0.0.9'));
    await nvmf.addReferral(at('4420', '10.0.0.10'), NQN);
    assert.deepEqual(nvmf.referrals(), [{ addr: full('8009', '10.0.0.9'), subnqn: DISCOVERY_NQN }, { addr: full('4420', '10.0.0.10'), subnqn: NQN }]);
    await assert.rejects(nvmf.addReferral(at('8009', '10.0.0.9'), NQN), refused('EEXIST', /referral to 10\.0\.0\.9:8009 already exists/));
    await assert.rejects(nvmf.addReferral(at('8009', '10.0.0.11'), 'bad'), refused('EINVAL', /subnqn "bad" is not an NQN/));
    await assert.rejects(nvmf.removeReferral(at('8009', '10.0.0.10')), refused('ENOENT', /no referral to 10\.0\.0\.10:8009/));
    await assert.rejects(nvmf.removeReferral(at('4420', '10.0.0.10'), NQN2), refused('ENOENT', /is for .*api1, not .*api2/));
    await nvmf.removeReferral(at('4420', '10.0.0.10'), NQN);
    await nvmf.removeReferral(at('8009', '10.0.0.9'));
    assert.deepEqual(nvmf.referrals(), []);
    // The core forgot them too: it takes the same addresses again.
    await nvmf.addReferral(at('8009', '10.0.0.9'));
    assert.equal(nvmf.referrals().length, 1);
  });
});

test('controllers and qpairs come from the core\'s dump: none yet for a subsystem or the discovery one; unknown NQN named', async () => {
  await withEngine(async (engine) => {
    const nvmf = engine.nvmf;
    await nvmf.createSubsystem(NQN);
    assert.deepEqual(nvmf.controllers(NQN), []);
    assert.deepEqual(nvmf.qpairs(NQN), []);
    assert.deepEqual(nvmf.controllers(DISCOVERY_NQN), []);
    assert.throws(() => nvmf.controllers(NQN2), refused('ENODEV', /no subsystem .*api2/));
  });
});

test('deleteAll (Engine.stop) deletes subsystems, closes listeners and destroys the transport', async () => {
  const fake = useFakeTcpTransport();
  const engine = await Engine.start({ reactors: 1, memoryBytes: 64 << 20, logLevel: 'fatal' });
  try {
    await engine.nvmf.createTransport('TCP');
    await engine.nvmf.createSubsystem(NQN);
    await engine.nvmf.addListener(NQN, at('4440'));
    await engine.nvmf.addListener(DISCOVERY_NQN, at('4441'));
  } finally {
    await engine.stop();
    fake.restore();
  }
  const [t] = fake.created;
  assert.equal(t.listening.size, 0);
  assert.equal(t.destroyed, true);
});
