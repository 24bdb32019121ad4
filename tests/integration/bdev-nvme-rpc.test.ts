// bdev_nvme's RPCs on the method table: attach answers the bdev names, bdev_nvme_get_controllers has
// SPDK's shape, the attach call is in the bdev subsystem's saved config, detach removes everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../host/index.js';
import { Target } from '../../host/serve/target.js';
import { MethodTable } from '../../host/rpc/methods/index.js';
import { startTarget, stopTarget, SUBNQN, HOSTNQN } from '../helpers/nvmf-tcp-target.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

test('bdev_nvme RPCs: attach, get_controllers in SPDK\'s shape, save_config, detach', async () => {
  const nvmf = await startTarget();
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    const table = new MethodTable(new Target(engine, {}));
    const attach = { name: 'Nvme0', trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(nvmf.port), subnqn: SUBNQN, hostnqn: HOSTNQN };
    assert.deepEqual(await table.call('bdev_nvme_attach_controller', attach), ['Nvme0n1']);
    const ctrlrs = await table.call('bdev_nvme_get_controllers', {}) as Any[];
    assert.equal(ctrlrs.length, 1);
    assert.equal(ctrlrs[0].name, 'Nvme0');
    const c = ctrlrs[0].ctrlrs[0];
    assert.equal(c.state, 'enabled');
    assert.deepEqual(c.trid, { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(nvmf.port), subnqn: SUBNQN });
    assert.ok(c.cntlid > 0);
    assert.equal(c.host.nqn, HOSTNQN);
    const bdevs = await table.call('bdev_get_bdevs', { name: 'Nvme0n1' }) as Any[];
    assert.equal(bdevs[0].product_name, 'NVMe disk');
    const config = await table.call('framework_get_config', { name: 'bdev' }) as Any[];
    const saved = config.find((e: Any) => e.method === 'bdev_nvme_attach_controller');
    assert.ok(saved, 'the attach is saved');
    assert.equal(saved.params.name, 'Nvme0');
    assert.equal(saved.params.traddr, '127.0.0.1');
    await assert.rejects(table.call('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '10.0.0.1' }), /no path with traddr 10.0.0.1/);
    assert.equal(await table.call('bdev_nvme_detach_controller', { name: 'Nvme0' }), true);
    assert.deepEqual(await table.call('bdev_nvme_get_controllers', {}), []);
    const after = await table.call('framework_get_config', { name: 'bdev' }) as Any[];
    assert.ok(!after.some((e: Any) => e.method === 'bdev_nvme_attach_controller'), 'a detached controller is not saved');
  } finally {
    await engine.stop();
    await stopTarget(nvmf);
  }
});
