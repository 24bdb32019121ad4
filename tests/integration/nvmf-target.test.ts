// The NVMe-oF target through its Node API and SPDK's RPC methods, driven over real loopback TCP by the
// TypeScript initiator (tests/helpers/nvme-tcp-client.ts): a controller enabled and identified, reads
// and writes with data in the capsule and through R2T, the discovery log, hosts refused and allowed,
// get_controllers / get_qpairs, a subsystem deleted under a connected host, and save_config loading back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Engine } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable } from '../../host/rpc/methods/index.js';
import { parseConfig, replayConfig, saveConfig } from '../../host/serve/config.js';
import { NvmeTcpController, NvmeTcpQueue, QueueError, type QueueOptions } from '../helpers/nvme-tcp-client.js';
import { readSqe, writeSqe, flushSqe, identifySqe, getLogPageSqe, CNS, LID } from '../helpers/nvme-tcp-pdu.js';
import { freePort } from '../helpers/free-port.js';

const NQN = 'nqn.2026-12.io.wstor:int1';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:0c3f6a2e-2d1b-4c3d-8e4f-5a6b7c8d9e01';
const DISCOVERY = 'nqn.2014-08.org.nvmexpress.discovery';


async function target(): Promise<{ engine: Engine; table: MethodTable; port: number; opts: QueueOptions }> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal' });
  const table = new MethodTable(new Target(engine, {}));
  const port = await freePort();
  await table.call('bdev_malloc_create', { name: 'm0', num_blocks: 8192, block_size: 4096 });
  await table.call('nvmf_create_transport', { trtype: 'TCP' });
  await table.call('nvmf_create_subsystem', { nqn: NQN, serial_number: 'WSTOR-INT-1', allow_any_host: false });
  await table.call('nvmf_subsystem_add_host', { nqn: NQN, host: HOSTNQN });
  await table.call('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'm0' } });
  const listen = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(port) };
  await table.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: listen });
  await table.call('nvmf_subsystem_add_listener', { nqn: DISCOVERY, listen_address: listen });
  return { engine, table, port, opts: { host: '127.0.0.1', port, subnqn: NQN, hostnqn: HOSTNQN } };
}

const pattern = (n: number, seed: number) => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff));

test('a host enables a controller, identifies it and its namespace, and reads back what it wrote (in-capsule and R2T)', async () => {
  const { engine, opts } = await target();
  try {
    const ctrl = await NvmeTcpController.connect(opts);
    assert.equal(ctrl.identify.subarray(4, 24).toString('latin1').trimEnd(), 'WSTOR-INT-1', 'serial number');
    assert.equal(ctrl.identify.subarray(768, 1024).toString('latin1').replace(/\0+$/, ''), NQN, 'SUBNQN');
    const ns = await ctrl.admin.submit(identifySqe(CNS.NAMESPACE, 1), { readBytes: 4096 });
    assert.equal(ns.cqe.status, 0);
    assert.equal(ns.data.readBigUInt64LE(0), 8192n, 'NSZE in blocks');
    assert.equal(ns.data[128 + 2], 12, 'LBAF0: 4 KiB blocks');
    const io = await ctrl.ioQueue(1);
    for (const [blocks, seed] of [[1, 1], [32, 2]] as const) {         // 4 KiB fits the capsule; 128 KiB goes through R2T
      const data = pattern(blocks * 4096, seed);
      assert.equal((await io.submit(writeSqe(1, 100, blocks), { write: data })).cqe.status, 0, `write of ${blocks} blocks`);
      const back = await io.submit(readSqe(1, 100, blocks), { readBytes: data.length });
      assert.equal(back.cqe.status, 0);
      assert.ok(back.data.equals(data), `${blocks} blocks read back`);
    }
    assert.equal((await io.submit(flushSqe(1))).cqe.status, 0, 'flush');
    const past = await io.submit(readSqe(1, 8191, 2), { readBytes: 8192 });
    assert.equal(past.cqe.sc, 0x80, 'LBA out of range');
    const badNs = await io.submit(readSqe(7, 0, 1), { readBytes: 4096 });
    assert.equal(badNs.cqe.sc, 0x0b, 'invalid namespace');
    await io.close();
    await ctrl.close();
  } finally {
    await engine.stop();
  }
});

test('the discovery log lists the subsystem and its listener; a host not on the list is refused; get_controllers and get_qpairs show a connection', async () => {
  const { engine, table, port, opts } = await target();
  try {
    const disc = await NvmeTcpController.connect({ ...opts, subnqn: DISCOVERY });
    const head = await disc.admin.submit(getLogPageSqe(LID.DISCOVERY, 1024), { readBytes: 1024 });
    assert.equal(head.cqe.status, 0);
    const entries = Number(head.data.readBigUInt64LE(8));
    assert.ok(entries >= 1, `NUMREC ${entries}`);
    const log = await disc.admin.submit(getLogPageSqe(LID.DISCOVERY, 1024 * (1 + entries)), { readBytes: 1024 * (1 + entries) });
    const recs = Array.from({ length: entries }, (_, i) => log.data.subarray(1024 * (i + 1), 1024 * (i + 2)));
    const ours = recs.find((r) => r.subarray(256, 512).toString('latin1').replace(/\0+$/, '') === NQN);
    assert.ok(ours, 'the subsystem is listed');
    assert.equal(ours[0], 3, 'TRTYPE TCP');
    assert.equal(ours.subarray(32, 64).toString('latin1').trim().replace(/\0+$/, ''), String(port), 'TRSVCID');
    assert.equal(ours.subarray(512, 768).toString('latin1').trim().replace(/\0+$/, ''), '127.0.0.1', 'TRADDR');
    await disc.close();

    await assert.rejects(NvmeTcpController.connect({ ...opts, hostnqn: 'nqn.2014-08.org.example:stranger' }), QueueError, 'an unknown host is refused');
    await assert.rejects(NvmeTcpController.connect({ ...opts, subnqn: 'nqn.2026-12.io.wstor:nobody' }), QueueError, 'an unknown subsystem is refused');

    const ctrl = await NvmeTcpController.connect(opts);
    const io = await ctrl.ioQueue(1);
    const ctrls = await table.call('nvmf_subsystem_get_controllers', { nqn: NQN }) as { cntlid: number; hostnqn: string }[];
    assert.deepEqual(ctrls.map((c) => [c.cntlid, c.hostnqn]), [[ctrl.cntlid, HOSTNQN]]);
    const qpairs = await table.call('nvmf_subsystem_get_qpairs', { nqn: NQN }) as { qid: number; cntlid: number }[];
    assert.deepEqual(qpairs.map((q) => q.qid).sort(), [0, 1]);
    await io.close();
    await ctrl.close();
  } finally {
    await engine.stop();
  }
});

