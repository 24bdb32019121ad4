// The JSON splitter (host/rpc/json-stream.ts): values back to back with no delimiter, split anywhere, with
// strings that hold braces, quotes, escapes and multibyte UTF-8; the size and depth bounds; bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSON_DEPTH_MAX, JSON_VALUE_MAX_BYTES, JsonSplitter } from '../../host/rpc/json-stream.js';
import { INVALID_REQUEST, PARSE_ERROR, RpcError, toRpcError, INTERNAL_ERROR } from '../../host/rpc/errors.js';
import { WstorError } from '../../host/errors.js';

const VALUES: unknown[] = [
  { jsonrpc: '2.0', method: 'a', id: 1 },
  [1, 2, { x: '}' }],
  { s: 'braces {[ ]} and "quotes" and \\ backslashes \\" and \\\\' },
  { u: 'é漢字🚀 ∑', nested: { deep: [[[]]], e: {} } },
  { esc: '\n\t\u0000\u001f\\u005c', id: null },
];
const TEXT = `${JSON.stringify(VALUES[0])}${JSON.stringify(VALUES[1])}\n ${JSON.stringify(VALUES[2])}\r\n\t${JSON.stringify(VALUES[3])}${JSON.stringify(VALUES[4])}\n`;
const BYTES = Buffer.from(TEXT, 'utf8');

/** Push the chunks, taking values after each; returns every value. */
function split(chunks: Uint8Array[], splitter = new JsonSplitter()): unknown[] {
  const out: unknown[] = [];
  for (const c of chunks) {
    splitter.push(c);
    for (let v = splitter.next(); v !== undefined; v = splitter.next()) out.push(v);
  }
  return out;
}

function errorOf(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RpcError, `an RpcError (got ${String(err)})`);
    return err;
  }
  assert.fail('expected an error');
}

test('all values in one chunk, with and without whitespace between them', () => {
  assert.deepEqual(split([BYTES]), VALUES);
});

test('split at every byte position (also inside multibyte characters) gives the same values', () => {
  for (let at = 0; at <= BYTES.length; at++) {
    assert.deepEqual(split([BYTES.subarray(0, at), BYTES.subarray(at)]), VALUES, `split at byte ${at}`);
  }
});

test('one byte at a time, and three-way splits', () => {
  assert.deepEqual(split([...BYTES].map((b) => Uint8Array.of(b))), VALUES);
  for (let a = 1; a < BYTES.length; a += 7) {
    for (let b = a; b < BYTES.length; b += 11) {
      assert.deepEqual(split([BYTES.subarray(0, a), BYTES.subarray(a, b), BYTES.subarray(b)]), VALUES, `split at ${a} and ${b}`);
    }
  }
});

test('next() hands out one value at a time and leaves the rest queued', () => {
  const s = new JsonSplitter();
  s.push(Buffer.from('{"a":1}{"b":2}{"c"'));
  assert.deepEqual(s.next(), { a: 1 });
  assert.equal(s.midValue, false);
  assert.deepEqual(s.next(), { b: 2 });
  assert.equal(s.next(), undefined);
  assert.equal(s.midValue, true, 'the third value has begun');
  s.push(Buffer.from(':3}'));
  assert.deepEqual(s.next(), { c: 3 });
  assert.equal(s.midValue, false);
});

test('whitespace alone yields nothing and is not a value', () => {
  const s = new JsonSplitter();
  s.push(Buffer.from(' \n\t\r  '));
  assert.equal(s.next(), undefined);
  assert.equal(s.midValue, false);
});

