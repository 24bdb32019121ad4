// host/keyed-serial.ts: one key's operations in turn and in order, other keys at once, a failure that
// does not stop the ones after it, and no key kept once its operations have ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedSerial } from '../../host/keyed-serial.js';

/** A promise with its resolve, to end an operation when the test says. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((r) => { open = r; });
  return { promise, open };
}

test('a key\'s operations run one at a time in the order asked; another key\'s do not wait', async () => {
  const serial = new KeyedSerial();
  const log: string[] = [];
  const first = gate();
  const a1 = serial.run('a', async () => { log.push('a1 start'); await first.promise; log.push('a1 end'); });
  const a2 = serial.run('a', async () => { log.push('a2'); });
  const b1 = serial.run('b', async () => { log.push('b1'); });
  await b1;
  assert.deepEqual(log, ['a1 start', 'b1'], 'b ran while a1 held a; a2 waits');
  first.open();
  await Promise.all([a1, a2]);
  assert.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2']);
});

test('a failed operation rejects its own caller only; the next one on the key runs; keys are let go', async () => {
  const serial = new KeyedSerial();
  const failed = serial.run('k', async () => { throw new Error('boom'); });
  const next = serial.run('k', async () => 7);
  await assert.rejects(failed, /boom/);
  assert.equal(await next, 7);
  await new Promise((r) => setImmediate(r));
  assert.equal(serial.busyKeys, 0);
});
