// NVMe-oF namespaces over bdevs and the I/O command set (assembly/nvme/ns.ts, io.ts), on the
// deterministic harness: a fake transport's requests over real malloc, null and error bdevs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  nsEnv, openNs, closeNs, newReq, reqData, exec, bdevOps, pattern, mallocBdev, nullBdev, errorBdev, tagged, cqeOf, ascii, SUBNQN,
} from '../helpers/nvmf-io-env.js';
import { name, request, client, OP } from '../helpers/bdev-env.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';
import { readSqe, writeSqe, flushSqe, writeZeroesSqe, dsmSqe, dsmRanges, sqe, setSqeCid } from '../helpers/nvme-tcp-sqe.js';

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
  // A cache but no flush (a module that cannot flush): the write alone, and it succeeds.
  const noFlush = mallocBdev(e, 64, 512, 'noflush');
  e.h.core.hn_bdev_write_cache(noFlush, 1);
  e.h.core.hn_bdev_io_types(noFlush, 0b000011);
  const c = openNs(e, noFlush, 3).ns;
  assert.equal(exec(e, c, newReq(e, writeSqe(3, 0, 1, { fua: true }), 1, 512, pattern(512, 2)))[0].status, SUCCESS);
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
    [writeSqe(1, 0xffffffff_fffffff0n, 32), 1, 16384, LBA_OUT_OF_RANGE],   // SLBA near 2^64
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

test('write zeroes zeroes its blocks and no others; past the end it is refused', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const { ns } = openNs(e, bdev);
  exec(e, ns, newReq(e, writeSqe(1, 0, 8), 1, 4096, pattern(4096, 5)));
  assert.equal(exec(e, ns, newReq(e, writeZeroesSqe(1, 2, 3)))[0].status, SUCCESS);
  assert.equal(exec(e, ns, newReq(e, writeZeroesSqe(1, 62, 3)))[0].status, LBA_OUT_OF_RANGE);
  const r = newReq(e, readSqe(1, 0, 8), 1, 4096);
  exec(e, ns, r);
  const want = pattern(4096, 5);
  want.fill(0, 2 * 512, 5 * 512);
  assert.ok(reqData(e, r).equals(want), 'blocks 2..4 are zero, the rest as written');
  assert.equal(bdevOps(e, bdev)[4], 1, 'one write zeroes reached the bdev');
});

test('DSM deallocate unmaps each range (reads zero on malloc), skips empty ones, with more ranges than go out at once', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 512);
  const { ns } = openNs(e, bdev);
  exec(e, ns, newReq(e, writeSqe(1, 0, 64), 2, 16384, pattern(32768, 6)));
  // 20 ranges (more than go out at once): blocks 0, 3, 6, ... one each, and an empty one at 1.
  const ranges = Array.from({ length: 20 }, (_, i) => ({ slba: i * 3, blocks: 1 }));
  ranges.push({ slba: 1, blocks: 0 });
  // The range list in two buffers that split range 3 across them: 56 + rest bytes.
  const data = dsmRanges(ranges);
  const d = newReq(e, dsmSqe(1, ranges.length, { deallocate: true }), 2, data.length / 2, data);
  assert.equal(exec(e, ns, d)[0].status, SUCCESS);
  assert.equal(bdevOps(e, bdev)[3], 20, 'one unmap per non-empty range');
  const r = newReq(e, readSqe(1, 0, 64), 1, 32768);
  exec(e, ns, r);
  const want = pattern(32768, 6);
  for (const x of ranges) want.fill(0, Number(x.slba) * 512, (Number(x.slba) + x.blocks) * 512);
  assert.ok(reqData(e, r).equals(want), 'the ranges read zero, the blocks between them as written');
});