test('a subsystem deleted under a connected host drops its connections; its commands end once, and the target keeps serving', async () => {
  const { engine, table, opts } = await target();
  try {
    const ctrl = await NvmeTcpController.connect(opts);
    const io = await ctrl.ioQueue(1);
    const reads = Array.from({ length: 32 }, (_, i) => io.submit(readSqe(1, i * 8, 8), { readBytes: 32768 }).then(() => 'ok', () => 'failed'));
    await table.call('nvmf_delete_subsystem', { nqn: NQN });
    const outcomes = await Promise.all(reads);
    assert.equal(outcomes.length, 32, 'every read ended once');
    await assert.rejects(io.submit(readSqe(1, 0, 1), { readBytes: 4096 }), QueueError, 'the connection is gone');
    assert.deepEqual(await table.call('nvmf_get_subsystems', {}).then((s) => (s as { nqn: string }[]).map((x) => x.nqn)), [DISCOVERY]);
    await ctrl.close().catch(() => undefined);
  } finally {
    await engine.stop();
  }
});

test('save_config writes the transport, subsystem, host, namespace and listeners; a fresh engine loads it back and serves', async () => {
  const { engine, table } = await target();
  let saved = '';
  try {
    saved = JSON.stringify(await saveConfig(['bdev', 'nvmf'], (name) => table.call('framework_get_config', { name })));
  } finally {
    await engine.stop();
  }
  const again = await Engine.start({ reactors: 2, memoryBytes: 256 << 20, logLevel: 'fatal' });
  try {
    const t2 = new MethodTable(new Target(again, {}));
    await replayConfig(parseConfig(saved, 'saved.json'), 'saved.json', ['bdev', 'nvmf'], (m, p) => t2.call(m, p), () => undefined);
    const subs = await t2.call('nvmf_get_subsystems', {}) as { nqn: string; hosts: { nqn: string }[]; namespaces: { bdev_name: string }[]; listen_addresses: { trsvcid: string }[] }[];
    const s = subs.find((x) => x.nqn === NQN)!;
    assert.deepEqual(s.hosts, [{ nqn: HOSTNQN }]);
    assert.deepEqual(s.namespaces.map((n) => n.bdev_name), ['m0']);
    const port = Number(s.listen_addresses[0].trsvcid);
    const ctrl = await NvmeTcpController.connect({ host: '127.0.0.1', port, subnqn: NQN, hostnqn: HOSTNQN });
    await ctrl.close();
  } finally {
    await again.stop();
  }
});

test('nvmf RPCs refuse bad input by name and change nothing', async () => {
  const { engine, table } = await target();
  try {
    const refuse = (method: string, params: Record<string, unknown>, match: RegExp) => assert.rejects(table.call(method, params), match);
    await refuse('nvmf_create_subsystem', { nqn: 'not-an-nqn' }, /not an NQN/);
    await refuse('nvmf_create_subsystem', { nqn: NQN }, /already exists/);
    await refuse('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'nope' } }, /nope/);
    await refuse('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'm0', nsid: 1 } }, /already has namespace 1/);
    await refuse('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { trtype: 'RDMA', traddr: '127.0.0.1', trsvcid: '4420' } }, /RDMA is not supported/);
    await refuse('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { trtype: 'TCP', traddr: '999.1.1.1', trsvcid: '4420' } }, /not an IPv4 address/);
    await refuse('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: '70000' } }, /from 1 to 65535/);
    await refuse('nvmf_create_transport', { trtype: 'TCP' }, /already exists/);
    await refuse('nvmf_create_subsystem', { nqn: 'nqn.2026-12.io.wstor:x', ana_reporting: true }, /ana_reporting/);
    const subs = await table.call('nvmf_get_subsystems', {}) as { nqn: string }[];
    assert.deepEqual(subs.map((s) => s.nqn).sort(), [NQN, DISCOVERY].sort(), 'nothing was created');
  } finally {
    await engine.stop();
  }
});

test('a listener on a port already taken is refused naming the address, and the subsystem keeps its others', async () => {
  const { engine, table, port } = await target();
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as net.AddressInfo).port;
  try {
    await assert.rejects(table.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(taken) } }),
      new RegExp(`127\\.0\\.0\\.1.*${taken}`));
    const s = (await table.call('nvmf_get_subsystems', { nqn: NQN }) as { listen_addresses: { trsvcid: string }[] }[])[0];
    assert.deepEqual(s.listen_addresses.map((a) => a.trsvcid), [String(port)]);
    const q = await NvmeTcpQueue.connect({ host: '127.0.0.1', port, subnqn: NQN, hostnqn: HOSTNQN });
    await q.close();
  } finally {
    busy.close();
    await engine.stop();
  }
});
