// NVMe-oF namespaces over bdevs and the I/O command set (assembly/nvme/ns.ts, io.ts), on the
// deterministic harness: a fake transport's requests over real malloc, null and error bdevs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  nsEnv, openNs, closeNs, newReq, reqData, exec, bdevOps, pattern, mallocBdev, errorBdev, tagged, cqeOf,
} from '../helpers/nvmf-io-env.js';
import { name, request } from '../helpers/bdev-env.js';
import { readSqe, writeSqe, flushSqe, sqe, setSqeCid } from '../helpers/nvme-tcp-sqe.js';

const SUCCESS = 0;
const DNR = 1 << 14;
const INVALID_OPCODE = 0x01 | DNR;
const INVALID_NAMESPACE = 0x0b | DNR;
const SGL_LENGTH_INVALID = 0x0f | DNR;
const INTERNAL_ERROR = 0x06;
const LBA_OUT_OF_RANGE = 0x80 | DNR;

test('a write then a read over three separate buffers each carry the data; the CQE names the command', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 2048);
  const { ns } = openNs(e, bdev);
  const data = pattern(3 * 1024, 1);
  const w = newReq(e, setSqeCid(writeSqe(1, 100, 6), 0x1234), 3, 1024, data);
  const [wc] = exec(e, ns, w);
  assert.equal(wc.status, SUCCESS);
  assert.equal(wc.cid, 0x1234);
  assert.equal(wc.sqid, 1);
  const r = newReq(e, setSqeCid(readSqe(1, 100, 6), 0x4321), 3, 1024);
  const [rc] = exec(e, ns, r);
  assert.equal(rc.status, SUCCESS);
  assert.equal(rc.cid, 0x4321);
  assert.ok(reqData(e, r).equals(data), 'the read returns what was written, buffer by buffer');
  // The same blocks read as one buffer: the write landed at LBA 100, in order.
  const one = newReq(e, readSqe(1, 100, 6), 1, 3072);
  exec(e, ns, one);
  assert.ok(reqData(e, one).equals(data));
  assert.deepEqual(bdevOps(e, bdev).slice(0, 2), [2, 1], 'two reads and one write reached the bdev');
});

test('flush reaches the bdev and succeeds', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const { ns } = openNs(e, bdev);
  const [c] = exec(e, ns, newReq(e, flushSqe(1)));
  assert.equal(c.status, SUCCESS);
  assert.equal(bdevOps(e, bdev)[2], 1, 'one flush');
});

test('a write with FUA on a bdev with a volatile write cache is followed by a flush; without a cache it is not', async () => {
  const e = await nsEnv();
  const cached = mallocBdev(e, 64, 512, 'cached');
  const plain = mallocBdev(e, 64, 512, 'plain');
  e.h.core.hn_bdev_write_cache(cached, 1);
  const a = openNs(e, cached, 1).ns;
  const b = openNs(e, plain, 2).ns;
  assert.equal(exec(e, a, newReq(e, writeSqe(1, 0, 1, { fua: true }), 1, 512, pattern(512, 2)))[0].status, SUCCESS);
  assert.equal(exec(e, b, newReq(e, writeSqe(2, 0, 1, { fua: true }), 1, 512, pattern(512, 2)))[0].status, SUCCESS);
  assert.equal(exec(e, a, newReq(e, writeSqe(1, 1, 1), 1, 512, pattern(512, 3)))[0].status, SUCCESS);
  assert.deepEqual([bdevOps(e, cached)[2], bdevOps(e, plain)[2]], [1, 0], 'one flush, for the FUA write on the cached bdev');
});

test('an unknown opcode is Invalid Opcode, no namespace is Invalid Namespace; neither reaches the bdev', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const { ns } = openNs(e, bdev);
  assert.equal(exec(e, ns, newReq(e, sqe(0x05, { nsid: 1 })))[0].status, INVALID_OPCODE);
  assert.equal(exec(e, ns, newReq(e, sqe(0x7e, { nsid: 1 })))[0].status, INVALID_OPCODE);
  assert.equal(exec(e, 0, newReq(e, readSqe(7, 0, 1), 1, 512))[0].status, INVALID_NAMESPACE);
  assert.deepEqual(bdevOps(e, bdev), [0, 0, 0, 0, 0, 0]);
});

test('LBA ranges past the end and an NLB that disagrees with the data length are refused before any bdev I/O', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const { ns } = openNs(e, bdev);
  const cases: [Buffer, number, number, number][] = [
    [readSqe(1, 64, 1), 1, 512, LBA_OUT_OF_RANGE],              // starts at the end
    [readSqe(1, 63, 2), 1, 1024, LBA_OUT_OF_RANGE],             // runs one block past it
    [writeSqe(1, 0xffffffff_fffffff0n, 32), 1, 16384, LBA_OUT_OF_RANGE],   // SLBA + NLB wraps around 2^64
    [writeSqe(1, 2n ** 32n, 1), 1, 512, LBA_OUT_OF_RANGE],      // the upper SLBA dword counts
    [readSqe(1, 0, 2), 1, 512, SGL_LENGTH_INVALID],             // 2 blocks, 512 bytes of data
    [writeSqe(1, 0, 1), 2, 512, SGL_LENGTH_INVALID],            // 1 block, 1024 bytes of data
  ];
  for (const [s, iovcnt, iovBytes, want] of cases) {
    assert.equal(exec(e, ns, newReq(e, s, iovcnt, iovBytes))[0].status, want, `opcode ${s[0]} cdw10 ${s.readUInt32LE(40)}`);
  }
  assert.deepEqual(bdevOps(e, bdev), [0, 0, 0, 0, 0, 0], 'no bdev I/O was issued');
  // The last block is in range.
  assert.equal(exec(e, ns, newReq(e, readSqe(1, 63, 1), 1, 512))[0].status, SUCCESS);
});

