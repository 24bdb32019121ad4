// The shipped example plugins (examples/plugins, built into build/plugins): ChaCha20 against RFC 8439's
// test vector and over a bdev (the base never holds the plaintext); CRC32C checksums that persist in
// the base's tail and fail the read of a block corrupted underneath; the WAT pass-through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, client, request, name, bytes, aligned, OP, type Env } from '../helpers/bdev-env.js';
import { stagePlugin } from '../../host/plugins/bdev-plugin.js';
import { preparePlugin } from '../../host/plugins/prepare.js';
import { DEFAULT_LIMITS, OP_READ, OP_WRITE } from '../../host/plugins/abi.js';
import { ReactorPlugins } from '../../host/plugins/reactor-plugins.js';
import { builtPlugin } from '../helpers/plugin-files.js';

const plugin = builtPlugin;
const BLOCK = 4096;
const KEY = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join('');
const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));

async function pluginBdev(e: Env, baseId: number, bdev: string, module: Uint8Array, config: unknown = {}): Promise<number> {
  const s = await stagePlugin(e.h.core, e.h.memory, bdev, BLOCK, { module, config }, preparePlugin);
  let posted = false;
  try {
    return request(e, (req) => { const rc = e.h.core.bdev_plugin_create(req, name(e, bdev), baseId, s.module, s.moduleLen, s.config, s.configLen, s.limits); posted = rc === 0; return rc; });
  } finally {
    s.free(posted);
  }
}

function deleteBdev(e: Env, id: number): void {
  request(e, (req) => e.h.core.bdev_delete(req, id));
  e.h.pollAll();
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 29 + seed * 101 + (i >> 8)) & 0xff);

test('chacha20: RFC 8439 section 2.4.2\'s test vector (key 00..1f, nonce 0:0:0:4a:0:0:0:0 = LBA 0x4a000000, counter 1)', () => {
  // The ABI straight through the loader, at the LBA whose nonce is the RFC's.
  const memory = new WebAssembly.Memory({ initial: 32, maximum: 32, shared: true });
  const mem = new Uint8Array(memory.buffer);
  const reports: string[] = [];
  const plugins = new ReactorPlugins(memory, (_l, _c, m) => { reports.push(m); });
  const metered = preparePlugin(plugin('chacha20.wasm'), DEFAULT_LIMITS);
  mem.set(metered, 4096);
  const config = new TextEncoder().encode(JSON.stringify({ key: KEY }));
  mem.set(config, 200_000);
  assert.equal(plugins.open(1, 4096, metered.length, 200_000, config.length, 512, DEFAULT_LIMITS.fuel, 0), 0, reports.join('; '));
  const plaintext = new TextEncoder().encode('Ladies and Gentlemen of the class of \'99: If I could offer you only one tip for the future, sunscreen would be it.');
  const DATA = 262144, OUT = 393216, IOV = 256;
  mem.fill(0, DATA, DATA + 512);
  mem.set(plaintext, DATA);
  new DataView(memory.buffer).setUint32(IOV, DATA, true);
  new DataView(memory.buffer).setUint32(IOV + 4, 512, true);
  assert.equal(plugins.io(1, OP_WRITE, 0x4a000000, 1, IOV, 1, OUT, 0), 0);
  const expected = hex(`6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81 e9 7e 7a ec 1d 43 60 c2 0a 27 af cc fd 9f ae 0b
    f9 1b 65 c5 52 47 33 ab 8f 59 3d ab cd 62 b3 57 16 39 d6 24 e6 51 52 ab 8f 53 0c 35 9f 08 61 d8
    07 ca 0d bf 50 0d 6a 61 56 a3 8e 08 8a 22 b6 5e 52 bc 51 4d 16 cc f8 06 81 8c e9 1a b7 79 37 36
    5a f9 0b bf 74 a3 5b e6 b4 0b 8e ed f2 78 5e 42 87 4d`);
  assert.deepEqual(mem.slice(OUT, OUT + expected.length), expected);
  // Reading decrypts: the ciphertext read back at the same LBA is the plaintext again.
  mem.set(mem.slice(OUT, OUT + 512), DATA);
  assert.equal(plugins.io(1, OP_READ, 0x4a000000, 1, IOV, 1, 0, 0), 0);
  assert.deepEqual(mem.slice(DATA, DATA + plaintext.length), plaintext);
});

test('chacha20 over a bdev: a round trip; the base holds neither the plaintext nor the same bytes for the same data at two LBAs; a bad key is refused', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 64);
  await assert.rejects(stagePlugin(e.h.core, e.h.memory, 'c1', BLOCK, { module: plugin('chacha20.wasm'), config: { key: 'abc' } }, preparePlugin),
    /refused its config: wstor_init returned -22/);
  const id = await pluginBdev(e, base, 'c0', plugin('chacha20.wasm'), { key: KEY });
  const c = client(e, id);
  const data = pattern(BLOCK, 3);
  const buf = aligned(e.h, 2 * BLOCK);
  bytes(e.h, buf, BLOCK).set(data);
  bytes(e.h, buf + BLOCK, BLOCK).set(data);
  assert.equal(c.run(OP.write, { buf, off: 10 * BLOCK, len: 2 * BLOCK }), 0);
  assert.ok(c.lastOk());
  const raw = client(e, base, false);
  const rawBuf = aligned(e.h, 2 * BLOCK);
  assert.equal(raw.run(OP.read, { buf: rawBuf, off: 10 * BLOCK, len: 2 * BLOCK }), 0);
  const onBase = bytes(e.h, rawBuf, 2 * BLOCK).slice();
  assert.notDeepEqual(onBase.subarray(0, BLOCK), data, 'the base does not hold the plaintext');
  assert.notDeepEqual(onBase.subarray(0, BLOCK), onBase.subarray(BLOCK), 'each LBA has its own keystream');
  const back = aligned(e.h, 2 * BLOCK);
  assert.equal(c.run(OP.read, { buf: back, off: 10 * BLOCK, len: 2 * BLOCK }), 0);
  assert.deepEqual(bytes(e.h, back, BLOCK).slice(), data);
  assert.deepEqual(bytes(e.h, back + BLOCK, BLOCK).slice(), data);
});

