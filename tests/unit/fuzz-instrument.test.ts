// The coverage build (scripts/instrument-coverage.mjs -> build/core.fuzz.wasm): it runs like the plain
// core, its counters tell inputs apart, its globals snapshot puts an instance back, and core.wasm
// itself is left as it was (no counters, not rewritten by the step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROL_ARENA, instantiateCore, writeCoreString } from '../../host/core-abi.js';
import type { CoreExports } from '../../host/core-abi.js';
import { CORE_EXPORTS, FUZZ_INSTRUMENT_EXPORTS, FUZZ_TARGET_EXPORTS, type FuzzInstrumentExports } from '../../host/core-exports.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const build = path.join(root, 'build');
const compiled = new Map<string, WebAssembly.Module>();
const moduleOf = (file: string) => {
  let m = compiled.get(file);
  if (!m) { m = new WebAssembly.Module(fs.readFileSync(file)); compiled.set(file, m); }
  return m;
};

interface Instance { core: CoreExports & Partial<FuzzInstrumentExports>; memory: WebAssembly.Memory }

async function start(file: string): Promise<Instance> {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 4096, shared: true });
  const core = await instantiateCore(moduleOf(file), memory, { report() {}, event() {} }) as Instance['core'];
  core.wstor_attach(CONTROL_ARENA);
  core.wstor_memory_limit(4096);
  return { core, memory };
}

/** Results of a few exports that do not depend on where the heap starts. */
function exercise({ core, memory }: Instance): unknown[] {
  const out: unknown[] = [];
  out.push(core.thread_set_default_ring_size(3), core.thread_set_default_ring_size(64));
  out.push(core.wstor_create_reactors(2), core.thread_count(), core.heap_live_blocks());
  const id = core.bdev_malloc_create(writeCoreString(core, memory, 'm0'), 512, 64);
  out.push(id >= 0, core.bdev_info(id, 0), core.bdev_info(id, 1), core.bdev_malloc_create(writeCoreString(core, memory, 'm0'), 512, 64));
  out.push(core.bdev_null_create(writeCoreString(core, memory, 'n0'), 4096, 1 << 20) >= 0, core.heap_live_blocks());
  return out;
}

/** The sites an action lit (counters cleared first). */
function lit({ core, memory }: Instance, action: () => void): Set<number> {
  const counters = () => new Uint8Array(memory.buffer, core.__fuzz_counters!(), core.__fuzz_counters_bytes!());
  counters().fill(0);
  action();
  const sites = new Set<number>();
  counters().forEach((v, i) => { if (v !== 0) sites.add(i); });
  return sites;
}

const fuzzWasm = path.join(build, 'core.fuzz.wasm');
const plainWasm = path.join(build, 'core.wasm');

test('core.fuzz.wasm runs like core.wasm: the same exports give the same results', async () => {
  const plain = exercise(await start(plainWasm));
  const fuzz = exercise(await start(fuzzWasm));
  assert.deepEqual(fuzz, plain);
  assert.equal(plain[0], -22, 'a ring size that is not a power of two is refused in both');
});

test('core.fuzz.wasm exports the core\'s functions, its counters and globals snapshot, and the fuzz targets', () => {
  const names = new Set(WebAssembly.Module.exports(moduleOf(fuzzWasm)).map((e) => e.name));
  const declared = [...Object.keys(CORE_EXPORTS), ...Object.keys(FUZZ_INSTRUMENT_EXPORTS), ...Object.keys(FUZZ_TARGET_EXPORTS)];
  for (const name of declared) assert.ok(names.has(name), `core.fuzz.wasm lacks ${name}`);
  const undeclared = [...names].filter((n) => n.startsWith('fuzz_') && !(n in FUZZ_TARGET_EXPORTS));
  assert.deepEqual(undeclared, [], 'declare each target export in host/core-exports.ts FUZZ_TARGET_EXPORTS');
});

test('counters: an instance gets its own area at attach; different inputs light different sites, the same input the same', async () => {
  const a = await start(fuzzWasm);
  const b = await start(fuzzWasm);
  const bytes = a.core.__fuzz_counters_bytes!();
  assert.ok(bytes > 1000, `a core of this size has thousands of sites (got ${bytes})`);
  assert.ok(a.core.__fuzz_counters!() > 0 && a.core.__fuzz_counters!() % 65536 === 0, 'pages from the page allocator');
  const refused = lit(a, () => a.core.thread_set_default_ring_size(3));
  const accepted = lit(a, () => a.core.thread_set_default_ring_size(64));
  assert.ok(refused.size > 0 && accepted.size > 0);
  assert.notDeepEqual([...refused], [...accepted], 'the refusal and the acceptance take different branches');
  assert.deepEqual(lit(a, () => a.core.thread_set_default_ring_size(3)), refused, 'the same input lights the same sites');
  assert.deepEqual(lit(b, () => b.core.thread_set_default_ring_size(3)), refused, 'so does another instance, in its own area');
  assert.equal(lit(a, () => a.core.heap_live_blocks()).size > 0, true);
});

test('counters saturate at 255 instead of wrapping to 0 (a hot loop stays visible)', async () => {
  const i = await start(fuzzWasm);
  const counters = new Uint8Array(i.memory.buffer, i.core.__fuzz_counters!(), i.core.__fuzz_counters_bytes!());
  counters.fill(0);
  for (let k = 0; k < 300; k++) i.core.heap_live_blocks();
  const hot = counters.filter((v) => v !== 0);
  assert.ok(hot.length > 0 && hot.every((v) => v === 255), `each site of heap_live_blocks ran 300 times: ${[...hot].join(',')}`);
});

test('globals snapshot: save, change the instance, restore: its globals are back', async () => {
  const { core, memory } = await start(fuzzWasm);
  const bytes = core.__fuzz_globals_bytes!();
  const snapshot = () => {
    const at = core.wstor_alloc(bytes);
    core.__fuzz_globals_save!(at);
    return { at, bytes: new Uint8Array(memory.buffer, at, bytes).slice() };
  };
  assert.equal(core.wstor_create_reactors(2), 0);
  const before = snapshot();
  core.reactor_bind(1);   // this instance now runs reactor 1: a per-instance global
  const bound = snapshot();
  assert.notDeepEqual(bound.bytes, before.bytes, 'binding a reactor changed a global');
  core.__fuzz_globals_restore!(before.at);
  assert.deepEqual(snapshot().bytes, before.bytes);
});

test('the build step leaves core.wasm as it was and refuses to write over its input', () => {
  const hash = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const before = hash(plainWasm);
  const names = WebAssembly.Module.exports(moduleOf(plainWasm)).map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.startsWith('__fuzz')), [], 'core.wasm carries no counters');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-instrument-'));
  try {
    const script = path.join(root, 'scripts', 'instrument-coverage.mjs');
    execFileSync(process.execPath, [script, plainWasm, path.join(dir, 'out.wasm')], { stdio: 'pipe' });
    assert.equal(hash(plainWasm), before);
    assert.ok(fs.statSync(path.join(dir, 'out.wasm')).size > fs.statSync(plainWasm).size);
    assert.throws(() => execFileSync(process.execPath, [script, plainWasm, plainWasm], { stdio: 'pipe' }), /OUT must differ/);
    assert.throws(() => execFileSync(process.execPath, [script, path.join(dir, 'out.wasm'), path.join(dir, 'again.wasm')], { stdio: 'pipe' }),
      /already instrumented/);
    assert.equal(hash(plainWasm), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
