// The one declaration of the core's exports (host/core-exports.ts) against the built modules: every
// function core.wasm exports is declared with its exact wasm signature, and every declared one is
// exported. The test build (core-test.wasm) exports the same ones plus its hooks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import binaryen from 'binaryen';
import { CORE_EXPORTS, RUNTIME_EXPORTS, type CoreSignature } from '../../host/core-exports.js';

const build = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build');

/** Each exported function of a built module with its wasm signature. */
function exportedSignatures(file: string): Map<string, CoreSignature> {
  const mod = binaryen.readBinary(fs.readFileSync(path.join(build, file)));
  const names: Record<number, string> = { [binaryen.i32]: 'i32', [binaryen.i64]: 'i64', [binaryen.f64]: 'f64', [binaryen.f32]: 'f32', [binaryen.none]: 'void' };
  const out = new Map<string, CoreSignature>();
  try {
    for (let i = 0; i < mod.getNumExports(); i++) {
      const e = binaryen.getExportInfo(mod.getExportByIndex(i));
      if (e.kind !== binaryen.ExternalFunction) continue;
      const f = binaryen.getFunctionInfo(mod.getFunction(e.value));
      const params = binaryen.expandType(f.params).map((t) => names[t]) as CoreSignature[0];
      out.set(e.name, [params, names[f.results] as CoreSignature[1]]);
    }
  } finally {
    mod.dispose();
  }
  return out;
}

const declared = Object.entries(CORE_EXPORTS) as [string, CoreSignature][];
const runtime = new Set<string>(RUNTIME_EXPORTS);

for (const file of ['core.wasm', 'core-test.wasm']) {
  test(`${file}: every declared export is there with its declared signature`, () => {
    const actual = exportedSignatures(file);
    for (const [name, sig] of declared) {
      const got = actual.get(name);
      assert.ok(got, `${name} is declared in host/core-exports.ts but ${file} does not export it`);
      assert.deepEqual(got, sig, `${name}: ${file} has (${got[0].join(', ')}) -> ${got[1]}, declared (${sig[0].join(', ')}) -> ${sig[1]}`);
    }
  });
}

test('core.wasm exports nothing undeclared (the host\'s typed view is complete)', () => {
  const undeclared = [...exportedSignatures('core.wasm').keys()].filter((n) => !(n in CORE_EXPORTS) && !runtime.has(n));
  assert.deepEqual(undeclared, [], 'declare each in host/core-exports.ts');
});
