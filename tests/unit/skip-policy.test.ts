// The CI skip policy (tests/helpers/skip.ts): under CI=true a skip is a failure unless .ci/allowed-skips
// lists the test with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { parseAllowedSkips, skipVerdict, ALLOWED_SKIPS_FILE } from '../helpers/skip.js';

test('a skip outside CI is a skip; under CI it fails unless the list names the test', () => {
  const allowed = parseAllowedSkips('# comment\n\nloop device tests :: the CI machine has no loop devices\n');
  assert.deepEqual(allowed, [{ prefix: 'loop device tests', reason: 'the CI machine has no loop devices' }]);
  assert.equal(skipVerdict('needs python3', 'python3 is not installed', false, []), 'skip');
  const verdict = skipVerdict('needs python3', 'python3 is not installed', true, allowed);
  assert.match(verdict, /would be skipped \(python3 is not installed\), and under CI=true a skip is a failure/);
  assert.equal(skipVerdict('loop device tests: O_DIRECT', 'no losetup', true, allowed), 'skip', 'listed by the start of its name');
});

test('a line of .ci/allowed-skips without its reason is refused, naming the line', () => {
  assert.throws(() => parseAllowedSkips('some test\n'), /allowed-skips:1: expected "test name :: reason"/);
  assert.throws(() => parseAllowedSkips('ok :: fine\nname ::\n'), /allowed-skips:2:/);
});

test('the project\'s own .ci/allowed-skips parses', () => {
  assert.ok(fs.existsSync(ALLOWED_SKIPS_FILE));
  parseAllowedSkips(fs.readFileSync(ALLOWED_SKIPS_FILE, 'utf8'));
});
