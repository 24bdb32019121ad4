// Post-pass over an asc output: every data segment becomes passive and is copied into the shared
// memory exactly once, by whichever instance starts first (compare-and-swap on DATA_INIT_FLAG).
// Without this, each new reactor's instantiation would re-apply the active segments and clobber
// statics that running reactors had already changed. Usage: node scripts/passive-data.mjs FILE.wasm
import { readFileSync, writeFileSync } from 'node:fs';
import binaryen from 'binaryen';

// Must match assembly/runtime/layout.ts.
const DATA_INIT_FLAG = 1024;
const INIT_NEW = 0, INIT_BUSY = 1, INIT_DONE = 2;

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/passive-data.mjs FILE.wasm [--names]');
  process.exit(2);
}

// --names keeps the function names a debug build carries (traps and profiles name functions by
// them); without it the output has none, as release core.wasm ships.
binaryen.setDebugInfo(process.argv.includes('--names'));
const module = binaryen.readBinary(readFileSync(file));
// An explicit feature list: Features.All would emit encodings Node 20 rejects.
const F = binaryen.Features;
module.setFeatures(F.MVP | F.Atomics | F.MutableGlobals | F.NontrappingFPToInt | F.SignExt |
  F.BulkMemory | F.BulkMemoryOpt | F.SIMD128);

const memoryName = 'mimport$0';   // binaryen's name for the first imported memory; functions refer to it
let memInfo;
try {
  memInfo = module.getMemoryInfo(memoryName);
} catch {
  throw new Error(`${file}: binaryen did not name the imported memory ${memoryName}; update memoryName in this script`);
}
if (!memInfo.shared || !memInfo.module) throw new Error(`${file}: expected an imported shared memory`);

const segments = [];
for (let i = 0; i < module.getNumDataSegments(); i++) {
  const info = module.getDataSegmentInfo(module.getDataSegmentByIndex(i));
  if (info.passive) throw new Error(`${file}: segment ${info.name} is already passive; run this pass once`);
  if (info.offset < 65536) throw new Error(`${file}: segment ${info.name} at ${info.offset} is inside the fixed control area`);
  segments.push({ name: info.name, offset: info.offset, data: info.data });
}

module.setMemory(memInfo.initial, memInfo.max, null,
  segments.map(s => ({ name: s.name, passive: true, offset: null, data: new Uint8Array(s.data) })),
  true, false, memoryName);
module.addMemoryImport(memoryName, memInfo.module, memInfo.base, true);

const i32 = module.i32;
const flag = () => i32.const(DATA_INIT_FLAG);
const copies = segments.map(s => module.memory.init(s.name, i32.const(s.offset), i32.const(0), i32.const(s.data.byteLength), memoryName));
const drops = segments.map(s => module.data.drop(s.name));
const body = module.block(null, [
  module.if(
    i32.eq(i32.atomic.rmw.cmpxchg(0, flag(), i32.const(INIT_NEW), i32.const(INIT_BUSY), memoryName), i32.const(INIT_NEW)),
    module.block(null, [...copies, i32.atomic.store(0, flag(), i32.const(INIT_DONE), memoryName)]),
    // Spin rather than wait: a browser page's main thread may not block, and the copy is short.
    module.loop('wait_data', module.br('wait_data', i32.ne(i32.atomic.load(0, flag(), memoryName), i32.const(INIT_DONE)))),
  ),
  ...drops,
]);
const init = module.addFunction('__wstor_data_init', binaryen.none, binaryen.none, [], body);
if (module.getStart()) throw new Error(`${file}: module already has a start function (build with --exportStart)`);
module.setStart(init);

if (!module.validate()) throw new Error(`${file}: module invalid after the passive-data pass`);
writeFileSync(file, module.emitBinary());
console.log(`passive-data: ${file}: ${segments.length} segments made passive, initialised once at ${DATA_INIT_FLAG}`);
