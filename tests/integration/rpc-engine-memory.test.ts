// A raw RPC client against a target whose engine memory runs out, and against traps of the control
// instance (the host's own Wasm instance): each is an error answer that names what did not fit or what
// stopped, never "-32603 unreachable"; a trap that left no lock held leaves the engine working, one that
// left a lock held stops the engine with that reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTarget } from '../helpers/target.js';
import type { Method } from '../../host/rpc/methods/types.js';
import type { WstorError } from '../../host/errors.js';
import type { TestCore } from '../helpers/core.js';

interface Answer { result?: unknown; error?: { code: number; message: string } }

test('out of engine memory, creating bdevs over RPC answers ENOMEM naming what did not fit; a malloc bdev too big says how big it may be', async () => {
  const t = await startTarget({ engine: { memoryBytes: 16 << 20, reactors: 1 } });
  const raw = await t.connect();
  try {
    const big = (await raw.call('bdev_malloc_create', { name: 'big', block_size: 4096, num_blocks: 8192 })) as Answer;
    assert.equal(big.error?.code, -12);
    const room = Number(/has room for one of at most (\d+) bytes now/.exec(big.error!.message)?.[1]);
    assert.match(big.error!.message, /malloc bdev big needs 33554432 bytes; the engine's memory \(16777216 bytes, --mem or memoryBytes\)/);
    assert.ok(room > 4 << 20 && room < 16 << 20, `a sensible room (${room})`);
    assert.equal(((await raw.call('bdev_malloc_create', { name: 'fits', block_size: 4096, num_blocks: room / 4096 })) as Answer).result, 'fits',
      'a malloc bdev of the size it named fits');
    // Fill what is left with small bdevs whose long names need memory of their own.
    let last: Answer = {};
    for (let i = 0; i < 5000 && last.error === undefined; i++) {
      last = (await raw.call('bdev_null_create', { name: `n${i}-${'x'.repeat(200)}`, block_size: 4096, num_blocks: 16 }, i)) as Answer;
    }
    assert.equal(last.error?.code, -12, JSON.stringify(last));
    assert.doesNotMatch(last.error!.message, /unreachable/);
    assert.match(last.error!.message, /the engine's memory (has no room for the name "n\d+-x+" \(\d+ bytes\)|\(16777216 bytes\) has no room for it)/);
    assert.equal(t.engine.error, null, 'the engine still runs');
    assert.equal(((await raw.call('bdev_malloc_delete', { name: 'fits' })) as Answer).result, true);
    assert.equal(((await raw.call('bdev_null_create', { name: 'after', block_size: 4096, num_blocks: 16 })) as Answer).result, 'after',
      'room again once a bdev is gone');
  } finally {
    raw.socket.destroy();
    await t.stop();
  }
});

const trapMethods: Method[] = [
  {
    name: 'test_control_trap', description: 'test: trap the control instance', params: [{ name: 'how', type: 'uint32', required: true, description: '' }],
    run: (p, t) => (t.engine.core as TestCore).ht_control_trap(p.how),
  },
  {
    name: 'test_trap_with_frame', description: 'test: trap with a frame on the shadow stack', params: [],
    run: (_p, t) => {
      const sp = (t.engine.core as TestCore).ht_stack_pointer;
      const before = sp();
      for (let i = 0; i < 1000; i++) {
        try { (t.engine.core as TestCore).ht_control_trap_with_frame(i); } catch { /* the trap: counted below */ }
      }
      return { before, after: sp() };
    },
  },
];

test('a trap of the control instance is an error answer with a sane message; without a lock held the engine carries on', async () => {
  const t = await startTarget({ engine: { core: 'core-test', reactors: 1 }, methods: trapMethods });
  const raw = await t.connect();
  try {
    assert.deepEqual(await raw.call('test_control_trap', { how: 0 }), { jsonrpc: '2.0', id: 1,
      error: { code: -12, message: 'ht_control_trap: out of memory allocating 12345 bytes (test)' } });
    const bare = (await raw.call('test_control_trap', { how: 1 })) as Answer;
    assert.equal(bare.error?.code, -32603);
    assert.match(bare.error!.message, /^the engine's control instance stopped in ht_control_trap \(Wasm trap: unreachable\): a bug in wstor, please report it; no lock was held, so the engine carries on$/);
    const frames = (await raw.call('test_trap_with_frame')) as { result: { before: number; after: number } };
    assert.equal(frames.result.after, frames.result.before, 'the shadow stack is back where it rests after every trap');
    assert.equal(((await raw.call('bdev_null_create', { name: 'n', block_size: 4096, num_blocks: 16 })) as Answer).result, 'n');
    assert.equal(t.engine.error, null);
    const locked = (await raw.call('test_control_trap', { how: 2 })) as Answer;
    assert.equal(locked.error?.code, -32603);
    assert.match(locked.error!.message, /trapped in ht_control_trap \(Wasm trap: unreachable|unreachable\) holding 1 lock\(s\) no one can release: the engine stops/);
    assert.equal((t.engine.error as WstorError | null)?.code, 'ECONTROLTRAP', 'the engine stopped, saying why');
    const after = (await raw.call('bdev_null_create', { name: 'm', block_size: 4096, num_blocks: 16 })) as Answer;
    assert.match(after.error?.message ?? '', /holding 1 lock\(s\) no one can release: the engine stops/, 'nothing more runs on it, and it says why');
  } finally {
    raw.socket.destroy();
    await t.server.close();
    await t.engine.stop().catch(() => undefined);
  }
});
