// The example plugins on real reactors over a file bdev: CRC32C sums survive an engine restart in the
// file's tail and a byte flipped in the file fails the read of its block; ChaCha20 leaves no plaintext
// in the file and reads back through a new engine with the same key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Engine, WstorError, type BlobHandle } from '../../host/index.js';
import { builtPlugin, withDiskFile } from '../helpers/plugin-files.js';

const KEY = 'c0ffee'.repeat(10) + 'beef';

async function withFileEngine<T>(file: string, module: string, config: unknown, body: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.start({ reactors: 2, memoryBytes: 128 << 20, logLevel: 'fatal' });
  try {
    engine.bdev.createFile('f0', { path: file });
    await engine.bdev.createPlugin('p0', 'f0', { module: builtPlugin(module), config });
    return await body(engine);
  } finally {
    await engine.stop();
  }
}

/** A new blobstore on p0 with one blob holding `data`, read back; the blob's id. */
async function blobWith(engine: Engine, data: Uint8Array): Promise<bigint> {
  const bs = await engine.blobstore.init('p0', { clusterSize: 1 << 20 });
  const id = await bs.create({ size: 1 << 20 });
  const blob = await bs.open(id);
  await blob.write(0, data);
  assert.deepEqual(await blob.read(0, data.length), data);
  await blob.close();
  await bs.unload();
  return id;
}

/** Load the blobstore on p0 and run `body` on blob `id`, then close and unload. */
async function withBlob(engine: Engine, id: bigint, body: (blob: BlobHandle) => Promise<void>): Promise<void> {
  const bs = await engine.blobstore.load('p0');
  const blob = await bs.open(id);
  await body(blob);
  await blob.close();
  await bs.unload();
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 53 + 11 + (i >> 10)) & 0xff);

test('crc32c over a file: sums persist across engines; a byte flipped in the file fails that block\'s read only', () => withDiskFile(16 << 20, async (file) => {
  const data = pattern(64 << 10);
  const blobId = await withFileEngine(file, 'crc32c.wasm', {}, (engine) => blobWith(engine, data));
  await withFileEngine(file, 'crc32c.wasm', {}, (engine) => withBlob(engine, blobId, async (blob) => {
    assert.deepEqual(await blob.read(0, data.length), data, 'verified against the sums read back from the tail');
  }));
  const disk = fs.readFileSync(file);
  const at = disk.indexOf(Buffer.from(data.subarray(8192, 8192 + 4096)));
  assert.ok(at > 0 && at % 4096 === 0, 'the third block of the blob\'s data is in the file as written');
  disk[at + 77] ^= 0x20;
  fs.writeFileSync(file, disk);
  await withFileEngine(file, 'crc32c.wasm', {}, (engine) => withBlob(engine, blobId, async (blob) => {
    await assert.rejects(blob.read(8192, 4096), (e: WstorError) => e.code === 'EIO');
    assert.deepEqual(await blob.read(0, 8192), data.subarray(0, 8192), 'the blocks before it still read');
    assert.deepEqual(await blob.read(12288, 4096), data.subarray(12288, 16384), 'and after it');
  }));
}));

test('chacha20 over a file: no plaintext in the file; a new engine with the key reads it back', () => withDiskFile(16 << 20, async (file) => {
  const data = pattern(64 << 10);
  const blobId = await withFileEngine(file, 'chacha20.wasm', { key: KEY }, (engine) => blobWith(engine, data));
  const disk = fs.readFileSync(file);
  for (let off = 0; off < data.length; off += 4096) assert.equal(disk.indexOf(Buffer.from(data.subarray(off, off + 64))), -1, `no plaintext of block ${off / 4096}`);
  await withFileEngine(file, 'chacha20.wasm', { key: KEY }, (engine) => withBlob(engine, blobId, async (blob) => {
    assert.deepEqual(await blob.read(0, data.length), data);
  }));
}));