test('DSM without the deallocate attribute succeeds and does nothing; a bad range or short data refuses it whole', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const { ns } = openNs(e, bdev);
  const hint = dsmRanges([{ slba: 0, blocks: 4, cattr: 0x3 }]);
  assert.equal(exec(e, ns, newReq(e, dsmSqe(1, 1), 1, 16, hint))[0].status, SUCCESS);
  // The second range runs past the end: nothing is unmapped, not even the first.
  const bad = dsmRanges([{ slba: 0, blocks: 4 }, { slba: 60, blocks: 5 }]);
  assert.equal(exec(e, ns, newReq(e, dsmSqe(1, 2, { deallocate: true }), 1, 32, bad))[0].status, LBA_OUT_OF_RANGE);
  // Three ranges announced, the data holds two.
  const short = dsmRanges([{ slba: 0, blocks: 1 }, { slba: 1, blocks: 1 }]);
  assert.equal(exec(e, ns, newReq(e, dsmSqe(1, 3, { deallocate: true }), 1, 32, short))[0].status, SGL_LENGTH_INVALID);
  assert.deepEqual(bdevOps(e, bdev), [0, 0, 0, 0, 0, 0], 'no bdev I/O was issued');
});

test('DSM unmaps that fail make the request Internal Error, once, after every unmap sent has come back', async () => {
  const e = await nsEnv();
  const base = mallocBdev(e, 64);
  const bdev = errorBdev(e, base);
  const { ns } = openNs(e, bdev);
  assert.equal(e.h.core.bdev_error_inject(bdev, 3, 1, 2), 0);     // the next two unmaps fail
  const ranges = dsmRanges(Array.from({ length: 12 }, (_, i) => ({ slba: i, blocks: 1 })));
  const [c] = exec(e, ns, newReq(e, dsmSqe(1, 12, { deallocate: true }), 1, ranges.length, ranges));
  assert.equal(c.status, INTERNAL_ERROR);
});

test('Identify Namespace: size, format, ids; the descriptor list holds EUI64, NGUID and UUID', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 1000, 4096);
  const { ns } = openNs(e, bdev, 3);
  const buf = e.h.scratch(4096);
  e.h.core.hn_ns_identify(ns, buf);
  const v = Buffer.from(new Uint8Array(e.h.memory.buffer, buf, 4096).slice());
  assert.equal(v.readBigUInt64LE(0), 1000n, 'NSZE');
  assert.equal(v.readBigUInt64LE(8), 1000n, 'NCAP');
  assert.equal(v.readBigUInt64LE(16), 1000n, 'NUSE');
  assert.equal(v[24], 0, 'NSFEAT');
  assert.equal(v[25], 0, 'NLBAF: one format');
  assert.equal(v[26], 0, 'FLBAS: format 0');
  assert.equal(v[30], 1, 'NMIC: may be shared');
  assert.equal(v[33], 1, 'DLFEAT: a deallocated block reads zeroes (malloc)');
  assert.equal(v.readUInt16LE(72), 0, 'NOIOB: malloc has no optimal boundary');
  assert.equal((v.readUInt32LE(128) >> 16) & 0xff, 12, 'LBAF0 LBADS = log2(4096)');
  const nguid = v.subarray(104, 120), eui64 = v.subarray(120, 128);
  assert.ok(nguid.some((x) => x !== 0) && eui64.some((x) => x !== 0), 'derived ids are not zero');
  const d = e.h.scratch(4096);
  e.h.core.hn_ns_descriptors(ns, d);
  const list = Buffer.from(new Uint8Array(e.h.memory.buffer, d, 4096).slice());
  assert.deepEqual([list[0], list[1]], [1, 8], 'EUI64 descriptor');
  assert.ok(list.subarray(4, 12).equals(eui64));
  assert.deepEqual([list[12], list[13]], [2, 16], 'NGUID descriptor');
  assert.ok(list.subarray(16, 32).equals(nguid));
  assert.deepEqual([list[32], list[33]], [3, 16], 'UUID descriptor');
  assert.equal(list[36 + 6] >> 4, 8, 'a version 8 UUID');
  assert.ok(list.subarray(52).every((x) => x === 0), 'nothing after the three');
  // The same subsystem, bdev and nsid give the same ids again; another nsid others.
  closeNs(e, ns);
  const same = openNs(e, bdev, 3).ns;
  const b2 = e.h.scratch(4096);
  e.h.core.hn_ns_identify(same, b2);
  assert.ok(Buffer.from(new Uint8Array(e.h.memory.buffer, b2 + 104, 24)).equals(v.subarray(104, 128)), 'stable across reopen');
  closeNs(e, same);
  const other = openNs(e, bdev, 4).ns;
  e.h.core.hn_ns_identify(other, b2);
  assert.ok(!Buffer.from(new Uint8Array(e.h.memory.buffer, b2 + 104, 16)).equals(nguid), 'another nsid, another NGUID');
  assert.equal(e.h.core.hn_ns_supports(other), 7, 'malloc: unmap, write zeroes, flush');
});

