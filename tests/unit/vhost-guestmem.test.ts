// Guest memory outside the Wasm memory (host/native/src/guestmem.c): regions of any size mapped by the
// addon, named by handles; bounds-checked copies to and from the Wasm memory; ring windows mapped into
// it; hostile numbers (overflowing lengths, ranges past a region, stale and forged handles) refused;
// a region unmapped while a window still shows it; a file that shrinks under a region. Every test
// closes what it opens, and the last one checks that nothing stayed mapped and no fd leaked.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, type NativeAddon } from '../../host/native/index.js';

const loaded = loadNative();
assert.ok(loaded, 'the native addon is built; run npm run build:native');
const addon: NativeAddon = loaded;
const E = os.constants.errno;
const PAGE = addon.hostPageSize();
const MiB = 1 << 20;
const GiB = 2 ** 30;

const GUARD_AT = 0x100;   // the guard word in Wasm memory
const BUF_AT = 0x1000;    // a staging buffer
const WINDOW_AT = 0x20000; // page-aligned room for a window

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-guestmem-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const openFdCount = (): number => fs.readdirSync('/proc/self/fd').length;
const fdsAtStart = openFdCount();

/** The view the guest copies take (the host's own over the whole memory). */
const u8 = (memory: WebAssembly.Memory): Uint8Array => new Uint8Array(memory.buffer);

function newMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
}

/** A sparse file of `bytes` (the guest's memory file), opened read-write. */
function guestFile(bytes: number): number {
  const fd = fs.openSync(path.join(tmp, `g${files++}`), 'w+');
  fs.ftruncateSync(fd, bytes);
  return fd;
}

/** A region over all of a new file of `bytes`, the file's fd closed at once (the addon keeps its own). */
function region(memory: WebAssembly.Memory, bytes: number, guardValue = 1): { handle: number; fdPath: string } {
  const fd = guestFile(bytes);
  const fdPath = fs.readlinkSync(`/proc/self/fd/${fd}`);
  const handle = addon.guestRegionMap(memory, GUARD_AT, guardValue, fd, 0, bytes);
  fs.closeSync(fd);
  assert.ok(handle >= 1 && handle < 2 ** 31, `a handle, got ${handle}`);
  return { handle, fdPath };
}

const fill = (memory: WebAssembly.Memory, at: number, bytes: number, seed: number): Uint8Array => {
  const view = new Uint8Array(memory.buffer, at, bytes);
  for (let i = 0; i < bytes; i++) view[i] = (i * 7 + seed) & 0xff;
  return view.slice();
};

