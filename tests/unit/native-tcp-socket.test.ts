// The addon's tcpSocket (host/native/src/tcp.c): the socket and sockaddr the core's CONNECT uses, read
// from and written into a memory like the engine's, and every refusal as a -errno (never a throw).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative, type NativeAddon } from '../../host/native/index.js';

const loaded = loadNative();
assert.ok(loaded, 'the native addon is built; run npm run build:native');
const addon: NativeAddon = loaded;
const EINVAL = -22, EFAULT = -14, ENOSPC = -28;

function memoryWith(text: string): { mem: Uint8Array; addr: number; out: number } {
  const mem = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer);
  mem.set(Buffer.from(text, 'latin1'), 64);
  return { mem, addr: 64, out: 512 };
}

for (const [text, family, len] of [['127.0.0.1', 2, 16], ['::1', 10, 28]] as const) {
  test(`tcpSocket ${text}: a socket and its sockaddr ({u32 len, bytes}) for port 4420`, () => {
    const { mem, addr, out } = memoryWith(`${text}\0`);
    const fd = addon.tcpSocket(mem, addr, 4420, out, 32);
    assert.ok(fd >= 0, `fd ${fd}`);
    try {
      const view = new DataView(mem.buffer);
      assert.equal(view.getUint32(out, true), len, 'the sockaddr length');
      assert.equal(view.getUint16(out + 4, true), family, 'the family');
      assert.equal(view.getUint16(out + 6, false), 4420, 'the port, network order');
      assert.equal(addon.fdKind(fd) < 0 ? 'error' : 'ok', 'ok', 'a live fd');
    } finally {
      addon.closeFd(fd);
    }
  });
}

test('tcpSocket refusals: no IP literal, port 0 or above 65535, no NUL in reach, ranges outside memory, no room', () => {
  const { mem, addr, out } = memoryWith('localhost\0');
  assert.equal(addon.tcpSocket(mem, addr, 4420, out, 32), EINVAL, 'a name is no literal: no lookup here');
  const ok = memoryWith('127.0.0.1\0');
  assert.equal(addon.tcpSocket(ok.mem, ok.addr, 0, ok.out, 32), EINVAL, 'port 0');
  assert.equal(addon.tcpSocket(ok.mem, ok.addr, 65536, ok.out, 32), EINVAL, 'port 65536');
  const long = memoryWith('1'.repeat(200));
  assert.equal(addon.tcpSocket(long.mem, long.addr, 4420, long.out, 32), EINVAL, 'no NUL within an address length');
  assert.equal(addon.tcpSocket(ok.mem, 65536, 4420, ok.out, 32), EFAULT, 'the address outside memory');
  assert.equal(addon.tcpSocket(ok.mem, ok.addr, 4420, 65536 - 8, 32), EFAULT, 'the output outside memory');
  assert.equal(addon.tcpSocket(ok.mem, ok.addr, 4420, ok.out, 16), ENOSPC, 'no room for an IPv4 sockaddr and its length');
});
