// Build step: an edge-coverage copy of a built core (build/core.fuzz.wasm) for `wstor fuzz`, written
// with binaryen from the same binary; the input file is never changed. Usage:
//   node scripts/instrument-coverage.mjs IN.wasm OUT.wasm [--no-counters]
// (--no-counters: everything but the counters, so the runner works on it: the benchmark's measure of
// what coverage costs, bench/fuzz.ts.)
//
// What it adds (the runner in host/fuzz/ is the only reader; docs/fuzzing.md describes it for users):
// - one u8 counter per site, saturating at 255: each function entry, both arms of every `if`, both
//   outcomes of every `br_if` without a value, each distinct target of every `br_table` without a
//   value, and the top of every loop body (so 1 = the loop ran once; >1 = its back-edge was taken).
// - where the counters live: pages the core's own page allocator hands out when the instance attaches
//   (the wrapped `wstor_attach`), so every instance on a shared memory has an area of its own that no
//   other allocation touches. Until then the base is 0 and every site skips its update.
// - `__fuzz_counters()` / `__fuzz_counters_bytes()`: the area, for the host to read and clear.
// - `__fuzz_globals_save(ptr)` / `__fuzz_globals_restore(ptr)` / `__fuzz_globals_bytes()`: every
//   mutable global to and from memory, so that memory plus globals (an instance's whole state) can be
//   snapshotted and put back between inputs.
// A map of sites to functions goes next to OUT as OUT.sites.json (for reports, not needed to run).
import { readFileSync, writeFileSync } from 'node:fs';
import binaryen from 'binaryen';

const MEMORY = 'mimport$0';   // binaryen's name for the imported memory (as in scripts/passive-data.mjs)
const PAGE_BYTES = 65536;
const b = binaryen;

// Expression children by kind: [field, its setter on the kind's class] (the getter is get<Field>;
// 'operands' go through getNumOperands/getOperandAt/setOperandAt). A kind not listed stops the build: a new kind in the core needs a line here.
const CHILDREN = new Map([
  [b.NopId, []], [b.LocalGetId, []], [b.GlobalGetId, []], [b.ConstId, []], [b.UnreachableId, []],
  [b.MemorySizeId, []], [b.AtomicFenceId, []], [b.DataDropId, []],
  [b.LocalSetId, [['value', 'setValue']]], [b.GlobalSetId, [['value', 'setValue']]],
  [b.LoadId, [['ptr', 'setPtr']]], [b.StoreId, [['ptr', 'setPtr'], ['value', 'setValue']]],
  [b.UnaryId, [['value', 'setValue']]], [b.BinaryId, [['left', 'setLeft'], ['right', 'setRight']]],
  [b.SelectId, [['ifTrue', 'setIfTrue'], ['ifFalse', 'setIfFalse'], ['condition', 'setCondition']]],
  [b.DropId, [['value', 'setValue']]], [b.ReturnId, [['value', 'setValue']]],
  [b.MemoryGrowId, [['delta', 'setDelta']]],
  [b.CallId, [['operands', 'setOperandAt']]],
  [b.CallIndirectId, [['target', 'setTarget'], ['operands', 'setOperandAt']]],
  [b.AtomicRMWId, [['ptr', 'setPtr'], ['value', 'setValue']]],
  [b.AtomicCmpxchgId, [['ptr', 'setPtr'], ['expected', 'setExpected'], ['replacement', 'setReplacement']]],
  [b.AtomicWaitId, [['ptr', 'setPtr'], ['expected', 'setExpected'], ['timeout', 'setTimeout']]],
  [b.AtomicNotifyId, [['ptr', 'setPtr'], ['notifyCount', 'setNotifyCount']]],
  [b.SIMDExtractId, [['vec', 'setVec']]],
  [b.SIMDReplaceId, [['vec', 'setVec'], ['value', 'setValue']]],
  [b.SIMDShuffleId, [['left', 'setLeft'], ['right', 'setRight']]],
  [b.SIMDTernaryId, [['a', 'setA'], ['b', 'setB'], ['c', 'setC']]],
  [b.SIMDShiftId, [['vec', 'setVec'], ['shift', 'setShift']]],
  [b.SIMDLoadId, [['ptr', 'setPtr']]],
  [b.SIMDLoadStoreLaneId, [['ptr', 'setPtr'], ['vec', 'setVec']]],
  [b.MemoryInitId, [['dest', 'setDest'], ['offset', 'setOffset'], ['size', 'setSize']]],
  [b.MemoryCopyId, [['dest', 'setDest'], ['source', 'setSource'], ['size', 'setSize']]],
  [b.MemoryFillId, [['dest', 'setDest'], ['value', 'setValue'], ['size', 'setSize']]],
]);
// Each expression kind's class (binaryen.Unary for binaryen.UnaryId, ...): its child setters.
const CLASS_OF = new Map(Object.keys(b).filter((k) => typeof b[`${k}Id`] === 'number' && b[k] && typeof b[k].getId === 'function')
  .map((k) => [b[`${k}Id`], b[k]]));

