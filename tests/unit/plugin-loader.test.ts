// The plugin loader without an engine: the load-time check (imports, exports, memory, features), the
// metering pass, the window copies, and containment of plugins written to misbehave (a trap, an
// endless loop, a grow bomb, lengths outside their memory, writes past the window, a start function
// that never returns). Every plugin here is WAT assembled with binaryen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preparePlugin } from '../../host/plugins/prepare.js';
import { DEFAULT_LIMITS, OP_READ, OP_WRITE, type PluginLimits } from '../../host/plugins/abi.js';
import { ReactorPlugins } from '../../host/plugins/reactor-plugins.js';
import { RC_PLUGIN_FAILED, RC_PLUGIN_OVER_BUDGET, RC_PLUGIN_TRAPPED } from '../../host/plugins/slot.js';
import { WstorError } from '../../host/errors.js';
import { pluginBytes, type PluginParts } from '../helpers/plugin-wat.js';
import { loadNative } from '../../host/native/index.js';
import type { Platform } from '../../host/platform.js';

const BLOCK = 512;
// Engine memory layout for these tests: name, iovecs, module bytes, config, data, output.
const NAME_AT = 64, IOVS_AT = 256, MODULE_AT = 4096, CONFIG_AT = 60 * 1024, DATA_AT = 64 * 1024, OUT_AT = 512 * 1024;

interface Harness {
  plugins: ReactorPlugins;
  memory: WebAssembly.Memory;
  bytes: Uint8Array;
  reports: string[];
  open(parts?: PluginParts, limits?: Partial<PluginLimits>, config?: string): number;
}

function harness(memoryCopy?: Platform['memoryCopy']): Harness {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
  const bytes = new Uint8Array(memory.buffer);
  const reports: string[] = [];
  const plugins = new ReactorPlugins(memory, (_level, _code, message) => { reports.push(message); }, memoryCopy);
  const name = 'p0';
  new DataView(memory.buffer).setUint32(NAME_AT - 4, name.length * 2, true);
  for (let i = 0; i < name.length; i++) new DataView(memory.buffer).setUint16(NAME_AT + i * 2, name.charCodeAt(i), true);
  let nextId = 1;
  return {
    plugins, memory, bytes, reports,
    open(parts = {}, limits = {}, config = '{}') {
      const l = { ...DEFAULT_LIMITS, ...limits };
      const metered = preparePlugin(pluginBytes(parts), l);
      bytes.set(metered, MODULE_AT);
      const cfg = new TextEncoder().encode(config);
      bytes.set(cfg, CONFIG_AT);
      const id = nextId++;
      const rc = plugins.open(id, MODULE_AT, metered.length, CONFIG_AT, cfg.length, BLOCK, l.fuel, NAME_AT);
      assert.equal(rc, 0, `open: ${reports.join('; ')}`);
      return id;
    },
  };
}

/** Two iovecs over [DATA_AT, DATA_AT + bytes): a split one, so gathering across iovecs is exercised. */
function setIovs(h: Harness, bytes: number): void {
  const view = new DataView(h.memory.buffer);
  const first = Math.min(bytes, 700);
  view.setUint32(IOVS_AT, DATA_AT, true); view.setUint32(IOVS_AT + 4, first, true);
  view.setUint32(IOVS_AT + 8, DATA_AT + first, true); view.setUint32(IOVS_AT + 12, bytes - first, true);
}

function fill(h: Harness, bytes: number, seed: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + seed) & 0xff;
  h.bytes.set(data, DATA_AT);
  setIovs(h, bytes);
  return data;
}

const inverted = (data: Uint8Array) => data.map((x) => x ^ 0xff);

function refusedWith(parts: PluginParts, pattern: RegExp, limits: Partial<PluginLimits> = {}): void {
  assert.throws(() => preparePlugin(pluginBytes(parts), { ...DEFAULT_LIMITS, ...limits }),
    (err: unknown) => err instanceof WstorError && err.code === 'EINVAL' && pattern.test(err.message));
}

const native = loadNative();
const copiers: Array<[string, Platform['memoryCopy']]> = [['TypedArray.set', undefined]];
if (native) copiers.push(['the addon\'s memcpy', { from: native.copyFromMemory, into: native.copyIntoMemory }]);

