// The target's listener table through the control exports (nvmf_listener_add/remove) on the app thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, type Env } from '../helpers/bdev-env.js';
import { EVENT_REQUEST_DONE } from '../../host/core-abi.js';

const TCP = 3;
const IPV4 = 1;

/** A NUL-terminated ASCII string in core memory. */
function ascii(e: Env, text: string): number {
  const bytes = Buffer.from(`${text}\0`, 'latin1');
  const p = e.h.scratch(bytes.length);
  new Uint8Array(e.h.memory.buffer, p, bytes.length).set(bytes);
  return p;
}

/** Post `post`, run the app thread; [rc, value] of its EVENT_REQUEST_DONE. */
function run(e: Env, post: (req: number) => number): [number, number] {
  const req = 5000 + e.h.events.length;
  assert.equal(post(req), 0);
  e.h.pollUntil(`request ${req}`, () => e.h.events.some((x) => x.kind === EVENT_REQUEST_DONE && x.a === req));
  const done = e.h.events.find((x) => x.kind === EVENT_REQUEST_DONE && x.a === req)!;
  return [done.b, done.c];
}

function add(e: Env, addr: string, port: string, trtype = TCP, adrfam = IPV4): [number, number] {
  return run(e, (r) => e.h.core.nvmf_listener_add(r, trtype, adrfam, ascii(e, addr), ascii(e, port)));
}

test('listeners get distinct ids; the same address twice is -EEXIST; a removed one frees its id', async () => {
  const e = await env();
  const [rc1, a] = add(e, '127.0.0.1', '4420');
  const [rc2, b] = add(e, '127.0.0.1', '4421');
  assert.deepEqual([rc1, rc2], [0, 0]);
  assert.ok(a > 0 && b > 0 && a !== b, `ids ${a}, ${b}`);
  assert.equal(add(e, '127.0.0.1', '4420')[0], -17);
  assert.deepEqual(run(e, (r) => e.h.core.nvmf_listener_remove(r, a)), [0, 0]);
  assert.equal(run(e, (r) => e.h.core.nvmf_listener_remove(r, a))[0], -2, 'removing it again: -ENOENT');
  assert.deepEqual(add(e, '127.0.0.1', '4420'), [0, a], 'the address may listen again, in the freed slot');
});

test('bad fields are -EINVAL: unknown trtype or adrfam, empty or overlong traddr / trsvcid', async () => {
  const e = await env();
  assert.equal(add(e, '127.0.0.1', '4420', 9)[0], -22);
  assert.equal(add(e, '127.0.0.1', '4420', TCP, 7)[0], -22);
  assert.equal(add(e, '', '4420')[0], -22);
  assert.equal(add(e, '127.0.0.1', '')[0], -22);
  assert.equal(add(e, 'a'.repeat(256), '4420')[0], -22);
  assert.equal(add(e, '127.0.0.1', '1'.repeat(32))[0], -22);
  assert.equal(add(e, 'a'.repeat(255), '1'.repeat(31))[0], 0, 'the longest that fit');
});

test('the table holds 64 listeners; the 65th is -ENOSPC', async () => {
  const e = await env();
  for (let i = 0; i < 64; i++) assert.equal(add(e, '10.0.0.1', String(5000 + i))[0], 0);
  assert.equal(add(e, '10.0.0.1', '6000')[0], -28);
});