test('crc32c: checksums persist in the base\'s tail; a block corrupted under the plugin fails its read; untouched zero blocks read as zeroes', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 1100);
  let id = await pluginBdev(e, base, 'k0', plugin('crc32c.wasm'));
  // 1100 blocks hold 1098 data blocks and their 4-byte sums in 2 tail blocks.
  assert.equal(e.h.core.bdev_info(id, 1), 1098);
  assert.equal(e.h.core.bdev_plugin_info(id, 3), 4);
  let c = client(e, id);
  const len = 40 * BLOCK;
  const buf = aligned(e.h, len);
  const data = pattern(len, 5);
  bytes(e.h, buf, len).set(data);
  assert.equal(c.run(OP.write, { buf, off: 1020 * BLOCK, len }), 0, 'across the tail\'s two blocks of sums');
  assert.ok(c.lastOk(), e.h.messages('error').join('; '));
  assert.equal(c.run(OP.putChannel), 0);
  assert.equal(c.run(OP.close), 0);
  deleteBdev(e, id);
  // Under the plugin: flip one byte of block 1030 on the base.
  const raw = client(e, base, true);
  const one = aligned(e.h, BLOCK);
  assert.equal(raw.run(OP.read, { buf: one, off: 1030 * BLOCK, len: BLOCK }), 0);
  bytes(e.h, one, BLOCK)[100] ^= 0x01;
  assert.equal(raw.run(OP.write, { buf: one, off: 1030 * BLOCK, len: BLOCK }), 0);
  assert.equal(raw.run(OP.putChannel), 0);
  assert.equal(raw.run(OP.close), 0);
  e.h.pollAll();                                        // the writer's channel and descriptor go by message
  // A new plugin bdev reads the sums back from the tail.
  id = await pluginBdev(e, base, 'k1', plugin('crc32c.wasm'));
  c = client(e, id);
  const back = aligned(e.h, BLOCK);
  for (const block of [1020, 1029, 1031, 1059]) {
    assert.equal(c.run(OP.read, { buf: back, off: block * BLOCK, len: BLOCK }), 0);
    assert.ok(c.lastOk(), `block ${block} verifies`);
    assert.deepEqual(bytes(e.h, back, BLOCK).slice(), data.slice((block - 1020) * BLOCK, (block - 1019) * BLOCK));
  }
  assert.equal(c.run(OP.read, { buf: back, off: 1030 * BLOCK, len: BLOCK }), 0);
  assert.equal(c.lastOk(), false, 'the corrupted block fails its read');
  assert.ok(e.h.messages('info').some((m) => /crc32c: a block's data does not match its checksum/.test(m)));
  assert.equal(c.run(OP.read, { buf: back, off: 3 * BLOCK, len: BLOCK }), 0);
  assert.ok(c.lastOk(), 'a block never written reads (zeroes with a zero sum)');
  assert.deepEqual(bytes(e.h, back, BLOCK).slice(), new Uint8Array(BLOCK));
  // Rewriting the block makes it whole again.
  bytes(e.h, buf, BLOCK).set(data.slice(10 * BLOCK, 11 * BLOCK));
  assert.equal(c.run(OP.write, { buf, off: 1030 * BLOCK, len: BLOCK }), 0);
  assert.equal(c.run(OP.read, { buf: back, off: 1030 * BLOCK, len: BLOCK }), 0);
  assert.ok(c.lastOk());
});

test('the WAT pass-through: data unchanged both ways, on the base too', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 16);
  const id = await pluginBdev(e, base, 'w0', plugin('passthru.wasm'));
  const c = client(e, id);
  assert.ok(e.h.messages('info').some((m) => /plugin w0: pass-through ready/.test(m)), 'its init logged through wstor.log');
  const buf = aligned(e.h, BLOCK);
  const data = pattern(BLOCK, 9);
  bytes(e.h, buf, BLOCK).set(data);
  assert.equal(c.run(OP.write, { buf, off: 2 * BLOCK, len: BLOCK }), 0);
  assert.ok(c.lastOk());
  const raw = client(e, base, false);
  const rawBuf = aligned(e.h, BLOCK);
  assert.equal(raw.run(OP.read, { buf: rawBuf, off: 2 * BLOCK, len: BLOCK }), 0);
  assert.deepEqual(bytes(e.h, rawBuf, BLOCK).slice(), data);
});