test('a resize reaches the namespace owner with the new size; I/O and Identify follow it', async () => {
  const e = await nsEnv();
  const bdev = nullBdev(e, 100);
  const { ns, tag } = openNs(e, bdev);
  assert.equal(exec(e, ns, newReq(e, readSqe(1, 150, 1), 1, 512))[0].status, LBA_OUT_OF_RANGE);
  assert.equal(e.h.core.bdev_resize(bdev, 200), 0);
  e.h.pollUntil('resize event', () => tagged(e, tag).length > 1);
  const ev = tagged(e, tag)[1];
  assert.deepEqual([ev.b, ev.c], [1, 200], 'NS_EVENT_RESIZED with blockCount already 200');
  const buf = e.h.scratch(4096);
  e.h.core.hn_ns_identify(ns, buf);
  assert.equal(new DataView(e.h.memory.buffer, buf, 8).getBigUint64(0, true), 200n, 'NSZE');
  assert.equal(exec(e, ns, newReq(e, readSqe(1, 150, 1), 1, 512))[0].status, SUCCESS);
  assert.equal(e.h.core.bdev_resize(bdev, 50), 0);
  assert.equal(exec(e, ns, newReq(e, readSqe(1, 60, 1), 1, 512))[0].status, LBA_OUT_OF_RANGE, 'a shrink refuses past the new end');
});

test('a hot-removed bdev sends NS_EVENT_REMOVED; its removal finishes once the namespace is closed', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const { ns, tag } = openNs(e, bdev);
  exec(e, ns, newReq(e, writeSqe(1, 0, 1), 1, 512, pattern(512, 9)));
  const req = 7777;
  assert.equal(e.h.core.bdev_delete(req, bdev), 0);
  e.h.pollAll();
  const events = tagged(e, tag).slice(1);
  assert.deepEqual(events.map((x) => x.b), [2], 'one NS_EVENT_REMOVED');
  assert.ok(!e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req), 'the delete waits for the namespace');
  // I/O between the event and the close: the bdev refuses it, the host hears Internal Error.
  assert.equal(exec(e, ns, newReq(e, readSqe(1, 0, 1), 1, 512))[0].status, INTERNAL_ERROR);
  closeNs(e, ns);
  e.h.pollUntil('the delete', () => e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req));
  assert.equal(e.h.events.find((x) => x.kind === EVENT_REQUEST_DONE && x.a === req)!.b, 0);
});

test('nvmfNsOpen refuses nsid 0, an unknown bdev and a bdev claimed by another writer, saying which', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  const open = (id: number, nsid: number) => {
    const tag = 6000 + e.nextTag++;
    assert.equal(e.h.core.hn_ns_open(id, nsid, ascii(e, SUBNQN), tag), 0);
    e.h.pollUntil('open', () => tagged(e, tag).length > 0);
    return tagged(e, tag)[0].b;
  };
  assert.equal(open(bdev, 0), -22);
  assert.match(e.h.messages('error').at(-1)!, /nsid 0 is not a namespace id/);
  assert.equal(open(4242, 1), -19);
  assert.match(e.h.messages('error').at(-1)!, /no bdev with id 4242/);
  const c = client(e, bdev);
  assert.equal(c.run(OP.claim), 0);
  assert.equal(open(bdev, 1), -1);
  assert.match(e.h.messages('error').at(-1)!, /cannot open bdev .* for write/);
});

