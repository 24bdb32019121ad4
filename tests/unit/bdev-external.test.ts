// The bdev layer's seam for buffers outside the Wasm memory (assembly/bdev/extiov.ts): a read or write
// whose vector names guest regions (mapped by the addon, host/native/src/guestmem.c) moves the right
// bytes both when the module copies them itself through the host (malloc) and when the layer bounces
// them (a module that cannot take them); ranges outside a region, forged entries and a region removed
// under a request fail the request, and a write never puts bytes the guest did not give on the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { env, client, OP, W, type Env } from '../helpers/bdev-env.js';
import { loadNative } from '../../host/native/index.js';

const native = loadNative()!;
const E = os.constants.errno;
const BLOCK = 4096, BLOCKS = 64;
const GiB = 2 ** 30;

/** A guest region of `bytes` (a sealed memfd, mapped by the addon): its handle. */
function region(e: Env, bytes: number): number {
  const guard = e.h.scratch(4);
  const fd = native.memfdCreate('wstor-test-ext', bytes);
  const handle = native.guestRegionMap(e.h.memory, guard, 1, fd, 0, bytes);
  native.closeFd(fd);
  assert.ok(handle > 0, `guestRegionMap: ${handle}`);
  return handle;
}

/** An external vector in the harness's memory: {u32 handle, u32 len, u64 offset} each. */
function vector(e: Env, entries: { handle: number; offset: number; len: number }[]): number {
  const at = e.h.scratch(16 * entries.length);
  const v = new DataView(e.h.memory.buffer);
  entries.forEach((x, i) => {
    v.setUint32(at + 16 * i, x.handle, true);
    v.setUint32(at + 16 * i + 4, x.len, true);
    v.setBigUint64(at + 16 * i + 8, BigInt(x.offset), true);
  });
  return at;
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

function put(e: Env, handle: number, offset: number, data: Uint8Array): void {
  const at = e.h.scratch(data.length);
  new Uint8Array(e.h.memory.buffer, at, data.length).set(data);
  assert.equal(native.guestWrite(new Uint8Array(e.h.memory.buffer), handle, offset, at, data.length), 0);
}

function get(e: Env, handle: number, offset: number, len: number): Uint8Array {
  const at = e.h.scratch(len);
  assert.equal(native.guestRead(new Uint8Array(e.h.memory.buffer), handle, offset, at, len), 0);
  return new Uint8Array(e.h.memory.buffer, at, len).slice();
}

async function device(bounced: boolean) {
  const e = await env();
  const id = e.h.core.hb_malloc_create(BLOCK, BLOCKS);
  e.h.core.hb_takes_external(id, bounced ? 0 : 1);
  const c = client(e, id);
  const disk = () => new Uint8Array(e.h.memory.buffer, e.h.core.hb_malloc_data(id), BLOCK * BLOCKS);
  /** Send an op to the I/O thread without polling it: nothing of it has run yet. */
  const post = (op: number, f: Partial<Record<keyof typeof W, number>>) => {
    e.h.setU32(c.ctx, op, W.op);
    for (const [k, v] of Object.entries(f)) e.h.setU32(c.ctx, v!, W[k as keyof typeof W]);
    e.h.core.hb_send_op(e.thread, c.ctx);
  };
  return { e, c, disk, post };
}

for (const bounced of [false, true]) {
  const how = bounced ? 'bounced by the layer' : 'copied by the module through the host';
  test(`${how}: a write and a read move exactly the guest's bytes, across regions and past 4 GiB into one`, async () => {
    const { e, c, disk } = await device(bounced);
    const a = region(e, 6 * GiB), b = region(e, 1 << 20);
    const parts = [
      { handle: a, offset: 5 * GiB + 512, len: 4096 },     // past the 32-bit range, not page-aligned
      { handle: b, offset: 8192, len: 2048 },
      { handle: a, offset: 100, len: 2048 },
    ];
    parts.forEach((p, i) => put(e, p.handle, p.offset, pattern(p.len, i + 1)));
    assert.equal(c.run(OP.writeExt, { buf: vector(e, parts), flag: 3, off: 2 * BLOCK, len: 2 * BLOCK }), 0);
    assert.ok(c.lastOk(), e.h.messages('error').join('; '));
    assert.deepEqual(disk().slice(2 * BLOCK, 4 * BLOCK), Uint8Array.from([...pattern(4096, 1), ...pattern(2048, 2), ...pattern(2048, 3)]));

    const back = [{ handle: b, offset: 65536, len: 4096 }, { handle: a, offset: 6 * GiB - 4096, len: 4096 }];
    assert.equal(c.run(OP.readExt, { buf: vector(e, back), flag: 2, off: 2 * BLOCK, len: 2 * BLOCK }), 0);
    assert.ok(c.lastOk());
    assert.deepEqual(get(e, b, 65536, 4096), disk().slice(2 * BLOCK, 3 * BLOCK));
    assert.deepEqual(get(e, a, 6 * GiB - 4096, 4096), disk().slice(3 * BLOCK, 4 * BLOCK));
    assert.deepEqual(get(e, b, 65536 + 4096, 16), new Uint8Array(16), 'nothing written past the entry');
    native.guestRegionUnmap(a);
    native.guestRegionUnmap(b);
  });

  test(`${how}: ranges outside a region fail the request; a refused write leaves the disk alone`, async () => {
    const { e, c, disk } = await device(bounced);
    const a = region(e, 1 << 20);
    const before = disk().slice();
    const outside = [{ handle: a, offset: (1 << 20) - 2048, len: 4096 }];
    const rc = c.run(OP.writeExt, { buf: vector(e, outside), flag: 1, off: 0, len: BLOCK });
    if (bounced) assert.equal(rc, -E.EFAULT, 'the layer could not copy the data in: refused at submit');
    else { assert.equal(rc, 0); assert.ok(!c.lastOk(), 'the module could not copy it: the write failed'); }
    assert.deepEqual(disk(), before, 'no byte reached the disk');
    assert.equal(c.run(OP.readExt, { buf: vector(e, outside), flag: 1, off: 0, len: BLOCK }), 0);
    assert.ok(!c.lastOk(), 'a read into a range past the region fails');
    const forged = [{ handle: a + (1 << 12), offset: 0, len: 4096 }];
    assert.equal(c.run(OP.readExt, { buf: vector(e, forged), flag: 1, off: 0, len: BLOCK }), 0);
    assert.ok(!c.lastOk(), 'a handle naming no region fails');
    assert.equal(c.run(OP.readExt, { buf: vector(e, [{ handle: 0, offset: 0, len: 4096 }]), flag: 1, off: 0, len: BLOCK }), -E.EINVAL,
      'handle 0 is no region');
    assert.equal(c.run(OP.readExt, { buf: vector(e, [{ handle: a, offset: 0, len: 0 }, { handle: a, offset: 0, len: 4096 }]), flag: 2, off: 0, len: BLOCK }),
      -E.EINVAL, 'an empty entry');
    assert.equal(c.run(OP.readExt, { buf: vector(e, [{ handle: a, offset: 0, len: 2048 }]), flag: 1, off: 0, len: BLOCK }), -E.EINVAL,
      'entries that do not add up to the blocks');
    native.guestRegionUnmap(a);
  });

  test(`${how}: a region removed under a request fails it, and a write puts nothing on the disk`, async () => {
    const { e, c, disk, post } = await device(bounced);
    const a = region(e, 1 << 20);
    put(e, a, 0, pattern(4096, 9));
    const before = disk().slice();
    // The request is in the I/O thread's queue when the region goes.
    post(OP.readExt, { buf: vector(e, [{ handle: a, offset: 0, len: 4096 }]), flag: 1, off: 0, len: BLOCK });
    assert.equal(native.guestRegionUnmap(a), 0);
    e.h.pollAll();
    assert.equal(e.h.i32(c.ctx, W.rc), 0, 'submitted');
    assert.ok(!c.lastOk(), 'the read failed: its buffer is gone');
    const b = region(e, 1 << 20);
    put(e, b, 0, pattern(4096, 5));
    post(OP.writeExt, { buf: vector(e, [{ handle: b, offset: 0, len: 4096 }]), flag: 1, off: BLOCK, len: BLOCK });
    assert.equal(native.guestRegionUnmap(b), 0);
    e.h.pollAll();
    if (bounced) assert.equal(e.h.i32(c.ctx, W.rc), -E.EBADF, 'bounced: the data could not be copied in: refused at submit');
    else assert.equal(e.h.i32(c.ctx, W.rc), 0);
    assert.ok(!c.lastOk(), 'the write failed');
    assert.deepEqual(disk(), before, 'and nothing reached the disk');
    assert.deepEqual(native.guestMemStats(), { mapped: 0, retired: 0 });
  });
}