for (const [label, copier] of copiers) test(`a well-behaved plugin sees each window of a read and a write; a write leaves the caller's buffer as it was (${label})`, () => {
  const h = harness(copier);
  const id = h.open();
  const blocks = 300;                  // 150 KiB: two windows of 128 KiB and the rest
  const data = fill(h, blocks * BLOCK, 7);
  assert.equal(h.plugins.io(id, OP_WRITE, 40, blocks, IOVS_AT, 2, OUT_AT, 0), 0);
  assert.deepEqual(h.bytes.slice(DATA_AT, DATA_AT + blocks * BLOCK), data, 'the caller\'s data is unchanged');
  assert.deepEqual(h.bytes.slice(OUT_AT, OUT_AT + blocks * BLOCK), inverted(data), 'the output went through the plugin');
  assert.equal(h.plugins.io(id, OP_READ, 40, blocks, IOVS_AT, 2, 0, 0), 0);
  assert.deepEqual(h.bytes.slice(DATA_AT, DATA_AT + blocks * BLOCK), inverted(data), 'a read goes back into the iovecs');
  assert.deepEqual(h.reports.filter((r) => /trap|budget/.test(r)), []);
});

test('the config reaches wstor_init through the window, and a refusal names the plugin', () => {
  const h = harness();
  h.open({ init: '(call $log (i32.const 1024) (local.get $len)) (i32.const 0)' }, {}, '{"key":"abc"}');
  assert.ok(h.reports.some((r) => r === 'plugin p0: {"key":"abc"}'), h.reports.join('; '));
  const metered = preparePlugin(pluginBytes({ init: '(i32.const -22)' }), DEFAULT_LIMITS);
  h.bytes.set(metered, MODULE_AT);
  assert.equal(h.plugins.open(9, MODULE_AT, metered.length, CONFIG_AT, 2, BLOCK, DEFAULT_LIMITS.fuel, NAME_AT), -22);
  assert.match(h.reports.at(-1)!, /p0 refused its config: wstor_init returned -22/);
});

test('imports: a memory, a function outside the ABI, a global, a table or a wrong log signature are refused by name', () => {
  refusedWith({ imports: '(import "env" "memory" (memory 1 4))', memory: '(export "memory" (memory 0))' }, /imports memory env\.memory/);
  refusedWith({ imports: '(import "env" "abort" (func $abort (param i32)))' }, /imports function env\.abort; a plugin may import only wstor\.log/);
  refusedWith({ imports: '(import "wstor" "read_engine" (func $r (param i32) (result i32)))' }, /imports function wstor\.read_engine/);
  refusedWith({ imports: '(import "wstor" "log" (func $log (param i32)))' }, /imports wstor\.log as \(i32\) -> \(\); the ABI offers it as \(i32, i32\) -> \(\)/);
  refusedWith({ imports: '(import "wstor" "log" (func $log (param i32 i32))) (import "env" "g" (global i32))' }, /imports global env\.g/);
  refusedWith({ imports: '(import "wstor" "log" (func $log (param i32 i32))) (import "env" "t" (table 1 funcref))' }, /imports table env\.t/);
});

test('exports: a missing one or a wrong signature is refused by name; reserved names are refused', () => {
  refusedWith({ ioSignature: '(param $op i32) (param $off i32) (param $n i32) (result i32)' },
    /its export wstor_io is \(i32, i32, i32\) -> \(i32\); the ABI wants \(i32, i64, i32\) -> \(i32\)/);
  refusedWith({ memory: '(memory 4 4)' }, /does not export its memory as "memory"/);
  refusedWith({ extra: '(global $g (export "__wstor_fuel") (mut i32) (i32.const 0))' }, /export __wstor_fuel uses the prefix __wstor/);
  refusedWith({ imports: '(import "__wstor" "out_of_fuel" (func $f))' }, /imports function __wstor\.out_of_fuel/);
  assert.throws(() => preparePlugin(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1]), DEFAULT_LIMITS), /not a WebAssembly module/);
});

