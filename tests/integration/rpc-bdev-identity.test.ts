// A raw RPC client against a real target: bdev uuids are unique and a bdev is found by its uuid (as by its
// name or alias), and sizes are exact: a size past 2^53 - 1 bytes is refused with exact figures, and no
// rounded number (a double that lost its low digits) reaches an answer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../helpers/rpc.js';
import { startTarget, type TestTarget } from '../helpers/target.js';

let t: TestTarget;
let raw: RawClient;
before(async () => { t = await startTarget(); raw = await t.connect(); });
after(async () => { raw.socket.destroy(); await t.stop(); });

interface Answer { id: unknown; result?: unknown; error?: { code: number; message: string } }
const call = async (method: string, params: unknown) => (await raw.call(method, params)) as Answer;
/** The error of a call that must fail with `code`. */
async function refused(method: string, params: unknown, code: number): Promise<string> {
  const answer = await call(method, params);
  assert.equal(answer.error?.code, code, `${method} ${JSON.stringify(params)}: ${JSON.stringify(answer)}`);
  return answer.error!.message;
}

const U = '6a1f3c2e-0d4b-4e8a-9f10-2b3c4d5e6f70';

test('a uuid in use is refused (EEXIST, naming the bdev that has it); a bdev is found by its uuid, in any case', async () => {
  assert.equal((await call('bdev_malloc_create', { name: 'm0', num_blocks: 16, block_size: 4096, uuid: U })).result, 'm0');
  for (const [method, params] of [
    ['bdev_null_create', { name: 'n0', num_blocks: 16, block_size: 4096, uuid: U.toUpperCase() }],
    ['bdev_malloc_create', { name: 'm1', num_blocks: 16, block_size: 4096, uuid: U }],
    ['bdev_error_create', { base_name: 'm0', uuid: U }],
  ] as const) {
    assert.match(await refused(method, params, -17), new RegExp(`bdev m0 already has uuid ${U}: give another uuid, or none for a random one`));
  }
  assert.match(await refused('bdev_malloc_create', { name: U, num_blocks: 16, block_size: 4096 }, -17), /a bdev named .* already exists/,
    'a name that is another bdev\'s uuid is taken');
  for (const name of [U, U.toUpperCase(), 'm0']) {
    const found = (await call('bdev_get_bdevs', { name })).result as { name: string; uuid: string }[];
    assert.deepEqual(found.map((b) => [b.name, b.uuid]), [['m0', U]], `found by ${name}`);
  }
  assert.equal((await call('bdev_get_bdevs', {})).result instanceof Array && ((await call('bdev_get_bdevs', {})).result as unknown[]).length, 1,
    'nothing half-made by the refused calls');
  assert.equal((await call('bdev_malloc_delete', { name: U })).result, true, 'deleted by its uuid');
  assert.equal((await call('bdev_null_create', { name: 'n0', num_blocks: 16, block_size: 4096, uuid: U })).result, 'n0', 'the uuid is free again');
  assert.equal((await call('bdev_null_delete', { name: 'n0' })).result, true);
});

test('sizes past 2^53 - 1 bytes are refused with exact figures; no answer carries a rounded number', async () => {
  const texts: string[] = [];
  // JSON.parse rounds 2^64 - 1 to 18446744073709552000: the error must not echo that.
  raw.send('{"jsonrpc":"2.0","id":7,"method":"bdev_null_create","params":{"name":"n","block_size":4096,"num_blocks":18446744073709551615}}');
  const [parsed] = (await raw.take(1)) as Answer[];
  assert.equal(parsed.error?.code, -32602);
  assert.match(parsed.error!.message, /"num_blocks" must be a whole number from 0 to 9007199254740991 \(got a number past 2\^53 - 1, which is not exact\)/);
  texts.push(parsed.error!.message);
  texts.push(await refused('bdev_null_create', { name: 'n', block_size: 4096, num_blocks: 2 ** 52 }, -22));
  assert.match(texts.at(-1)!, /4503599627370496 blocks of 4096 bytes is 18446744073709551616 bytes; wstor takes sizes of at most 9007199254740991 bytes/);
  assert.equal((await call('bdev_null_create', { name: 'n', block_size: 4096, num_blocks: 16 })).result, 'n');
  texts.push(await refused('bdev_null_resize', { name: 'n', new_size: 17592186044415 }, -22));
  assert.match(texts.at(-1)!, /new_size 17592186044415 MiB is 18446744073708503040 bytes/);
  const [b] = (await call('bdev_get_bdevs', { name: 'n' })).result as { num_blocks: number }[];
  assert.equal(b.num_blocks, 16, 'the refused resize changed nothing');
  assert.equal((await call('bdev_malloc_create', { name: 'm', block_size: 4096, num_blocks: 4096 })).result, 'm');
  const lvs = (await call('bdev_lvol_create_lvstore', { bdev_name: 'm', lvs_name: 'lvs', cluster_sz: 1 << 20 })).result;
  assert.equal(typeof lvs, 'string');
  texts.push(await refused('bdev_lvol_create', { lvs_name: 'lvs', lvol_name: 'v', size_in_mib: 9007199254740991 }, -22));
  assert.match(texts.at(-1)!, /size_in_mib 9007199254740991 is 9444732965739289378816 bytes/);
  assert.equal(typeof (await call('bdev_lvol_create', { lvs_name: 'lvs', lvol_name: 'v', size_in_mib: 4 })).result, 'string');
  texts.push(await refused('bdev_lvol_resize', { name: 'lvs/v', size_in_mib: 17592186044415 }, -22));
  assert.match(texts.at(-1)!, /size_in_mib 17592186044415 is 18446744073708503040 bytes/);
  for (const text of texts) {
    for (const digits of text.match(/\d{16,}/g) ?? []) {
      assert.ok(['9007199254740991', '4503599627370496', '18446744073709551616', '18446744073708503040', '9444732965739289378816'].includes(digits),
        `${digits} in "${text}" is an exact figure`);
    }
  }
});
