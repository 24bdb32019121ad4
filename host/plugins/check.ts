// The load-time check of a plugin module (binaryen): what it imports, what it exports and with which
// signatures, its memory, its Wasm features. A plugin that fails is refused with the thing named.

import binaryen from 'binaryen';
import { WstorError } from '../errors.js';
import {
  ALLOWED_IMPORTS, IMPORT_MODULE, MEMORY_EXPORT, OPTIONAL_EXPORTS, REQUIRED_EXPORTS, RESERVED_PREFIX, type AbiFunction, type AbiType,
} from './abi.js';

const b = binaryen;

/**
 * What a plugin may use: MVP plus the features compilers emit by default. Not threads (an atomic wait
 * would block a reactor), not exceptions, tail calls, GC, reference types, memory64 or multi-memory:
 * the metering pass knows every instruction of this set and nothing outside it.
 */
export const PLUGIN_FEATURES = b.Features.MutableGlobals | b.Features.NontrappingFPToInt | b.Features.SIMD128 |
  b.Features.BulkMemory | b.Features.BulkMemoryOpt | b.Features.SignExt | b.Features.Multivalue;

function refused(what: string): WstorError {
  return new WstorError('EINVAL', `plugin refused: ${what}`);
}

function typeName(t: number): string {
  return t === b.i32 ? 'i32' : t === b.i64 ? 'i64' : t === b.f32 ? 'f32' : t === b.f64 ? 'f64' : t === b.v128 ? 'v128' : `type ${t}`;
}

function signature(params: number, results: number): string {
  return `(${b.expandType(params).map(typeName).join(', ')}) -> (${b.expandType(results).map(typeName).join(', ')})`;
}

function abiSignature(f: AbiFunction): string {
  const list = (ts: AbiType[]) => ts.join(', ');
  return `(${list(f.params)}) -> (${list(f.results)})`;
}

/** Parse `bytes` and validate it with only the plugin features on: a module using any other is refused. */
export function readPlugin(bytes: Uint8Array): binaryen.Module {
  let module: binaryen.Module;
  try {
    module = b.readBinary(bytes);
  } catch (err) {
    throw refused(`not a WebAssembly module binaryen can read (${(err as Error).message})`);
  }
  module.setFeatures(PLUGIN_FEATURES);
  if (!module.validate()) {
    module.dispose();
    throw refused('the module does not validate with the features a plugin may use (MVP, mutable globals, sign extension, ' +
      'non-trapping float-to-int, bulk memory, SIMD, multi-value; no threads, exceptions, reference types, memory64)');
  }
  return module;
}

function checkImports(module: binaryen.Module): void {
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const f = b.getFunctionInfo(module.getFunctionByIndex(i));
    if (f.module === '') continue;
    const allowed = f.module === IMPORT_MODULE && f.base !== null ? ALLOWED_IMPORTS[f.base] : undefined;
    if (allowed === undefined) {
      throw refused(`it imports function ${f.module}.${f.base}; a plugin may import only ${Object.keys(ALLOWED_IMPORTS).map((n) => `${IMPORT_MODULE}.${n}`).join(', ')}`);
    }
    if (signature(f.params, f.results) !== abiSignature(allowed)) {
      throw refused(`it imports ${f.module}.${f.base} as ${signature(f.params, f.results)}; the ABI offers it as ${abiSignature(allowed)}`);
    }
  }
  for (let i = 0; i < module.getNumGlobals(); i++) {
    const g = b.getGlobalInfo(module.getGlobalByIndex(i));
    if (g.module !== '') throw refused(`it imports global ${g.module}.${g.base}; a plugin may import no globals`);
    if (g.name.startsWith(RESERVED_PREFIX)) throw refused(`its global ${g.name} uses the prefix ${RESERVED_PREFIX} the loader keeps for itself`);
  }
  for (let i = 0; i < module.getNumTables(); i++) {
    const t = b.getTableInfo(module.getTableByIndex(i));
    if (t.module !== '') throw refused(`it imports table ${t.module}.${t.base}; a plugin may import no tables`);
  }
}

function checkMemory(module: binaryen.Module, memoryPagesMax: number): void {
  if (!module.hasMemory()) throw refused(`it has no memory; a plugin defines one and exports it as "${MEMORY_EXPORT}"`);
  const m = module.getMemoryInfo();
  if (m.module !== '') throw refused(`it imports memory ${m.module}.${m.base}; a plugin must define its own memory (it can see no other)`);
  if (m.shared) throw refused('its memory is shared; a plugin memory must not be');
  if (m.max === undefined) {
    throw refused(`its memory declares no maximum; declare one of at most ${memoryPagesMax} pages (64 KiB each), e.g. (memory 2 ${memoryPagesMax})`);
  }
  if (m.max > memoryPagesMax) throw refused(`its memory may grow to ${m.max} pages, above this bdev's limit of ${memoryPagesMax} pages (memory_pages)`);
}

function checkExports(module: binaryen.Module): void {
  const seen = new Map<string, binaryen.ExportInfo>();
  for (let i = 0; i < module.getNumExports(); i++) {
    const e = b.getExportInfo(module.getExportByIndex(i));
    if (e.name.startsWith(RESERVED_PREFIX)) throw refused(`its export ${e.name} uses the prefix ${RESERVED_PREFIX} the loader keeps for itself`);
    seen.set(e.name, e);
  }
  const memory = seen.get(MEMORY_EXPORT);
  if (memory === undefined || memory.kind !== b.ExternalMemory) throw refused(`it does not export its memory as "${MEMORY_EXPORT}"`);
  for (const [name, want] of [...Object.entries(REQUIRED_EXPORTS), ...Object.entries(OPTIONAL_EXPORTS)]) {
    const e = seen.get(name);
    if (e === undefined && name in OPTIONAL_EXPORTS) continue;
    if (e === undefined || e.kind !== b.ExternalFunction) throw refused(`it does not export function ${name} ${abiSignature(want)}`);
    const f = b.getFunctionInfo(module.getFunction(e.value));
    const got = signature(f.params, f.results);
    if (got !== abiSignature(want)) throw refused(`its export ${name} is ${got}; the ABI wants ${abiSignature(want)}`);
  }
}

/** Refuse the module unless it keeps to the ABI: imports, memory (at most `memoryPagesMax` pages), exports. */
export function checkPlugin(module: binaryen.Module, memoryPagesMax: number): void {
  checkImports(module);
  checkMemory(module, memoryPagesMax);
  checkExports(module);
}
