// The test hooks' opcodes have one source (tests/helpers/opcodes.ts, compiled by asc into the hooks and
// by tsc into the tests): each family's values are distinct, its words fit its context block, and no
// test or hook declares a copy of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BdevOp, BdevWord, BlobOp } from '../helpers/opcodes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('each family\'s opcodes are distinct, and the bdev words fit hb_ctx_new\'s 128 bytes without overlapping', () => {
  for (const [family, table] of Object.entries({ BdevOp, BlobOp })) {
    const values = Object.values(table) as number[];
    assert.equal(new Set(values).size, values.length, `${family}: two operations share a code`);
    assert.ok(values.every((v) => Number.isInteger(v) && v > 0), `${family}: codes are positive integers (0 is an empty block)`);
  }
  const words = Object.entries(BdevWord).flatMap(([k, v]) => (k === 'waitEntry' ? [v, v + 1, v + 2, v + 3] : [v as number]));
  assert.equal(new Set(words).size, words.length, 'no two words (nor the 16-byte wait entry) overlap');
  assert.ok(words.every((w) => w >= 0 && w < 128 / 4), 'every word lies in the block');
});

test('no test or hook declares its own copy of the opcodes; the hooks import the shared table', () => {
  const copies: string[] = [];
  const table = path.join(root, 'tests', 'helpers', 'opcodes.ts');
  for (const file of sources(path.join(root, 'tests'))) {
    if (file === table) continue;
    const text = readFileSync(file, 'utf8');
    if (/\bconst\s+(OP|W|BS)\s*=\s*\{/.test(text) || /\bconst\s+OP_[A-Z_]+\s*(:\s*u32\s*)?=/.test(text)) copies.push(path.relative(root, file));
  }
  assert.deepEqual(copies, [], 'declare opcodes in tests/helpers/opcodes.ts');
  for (const hooks of ['bdev-hooks.ts', 'blob-hooks.ts']) {
    assert.match(readFileSync(path.join(root, 'tests', 'core', hooks), 'utf8'), /from "\.\.\/helpers\/opcodes"/, `${hooks} imports the table`);
  }
});
