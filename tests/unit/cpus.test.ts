// CPU plans (LESSONS 1): masks and lists parse strictly; CPUs outside the process's affinity are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCoreMask, parseCpuList, planCpus } from '../../host/cpus.js';

test('core masks and CPU lists', () => {
  assert.deepEqual(parseCoreMask('0x3'), [0, 1]);
  assert.deepEqual(parseCoreMask('5'), [0, 2]);
  assert.deepEqual(parseCoreMask('[0,2-3]'), [0, 2, 3]);
  assert.deepEqual(parseCpuList('3,1-2'), [1, 2, 3]);
  assert.throws(() => parseCoreMask('0x0'), /selects no CPU/);
  assert.throws(() => parseCoreMask('zz'), /bad core mask "zz"/);
  assert.throws(() => parseCpuList('2-1'), /range "2-1" is empty/);
  assert.throws(() => parseCpuList('a'), /"a" is not N or N-M/);
});

test('without a mask reactors keep the process affinity (no pinning)', () => {
  assert.deepEqual(planCpus([0, 1], 4, undefined), { reactors: 4, pins: null, allowed: [0, 1] });
  assert.equal(planCpus([2, 3], undefined, undefined).reactors, 2);
});

test('a mask chooses only within the process affinity', () => {
  assert.deepEqual(planCpus([0, 1, 2, 3], undefined, '0xa').pins, [1, 3]);
  assert.throws(() => planCpus([0, 1], undefined, '0x4'),
    /CPU 2 is outside this process's CPU affinity \(0,1\); choose CPUs within it, or widen the process's affinity \(taskset\) first/);
  assert.throws(() => planCpus([0, 1], 3, [0, 1]), /reactors \(3\) must match the number of CPUs chosen \(2\)/);
});
