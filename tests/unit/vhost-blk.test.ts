// virtio-blk requests (assembly/vhost/blk.ts blkProcess and prepare) over simulated guest memory and a
// malloc bdev in the deterministic harness: each request type served, each malformed chain answered
// with the right status (or, when no status byte can be trusted, nothing written and used length 0),
// and never a byte written outside the chain's own writable buffers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, client, W } from '../helpers/bdev-env.js';
import { GuestQueue, GUEST_BASE, DESC_F, readable, writable, type GuestBuf, type Piece } from '../helpers/guest-queue.js';

const T = { in: 0, out: 1, flush: 4, getId: 8, discard: 11, writeZeroes: 13 } as const;
const S = { ok: 0, ioerr: 1, unsupp: 2 } as const;
const BLOCK = 4096, BLOCKS = 64, SEG_MAX = 16;
const SERIAL = 'wstor-test-serial-01';          // BLK_ID_BYTES (20)

async function device(options: { readOnly?: boolean } = {}) {
  const e = await env();
  const id = e.h.core.hb_malloc_create(BLOCK, BLOCKS);
  const c = client(e, id);
  const q = new GuestQueue(e.h);
  const target = e.h.core.hv_blk_target(id, e.h.u32(c.ctx, W.desc), e.h.u32(c.ctx, W.ch), q.mem, options.readOnly ? 1 : 0);
  new Uint8Array(e.h.memory.buffer, e.h.core.hv_blk_id(target), 20).set(Buffer.from(SERIAL));
  assert.equal(e.h.core.hv_blk_pool(q.vring), 0);
  const processCtx = e.h.core.hv_process_ctx(target, q.vring);
  const disk = () => new Uint8Array(e.h.memory.buffer, e.h.core.hb_malloc_data(id), BLOCK * BLOCKS);
  /**
   * Post `head`, let blkProcess take it, poll until it is answered, and check that only `mayChange`
   * changed in guest memory. Returns the used element.
   */
  const serve = (head: number, mayChange: GuestBuf[]) => {
    const before = q.snapshot();
    const answered = q.usedIdx();
    q.post(head);
    e.h.core.hv_send_process(e.thread, processCtx);
    e.h.pollUntil(`chain ${head} answered`, () => q.usedIdx() !== answered);
    e.h.pollAll();
    assert.equal(q.usedIdx(), (answered + 1) & 0xffff, 'one used element');
    assert.deepEqual(q.changedOutside(before, mayChange), [], 'no byte outside the chain\'s writable buffers changed');
    assert.equal(e.h.core.hv_vring_inflight(q.vring), 0, 'nothing left in flight');
    assert.equal(e.h.core.hv_blk_on_bdev(target), 0, 'nothing left on the bdev');
    return q.usedAt(answered);
  };
  return { e, q, target, disk, serve };
}
type Device = Awaited<ReturnType<typeof device>>;

/** A request header: type, ioprio 0, sector. */
function header(d: Device, type: number, sector: bigint | number = 0, len = 16): GuestBuf {
  const b = d.q.buf(len, 0);
  const v = new DataView(d.e.h.memory.buffer, b.at, len);
  v.setUint32(0, type, true);
  if (len >= 16) v.setBigUint64(8, BigInt.asUintN(64, BigInt(sector)), true);
  return b;
}
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const status = (d: Device) => d.q.buf(1, 0xee);          // 0xee: no status written yet

test('IN reads blocks into the guest\'s buffers; used length counts the data and the status byte', async () => {
  const d = await device();
  d.disk().set(pattern(2 * BLOCK, 3), BLOCK);
  const hdr = header(d, T.in, 8), a = d.q.buf(BLOCK), b = d.q.buf(BLOCK), st = status(d);
  const used = d.serve(d.q.chain([readable(hdr), writable(a), writable(b), writable(st)]), [a, b, st]);
  assert.deepEqual(used, { id: 0, len: 2 * BLOCK + 1 });
  assert.equal(d.q.bytes(st)[0], S.ok);
  assert.deepEqual([...d.q.bytes(a), ...d.q.bytes(b)], [...pattern(2 * BLOCK, 3)]);
});

