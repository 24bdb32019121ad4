// Engine buffers (host/engine-buffers.ts): buffers in the engine's memory that blob readv and write
// use in place, with no staging copy; freed buffers with I/O in flight go back to the heap only when
// that I/O ends; views that are not live engine buffers are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, WstorError, ENGINE_BUFFER_ALIGN } from '../../host/index.js';
import { withBlob } from '../helpers/blob.js';

const UNIT = 4096;
const code = (c: string) => (e: WstorError) => e.code === c;
const block = (n: number, size = UNIT) => new Uint8Array(size).map((_, i) => (n * 7 + i * 13) & 0xff);


/** Count the staging buffers the data path takes while `fn` runs. */
async function stagingTakes(engine: Engine, fn: () => Promise<void>): Promise<number> {
  const staging = engine.blobstore.ioPath.staging;
  const take = staging.take.bind(staging);
  let n = 0;
  staging.take = (length: number) => { n++; return take(length); };
  try { await fn(); } finally { staging.take = take; }
  return n;
}

test('a buffer from engine.buffers.alloc is zeroed, aligned, on the engine\'s memory, and blob I/O uses it in place', async () => {
  await withBlob(async (blob, engine) => {
    const buf = engine.buffers.alloc(4 * UNIT);
    assert.ok(buf.buffer instanceof SharedArrayBuffer);
    assert.equal(buf.byteOffset % ENGINE_BUFFER_ALIGN, 0);
    assert.deepEqual(buf, new Uint8Array(4 * UNIT));
    assert.equal(engine.buffers.allocatedBytes, 4 * UNIT);
    const taken = await stagingTakes(engine, async () => {
      for (let n = 0; n < 64; n++) {
        buf.set(block(n), 0);
        await blob.write(n * UNIT, buf.subarray(0, UNIT));
      }
      for (let n = 0; n < 64; n++) {
        const view: Uint8Array = buf.subarray(UNIT, 2 * UNIT);
        await blob.readv(n * UNIT, [view]);
        assert.deepEqual(view, block(n));
      }
      await blob.write(100 * UNIT, buf);                      // 4 units at once, in place
      await blob.readv(8 * UNIT, [buf]);
      for (let u = 0; u < 4; u++) assert.deepEqual(buf.subarray(u * UNIT, (u + 1) * UNIT), block(8 + u));
    });
    assert.equal(taken, 0, 'no staging buffer was used');
    assert.deepEqual(await blob.read(100 * UNIT, UNIT), block(63), 'what was written from the buffer is on the blob');
    engine.buffers.free(buf);
    assert.equal(engine.buffers.allocatedBytes, 0);
  });
});

test('several buffers, engine buffers among them, go through staging and read back right', async () => {
  await withBlob(async (blob, engine) => {
    const a = engine.buffers.alloc(UNIT), b = new Uint8Array(UNIT);
    a.set(block(1)); b.set(block(2));
    await blob.writev(0, [a, b]);
    const c = engine.buffers.alloc(UNIT), d = new Uint8Array(UNIT);
    await blob.readv(0, [d, c]);
    assert.deepEqual(d, block(1));
    assert.deepEqual(c, block(2));
    engine.buffers.free(a); engine.buffers.free(c);
  });
});

test('a buffer freed while a read into it is in flight goes back to the heap only after the read', async () => {
  await withBlob(async (blob, engine) => {
    await blob.write(0, block(9));
    const buf = engine.buffers.alloc(UNIT);
    const reading = blob.readv(0, [buf]);                     // held 20 ms by the delay bdev
    engine.buffers.free(buf);
    const others = Array.from({ length: 8 }, () => engine.buffers.alloc(UNIT));
    for (const o of others) assert.notEqual(o.byteOffset, buf.byteOffset, 'the freed buffer\'s memory was not handed out again');
    await reading;
    assert.deepEqual(buf, block(9), 'the read landed in the buffer, which nothing else was using');
    await assert.rejects(blob.readv(0, [buf]), code('EINVAL'), 'a freed buffer takes no new I/O');
    for (const o of others) engine.buffers.free(o);
  }, { readDelayUs: 20_000 });
});

test('engine buffers refuse bad sizes, double frees and views outside every live buffer', async () => {
  await withBlob(async (blob, engine) => {
    assert.throws(() => engine.buffers.alloc(0), code('EINVAL'));
    assert.throws(() => engine.buffers.alloc(1.5), code('EINVAL'));
    assert.throws(() => engine.buffers.alloc(512 << 20), code('ENOMEM'));
    const buf = engine.buffers.alloc(2 * UNIT);
    assert.throws(() => engine.buffers.free(buf.subarray(UNIT)), code('EINVAL'), 'free takes the buffer, not a view inside it');
    assert.throws(() => engine.buffers.free(new Uint8Array(UNIT)), code('EINVAL'));
    const whole = new Uint8Array(buf.buffer);
    const past = whole.subarray(buf.byteOffset + UNIT, buf.byteOffset + 3 * UNIT);
    await assert.rejects(blob.readv(0, [past]), code('EINVAL'), 'a view running past the buffer');
    await assert.rejects(blob.write(0, whole.subarray(0, UNIT)), code('EINVAL'), 'the core\'s own memory');
    engine.buffers.free(buf);
    assert.throws(() => engine.buffers.free(buf), code('EINVAL'), 'freed twice');
    await assert.rejects(blob.write(0, buf.subarray(0, UNIT)), code('EINVAL'), 'a freed buffer');
    assert.deepEqual(await blob.read(0, UNIT), new Uint8Array(UNIT), 'nothing refused reached the blob');
  });
});
