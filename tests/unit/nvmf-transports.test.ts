// host/nvmf-transports.ts, the registry of transport modules: a registration stands in for the one
// before it and puts it back, a withdrawal makes the type ENOTSUP, an undone registration that was
// replaced since leaves the newer one, and a type with no NVMe-oF number is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerNvmfTransport, nvmfTransportFactory, nvmfTransportRegistered, type NvmfTransportFactory } from '../../host/nvmf-transports.js';
import { WstorError } from '../../host/errors.js';

const factory = (): NvmfTransportFactory => async () => { throw new Error('not called'); };

test('register, stand in, withdraw and put back: the factory looked up follows each step', () => {
  const baseline = registerNvmfTransport('TCP', null);   // whatever the build registered, out of the way
  try {
    assert.throws(() => nvmfTransportFactory('TCP'), (e: WstorError) => e.code === 'ENOTSUP' && /TCP transport is not available/.test(e.message));
    const real = factory();
    const undoReal = registerNvmfTransport('tcp', real);
    assert.equal(nvmfTransportFactory('TCP'), real);
    const fake = factory();
    const undoFake = registerNvmfTransport('TCP', fake);
    assert.equal(nvmfTransportFactory('TCP'), fake);
    undoFake();
    assert.equal(nvmfTransportFactory('TCP'), real, 'the one before is back');
    const undoWithdraw = registerNvmfTransport('TCP', null);
    assert.equal(nvmfTransportRegistered('tcp'), false);
    undoWithdraw();
    assert.equal(nvmfTransportRegistered('TCP'), true);
    // An undo after a newer registration leaves the newer one.
    const newer = factory();
    const undoNewer = registerNvmfTransport('TCP', newer);
    undoReal();
    assert.equal(nvmfTransportFactory('TCP'), newer);
    // Undone in turn (newest first), the registry is as it was.
    undoNewer();
    assert.equal(nvmfTransportFactory('TCP'), real);
    undoReal();
    assert.equal(nvmfTransportRegistered('TCP'), false);
  } finally {
    baseline();
  }
});

test('a trtype without an NVMe-oF number is refused at registration and named at lookup', () => {
  assert.throws(() => registerNvmfTransport('VFIOUSER', factory()), (e: WstorError) => e.code === 'EINVAL' && /VFIOUSER has no NVMe-oF number/.test(e.message));
  assert.throws(() => nvmfTransportFactory('RDMA'), (e: WstorError) => e.code === 'ENOTSUP' && /RDMA is not supported \(wstor knows: TCP\)/.test(e.message));
});