describe('guest regions outside the Wasm memory', () => {
  test('a region larger than the whole Wasm memory (6 GiB) moves bytes at both ends, seen in its file', () => {
    const memory = newMemory();
    const { handle, fdPath } = region(memory, 6 * GiB);
    for (const offset of [0, 5 * GiB + 12345, 6 * GiB - 512]) {
      const written = fill(memory, BUF_AT, 512, offset % 251);
      assert.equal(addon.guestWrite(u8(memory), handle, offset, BUF_AT, 512), 0);
      new Uint8Array(memory.buffer, BUF_AT, 512).fill(0);
      assert.equal(addon.guestRead(u8(memory), handle, offset, BUF_AT, 512), 0);
      assert.deepEqual(new Uint8Array(memory.buffer, BUF_AT, 512), written, `read back at ${offset}`);
      const fd = fs.openSync(fdPath, 'r');
      const inFile = Buffer.alloc(512);
      fs.readSync(fd, inFile, 0, 512, offset);
      fs.closeSync(fd);
      assert.deepEqual(new Uint8Array(inFile), written, `the file holds what was written at ${offset}`);
    }
    assert.equal(addon.guestRegionUnmap(handle), 0);
  });

  test('hostile ranges: past the end, overflowing, outside the Wasm memory; forged and zero handles', () => {
    const memory = newMemory();
    const { handle } = region(memory, 4 * MiB);
    const end = 4 * MiB;
    const refusals: Array<[string, number, number, number, number, number]> = [
      ['one byte past the end', handle, end - 511, BUF_AT, 512, -E.EFAULT],
      ['starts at the end', handle, end, BUF_AT, 1, -E.EFAULT],
      ['offset near 2^53 (offset + len overflows nothing, still outside)', handle, 2 ** 53 - 1, BUF_AT, 4096, -E.EFAULT],
      ['length 2^32 - 1', handle, 0, BUF_AT, 2 ** 32 - 1, -E.EFAULT],
      ['Wasm end outside the memory', handle, 0, memory.buffer.byteLength - 100, 512, -E.EFAULT],
      ['handle 0 (the Wasm memory is no region)', 0, 0, BUF_AT, 1, -E.EBADF],
      ['a forged handle (same slot, other generation)', handle + (1 << 12), 0, BUF_AT, 1, -E.EBADF],
      ['a handle of a slot never used', (1 << 12) | 4095, 0, BUF_AT, 1, -E.EBADF],
      ['a handle at 2^31 - 1', 2 ** 31 - 1, 0, BUF_AT, 1, -E.EBADF],
    ];
    for (const [what, h, offset, ptr, len, rc] of refusals) {
      assert.equal(addon.guestRead(u8(memory), h, offset, ptr, len), rc, `read: ${what}`);
      assert.equal(addon.guestWrite(u8(memory), h, offset, ptr, len), rc, `write: ${what}`);
    }
    assert.equal(addon.guestRead(u8(memory), handle, end - 512, BUF_AT, 512), 0, 'the last 512 bytes are in');
    assert.equal(addon.guestRead(u8(memory), handle, end, BUF_AT, 0), 0, 'an empty range at the end is in');
    assert.throws(() => addon.guestRead(u8(memory), handle, -1, BUF_AT, 1), { code: 'EINVAL' }, 'a negative offset is a host bug');
    const small = new Uint8Array(memory.buffer, 0, BUF_AT + 256);
    assert.equal(addon.guestRead(small, handle, 0, BUF_AT, 512), -E.EFAULT, 'past the end of the view given (a view made before a grow)');
    assert.throws(() => addon.guestRead(u8(memory), handle, 2 ** 53, BUF_AT, 1), { code: 'EINVAL' }, 'an inexact offset is a host bug');
    assert.equal(addon.guestRegionUnmap(handle), 0);
  });

  test('mapping refusals: empty, huge, past the file, not a file, bad guard words', () => {
    const memory = newMemory();
    const fd = guestFile(MiB);
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, fd, 0, 0), -E.EINVAL, 'length 0');
    assert.throws(() => addon.guestRegionMap(memory, GUARD_AT, 1, fd, 0, 2 ** 53), { code: 'EINVAL' }, 'length 2^53: inexact, a host bug');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, fd, 0, 2 ** 53 - 1), -E.ENXIO, 'length 2^53 - 1: past the file');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, fd, 0, MiB + PAGE), -E.ENXIO, 'one page past the file');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, fd, PAGE, MiB), -E.ENXIO, 'offset + length past the file');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, fd, 100, PAGE), -E.EINVAL, 'fd offset not page-aligned');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT + 1, 1, fd, 0, MiB), -E.EINVAL, 'guard word misaligned');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 0, fd, 0, MiB), -E.EINVAL, 'guard value 0');
    assert.equal(addon.guestRegionMap(memory, memory.buffer.byteLength, 1, fd, 0, MiB), -E.EFAULT, 'guard word outside memory');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, -1, 0, MiB), -E.EBADF, 'fd -1');
    const efd = addon.eventfdCreate();
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, efd, 0, PAGE), -E.ENODEV, 'an eventfd is no memory');
    addon.closeFd(efd);
    const readOnly = fs.openSync(path.join(tmp, `ro${files++}`), 'w+');
    fs.ftruncateSync(readOnly, MiB);
    const ro = fs.openSync(fs.readlinkSync(`/proc/self/fd/${readOnly}`), 'r');
    assert.equal(addon.guestRegionMap(memory, GUARD_AT, 1, ro, 0, MiB), -E.EACCES, 'a read-only fd');
    fs.closeSync(ro);
    fs.closeSync(readOnly);
    fs.closeSync(fd);
    assert.equal(addon.guestMemStats().mapped, 0, 'nothing was left mapped by a refusal');
  });

  test('unmap: later accesses are -EBADF, twice is -EBADF, and a reused slot does not answer to the old handle', () => {
    const memory = newMemory();
    const first = region(memory, MiB).handle;
    assert.equal(addon.guestRegionUnmap(first), 0);
    assert.equal(addon.guestRead(u8(memory), first, 0, BUF_AT, 1), -E.EBADF);
    assert.equal(addon.guestRegionUnmap(first), -E.EBADF, 'twice');
    assert.equal(addon.guestRegionUnmap(0), -E.EBADF);
    const second = region(memory, MiB).handle;
    assert.notEqual(second, first, 'a new handle, even in the same slot');
    assert.equal(addon.guestRead(u8(memory), first, 0, BUF_AT, 1), -E.EBADF, 'the old handle names nothing');
    assert.equal(addon.guestRegionUnmap(first), -E.EBADF, 'nor can it unmap the new region');
    assert.equal(addon.guestRead(u8(memory), second, 0, BUF_AT, 1), 0);
    assert.equal(addon.guestRegionUnmap(second), 0);
    assert.deepEqual(addon.guestMemStats(), { mapped: 0, retired: 0 });
  });

  test('many regions at once, each its own bytes', () => {
    const memory = newMemory();
    const handles = Array.from({ length: 64 }, () => region(memory, 2 * MiB).handle);
    handles.forEach((h, i) => {
      new Uint8Array(memory.buffer, BUF_AT, 8).fill(i);
      assert.equal(addon.guestWrite(u8(memory), h, MiB, BUF_AT, 8), 0);
    });
    handles.forEach((h, i) => {
      assert.equal(addon.guestRead(u8(memory), h, MiB, BUF_AT, 8), 0);
      assert.deepEqual([...new Uint8Array(memory.buffer, BUF_AT, 8)], new Array(8).fill(i));
    });
    for (const h of handles) assert.equal(addon.guestRegionUnmap(h), 0);
  });
});

