// The vring walk (assembly/vhost/vring.ts vringWalk) over simulated guest memory in the deterministic
// harness: what a well-formed chain becomes, and every malformed one refused with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHarness, type Harness } from '../helpers/core.js';
import { readCoreString } from '../../host/core-abi.js';
import { GuestQueue, GUEST_BASE, DESC_F, readable, writable, guestRegion } from '../helpers/guest-queue.js';

interface Walked { count: number; readableBytes: number; writableBytes: number; pieces: { at: number; len: number; write: boolean }[] }

const PIECE_BYTES = 24;   // vring.ts: {u64 offset, u32 len, u32 writable, i32 handle, u32 0}

/**
 * Walk `head`: the refusal's message, or the chain's pieces, each located where the test sees its
 * region (`windows`: the host's handle → the region's first byte in the harness's memory).
 */
function walk(h: Harness, q: GuestQueue, head: number, windows = new Map([[q.region.handle, q.guest]])): string | Walked {
  const chain = h.scratch(h.core.hv_chain_bytes());
  const why = h.core.hv_walk(q.vring, q.mem, head, chain);
  if (why !== 0) return readCoreString(h.memory, why);
  const count = h.u32(chain, 1);
  const view = new DataView(h.memory.buffer);
  const pieces = Array.from({ length: count }, (_, i) => {
    const p = chain + 16 + PIECE_BYTES * i;
    const handle = view.getInt32(p + 16, true);
    assert.ok(windows.has(handle), `piece ${i} names region handle ${handle}, which the test did not map`);
    return { at: windows.get(handle)! + Number(view.getBigUint64(p, true)), len: view.getUint32(p + 8, true), write: view.getUint32(p + 12, true) !== 0 };
  });
  return { count, readableBytes: h.u32(chain, 2), writableBytes: h.u32(chain, 3), pieces };
}

async function queue(num = 8) { const h = await newHarness(); return { h, q: new GuestQueue(h, num) }; }

test('a chain walks into its pieces, translated to this memory; empty descriptors are dropped', async () => {
  const { h, q } = await queue();
  const hdr = q.buf(16), data = q.buf(4096), status = q.buf(1);
  const head = q.chain([readable(hdr), { gpa: GUEST_BASE, len: 0 }, writable(data), writable(status)], 2);
  assert.deepEqual(walk(h, q, head), {
    count: 3, readableBytes: 16, writableBytes: 4097,
    pieces: [{ at: hdr.at, len: 16, write: false }, { at: data.at, len: 4096, write: true }, { at: status.at, len: 1, write: true }],
  });
});

test('an indirect table is followed; its pieces are the chain', async () => {
  const { h, q } = await queue();
  const hdr = q.buf(16), data = q.buf(512), status = q.buf(1);
  const head = q.indirect([readable(hdr), writable(data), writable(status)], 5);
  const w = walk(h, q, head);
  assert.ok(typeof w !== 'string', `refused: ${w}`);
  assert.deepEqual(w.pieces.map((p) => p.at), [hdr.at, data.at, status.at]);
  assert.equal(w.writableBytes, 513);
});

test('an indirect table may hold a chain longer than the queue, but not a loop', async () => {
  const { h, q } = await queue(4);
  const bufs = Array.from({ length: 12 }, () => q.buf(16));
  const head = q.indirect(bufs.map(readable));
  const w = walk(h, q, head);
  assert.ok(typeof w !== 'string' && w.count === 12, 'twelve pieces in a 4-entry queue, through its indirect table');
  // The same table with its last entry pointing back at its first.
  const table = q.buf(12 * 16, 0);
  bufs.forEach((b, k) => q.setDesc(k, readable(b), DESC_F.next, (k + 1) % 12, table.at));
  q.setDesc(0, { gpa: table.gpa, len: table.len }, DESC_F.indirect, 0);
  assert.equal(walk(h, q, 0), 'descriptor loop (a chain longer than its table)');
});