class Instrumenter {
  constructor(module) {
    this.module = module;
    this.sites = 0;
    this.labels = 0;
    this.skipped = { brIfWithValue: 0, brTableWithValue: 0 };
    this.coverage = module.addGlobal('__fuzz_counters_base', b.i32, true, module.i32.const(0));
  }

  /** The update of one new site: counters[site] += (counters[site] != 255), only once the area exists. */
  site() {
    const m = this.module;
    const s = this.sites++;
    const base = () => m.global.get('__fuzz_counters_base', b.i32);
    const load = () => m.i32.load8_u(s, 1, base(), MEMORY);
    return m.if(base(), m.i32.store8(s, 1, base(), m.i32.add(load(), m.i32.ne(load(), m.i32.const(255))), MEMORY));
  }

  prepend(expr) {
    return this.module.block(null, [this.site(), expr], b.auto);
  }

  /** Instrument everything inside `expr`; returns what stands in its place (itself unless rewritten). */
  walk(expr, statement) {
    if (expr === 0) return 0;
    const id = b.getExpressionId(expr);
    switch (id) {
      case b.BlockId: {
        for (let i = 0; i < b.Block.getNumChildren(expr); i++) b.Block.setChildAt(expr, i, this.walk(b.Block.getChildAt(expr, i), true));
        return expr;
      }
      case b.IfId: {
        b.If.setCondition(expr, this.walk(b.If.getCondition(expr), false));
        b.If.setIfTrue(expr, this.prepend(this.walk(b.If.getIfTrue(expr), true)));
        const ifFalse = b.If.getIfFalse(expr);
        b.If.setIfFalse(expr, ifFalse === 0 ? this.site() : this.prepend(this.walk(ifFalse, true)));
        return expr;
      }
      case b.LoopId:
        b.Loop.setBody(expr, this.prepend(this.walk(b.Loop.getBody(expr), true)));
        return expr;
      case b.BreakId:
        return this.walkBreak(expr, statement);
      case b.SwitchId:
        return this.walkSwitch(expr, statement);
      default:
        this.walkChildren(expr, id);
        return expr;
    }
  }

  walkChildren(expr, id) {
    const fields = CHILDREN.get(id);
    const cls = CLASS_OF.get(id);
    if (!fields || (fields.length > 0 && !cls)) throw new Error(`instrument-coverage: expression kind ${id} is not handled; add it to CHILDREN`);
    for (const [field, setter] of fields) {
      if (field === 'operands') {
        for (let i = 0; i < cls.getNumOperands(expr); i++) cls.setOperandAt(expr, i, this.walk(cls.getOperandAt(expr, i), false));
        continue;
      }
      const child = cls[`get${field[0].toUpperCase()}${field.slice(1)}`](expr);
      if (child) cls[setter](expr, this.walk(child, false));
    }
  }