test('a failed bdev I/O is Internal Error (retryable: no DNR)', async () => {
  const e = await nsEnv();
  const base = mallocBdev(e, 64);
  const bdev = errorBdev(e, base);
  const { ns } = openNs(e, bdev);
  assert.equal(e.h.core.bdev_error_inject(bdev, 0, 1, 1), 0);     // the next read fails
  const [c] = exec(e, ns, newReq(e, readSqe(1, 0, 1), 1, 512));
  assert.equal(c.status, INTERNAL_ERROR);
  assert.equal(c.dnr, false);
  assert.equal(exec(e, ns, newReq(e, readSqe(1, 0, 1), 1, 512))[0].status, SUCCESS, 'the one after succeeds');
});

test('submits that find no free bdev_io wait for one and all succeed, in order, with their data', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 256);
  e.h.core.hn_bdev_pool_size(bdev, 2);
  const { ns } = openNs(e, bdev);
  const writes = Array.from({ length: 24 }, (_, i) => newReq(e, writeSqe(1, i * 2, 2), 2, 512, pattern(1024, i + 10)));
  assert.ok(exec(e, ns, ...writes).every((c) => c.status === SUCCESS), 'every write succeeded');
  const reads = Array.from({ length: 24 }, (_, i) => newReq(e, readSqe(1, i * 2, 2), 1, 1024));
  assert.ok(exec(e, ns, ...reads).every((c) => c.status === SUCCESS), 'every read succeeded');
  reads.forEach((r, i) => assert.ok(reqData(e, r).equals(pattern(1024, i + 10)), `blocks of write ${i}`));
  assert.equal(e.h.messages('error').length, 0, e.h.messages('error').join('; '));
});

test('a closing namespace refuses new I/O with Invalid Namespace; its close ends only after the I/O in flight', async () => {
  const e = await nsEnv();
  e.h.core.h_clock_set(1_000_000);
  const base = mallocBdev(e, 64);
  const bdev = request(e, (r) => e.h.core.bdev_delay_create(r, name(e, 'slow'), base, 1000, 1000, 1000, 1000));
  const { ns } = openNs(e, bdev);
  const inflight = [newReq(e, readSqe(1, 1, 1), 1, 512), newReq(e, writeSqe(1, 2, 1), 1, 512, pattern(512, 4))];
  for (const r of inflight) e.h.core.hn_exec(r.ptr, ns);
  e.h.pollAll();
  assert.deepEqual(inflight.map((r) => e.h.core.hn_req_completions(r.ptr)), [0, 0], 'held by the delay bdev (the clock stands still)');
  const tag = 8000;
  assert.equal(e.h.core.hn_ns_close(ns, tag), 0);
  e.h.pollAll();
  assert.equal(tagged(e, tag).length, 0, 'the close waits for its I/O');
  const late = newReq(e, readSqe(1, 0, 1), 1, 512);
  e.h.core.hn_exec(late.ptr, ns);
  e.h.pollAll();
  assert.equal(e.h.core.hn_req_completions(late.ptr), 1);
  assert.equal(cqeOf(e, late).status, INVALID_NAMESPACE, 'no new I/O once closing');
  const before = e.h.core.hn_completed();
  e.h.core.h_clock_set(1_002_000);
  e.h.pollUntil('the close', () => tagged(e, tag).length > 0);
  assert.deepEqual(inflight.map((r) => e.h.core.hn_req_completions(r.ptr)), [1, 1], 'each completed once');
  assert.deepEqual(inflight.map((r) => cqeOf(e, r).status), [SUCCESS, SUCCESS]);
  assert.equal(tagged(e, tag)[0].c, before + 2, 'done ran after both completions');
  assert.equal(e.h.core.bdev_info(bdev, 3), 0, 'its descriptor is closed');
  assert.equal(e.h.core.hn_qpair_outstanding(e.qpair), 0);
  assert.deepEqual(e.h.messages('error'), []);
});

test('a namespace with no I/O ever closes at once and leaves nothing allocated', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const live = e.h.core.heap_live_blocks();
  const { ns } = openNs(e, bdev);
  closeNs(e, ns);
  const again = openNs(e, bdev);
  exec(e, again.ns, newReq(e, readSqe(1, 0, 1), 1, 512));
  closeNs(e, again.ns);
  e.h.pollAll();
  assert.equal(e.h.core.bdev_info(bdev, 3), 0);
  assert.deepEqual(e.h.messages('error'), []);
  // The request blocks the test made stay (hn_req_new, the open/close hooks); nothing of the namespace does.
  assert.ok(e.h.core.heap_live_blocks() - live <= 16, `live blocks grew by ${e.h.core.heap_live_blocks() - live}`);
});