test('OUT writes the guest\'s buffers (the header\'s own tail included) to the bdev', async () => {
  const d = await device();
  const hdr = header(d, T.out, 16, 16 + 512), tail = d.q.buf(BLOCK - 512), st = status(d);
  const data = pattern(BLOCK, 9);
  d.q.bytes(hdr).set(data.subarray(0, 512), 16);
  d.q.bytes(tail).set(data.subarray(512));
  const used = d.serve(d.q.chain([readable(hdr), readable(tail), writable(st)], 3), [st]);
  assert.deepEqual(used, { id: 3, len: 1 });
  assert.equal(d.q.bytes(st)[0], S.ok);
  assert.deepEqual(d.disk().subarray(2 * BLOCK, 3 * BLOCK), data);
});

test('FLUSH, GET_ID, DISCARD and WRITE_ZEROES are served', async () => {
  const d = await device();
  let st = status(d);
  assert.deepEqual(d.serve(d.q.chain([readable(header(d, T.flush)), writable(st)]), [st]), { id: 0, len: 1 });
  assert.equal(d.q.bytes(st)[0], S.ok, 'flush');

  const id = d.q.buf(20, 0);
  st = status(d);
  assert.deepEqual(d.serve(d.q.chain([readable(header(d, T.getId)), writable(id), writable(st)]), [id, st]), { id: 0, len: 21 });
  assert.equal(d.q.bytes(st)[0], S.ok, 'get_id');
  assert.equal(Buffer.from(d.q.bytes(id)).toString(), SERIAL);

  for (const [type, name] of [[T.discard, 'discard'], [T.writeZeroes, 'write_zeroes']] as const) {
    d.disk().fill(0x5a);
    const seg = d.q.buf(16, 0);
    const v = new DataView(d.e.h.memory.buffer, seg.at, 16);
    v.setBigUint64(0, 8n, true);                    // sector 8 = block 1
    v.setUint32(8, 16, true);                       // 16 sectors = 2 blocks
    st = status(d);
    assert.deepEqual(d.serve(d.q.chain([readable(header(d, type)), readable(seg), writable(st)]), [st]), { id: 0, len: 1 });
    assert.equal(d.q.bytes(st)[0], S.ok, name);
    assert.ok(d.disk().subarray(BLOCK, 3 * BLOCK).every((x) => x === 0), `${name}: blocks 1 and 2 are zero`);
    assert.ok(d.disk().subarray(0, BLOCK).every((x) => x === 0x5a) && d.disk()[3 * BLOCK] === 0x5a, `${name}: its neighbours are not`);
  }
});

test('a request through an indirect table is served', async () => {
  const d = await device();
  d.disk().set(pattern(BLOCK, 5), 0);
  const hdr = header(d, T.in, 0), data = d.q.buf(BLOCK), st = status(d);
  const used = d.serve(d.q.indirect([readable(hdr), writable(data), writable(st)], 6), [data, st]);
  assert.deepEqual(used, { id: 6, len: BLOCK + 1 });
  assert.equal(d.q.bytes(st)[0], S.ok);
  assert.deepEqual(d.q.bytes(data), pattern(BLOCK, 5));
});

test('SEG_MAX (16) data segments are served; one more is IOERR', async () => {
  const d = await device();
  for (const segments of [SEG_MAX, SEG_MAX + 1]) {
    d.disk().fill(0);
    const bufs = Array.from({ length: segments }, (_, k) => { const b = d.q.buf(512); d.q.bytes(b).set(pattern(512, k)); return b; });
    const st = status(d);
    const pieces = [readable(header(d, T.out, 0)), ...bufs.map(readable), writable(st)];
    const used = d.serve(d.q.indirect(pieces), [st]);
    assert.deepEqual(used, { id: 0, len: 1 });
    assert.equal(d.q.bytes(st)[0], segments === SEG_MAX ? S.ok : S.ioerr, `${segments} segments`);
    const written = d.disk().subarray(0, segments * 512);
    if (segments === SEG_MAX) assert.deepEqual(written, Uint8Array.from(bufs.flatMap((_, k) => [...pattern(512, k)])));
    else assert.ok(written.every((x) => x === 0), 'a refused write writes nothing');
  }
});