  /** `br_if $l` becomes `if (cond) { site; br $l } else { site }`: both outcomes are edges. */
  walkBreak(expr, statement) {
    const m = this.module;
    const value = b.Break.getValue(expr);
    const condition = b.Break.getCondition(expr);
    if (value) b.Break.setValue(expr, this.walk(value, false));
    if (condition === 0) return expr;
    const walked = this.walk(condition, false);
    if (value || !statement) {
      b.Break.setCondition(expr, walked);
      this.skipped.brIfWithValue++;
      return expr;
    }
    return m.if(walked, m.block(null, [this.site(), m.br(b.Break.getName(expr))], b.auto), this.site());
  }

  /**
   * `br_table` jumps straight to its targets: each distinct target gets a trampoline block of its
   * own, landing on a site and then branching on to the real target.
   */
  walkSwitch(expr, statement) {
    const m = this.module;
    const value = b.Switch.getValue(expr);
    const condition = this.walk(b.Switch.getCondition(expr), false);
    b.Switch.setCondition(expr, condition);
    if (value) b.Switch.setValue(expr, this.walk(value, false));
    if (value || !statement) { this.skipped.brTableWithValue++; return expr; }
    const names = b.Switch.getNames(expr);
    const defaultName = b.Switch.getDefaultName(expr);
    const targets = [...new Set([...names, defaultName])];
    const trampoline = new Map(targets.map((t) => [t, `__fuzz_bt${this.labels++}`]));
    let inner = m.block(trampoline.get(targets.at(-1)), [m.switch(names.map((n) => trampoline.get(n)), trampoline.get(defaultName), condition)], b.none);
    for (let j = targets.length - 1; j >= 1; j--) {
      inner = m.block(trampoline.get(targets[j - 1]), [inner, this.site(), m.br(targets[j])], b.none);
    }
    return m.block(null, [inner, this.site(), m.br(targets[0])], b.auto);
  }

  /** Instrument one defined function: its entry, then everything in it. Returns [first site, count]. */
  function(fn) {
    const first = this.sites;
    const body = b.Function.getBody(fn);
    const entry = this.site();
    b.Function.setBody(fn, this.module.block(null, [entry, this.walk(body, true)], b.auto));
    return [first, this.sites - first];
  }
}

/** The internal name of an exported function, or a clear error naming what the core must export. */
function exportedFunction(module, name) {
  const ref = module.getExport(name);
  if (!ref) throw new Error(`instrument-coverage: the core does not export ${name}, which the coverage build wraps`);
  return b.getExportInfo(ref).value;
}

/**
 * wstor_attach, then (once per instance) the counter area from the page allocator, zeroed: pages it
 * hands back may hold an earlier owner's bytes.
 */
function wrapAttach(module, bytes) {
  const m = module;
  const attach = exportedFunction(m, 'wstor_attach');
  const reserve = exportedFunction(m, 'pages_reserve');
  const base = () => m.global.get('__fuzz_counters_base', b.i32);
  const body = m.block(null, [
    m.call(attach, [m.local.get(0, b.i32)], b.none),
    m.if(m.i32.eqz(base()), m.block(null, [
      m.global.set('__fuzz_counters_base', m.call(reserve, [m.f64.const(bytes)], b.i32)),
      m.if(base(), m.memory.fill(base(), m.i32.const(0), m.i32.const(bytes), MEMORY)),
    ])),
  ]);
  m.addFunction('__fuzz_attach', b.i32, b.none, [], body);
  m.removeExport('wstor_attach');
  m.addFunctionExport('__fuzz_attach', 'wstor_attach');
}

