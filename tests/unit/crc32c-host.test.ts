// CRC32C with the CPU's instruction (host/native/src/crc32c.c through host/crc-host.ts): the core hands
// long ranges to it and keeps short ones, and every answer equals the core's own loop, for any length,
// alignment and starting CRC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness } from '../helpers/core.js';
import { loadNative } from '../../host/native/index.js';
import { skipIfMissing } from '../helpers/skip.js';

const native = loadNative();
const HOST_CRC_MIN_BYTES = 512;        // assembly/runtime/crc32c.ts

test('the addon\'s crc32cMemory: the standard check value, -EFAULT past the memory\'s end', (t) => {
  if (skipIfMissing(t, !native?.crc32cHardware, 'the CPU has no CRC32C instruction (SSE4.2)')) return;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
  const view = new Uint8Array(memory.buffer);
  view.set(Buffer.from('123456789'), 100);
  assert.equal(native!.crc32cMemory(view, 100, 9, 0), 0xe3069283);
  assert.equal(native!.crc32cMemory(view, 65536 - 4, 8, 0), -14);
  assert.throws(() => native!.crc32cMemory([] as unknown as Uint8Array, 0, 1, 0), /must be a Uint8Array/);
});

test('the core\'s CRC32C goes to the host from 512 bytes on and equals its own loop everywhere', async (t) => {
  if (skipIfMissing(t, !native?.crc32cHardware, 'the CPU has no CRC32C instruction (SSE4.2)')) return;
  const hostCalls: number[] = [];
  const h = await newHarness({ onHostCrc: (_crc, _ptr, len) => hostCalls.push(len) });
  const soft = await newHarness({ softwareCrc: true });
  {
    const bytes = 20000;
    const data = Buffer.alloc(bytes);
    let x = 12345;
    for (let i = 0; i < bytes; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; data[i] = x >>> 24; }
    const at = h.scratch(bytes + 16), softAt = soft.scratch(bytes + 16);
    new Uint8Array(h.memory.buffer).set(data, at);
    new Uint8Array(soft.memory.buffer).set(data, softAt);
    for (const len of [0, 1, 7, 8, 63, 511, 512, 513, 4096, 4099, 8192 + 5, 19990]) {
      for (const skew of [0, 1, 3, 7]) {
        const seed = (len * 2654435761 + skew) >>> 0;
        const before = hostCalls.length;
        const got = h.core.h_crc32c(seed, at + skew, len) >>> 0;
        assert.equal(got, h.core.h_crc32c_loop(seed, at + skew, len) >>> 0, `len ${len} skew ${skew}`);
        assert.equal(got, soft.core.h_crc32c(seed, softAt + skew, len) >>> 0, `len ${len} skew ${skew}, no host CRC`);
        assert.equal(hostCalls.length - before, len >= HOST_CRC_MIN_BYTES ? 1 : 0, `len ${len}: host calls`);
      }
    }
    // Chained: the CRC of a whole equals the CRC continued over its two halves, across the threshold.
    const whole = h.core.h_crc32c(0, at, 5000) >>> 0;
    assert.equal(h.core.h_crc32c(h.core.h_crc32c(0, at, 300), at + 300, 4700) >>> 0, whole);
  }
});