test('memory: no declared maximum, or one above the limit, is refused at load; shared memory and atomics are refused', () => {
  refusedWith({ memory: '(memory (export "memory") 4)' }, /declares no maximum/);
  refusedWith({ memory: '(memory (export "memory") 4 100)' }, /may grow to 100 pages, above this bdev's limit of 8 pages/, { memoryPages: 8 });
  refusedWith({ memory: '(memory (export "memory") 4 4 shared)' }, /does not validate with the features/);
});

test('a grow bomb stops at the limit: memory.grow past it fails inside the plugin, which goes on working', () => {
  const h = harness();
  // Grows by a page until refused, then reports how many pages it has through its result.
  const id = h.open({ memory: '(memory (export "memory") 4 8)',
    ioPrologue: '(block $full (loop $more (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $more)))' +
      '(if (i32.ne (memory.size) (i32.const 8)) (then (return (i32.const -7))))' }, { memoryPages: 8 });
  const data = fill(h, BLOCK, 1);
  assert.equal(h.plugins.io(id, OP_READ, 0, 1, IOVS_AT, 2, 0, 0), 0);
  assert.deepEqual(h.bytes.slice(DATA_AT, DATA_AT + BLOCK), inverted(data));
});

test('a trap fails that I/O only: the instance is replaced (its broken state gone) and the next I/O works', () => {
  const h = harness();
  // At block 7 it poisons itself, then traps: a replacement that kept the state would fail every I/O.
  const id = h.open({ ioPrologue: '(if (i64.eq (local.get $off) (i64.const 7)) (then (global.set $poisoned (i32.const 1)) (unreachable)))' });
  const data = fill(h, BLOCK, 3);
  assert.equal(h.plugins.io(id, OP_READ, 7, 1, IOVS_AT, 2, 0, 0), RC_PLUGIN_TRAPPED);
  assert.deepEqual(h.bytes.slice(DATA_AT, DATA_AT + BLOCK), data, 'a failed read leaves the buffer alone');
  assert.match(h.reports.at(-1)!, /plugin p0: wstor_io trapped \(unreachable\): that I\/O fails and the instance is replaced/);
  assert.equal(h.plugins.replacedOf(id), 1);
  assert.equal(h.plugins.io(id, OP_READ, 8, 1, IOVS_AT, 2, 0, 0), 0);
  assert.deepEqual(h.bytes.slice(DATA_AT, DATA_AT + BLOCK), inverted(data));
});

test('an endless loop is stopped by its fuel, counted apart from a trap; the reactor goes on', () => {
  const h = harness();
  const id = h.open({ ioPrologue: '(if (i64.eq (local.get $off) (i64.const 13)) (then (loop $forever (br $forever))))' }, { fuel: 200_000 });
  fill(h, BLOCK, 5);
  const t0 = performance.now();
  assert.equal(h.plugins.io(id, OP_WRITE, 13, 1, IOVS_AT, 2, OUT_AT, 0), RC_PLUGIN_OVER_BUDGET);
  assert.ok(performance.now() - t0 < 1000, 'stopped promptly');
  assert.match(h.reports.at(-1)!, /wstor_io ran past its time budget of 200000 fuel units/);
  assert.equal(h.plugins.io(id, OP_WRITE, 14, 1, IOVS_AT, 2, OUT_AT, 0), 0);
});

test('recursion without end traps (the stack), and a start function that never returns cannot start', () => {
  const h = harness();
  const id = h.open({ ioPrologue: '(if (i64.eq (local.get $off) (i64.const 3)) (then (drop (call $deep (i32.const 0)))))',
    extra: '(func $deep (param $x i32) (result i32) (i32.add (call $deep (i32.add (local.get $x) (i32.const 1))) (i32.const 1)))' }, { fuel: 2_000_000_000 });
  fill(h, BLOCK, 5);
  assert.equal(h.plugins.io(id, OP_READ, 3, 1, IOVS_AT, 2, 0, 0), RC_PLUGIN_TRAPPED);
  assert.equal(h.plugins.io(id, OP_READ, 4, 1, IOVS_AT, 2, 0, 0), 0);
  const metered = preparePlugin(pluginBytes({ extra: '(func $spin (loop $l (br $l))) (start $spin)' }), { ...DEFAULT_LIMITS, fuel: 100_000 });
  h.bytes.set(metered, MODULE_AT);
  assert.equal(h.plugins.open(77, MODULE_AT, metered.length, CONFIG_AT, 2, BLOCK, 100_000, NAME_AT), -22);
  assert.match(h.reports.at(-1)!, /instantiation ran past its time budget/);
});

test('lengths outside its memory: a window past the end is refused; a log of 2 GiB traps; writes past the window stay in the plugin', () => {
  const h = harness();
  for (const window of ['(i32.const 0)', '(i32.const -256)', `(i32.const ${4 * 65536 - 1000})`]) {
    const metered = preparePlugin(pluginBytes({ window }), DEFAULT_LIMITS);
    h.bytes.set(metered, MODULE_AT);
    assert.equal(h.plugins.open(50, MODULE_AT, metered.length, CONFIG_AT, 2, BLOCK, DEFAULT_LIMITS.fuel, NAME_AT), -22);
    assert.match(h.reports.at(-1)!, /gave a window of 131072 bytes at \d+, which is not inside its memory of 262144 bytes/);
  }
  const id = h.open({ ioPrologue: '(if (i64.eq (local.get $off) (i64.const 1)) (then (call $log (i32.const 16) (i32.const 0x7fffffff))))' +
    // Past the window but inside its own memory: the engine copies only the window back.
    `(i32.store (i32.const ${1024 + 131072 + 8}) (i32.const 0x55555555))` +
    '(if (i64.eq (local.get $off) (i64.const 2)) (then (i32.store (i32.const 0x7ffffff0) (i32.const 1))))' });
  const data = fill(h, BLOCK, 9);
  const guard = h.bytes.slice(OUT_AT - 4096, OUT_AT + 8192);
  assert.equal(h.plugins.io(id, OP_WRITE, 1, 1, IOVS_AT, 2, OUT_AT, 0), RC_PLUGIN_TRAPPED);
  assert.match(h.reports.at(-1)!, /log\(16, 2147483647\) reaches outside its memory/);
  assert.equal(h.plugins.io(id, OP_WRITE, 2, 1, IOVS_AT, 2, OUT_AT, 0), RC_PLUGIN_TRAPPED);
  assert.match(h.reports.at(-1)!, /memory access out of bounds/);
  assert.deepEqual(h.bytes.slice(OUT_AT - 4096, OUT_AT + 8192), guard, 'failed writes put nothing in the engine\'s memory');
  assert.equal(h.plugins.io(id, OP_WRITE, 5, 1, IOVS_AT, 2, OUT_AT, 0), 0);
  assert.deepEqual(h.bytes.slice(OUT_AT, OUT_AT + BLOCK), inverted(data));
  assert.deepEqual(h.bytes.slice(OUT_AT + BLOCK, OUT_AT + 8192), guard.slice(4096 + BLOCK), 'nothing past the I/O\'s length');
});

test('a plugin\'s own error fails the I/O without counting as a trap; an ABI version other than 1 is refused', () => {
  const h = harness();
  const id = h.open({ ioPrologue: '(if (i64.eq (local.get $off) (i64.const 2)) (then (return (i32.const -61))))' });
  fill(h, BLOCK, 2);
  assert.equal(h.plugins.io(id, OP_READ, 2, 1, IOVS_AT, 2, 0, 0), RC_PLUGIN_FAILED);
  assert.equal(h.plugins.replacedOf(id), 0);
  const metered = preparePlugin(pluginBytes({ abiVersion: '(i32.const 2)' }), DEFAULT_LIMITS);
  h.bytes.set(metered, MODULE_AT);
  assert.equal(h.plugins.open(60, MODULE_AT, metered.length, CONFIG_AT, 2, BLOCK, DEFAULT_LIMITS.fuel, NAME_AT), -22);
  assert.match(h.reports.at(-1)!, /written for plugin ABI version 2; this engine speaks version 1/);
});

test('log lines are bounded per call', () => {
  const h = harness();
  const id = h.open({ ioPrologue: '(local.set $i (i32.const 0)) (block $d (loop $l (br_if $d (i32.eq (local.get $i) (i32.const 100))) (call $log (i32.const 1024) (i32.const 3)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))' });
  fill(h, BLOCK, 2);
  const before = h.reports.length;
  assert.equal(h.plugins.io(id, OP_READ, 0, 1, IOVS_AT, 2, 0, 0), 0);
  assert.equal(h.reports.length - before, 5);
  assert.match(h.reports.at(-1)!, /96 more log lines of this call dropped/);
});

test('metering charges every loop iteration: the same loop fits one budget and not a smaller one', () => {
  const h = harness();
  const spin = '(local.set $i (i32.const 0)) (block $d (loop $l (br_if $d (i32.eq (local.get $i) (i32.const 100000))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))';
  const rich = h.open({ ioPrologue: spin }, { fuel: 10_000_000 });
  const poor = h.open({ ioPrologue: spin }, { fuel: 100_000 });
  fill(h, BLOCK, 2);
  assert.equal(h.plugins.io(rich, OP_READ, 0, 1, IOVS_AT, 2, 0, 0), 0);
  assert.equal(h.plugins.io(poor, OP_READ, 0, 1, IOVS_AT, 2, 0, 0), RC_PLUGIN_OVER_BUDGET);
});