/** Save and restore of every mutable global, 8 bytes each (16 for v128), in declaration order. */
function addGlobalsSnapshot(module) {
  const m = module;
  const saves = [];
  const restores = [];
  let offset = 0;
  const ops = new Map([
    [b.i32, [m.i32.store, m.i32.load, 4]], [b.i64, [m.i64.store, m.i64.load, 8]],
    [b.f32, [m.f32.store, m.f32.load, 4]], [b.f64, [m.f64.store, m.f64.load, 8]],
    [b.v128, [m.v128.store, m.v128.load, 16]],
  ]);
  for (let i = 0; i < m.getNumGlobals(); i++) {
    const g = b.getGlobalInfo(m.getGlobalByIndex(i));
    if (!g.mutable) continue;
    const op = ops.get(g.type);
    if (!op) throw new Error(`instrument-coverage: global ${g.name} has a type the snapshot cannot store`);
    const [store, load, align] = op;
    offset = Math.ceil(offset / Math.max(align, 8)) * Math.max(align, 8);
    const ptr = () => m.local.get(0, b.i32);
    saves.push(store(offset, align, ptr(), m.global.get(g.name, g.type), MEMORY));
    restores.push(m.global.set(g.name, load(offset, align, ptr(), MEMORY)));
    offset += Math.max(align, 8);
  }
  m.addFunction('__fuzz_globals_save', b.i32, b.none, [], m.block(null, saves));
  m.addFunction('__fuzz_globals_restore', b.i32, b.none, [], m.block(null, restores));
  m.addFunction('__fuzz_globals_bytes', b.none, b.i32, [], m.i32.const(offset));
  for (const name of ['__fuzz_globals_save', '__fuzz_globals_restore', '__fuzz_globals_bytes']) m.addFunctionExport(name, name);
}

/** Instrument a core binary; returns the new binary and its site map. */
export function instrumentCoverage(binary, { counters = true } = {}) {
  b.setDebugInfo(true);   // keep the function names: a finding's stack names where it trapped
  const module = b.readBinary(binary);
  try {
    // An explicit feature list: Features.All would emit encodings Node 20 rejects.
    const F = b.Features;
    module.setFeatures(F.MVP | F.Atomics | F.MutableGlobals | F.NontrappingFPToInt | F.SignExt |
      F.BulkMemory | F.BulkMemoryOpt | F.SIMD128);
    if (module.getExport('__fuzz_counters')) throw new Error('instrument-coverage: this module is already instrumented');
    const inst = new Instrumenter(module);
    const functions = [];
    const defined = [];
    for (let i = 0; i < module.getNumFunctions(); i++) {
      const fn = module.getFunctionByIndex(i);
      if (!b.getFunctionInfo(fn).module) defined.push(fn);
    }
    if (counters) for (const fn of defined) functions.push([b.Function.getName(fn), ...inst.function(fn)]);
    const bytes = Math.max(1, Math.ceil(inst.sites / PAGE_BYTES)) * PAGE_BYTES;
    wrapAttach(module, bytes);
    module.addFunction('__fuzz_counters', b.none, b.i32, [], module.global.get('__fuzz_counters_base', b.i32));
    module.addFunction('__fuzz_counters_bytes', b.none, b.i32, [], module.i32.const(inst.sites));
    module.addFunctionExport('__fuzz_counters', '__fuzz_counters');
    module.addFunctionExport('__fuzz_counters_bytes', '__fuzz_counters_bytes');
    addGlobalsSnapshot(module);
    if (!module.validate()) throw new Error('instrument-coverage: the instrumented module does not validate');
    return { binary: module.emitBinary(), sites: inst.sites, skipped: inst.skipped, functions };
  } finally {
    module.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output, flag] = process.argv.slice(2);
  if (!input || !output || input === output || (flag !== undefined && flag !== '--no-counters')) {
    console.error('usage: node scripts/instrument-coverage.mjs IN.wasm OUT.wasm [--no-counters] (OUT must differ from IN)');
    process.exit(2);
  }
  const result = instrumentCoverage(readFileSync(input), { counters: flag !== '--no-counters' });
  writeFileSync(output, result.binary);
  writeFileSync(`${output.replace(/\.wasm$/, '')}.sites.json`, JSON.stringify({ sites: result.sites, functions: result.functions }));
  console.log(`instrument-coverage: ${output}: ${result.sites} sites in ${result.functions.length} functions` +
    ` (left out: ${result.skipped.brIfWithValue} br_if and ${result.skipped.brTableWithValue} br_table carrying values or in value position)`);
}
