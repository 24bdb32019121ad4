// wstor rpc's pieces without a server: parseFlags stopping at METHOD, -s targets, param coercion and
// parsing against a method table, and how results print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, UsageError, type FlagSpec } from '../../host/cli/args.js';
import { parseTarget } from '../../host/cli/rpc.js';
import { checkMethodTable, coerce, MethodUsageError, parseMethodArgs, type MethodSpec } from '../../host/cli/rpc-params.js';
import { CELL_MAX_CHARS, formatResult } from '../../host/cli/rpc-format.js';

const SPECS: FlagSpec[] = [{ name: 'socket', short: 's', kind: 'string', help: '' }, { name: 'help', short: 'h', kind: 'boolean', help: '' }];
const METHOD: MethodSpec = {
  name: 'm', description: 'a method', params: [
    { name: 'lvs_name', type: 'string', required: true },
    { name: 'thin', type: 'boolean' },
    { name: 'size', type: 'uint32' },
  ],
};

test('parseFlags: flags anywhere by default; with stopAtFirstPositional, none after the first argument', () => {
  assert.deepEqual(parseFlags(['-s', 'x', 'cmd', '--help'], SPECS), { flags: { socket: 'x', help: true }, rest: ['cmd'] });
  assert.deepEqual(parseFlags(['-s', 'x', 'cmd', '--help', '--other', 'v'], SPECS, { stopAtFirstPositional: true }),
    { flags: { socket: 'x' }, rest: ['cmd', '--help', '--other', 'v'] });
  assert.throws(() => parseFlags(['--other', 'cmd'], SPECS, { stopAtFirstPositional: true }), UsageError);
});

test('-s: a unix socket path, or HOST:PORT', () => {
  assert.deepEqual(parseTarget('/var/tmp/wstor.sock'), { socket: '/var/tmp/wstor.sock' });
  assert.deepEqual(parseTarget('./a:1'), { socket: './a:1' }, 'a path with a slash stays a path');
  assert.deepEqual(parseTarget('127.0.0.1:5260'), { host: '127.0.0.1', port: 5260 });
  assert.deepEqual(parseTarget('[::1]:5260'), { host: '::1', port: 5260 });
  assert.deepEqual(parseTarget('localhost:80'), { host: 'localhost', port: 80 });
  assert.throws(() => parseTarget('localhost:0'), /port must be 1 to 65535/);
});

test('coerce: each type, and a type this CLI does not know passes as a string', () => {
  assert.equal(coerce({ name: 'n', type: 'int64' }, '-9007199254740991'), -9007199254740991);
  assert.equal(coerce({ name: 'n', type: 'uint32' }, '0xffffffff'), 0xffffffff);
  assert.throws(() => coerce({ name: 'n', type: 'uint32' }, '0x100000000'), /outside 0 to 4294967295/);
  assert.throws(() => coerce({ name: 'n_x', type: 'int32' }, '1.5'), /--n-x takes an int32, a whole number/);
  assert.deepEqual(coerce({ name: 'a', type: 'array' }, ''), []);
  assert.equal(coerce({ name: 'e', type: 'enum' }, 'anything'), 'anything', 'an enum without values takes any string');
  assert.equal(coerce({ name: 'f', type: 'future_type' }, '12'), '12');
});

test('parseMethodArgs: help, bare --json, booleans, and errors that carry the method\'s help', () => {
  assert.deepEqual(parseMethodArgs('m', METHOD, ['--help', '--bogus']), { help: true, rawOutput: false });
  assert.deepEqual(parseMethodArgs('m', METHOD, ['--lvs-name', 'l', '--thin', '--size', '8', '--json']),
    { help: false, rawOutput: true, params: { lvs_name: 'l', thin: true, size: 8 } });
  assert.deepEqual(parseMethodArgs('m', METHOD, ['--thin', 'false', '--lvs_name=--dashes']).params, { thin: false, lvs_name: '--dashes' });
  assert.deepEqual(parseMethodArgs('m', METHOD, ['--json', '[1, 2]']).params, [1, 2]);
  assert.equal(parseMethodArgs('m', { ...METHOD, params: [] }, []).params, undefined, 'no params: none sent');
  assert.throws(() => parseMethodArgs('m', METHOD, ['--json', '[1]', '--size', '1']), /either as --json '\[\.\.\.\]' or as --NAME VALUE/);
  assert.throws(() => parseMethodArgs('m', METHOD, ['--lvs-name', '--thin']), /--lvs-name needs a value/);
  const err = (() => { try { parseMethodArgs('m', METHOD, ['positional']); } catch (e) { return e; } return null; })();
  assert.ok(err instanceof MethodUsageError);
  assert.match(err.message, /unexpected argument "positional"/);
  assert.match(err.help, /--lvs-name +string +required/);
  assert.throws(() => parseMethodArgs('m', null, ['--a', '1']), (e: unknown) => e instanceof UsageError && !(e instanceof MethodUsageError));
});

test('checkMethodTable refuses a malformed answer instead of guessing', () => {
  assert.deepEqual(checkMethodTable([METHOD]), [METHOD]);
  assert.throws(() => checkMethodTable({}), /malformed: not an array/);
  assert.throws(() => checkMethodTable([{ name: 'x' }]), /without a name or params/);
  assert.throws(() => checkMethodTable([{ name: 'x', params: [{ name: 'p' }] }]), /a param of x without a name or type/);
});

test('formatResult: tables, key: value lines, scalars, nothing for null, long values cut', () => {
  assert.equal(formatResult(null), '');
  assert.equal(formatResult('text'), 'text\n');
  assert.equal(formatResult('two\nlines'), '"two\\nlines"\n');
  assert.equal(formatResult(true), 'true\n');
  assert.equal(formatResult([]), '(none)\n');
  assert.equal(formatResult([1, 'a', null]), '1\na\nnull\n');
  assert.equal(formatResult([1, [2]]), '[\n  1,\n  [\n    2\n  ]\n]\n');
  assert.equal(formatResult({}), '{}\n');
  assert.equal(formatResult([{ a: 1 }, { b: 'x', a: 22 }]), 'a   b\n1\n22  x\n', 'columns from every row\'s keys');
  const long = 'y'.repeat(CELL_MAX_CHARS + 10);
  const out = formatResult({ long, short: 's' });
  assert.match(out, new RegExp(`^long:  y{${CELL_MAX_CHARS - 1}}…\nshort: s\n\\(values longer than ${CELL_MAX_CHARS} characters are cut`));
});