describe('ring windows: a region\'s pages mapped into the Wasm memory as well', () => {
  test('the same bytes both ways; refusals for misaligned, outside and stale ranges', () => {
    const memory = newMemory();
    const { handle } = region(memory, 8 * MiB);
    const windowOffset = 5 * MiB;
    assert.equal(addon.guestWindowMap(memory, GUARD_AT, 2, WINDOW_AT, 2 * PAGE, handle, windowOffset), 0);
    const window = new Uint8Array(memory.buffer, WINDOW_AT, 2 * PAGE);
    window.set([1, 2, 3, 4], PAGE - 2);                    // across the window's two pages
    assert.equal(addon.guestRead(u8(memory), handle, windowOffset + PAGE - 2, BUF_AT, 4), 0);
    assert.deepEqual([...new Uint8Array(memory.buffer, BUF_AT, 4)], [1, 2, 3, 4], 'written in the window, read in the region');
    new Uint8Array(memory.buffer, BUF_AT, 2).set([9, 8]);
    assert.equal(addon.guestWrite(u8(memory), handle, windowOffset + 10, BUF_AT, 2), 0);
    assert.deepEqual([...window.subarray(10, 12)], [9, 8], 'written in the region, seen in the window');

    const W = WINDOW_AT + 4 * PAGE;
    const refusals: Array<[string, number, number, number, number, number]> = [
      ['length 0', W, 0, handle, 0, -E.EINVAL],
      ['Wasm offset not page-aligned', W + 8, PAGE, handle, 0, -E.EINVAL],
      ['region offset not page-aligned', W, PAGE, handle, 8, -E.EINVAL],
      ['a window past the region', W, 2 * PAGE, handle, 8 * MiB - PAGE, -E.EFAULT],
      ['a window past the Wasm memory', memory.buffer.byteLength - PAGE, 2 * PAGE, handle, 0, -E.EFAULT],
      ['a forged handle', W, PAGE, handle + (1 << 12), 0, -E.EBADF],
    ];
    for (const [what, at, length, h, offset, rc] of refusals)
      assert.equal(addon.guestWindowMap(memory, GUARD_AT, 2, at, length, h, offset), rc, what);

    assert.equal(addon.guestRegionUnmap(handle), 0);
    assert.deepEqual(addon.guestMemStats(), { mapped: 0, retired: 0 }, 'the region is gone at once (nothing pinned it)');
    assert.deepEqual([...window.subarray(10, 12)], [9, 8], 'the window keeps its pages until it is unmapped');
    assert.equal(addon.guestWindowMap(memory, GUARD_AT, 2, W, PAGE, handle, 0), -E.EBADF, 'no new window of an unmapped region');
    assert.equal(addon.unmapFromMemory(memory, WINDOW_AT, 2 * PAGE), 0);
    assert.deepEqual([...window.subarray(10, 12)], [0, 0], 'zero pages back');
  });
});

