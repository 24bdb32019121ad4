// The metering pass (wasmtime's fuel, done by us with binaryen): a mutable global holds the fuel left;
// every function entry and every loop head subtracts the static size of the code that runs until the
// next charge; once the fuel is below zero it calls the loader's out-of-fuel import (which throws, so
// the loader knows the cause) and traps if that ever returns. Every loop iteration and every
// call passes a charge, so no code runs unboundedly without paying.

import binaryen from 'binaryen';
import { WstorError } from '../errors.js';
import { FUEL_GLOBAL, FUEL_MODULE, FUEL_OUT_IMPORT } from './abi.js';

const b = binaryen;
/** binaryen.js's expression and function editors, which its typings leave out. */
const edit = binaryen as unknown as {
  Loop: { getBody(loop: number): number; setBody(loop: number, body: number): void };
  Function: { setBody(fn: number, body: number): void };
};

/** Expression kinds with no children (the walk stops there). */
const LEAVES = new Set<number>([b.NopId, b.LocalGetId, b.GlobalGetId, b.ConstId, b.UnreachableId, b.MemorySizeId, b.DataDropId]);

/** Every other kind the plugin features allow, and where its children sit in getExpressionInfo. */
const CHILD_FIELDS = new Map<number, string[]>([
  [b.BlockId, ['children']], [b.IfId, ['condition', 'ifTrue', 'ifFalse']], [b.LoopId, ['body']],
  [b.BreakId, ['condition', 'value']], [b.SwitchId, ['condition', 'value']],
  [b.CallId, ['operands']], [b.CallIndirectId, ['target', 'operands']],
  [b.LocalSetId, ['value']], [b.GlobalSetId, ['value']], [b.LoadId, ['ptr']], [b.StoreId, ['ptr', 'value']],
  [b.UnaryId, ['value']], [b.BinaryId, ['left', 'right']], [b.SelectId, ['ifTrue', 'ifFalse', 'condition']],
  [b.DropId, ['value']], [b.ReturnId, ['value']], [b.MemoryGrowId, ['delta']],
  [b.SIMDExtractId, ['vec']], [b.SIMDReplaceId, ['vec', 'value']], [b.SIMDShuffleId, ['left', 'right']],
  [b.SIMDTernaryId, ['a', 'b', 'c']], [b.SIMDShiftId, ['vec', 'shift']], [b.SIMDLoadId, ['ptr']],
  [b.SIMDLoadStoreLaneId, ['ptr', 'vec']], [b.MemoryInitId, ['dest', 'offset', 'size']],
  [b.MemoryCopyId, ['dest', 'source', 'size']], [b.MemoryFillId, ['dest', 'value', 'size']],
  [b.TupleMakeId, ['operands']], [b.TupleExtractId, ['tuple']],
]);

type Info = Record<string, unknown>;

function childrenOf(expr: number, id: number): number[] {
  const fields = CHILD_FIELDS.get(id);
  if (fields === undefined) throw new WstorError('EINVAL', `plugin refused: it uses an instruction (binaryen expression kind ${id}) the metering pass does not know`);
  const info = b.getExpressionInfo(expr) as unknown as Info;
  const out: number[] = [];
  for (const f of fields) {
    const v = info[f];
    if (Array.isArray(v)) out.push(...(v as number[]).filter((c) => c !== 0));
    else if (typeof v === 'number' && v !== 0) out.push(v);
  }
  return out;
}

/**
 * The charges of one function body: the size of the code outside any loop (charged at entry) and,
 * for each loop, the size of its body outside any inner loop (charged at its head). An explicit
 * stack, not recursion: a hostile module's nesting depth must not overflow the loader's stack.
 */
function regions(body: number): { entry: number; loops: Map<number, number> } {
  const loops = new Map<number, number>();
  let entry = 0;
  const stack: Array<[number, number]> = [[body, 0]];   // expression, its region (0: the entry region, else a loop)
  while (stack.length > 0) {
    const [expr, region] = stack.pop()!;
    if (region === 0) entry++;
    else loops.set(region, loops.get(region)! + 1);
    const id = b.getExpressionId(expr);
    if (LEAVES.has(id)) continue;
    const inner = id === b.LoopId ? expr : region;
    if (id === b.LoopId) loops.set(expr, 0);
    for (const child of childrenOf(expr, id)) stack.push([child, inner]);
  }
  return { entry, loops };
}

const OUT_OF_FUEL = '__wstor_out_of_fuel';

function charge(module: binaryen.Module, cost: number): number {
  const fuel = () => module.global.get(FUEL_GLOBAL, b.i32);
  return module.block(null, [
    module.global.set(FUEL_GLOBAL, module.i32.sub(fuel(), module.i32.const(Math.max(1, cost)))),
    module.if(module.i32.lt_s(fuel(), module.i32.const(0)),
      module.block(null, [module.call(OUT_OF_FUEL, [], b.none), module.unreachable()], b.none)),
  ], b.none);
}

/** Charge at the top of `expr` (a loop body or a function body). */
function prepend(module: binaryen.Module, cost: number, expr: number): number {
  return module.block(null, [charge(module, cost), expr], b.getExpressionType(expr));
}

/**
 * Meter every defined function of `module` in place, and add the exported fuel global (starting at
 * `initialFuel`, which pays for a start function). `charge` false adds the global and import only.
 */
export function meterModule(module: binaryen.Module, initialFuel: number, charge = true): void {
  module.addGlobal(FUEL_GLOBAL, b.i32, true, module.i32.const(initialFuel));
  module.addGlobalExport(FUEL_GLOBAL, FUEL_GLOBAL);
  module.addFunctionImport(OUT_OF_FUEL, FUEL_MODULE, FUEL_OUT_IMPORT, b.none, b.none);
  if (!charge) return;
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const fn = module.getFunctionByIndex(i);
    const info = b.getFunctionInfo(fn);
    if (info.module !== '' || info.body === 0) continue;
    const { entry, loops } = regions(info.body);
    for (const [loop, cost] of loops) edit.Loop.setBody(loop, prepend(module, cost, edit.Loop.getBody(loop)));
    edit.Function.setBody(fn, prepend(module, entry, info.body));
  }
}
