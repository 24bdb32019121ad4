// The addon's memcpy to and from the shared Wasm memory (host/native/src/copy.c), which the blob data
// path uses instead of V8's word-by-word copy of shared memory: bytes land where they should, ranges
// leaving the memory copy nothing, wrong argument types throw; and the data path with and without it
// moves the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { loadNative } from '../../host/native/index.js';
import { withBlob } from '../helpers/blob.js';

const addon = loadNative();
const { EFAULT } = os.constants.errno;

test('copyFromMemory and copyIntoMemory copy exactly the buffer\'s bytes at the offset, and nothing outside the memory', () => {
  assert.ok(addon, 'the native addon is built');
  const memory = new Uint8Array(new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true }).buffer);
  const source = new Uint8Array(1000).map((_, i) => (i * 7 + 3) & 0xff);
  assert.equal(addon.copyIntoMemory(memory, 5000, source), 0);
  assert.deepEqual(memory.subarray(5000, 6000), source);
  assert.equal(memory[4999], 0, 'nothing before');
  assert.equal(memory[6000], 0, 'nothing after');
  const target = new Uint8Array(1000);
  assert.equal(addon.copyFromMemory(memory, 5000, target), 0);
  assert.deepEqual(target, source);
  const end = memory.length;
  assert.equal(addon.copyIntoMemory(memory, end - 999, source), -EFAULT, 'one byte past the end');
  assert.equal(memory[end - 999], 0, 'nothing was copied');
  assert.equal(addon.copyFromMemory(memory, 0xffffffff, target), -EFAULT);
  assert.equal(addon.copyFromMemory(memory, end, new Uint8Array(0)), 0, 'an empty copy at the end');
  const einval = (e: NodeJS.ErrnoException) => e.code === 'EINVAL';
  assert.throws(() => addon.copyFromMemory(new Uint16Array(4) as unknown as Uint8Array, 0, target), einval);
  assert.throws(() => addon.copyFromMemory(memory, -1, target), einval);
  assert.throws(() => addon.copyIntoMemory(memory, 0, 'bytes' as unknown as Uint8Array), einval);
});

test('blob reads and writes move the same bytes with the addon\'s copy and without it', async () => {
  for (const withCopy of [true, false]) {
    await withBlob(async (blob, engine) => {
      const platform = engine.platform as { memoryCopy?: unknown };
      assert.equal(platform.memoryCopy !== undefined, true, 'Node with the addon has it');
      const staging = engine.blobstore.ioPath.staging as unknown as { copy: unknown };
      if (!withCopy) staging.copy = undefined;
      const data = new Uint8Array(3 * 4096).map((_, i) => (i * 13 + (withCopy ? 1 : 2)) & 0xff);
      await blob.writev(4096, [data.subarray(0, 100 * 41), data.subarray(100 * 41)]);
      assert.deepEqual(await blob.read(4096, 3 * 4096), data);
      const a = new Uint8Array(5000), b = new Uint8Array(3 * 4096 - 5000);
      await blob.readv(4096, [a, b]);
      assert.deepEqual(a, data.subarray(0, 5000));
      assert.deepEqual(b, data.subarray(5000));
    });
  }
});
