// Simulated guest memory and a split virtqueue inside the deterministic harness: guest memory is a
// memfd the addon maps outside the Wasm memory (a region, as in a session) that a MemTable slot names
// (tests/core/vhost-hooks.ts); the test sees its pages through a window in the harness's memory.
// Descriptor chains are built by the test, and what the core changed in guest memory can be checked
// byte by byte.
import assert from 'node:assert/strict';
import type { Harness } from './core.js';
import { loadNative } from '../../host/native/index.js';

const HOST_PAGE = 4096;

/**
 * Guest memory of `bytes` at guest physical `gpa` in slot `slot` of `mem`: a region the addon maps,
 * and where the test sees it in the harness's memory. `handle` is the host's (0 after unmap()).
 */
export function guestRegion(h: Harness, mem: number, slot: number, gpa: bigint, bytes: number): { at: number; handle: number; unmap(): void } {
  const native = loadNative();
  assert.ok(native, 'the native addon is built');
  const size = alignUp(bytes, HOST_PAGE);
  const fd = native.memfdCreate('wstor-test-guest', size);
  assert.ok(fd >= 0, `memfdCreate: ${fd}`);
  const guard = h.core.hv_mem_guard(mem);
  const handle = native.guestRegionMap(h.memory, guard, slot + 1, fd, 0, size);
  native.closeFd(fd);
  assert.ok(handle > 0, `guestRegionMap: ${handle}`);
  const at = alignUp(h.scratch(size + HOST_PAGE), HOST_PAGE);
  assert.equal(native.guestWindowMap(h.memory, guard, slot + 1, at, size, handle, 0), 0, 'the test\'s window');
  h.core.hv_mem_region(mem, slot, Number(gpa), size, handle);
  return { at, handle, unmap: () => { native.guestRegionUnmap(handle); } };
}

/** Where guest memory starts in guest physical addresses: above 4 GiB, so translation is 64-bit. */
export const GUEST_BASE = 0x1_0000_0000n;
export const DESC_F = { next: 1, write: 2, indirect: 4 } as const;
const DESC_BYTES = 16;

/** A buffer in guest memory: its guest physical address and where it is in the harness's memory. */
export interface GuestBuf { gpa: bigint; at: number; len: number }
/** One descriptor of a chain: a buffer (or any address and length), readable unless `write`. */
export interface Piece { gpa: bigint; len: number; write?: boolean }

const piece = (b: GuestBuf, write = false): Piece => ({ gpa: b.gpa, len: b.len, write });
export const readable = (b: GuestBuf): Piece => piece(b);
export const writable = (b: GuestBuf): Piece => piece(b, true);

function alignUp(n: number, to: number): number { return Math.ceil(n / to) * to; }

export class GuestQueue {
  readonly mem: number;
  readonly vring: number;
  readonly guest: number;           // guest memory's first byte in the harness's memory
  private readonly desc: number;
  private readonly avail: number;
  private readonly used: number;
  private next = 0;

  /** A queue of `num` entries over `guestBytes` of guest memory (one region at GUEST_BASE). */
  readonly region: { at: number; handle: number; unmap(): void };

  constructor(readonly h: Harness, readonly num = 8, readonly guestBytes = 1 << 18) {
    this.mem = h.core.hv_mem_new();
    this.region = guestRegion(h, this.mem, 0, GUEST_BASE, guestBytes);
    this.guest = this.region.at;
    // The rings lie outside guest memory, so every byte of it is the chains' business alone.
    this.desc = alignUp(h.scratch(num * DESC_BYTES + 16), 16);
    this.avail = alignUp(h.scratch(6 + 2 * num + 2), 2);
    this.used = alignUp(h.scratch(6 + 8 * num + 4), 4);
    this.vring = h.core.hv_vring_new(num, this.desc, this.avail, this.used);
  }

  private view() { return new DataView(this.h.memory.buffer); }

  /** `len` bytes of guest memory, each `fill` (distinct from what the core writes). */
  buf(len: number, fill = 0xa5, align = 16): GuestBuf {
    this.next = alignUp(this.next, align);
    assert.ok(this.next + len <= this.guestBytes, 'the test ran out of guest memory');
    const b = { gpa: GUEST_BASE + BigInt(this.next), at: this.guest + this.next, len };
    new Uint8Array(this.h.memory.buffer, b.at, len).fill(fill);
    this.next += len;
    return b;
  }

  /** Write descriptor `i` of the table at `table` (the ring's own by default). */
  setDesc(i: number, p: Piece, flags: number, next: number, table = this.desc): void {
    const v = this.view(), d = table + i * DESC_BYTES;
    v.setBigUint64(d, BigInt.asUintN(64, p.gpa), true);
    v.setUint32(d + 8, p.len >>> 0, true);
    v.setUint16(d + 12, flags | (p.write ? DESC_F.write : 0), true);
    v.setUint16(d + 14, next, true);
  }

  /** Descriptors first, first + 1, ... linked in order (in `table`, the ring's by default); returns the head. */
  chain(pieces: Piece[], first = 0, table = this.desc): number {
    pieces.forEach((p, k) => this.setDesc(first + k, p, k + 1 < pieces.length ? DESC_F.next : 0, first + k + 1, table));
    return first;
  }

  /** An indirect table in guest memory holding `pieces` as one chain; descriptor `at` of the ring points at it. */
  indirect(pieces: Piece[], at = 0): number {
    const table = this.buf(pieces.length * DESC_BYTES, 0);
    this.chain(pieces, 0, table.at);
    this.setDesc(at, { gpa: table.gpa, len: table.len }, DESC_F.indirect, 0);
    return at;
  }

  /** Make head available to the device. */
  post(head: number): void {
    const v = this.view(), idx = v.getUint16(this.avail + 2, true);
    v.setUint16(this.avail + 4 + 2 * (idx % this.num), head, true);
    v.setUint16(this.avail + 2, (idx + 1) & 0xffff, true);
  }

  usedIdx(): number { return this.view().getUint16(this.used + 2, true); }
  usedAt(k: number): { id: number; len: number } {
    const v = this.view(), e = this.used + 4 + 8 * (k % this.num);
    return { id: v.getUint32(e, true), len: v.getUint32(e + 4, true) };
  }

  snapshot(): Uint8Array { return new Uint8Array(this.h.memory.buffer, this.guest, this.guestBytes).slice(); }

  /** Offsets (from GUEST_BASE) of bytes changed since `before` that lie outside every `allowed` buffer. */
  changedOutside(before: Uint8Array, allowed: GuestBuf[]): number[] {
    const now = new Uint8Array(this.h.memory.buffer, this.guest, this.guestBytes);
    const inside = (at: number) => allowed.some((b) => at >= b.at && at < b.at + b.len);
    const out: number[] = [];
    for (let i = 0; i < this.guestBytes && out.length < 8; i++) if (now[i] !== before[i] && !inside(this.guest + i)) out.push(i);
    return out;
  }

  bytes(b: GuestBuf): Uint8Array { return new Uint8Array(this.h.memory.buffer, b.at, b.len); }
}