describe('a region whose file shrinks under it', () => {
  test('the access reads zeroes, the guard word gets its value, the process lives', () => {
    // In a child: a SIGBUS that were not repaired would end this test process.
    const here = path.dirname(fileURLToPath(import.meta.url));
    const native = path.resolve(here, '../../host/native/index.js');
    const script = `
      const fs = require('node:fs');
      import(${JSON.stringify(native)}).then(({ loadNative }) => {
        const addon = loadNative();
        const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
        const file = ${JSON.stringify(path.join(tmp, 'shrinks'))};
        const fd = fs.openSync(file, 'w+');
        fs.ftruncateSync(fd, 1 << 20);
        const handle = addon.guestRegionMap(memory, 64, 7, fd, 0, 1 << 20);
        new Uint8Array(memory.buffer, 4096, 16).fill(0xaa);
        const wrote = addon.guestWrite(new Uint8Array(memory.buffer), handle, 512 * 1024, 4096, 16);
        fs.ftruncateSync(fd, 0);
        const read = addon.guestRead(new Uint8Array(memory.buffer), handle, 512 * 1024, 4096, 16);
        const bytes = [...new Uint8Array(memory.buffer, 4096, 16)];
        const guardWord = new Uint32Array(memory.buffer, 64, 1)[0];
        const unmapped = addon.guestRegionUnmap(handle);
        console.log(JSON.stringify({ handle, wrote, read, bytes, guardWord, unmapped, stats: addon.guestMemStats() }));
      });`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    assert.ok(out.handle >= 1);
    assert.equal(out.wrote, 0);
    assert.equal(out.read, 0);
    assert.deepEqual(out.bytes, new Array(16).fill(0), 'zero pages, not the old bytes and not a crash');
    assert.equal(out.guardWord, 7, 'the guard word tells the core which region broke');
    assert.equal(out.unmapped, 0);
    assert.deepEqual(out.stats, { mapped: 0, retired: 0 });
    assert.match(run.stderr, /SIGBUS in a guest's memory/);
  });
});

describe('io_uring on external vectors: guest buffers in place, pinned until the completion', () => {
  const READV = 6, WRITEV = 7, READ = 0, F_EXTERNAL = 0x02;
  const DESC_AT = 0x8000, CQE_AT = 0x9000, VEC_AT = 0xa000, WASM_BUF = 0x10000;

  /** A ring over `memory`; submit() writes one descriptor and returns uringSubmit's count; reap() waits for one completion. */
  function ring(memory: WebAssembly.Memory, forceFallback: boolean) {
    const handle = addon.uringCreate(new Uint8Array(memory.buffer), 8, { forceFallback });
    const view = () => new DataView(memory.buffer);
    return {
      submit(op: number, flags: number, fd: number, iovcnt: number, offset: bigint, userData: number): number {
        const v = view();
        v.setUint8(DESC_AT, op); v.setUint8(DESC_AT + 1, flags); v.setUint16(DESC_AT + 2, iovcnt, true);
        v.setInt32(DESC_AT + 4, fd, true); v.setUint32(DESC_AT + 8, op === READ ? WASM_BUF : VEC_AT, true);
        v.setUint32(DESC_AT + 12, op === READ ? 4096 : 0, true); v.setBigUint64(DESC_AT + 16, offset, true);
        v.setUint32(DESC_AT + 24, userData, true); v.setUint32(DESC_AT + 28, 0, true);
        return addon.uringSubmit(handle, DESC_AT, 1);
      },
      reap(timeoutMs = 5000): { userData: number; res: number } | null {
        for (const end = Date.now() + timeoutMs; Date.now() < end;) {
          if (addon.uringReap(handle, CQE_AT, 1) === 1) return { userData: view().getUint32(CQE_AT, true), res: view().getInt32(CQE_AT + 4, true) };
        }
        return null;
      },
      destroy: () => addon.uringDestroy(handle),
    };
  }

  function vector(memory: WebAssembly.Memory, entries: Array<[number, number, number]>): void {
    const v = new DataView(memory.buffer);
    entries.forEach(([handle, offset, len], i) => {
      v.setUint32(VEC_AT + 16 * i, handle, true);
      v.setUint32(VEC_AT + 16 * i + 4, len, true);
      v.setBigUint64(VEC_AT + 16 * i + 8, BigInt(offset), true);
    });
  }

  for (const fallback of [false, true]) {
    test(`${fallback ? 'fallback mode' : 'io_uring'}: WRITEV and READV move region bytes (and a Wasm entry) in place; hostile entries refused`, () => {
      const memory = newMemory();
      const { handle } = region(memory, 8 * MiB);
      const r = ring(memory, fallback);
      const fd = guestFile(MiB);
      const a = fill(memory, BUF_AT, 4096, 3);
      assert.equal(addon.guestWrite(u8(memory), handle, 7 * MiB + 512, BUF_AT, 4096), 0);
      const b = fill(memory, WASM_BUF, 4096, 4);
      vector(memory, [[handle, 7 * MiB + 512, 4096], [0, WASM_BUF, 4096]]);
      assert.equal(r.submit(WRITEV, F_EXTERNAL, fd, 2, 8192n, 1), 1);
      assert.deepEqual(r.reap(), { userData: 1, res: 8192 });
      const onDisk = Buffer.alloc(8192);
      fs.readSync(fd, onDisk, 0, 8192, 8192);
      assert.deepEqual(new Uint8Array(onDisk), Uint8Array.from([...a, ...b]), 'the file holds the region\'s bytes, then the Wasm entry\'s');

      vector(memory, [[handle, 100, 8192]]);
      assert.equal(r.submit(READV, F_EXTERNAL, fd, 1, 8192n, 2), 1);
      assert.deepEqual(r.reap(), { userData: 2, res: 8192 });
      assert.equal(addon.guestRead(u8(memory), handle, 100, BUF_AT, 8192), 0);
      assert.deepEqual(new Uint8Array(memory.buffer, BUF_AT, 8192), new Uint8Array(onDisk), 'read into the region in place');

      const refusals: Array<[string, Array<[number, number, number]>, number, number]> = [
        ['a range past the region', [[handle, 8 * MiB - 100, 4096]], READV, -E.EFAULT],
        ['a forged handle', [[handle + (1 << 12), 0, 4096]], READV, -E.EBADF],
        ['a Wasm entry outside the memory', [[0, memory.buffer.byteLength - 10, 4096]], WRITEV, -E.EFAULT],
        ['the second entry bad, the first good', [[handle, 0, 4096], [handle, 9 * MiB, 4096]], WRITEV, -E.EFAULT],
      ];
      for (const [what, entries, op, rc] of refusals) {
        vector(memory, entries);
        assert.equal(r.submit(op, F_EXTERNAL, fd, entries.length, 0n, 9), 1, what);
        assert.deepEqual(r.reap(), { userData: 9, res: rc }, what);
      }
      assert.equal(r.submit(READ, F_EXTERNAL, fd, 0, 0n, 10), 1);
      assert.deepEqual(r.reap(), { userData: 10, res: -E.EINVAL }, 'F_EXTERNAL on a plain READ');
      assert.deepEqual(addon.guestMemStats(), { mapped: 1, retired: 0 }, 'no pin left behind by a refusal');
      r.destroy();
      fs.closeSync(fd);
      assert.equal(addon.guestRegionUnmap(handle), 0);
    });
  }

  test('a region unmapped under a READV in flight stays mapped until the completion, which lands in it', () => {
    const memory = newMemory();
    const { handle } = region(memory, MiB);
    const r = ring(memory, false);
    const [readEnd, writeEnd] = pipe();
    vector(memory, [[handle, 4096, 16]]);
    assert.equal(r.submit(READV, F_EXTERNAL, readEnd, 1, 0xffffffffffffffffn, 5), 1);   // an empty pipe: in flight
    assert.equal(r.reap(50), null, 'still in flight');
    assert.equal(addon.guestRegionUnmap(handle), 0);
    assert.deepEqual(addon.guestMemStats(), { mapped: 1, retired: 1 }, 'retired, but pinned by the read');
    assert.equal(addon.guestRead(u8(memory), handle, 0, BUF_AT, 1), -E.EBADF, 'no new access to it');
    fs.writeSync(writeEnd, Buffer.alloc(16, 0x5a));
    assert.deepEqual(r.reap(), { userData: 5, res: 16 });
    assert.deepEqual(addon.guestMemStats(), { mapped: 0, retired: 0 }, 'unmapped with its last pin');
    r.destroy();
    fs.closeSync(readEnd);
    fs.closeSync(writeEnd);
  });

  test('a ring destroyed with a completion on a retired region never reaped: the region goes with the ring', () => {
    const memory = newMemory();
    const { handle } = region(memory, MiB);
    const r = ring(memory, false);
    const [readEnd, writeEnd] = pipe();
    vector(memory, [[handle, 0, 16]]);
    assert.equal(r.submit(READV, F_EXTERNAL, readEnd, 1, 0xffffffffffffffffn, 6), 1);
    assert.equal(addon.guestRegionUnmap(handle), 0);
    fs.writeSync(writeEnd, Buffer.alloc(16, 1));                 // it completes; nobody reaps it
    r.destroy();
    assert.deepEqual(addon.guestMemStats(), { mapped: 0, retired: 0 }, 'its pin went with the ring');
    fs.closeSync(readEnd);
    fs.closeSync(writeEnd);
  });
});

/** A pipe made by a FIFO in the temporary directory (Node has no pipe(2)): [read end, write end]. */
function pipe(): [number, number] {
  const fifo = path.join(tmp, `fifo${files++}`);
  const made = spawnSync('mkfifo', [fifo]);
  assert.equal(made.status, 0, 'mkfifo');
  const readEnd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeEnd = fs.openSync(fifo, fs.constants.O_WRONLY);
  return [readEnd, writeEnd];
}

test('nothing stayed mapped and no fd leaked', () => {
  assert.deepEqual(addon.guestMemStats(), { mapped: 0, retired: 0 });
  assert.equal(openFdCount(), fdsAtStart);
});
