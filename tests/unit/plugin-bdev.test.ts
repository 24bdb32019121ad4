// The plugin bdev in the deterministic harness (one instance, threads polled by hand): data through
// the plugin both ways over a malloc base, the base holding what the plugin wrote, traps and fuel
// overruns failing only their I/O until the trap budget is spent, then every I/O failing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, client, request, name, bytes, aligned, OP, type Env } from '../helpers/bdev-env.js';
import { stagePlugin, type PluginBdevOptions } from '../../host/plugins/bdev-plugin.js';
import { preparePlugin } from '../../host/plugins/prepare.js';
import { pluginBytes, type PluginParts } from '../helpers/plugin-wat.js';

const BLOCK = 4096;

async function pluginOver(e: Env, baseId: number, parts: PluginParts = {}, opts: Partial<PluginBdevOptions> = {}): Promise<number> {
  const s = await stagePlugin(e.h.core, e.h.memory, 'p0', BLOCK, { module: pluginBytes(parts), ...opts }, preparePlugin);
  let posted = false;
  try {
    return request(e, (req) => { const rc = e.h.core.bdev_plugin_create(req, name(e, 'p0'), baseId, s.module, s.moduleLen, s.config, s.configLen, s.limits); posted = rc === 0; return rc; });
  } finally {
    s.free(posted);
  }
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + (i >> 9)) & 0xff);
}

test('data goes through the plugin both ways: the base holds the plugin\'s output, a reader gets the writer\'s bytes', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 256);
  const id = await pluginOver(e, base);
  const c = client(e, id);
  const len = 48 * BLOCK;                               // 192 KiB: two plugin windows
  const buf = aligned(e.h, len);
  const data = pattern(len, 1);
  bytes(e.h, buf, len).set(data);
  assert.equal(c.run(OP.write, { buf, off: 8 * BLOCK, len }), 0);
  assert.ok(c.lastOk(), e.h.messages('error').join('; '));
  assert.deepEqual(bytes(e.h, buf, len).slice(), data, 'the writer\'s buffer is unchanged');
  const raw = client(e, base, false);                   // the base, read-only (the plugin bdev holds the write claim)
  const rawBuf = aligned(e.h, len);
  assert.equal(raw.run(OP.read, { buf: rawBuf, off: 8 * BLOCK, len }), 0);
  assert.deepEqual(bytes(e.h, rawBuf, len).slice(), data.map((x) => x ^ 0xff), 'the base holds what the plugin wrote');
  const back = aligned(e.h, len);
  assert.equal(c.run(OP.read, { buf: back, off: 8 * BLOCK, len }), 0);
  assert.ok(c.lastOk());
  assert.deepEqual(bytes(e.h, back, len).slice(), data);
  // unmap and write-zeroes would put on the base what the plugin never saw: not offered.
  assert.equal(c.run(OP.unmap, { off: 0, len: BLOCK }), -95);
  assert.equal(c.run(OP.flush), 0);
  assert.ok(c.lastOk());
});

test('a trap or an overrun fails only its I/O; past max_traps in the window every I/O fails, reported once', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 64);
  // Block 5 traps, block 6 loops forever; others pass through inverted.
  const id = await pluginOver(e, base, {
    ioPrologue: '(if (i64.eq (local.get $off) (i64.const 5)) (then (unreachable)))' +
      '(if (i64.eq (local.get $off) (i64.const 6)) (then (loop $forever (br $forever))))',
  }, { maxTraps: 3, trapWindowMs: 60_000, fuel: 500_000 });
  const c = client(e, id);
  const buf = aligned(e.h, BLOCK);
  bytes(e.h, buf, BLOCK).set(pattern(BLOCK, 2));
  const write = (block: number) => { assert.equal(c.run(OP.write, { buf, off: block * BLOCK, len: BLOCK }), 0); return c.lastOk(); };
  assert.equal(write(5), false, 'the trapping block fails');
  assert.equal(write(1), true, 'the next I/O works (a new instance)');
  assert.equal(write(6), false, 'the looping block fails');
  assert.equal(e.h.core.bdev_plugin_info(id, 0), 2);
  assert.equal(e.h.core.bdev_plugin_info(id, 1), 0);
  assert.ok(e.h.messages('error').some((m) => /ran past its time budget of 500000 fuel units/.test(m)));
  assert.equal(write(5), false);
  assert.equal(e.h.core.bdev_plugin_info(id, 1), 1, 'the third trap spends the budget');
  assert.equal(write(1), false, 'from now on every I/O fails');
  assert.equal(c.run(OP.read, { buf, off: 0, len: BLOCK }), 0);
  assert.equal(c.lastOk(), false);
  const failed = e.h.messages('error').filter((m) => /p0: its plugin trapped or ran out of fuel 3 times within 60000 ms: every I\/O on it fails/.test(m));
  assert.equal(failed.length, 1, 'reported once');
  assert.equal(e.h.core.bdev_plugin_info(id, 0), 3, 'failed I/Os never reach the plugin');
  // The base goes on serving.
  const raw = client(e, base, false);
  assert.equal(raw.run(OP.read, { buf, off: BLOCK, len: BLOCK }), 0);
  assert.ok(raw.lastOk());
  assert.deepEqual(bytes(e.h, buf, BLOCK).slice(), pattern(BLOCK, 2).map((x) => x ^ 0xff));
});

test('traps spread wider than the window never fail the bdev', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 16);
  const id = await pluginOver(e, base, { ioPrologue: '(if (i64.eq (local.get $off) (i64.const 5)) (then (unreachable)))' },
    { maxTraps: 2, trapWindowMs: 30 });
  const c = client(e, id);
  const buf = aligned(e.h, BLOCK);
  for (let i = 0; i < 3; i++) {
    assert.equal(c.run(OP.read, { buf, off: 5 * BLOCK, len: BLOCK }), 0);
    assert.equal(c.lastOk(), false);
    await new Promise((r) => setTimeout(r, 60));
  }
  assert.equal(e.h.core.bdev_plugin_info(id, 0), 3);
  assert.equal(e.h.core.bdev_plugin_info(id, 1), 0);
  assert.equal(c.run(OP.read, { buf, off: 4 * BLOCK, len: BLOCK }), 0);
  assert.ok(c.lastOk());
});

test('deleting a plugin bdev frees everything it held: as much is left as after the same life of an error bdev', async () => {
  const e = await env();
  const base = e.h.core.hb_malloc_create(BLOCK, 16);
  /** Heap blocks left after making a bdev, one write through it, closing and deleting it. */
  const leftAfter = async (make: () => Promise<number>) => {
    const live = e.h.core.heap_live_blocks_all();
    const id = await make();
    const c = client(e, id);
    assert.equal(c.run(OP.write, { buf: aligned(e.h, BLOCK), off: 0, len: BLOCK }), 0);
    assert.ok(c.lastOk());
    assert.equal(c.run(OP.putChannel), 0);
    assert.equal(c.run(OP.close), 0);
    request(e, (req) => e.h.core.bdev_delete(req, id));
    e.h.pollAll();
    assert.equal(e.h.core.hb_exists(id), 0);
    return e.h.core.heap_live_blocks_all() - live;
  };
  const errorBdev = () => leftAfter(async () => request(e, (req) => e.h.core.bdev_error_create(req, name(e, 'e0'), base)));
  await errorBdev();                                     // the first life leaves the base's retired channel statistics
  const pluginLeft = await leftAfter(() => pluginOver(e, base));
  assert.equal(pluginLeft, await errorBdev(), 'the module, config and state blocks went with the bdev');
});