test('Identify Namespace follows the bdev: a pass-through keeps its base\'s DLFEAT, a bdev without zeroing unmap reports none, NOIOB the boundary', async () => {
  const e = await nsEnv();
  const base = mallocBdev(e, 64);
  const bdev = errorBdev(e, base);
  const plain = mallocBdev(e, 64, 512, 'plain');
  e.h.core.hn_bdev_unmap_zeroes(plain, 0);
  e.h.core.hn_bdev_optimal_boundary(plain, 16);
  const a = openNs(e, bdev, 1).ns;
  const b = openNs(e, plain, 2).ns;
  const buf = e.h.scratch(4096);
  e.h.core.hn_ns_identify(a, buf);
  assert.equal(new Uint8Array(e.h.memory.buffer, buf, 4096)[33], 1, 'error bdev over malloc: reads zeroes');
  const buf2 = e.h.scratch(4096);
  e.h.core.hn_ns_identify(b, buf2);
  const v = Buffer.from(new Uint8Array(e.h.memory.buffer, buf2, 4096).slice());
  assert.equal(v[33], 0, 'DLFEAT not reported');
  assert.equal(v.readUInt16LE(72), 16, 'NOIOB');
});

test('on a bdev without flush, write zeroes and unmap: flush succeeds untouched, the others are Invalid Opcode', async () => {
  const e = await nsEnv();
  const bdev = mallocBdev(e, 64);
  e.h.core.hn_bdev_io_types(bdev, 0b000011);                          // read and write only
  const { ns } = openNs(e, bdev);
  assert.equal(e.h.core.hn_ns_supports(ns), 0, 'nvmfNsSupports*: none of the three');
  assert.equal(exec(e, ns, newReq(e, flushSqe(1)))[0].status, SUCCESS);
  assert.equal(exec(e, ns, newReq(e, writeZeroesSqe(1, 0, 1)))[0].status, INVALID_OPCODE);
  const ranges = dsmRanges([{ slba: 0, blocks: 1 }]);
  assert.equal(exec(e, ns, newReq(e, dsmSqe(1, 1, { deallocate: true }), 1, 16, ranges))[0].status, INVALID_OPCODE);
  assert.equal(exec(e, ns, newReq(e, dsmSqe(1, 1), 1, 16, ranges))[0].status, SUCCESS, 'hints alone need no unmap');
  assert.deepEqual(bdevOps(e, bdev), [0, 0, 0, 0, 0, 0]);
});

test('hot remove with requests waiting for a bdev_io: each completes once with an error, then the close and the delete finish', async () => {
  const e = await nsEnv();
  e.h.core.h_clock_set(1_000_000);
  const base = mallocBdev(e, 64);
  const bdev = request(e, (r) => e.h.core.bdev_delay_create(r, name(e, 'slow'), base, 1000, 1000, 1000, 1000));
  e.h.core.hn_bdev_pool_size(bdev, 1);
  const { ns, tag } = openNs(e, bdev);
  const reqs = Array.from({ length: 4 }, (_, i) => newReq(e, writeSqe(1, i, 1), 1, 512, pattern(512, i)));
  for (const r of reqs) e.h.core.hn_exec(r.ptr, ns);
  e.h.pollAll();
  assert.deepEqual(reqs.map((r) => e.h.core.hn_req_completions(r.ptr)), [0, 0, 0, 0], 'one held by the delay, three waiting');
  const del = 7001;
  assert.equal(e.h.core.bdev_delete(del, bdev), 0);
  e.h.pollUntil('every request', () => reqs.every((r) => e.h.core.hn_req_completions(r.ptr) > 0));
  e.h.pollAll();
  assert.deepEqual(reqs.map((r) => e.h.core.hn_req_completions(r.ptr)), [1, 1, 1, 1], 'each completed once');
  assert.ok(reqs.slice(1).every((r) => cqeOf(e, r).status === INTERNAL_ERROR), 'the waiting ones fail: the bdev is going');
  assert.deepEqual(tagged(e, tag).slice(1).map((x) => x.b), [2], 'NS_EVENT_REMOVED');
  closeNs(e, ns);
  e.h.core.h_clock_set(1_010_000);
  e.h.pollUntil('the delete', () => e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === del));
  assert.equal(e.h.core.hn_qpair_outstanding(e.qpair), 0);
});