const refusals: [string, (q: GuestQueue) => number, string][] = [
  ['a loop (next pointing back)', (q) => {
    const a = q.buf(16), b = q.buf(16);
    q.setDesc(0, readable(a), DESC_F.next, 1);
    q.setDesc(1, readable(b), DESC_F.next, 0);
    return 0;
  }, 'descriptor loop (a chain longer than its table)'],
  ['a descriptor pointing at itself', (q) => { q.setDesc(3, readable(q.buf(16)), DESC_F.next, 3); return 3; }, 'descriptor loop (a chain longer than its table)'],
  ['a head past the queue', () => 8, 'head index past the queue'],
  ['a next index past the queue', (q) => { q.setDesc(0, readable(q.buf(16)), DESC_F.next, 8); return 0; }, 'next index past the table'],
  ['an address past the end of guest memory', (q) => q.chain([{ gpa: GUEST_BASE + BigInt(q.guestBytes), len: 16 }]), 'buffer outside guest memory'],
  ['an address below guest memory', (q) => q.chain([{ gpa: GUEST_BASE - 16n, len: 16 }]), 'buffer outside guest memory'],
  ['a buffer running past the end of its region', (q) => q.chain([{ gpa: GUEST_BASE + BigInt(q.guestBytes - 8), len: 16 }]), 'buffer outside guest memory'],
  ['a length that overflows 32 bits of address', (q) => q.chain([{ gpa: GUEST_BASE + 16n, len: 0xfffffff0 }]), 'buffer outside guest memory'],
  ['an address + length that wraps 64 bits', (q) => q.chain([{ gpa: (1n << 64n) - 8n, len: 32 }]), 'buffer outside guest memory'],
  ['a readable piece after a writable one', (q) => q.chain([readable(q.buf(16)), writable(q.buf(1)), readable(q.buf(16))]), 'a readable descriptor after a writable one'],
  ['an indirect descriptor in the middle of a chain', (q) => {
    const table = q.buf(16, 0);
    q.chain([readable(q.buf(16)), readable(q.buf(16))], 0, table.at);
    q.setDesc(0, readable(q.buf(16)), DESC_F.next, 1);
    q.setDesc(1, { gpa: table.gpa, len: 16 }, DESC_F.indirect, 0);
    return 0;
  }, 'indirect descriptor not alone at the head of the chain'],
  ['an indirect descriptor with NEXT set', (q) => {
    const table = q.buf(16, 0);
    q.chain([readable(q.buf(16))], 0, table.at);
    q.setDesc(0, { gpa: table.gpa, len: 16 }, DESC_F.indirect | DESC_F.next, 1);
    return 0;
  }, 'indirect descriptor not alone at the head of the chain'],
  ['an indirect table inside an indirect table', (q) => {
    const inner = q.buf(16, 0), outer = q.buf(16, 0);
    q.chain([readable(q.buf(16))], 0, inner.at);
    q.setDesc(0, { gpa: inner.gpa, len: 16 }, DESC_F.indirect, 0, outer.at);
    q.setDesc(0, { gpa: outer.gpa, len: 16 }, DESC_F.indirect, 0);
    return 0;
  }, 'indirect descriptor not alone at the head of the chain'],
  ['an indirect table of a length that is not whole descriptors', (q) => {
    const table = q.buf(32, 0);
    q.setDesc(0, { gpa: table.gpa, len: 24 }, DESC_F.indirect, 0);
    return 0;
  }, 'indirect table length is not a whole number of descriptors'],
  ['an empty indirect table', (q) => { q.setDesc(0, { gpa: q.buf(16, 0).gpa, len: 0 }, DESC_F.indirect, 0); return 0; },
    'indirect table length is not a whole number of descriptors'],
  ['an indirect table outside guest memory', (q) => {
    q.setDesc(0, { gpa: GUEST_BASE + BigInt(q.guestBytes), len: 16 }, DESC_F.indirect, 0);
    return 0;
  }, 'indirect table outside guest memory'],
  ['a misaligned indirect table', (q) => {
    const table = q.buf(48, 0);
    q.setDesc(0, { gpa: table.gpa + 8n, len: 32 }, DESC_F.indirect, 0);
    return 0;
  }, 'indirect table outside guest memory'],
  ['more pieces than a chain may have (33)', (q) => q.indirect(Array.from({ length: 33 }, () => readable(q.buf(16)))),
    'too many descriptors in one chain'],
];

for (const [name, build, why] of refusals) {
  test(`vringWalk refuses ${name}`, async () => {
    const { h, q } = await queue();
    const head = build(q);
    const before = q.snapshot();
    assert.equal(walk(h, q, head), why);
    assert.deepEqual(q.changedOutside(before, []), [], 'the walk writes nothing to guest memory');
  });
}

test('a buffer is translated within one region only: two adjacent regions do not join', async () => {
  const h = await newHarness();
  const q = new GuestQueue(h, 8, 8192);
  const second = guestRegion(h, q.mem, 1, GUEST_BASE + 8192n, 8192);
  const windows = new Map([[q.region.handle, q.guest], [second.handle, second.at]]);
  const w = walk(h, q, q.chain([{ gpa: GUEST_BASE + 8192n + 16n, len: 64 }]), windows);
  assert.ok(typeof w !== 'string' && w.pieces[0].at === second.at + 16, 'translated into the second region');
  assert.equal(walk(h, q, q.chain([{ gpa: GUEST_BASE + 8192n - 16n, len: 32 }]), windows), 'buffer outside guest memory',
    'a buffer straddling the two regions is refused');
});