test('a value over the limit is an invalid request naming the limit, whether it comes whole or in pieces', () => {
  assert.equal(JSON_VALUE_MAX_BYTES, 4 << 20);
  const big = Buffer.from(JSON.stringify({ pad: 'x'.repeat(100) }));
  const whole = errorOf(() => split([big], new JsonSplitter({ maxValueBytes: 100 })));
  assert.equal(whole.code, INVALID_REQUEST);
  assert.match(whole.message, /larger than the limit of 100 bytes/);
  const pieces = errorOf(() => split([big.subarray(0, 60), big.subarray(60, 104)], new JsonSplitter({ maxValueBytes: 100 })));
  assert.equal(pieces.code, INVALID_REQUEST);
  // Exactly at the limit is fine, and whitespace around a value does not count.
  const exact = Buffer.from(`  ${JSON.stringify({ p: 'y'.repeat(100 - 8) })}  `);
  assert.equal(exact.length, 104);
  assert.deepEqual(split([exact], new JsonSplitter({ maxValueBytes: 100 })), [{ p: 'y'.repeat(92) }]);
  // An unterminated value is caught once it passes the limit, not buffered for ever.
  const s = new JsonSplitter({ maxValueBytes: 100 });
  const chunk = Buffer.from('{"a":"' + 'z'.repeat(40));
  s.push(chunk);
  assert.equal(s.next(), undefined);
  s.push(Buffer.from('z'.repeat(40)));
  assert.equal(s.next(), undefined);
  s.push(Buffer.from('z'.repeat(40)));
  assert.equal(errorOf(() => s.next()).code, INVALID_REQUEST);
});

test('nesting deeper than JSON_DEPTH_MAX is refused; that deep is fine', () => {
  const ok = '['.repeat(JSON_DEPTH_MAX) + ']'.repeat(JSON_DEPTH_MAX);
  assert.equal(split([Buffer.from(ok)]).length, 1);
  const deep = '['.repeat(JSON_DEPTH_MAX + 1);
  const err = errorOf(() => split([Buffer.from(deep)]));
  assert.equal(err.code, INVALID_REQUEST);
  assert.match(err.message, new RegExp(`at most ${JSON_DEPTH_MAX} deep`));
});

test('a top-level scalar is an invalid request; garbage is a parse error; the first error is final', () => {
  for (const [text, kind] of [['42', 'a number'], ['-1', 'a number'], ['"s"', 'a string'], ['true', 'a boolean'], ['null', 'null']]) {
    const err = errorOf(() => split([Buffer.from(text)]));
    assert.equal(err.code, INVALID_REQUEST, text);
    assert.match(err.message, new RegExp(`not ${kind}`), text);
  }
  const s = new JsonSplitter();
  s.push(Buffer.from('{"ok":1} xyz {"never":1}'));
  assert.deepEqual(s.next(), { ok: 1 }, 'values before the error are still handed out');
  const first = errorOf(() => s.next());
  assert.equal(first.code, PARSE_ERROR);
  assert.match(first.message, /unexpected byte 0x78/);
  s.push(Buffer.from('{"after":1}'));
  assert.equal(errorOf(() => s.next()), first, 'the same error again: the stream position is lost');
});

test('balanced but malformed JSON, and invalid UTF-8, are parse errors', () => {
  for (const text of ['{foo}', '{"a":1,}', '[1 2]', '{]', '{"a":tru}']) {
    assert.equal(errorOf(() => split([Buffer.from(text)])).code, PARSE_ERROR, text);
  }
  const badUtf8 = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  const err = errorOf(() => split([badUtf8]));
  assert.equal(err.code, PARSE_ERROR);
  assert.match(err.message, /not valid UTF-8/);
});

test('the options are checked', () => {
  assert.throws(() => new JsonSplitter({ maxValueBytes: 0 }), /maxValueBytes must be a whole number/);
});

test('toRpcError: RpcError as is, WstorError as a negative errno, anything else as internal error', () => {
  const rpc = new RpcError(-32601, 'no such method');
  assert.equal(toRpcError(rpc), rpc);
  assert.deepEqual(toRpcError(new WstorError('EINVAL', 'bad size')).toObject(), { code: -22, message: 'bad size' });
  assert.equal(toRpcError(new WstorError('ENOSPC', 'full')).code, -28);
  assert.equal(toRpcError(new WstorError('ECANCELED', 'stopped')).code, -125);
  assert.equal(toRpcError(WstorError.fromErrno(-5, 'read')).code, -5, 'the errno it carries wins');
  assert.equal(toRpcError(new WstorError('EWEIRD', 'odd', -77)).code, -77);
  assert.equal(toRpcError(new WstorError('EREACTORTRAP', 'trap')).code, INTERNAL_ERROR, 'a name that is no errno');
  assert.deepEqual(toRpcError(new TypeError('boom')).toObject(), { code: INTERNAL_ERROR, message: 'boom' });
  assert.equal(toRpcError('text').message, 'internal error: text');
  assert.deepEqual(new RpcError(1, 'm', { why: 1 }).toObject(), { code: 1, message: 'm', data: { why: 1 } });
});