/** Chains a device must answer with a status (its last byte is writable), and what it must answer. */
const answered: [string, (d: Device, st: GuestBuf) => Piece[], number][] = [
  ['a header shorter than 16 bytes', (d, st) => [readable(header(d, T.in, 0, 8)), writable(d.q.buf(BLOCK)), writable(st)], S.ioerr],
  ['a FLUSH with a header shorter than 16 bytes', (d, st) => [readable(header(d, T.flush, 0, 8)), writable(st)], S.ioerr],
  ['a header in a writable buffer', (d, st) => [writable(header(d, T.flush)), writable(st)], S.ioerr],
  ['only a status byte', (_d, st) => [writable(st)], S.ioerr],
  ['IN with readable data', (d, st) => [readable(header(d, T.in)), readable(d.q.buf(BLOCK)), writable(st)], S.ioerr],
  ['OUT with writable data', (d, st) => [readable(header(d, T.out)), writable(d.q.buf(BLOCK)), writable(st)], S.ioerr],
  ['IN with mixed readable and writable data', (d, st) => [readable(header(d, T.in)), readable(d.q.buf(512)), writable(d.q.buf(BLOCK - 512)), writable(st)],
    S.ioerr],
  ['OUT with mixed readable and writable data', (d, st) => [readable(header(d, T.out)), readable(d.q.buf(512)), writable(d.q.buf(BLOCK - 512)), writable(st)],
    S.ioerr],
  ['IN with no data', (d, st) => [readable(header(d, T.in)), writable(st)], S.ioerr],
  ['data that is not whole blocks', (d, st) => [readable(header(d, T.in)), writable(d.q.buf(512)), writable(st)], S.ioerr],
  ['a sector that is not on a block boundary', (d, st) => [readable(header(d, T.in, 1)), writable(d.q.buf(BLOCK)), writable(st)], S.ioerr],
  ['a sector whose byte offset overflows 64 bits', (d, st) => [readable(header(d, T.in, 1n << 62n)), writable(d.q.buf(BLOCK)), writable(st)],
    S.ioerr],
  ['a sector past the end of the bdev', (d, st) => [readable(header(d, T.in, BLOCKS * 8)), writable(d.q.buf(BLOCK)), writable(st)], S.ioerr],
  ['a discard of zero sectors', (d, st) => [readable(header(d, T.discard)), readable(d.q.buf(16, 0)), writable(st)], S.ioerr],
  ['a discard with two segments', (d, st) => [readable(header(d, T.discard)), readable(d.q.buf(32, 0)), writable(st)], S.ioerr],
  ['GET_ID into a readable buffer', (d, st) => [readable(header(d, T.getId)), readable(d.q.buf(20)), writable(st)], S.ioerr],
  ['an unknown request type', (d, st) => [readable(header(d, 99)), writable(st)], S.unsupp],
];

for (const [name, build, expected] of answered) {
  test(`${name} is answered ${expected === S.ioerr ? 'IOERR' : 'UNSUPP'} in its status byte`, async () => {
    const d = await device();
    d.disk().fill(0x77);
    const st = status(d);
    const failed = d.e.h.core.hv_blk_failed(d.target);
    const used = d.serve(d.q.chain(build(d, st)), [st]);
    assert.deepEqual(used, { id: 0, len: 1 }, 'the status byte is all the device wrote');
    assert.equal(d.q.bytes(st)[0], expected);
    assert.equal(d.e.h.core.hv_blk_failed(d.target), failed + 1);
    assert.ok(d.disk().every((x) => x === 0x77), 'the bdev is untouched');
  });
}

test('a write to a read-only target is IOERR and leaves the bdev alone', async () => {
  const d = await device({ readOnly: true });
  const data = d.q.buf(BLOCK, 0x42), st = status(d);
  assert.deepEqual(d.serve(d.q.chain([readable(header(d, T.out)), readable(data), writable(st)]), [st]), { id: 0, len: 1 });
  assert.equal(d.q.bytes(st)[0], S.ioerr);
  assert.ok(d.disk().every((x) => x === 0));
});

/** Chains with no status byte to trust: nothing is written, the used length is 0, the refusal reported. */
const refused: [string, (d: Device) => number, RegExp][] = [
  ['a missing writable status byte', (d) => d.q.chain([readable(header(d, T.out)), readable(d.q.buf(BLOCK))]), /^$/],
  ['a loop (next pointing back)', (d) => {
    d.q.setDesc(0, readable(header(d, T.in)), DESC_F.next, 1);
    d.q.setDesc(1, writable(d.q.buf(BLOCK)), DESC_F.next, 2);
    d.q.setDesc(2, writable(status(d)), DESC_F.next, 1);
    return 0;
  }, /descriptor loop/],
  ['a chain running past its queue', (d) => { d.q.setDesc(0, readable(header(d, T.flush)), DESC_F.next, d.q.num); return 0; }, /next index past the table/],
  ['an address outside every region', (d) => d.q.chain([readable(header(d, T.in)), { gpa: GUEST_BASE + (1n << 40n), len: BLOCK, write: true },
    writable(status(d))]), /buffer outside guest memory/],
  ['a length that overflows its region', (d) => d.q.chain([readable(header(d, T.in)), { gpa: GUEST_BASE + 4096n, len: 0xffffff00, write: true },
    writable(status(d))]), /buffer outside guest memory/],
  ['too many pieces (33)', (d) => d.q.indirect([readable(header(d, T.out)), ...Array.from({ length: 31 }, () => readable(d.q.buf(512))),
    writable(status(d))]), /too many descriptors in one chain/],
  ['a readable piece after the status byte', (d) => d.q.chain([readable(header(d, T.flush)), writable(status(d)), readable(d.q.buf(16))]),
    /a readable descriptor after a writable one/],
];

for (const [name, build, report] of refused) {
  test(`${name}: nothing written, used length 0`, async () => {
    const d = await device();
    const head = build(d);
    const failed = d.e.h.core.hv_blk_failed(d.target);
    const errors = d.e.h.messages('error').length;
    assert.deepEqual(d.serve(head, []), { id: head, len: 0 });
    assert.equal(d.e.h.core.hv_blk_failed(d.target), failed + 1, 'counted as failed');
    assert.ok(d.disk().every((x) => x === 0), 'the bdev is untouched');
    const reported = d.e.h.messages('error').slice(errors);
    if (report.source === '^$') assert.deepEqual(reported, [], 'a chain without a status byte walks fine: nothing to report');
    else assert.ok(reported.some((m) => /vhost hv_test: vring 0: chain refused: /.test(m) && report.test(m)), reported.join('\n'));
  });
}

test('a request to a target whose bdev went (descriptor closed) is IOERR', async () => {
  const e = await env();
  const q = new GuestQueue(e.h);
  const id = e.h.core.hb_malloc_create(BLOCK, BLOCKS);
  const target = e.h.core.hv_blk_target(id, 0, 0, q.mem, 0);
  assert.equal(e.h.core.hv_blk_pool(q.vring), 0);
  const st = q.buf(1, 0xee), data = q.buf(BLOCK);
  const hdr = q.buf(16, 0);
  new DataView(e.h.memory.buffer).setUint32(hdr.at, T.in, true);
  q.post(q.chain([readable(hdr), writable(data), writable(st)]));
  e.h.core.hv_send_process(e.thread, e.h.core.hv_process_ctx(target, q.vring));
  e.h.pollAll();
  assert.deepEqual([q.usedIdx(), q.usedAt(0)], [1, { id: 0, len: 1 }]);
  assert.equal(q.bytes(st)[0], S.ioerr);
  assert.ok(q.bytes(data).every((x) => x === 0xa5), 'the data buffer is untouched');
});

test('an avail index that jumps past the queue stops the ring: nothing is taken, the jump is reported', async () => {
  const d = await device();
  const st = status(d);
  d.q.chain([readable(header(d, T.flush)), writable(st)]);
  // The guest claims num + 1 new heads at once: more than the ring holds.
  for (let k = 0; k <= d.q.num; k++) d.q.post(0);
  const ctx = d.e.h.core.hv_process_ctx(d.target, d.q.vring);
  d.e.h.core.hv_send_process(d.e.thread, ctx);
  d.e.h.pollAll();
  assert.equal(d.e.h.u32(ctx, 2), 0, 'no chain taken');
  assert.equal(d.e.h.core.hv_vring_broken(d.q.vring), 1, 'the ring is stopped');
  assert.equal(d.q.usedIdx(), 0);
  assert.equal(d.q.bytes(st)[0], 0xee, 'no status written');
  assert.ok(d.e.h.messages('error').some((m) => /vhost hv_test: vring 0: the avail index jumped 9 past the last one taken; ring stopped/.test(m)));
  d.e.h.core.hv_send_process(d.e.thread, ctx);
  d.e.h.pollAll();
  assert.equal(d.e.h.u32(ctx, 2), 0, 'a stopped ring stays stopped');
});
