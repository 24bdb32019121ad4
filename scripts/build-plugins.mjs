// Build step: the example plugins (examples/plugins) into build/plugins/NAME.wasm. WAT is assembled
// with binaryen's text parser; AssemblyScript is compiled with asc (examples/plugins/asconfig.json) to
// a module of its own memory (exported, with a declared maximum), the stub runtime and no imports but
// the ABI's log.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import binaryen from 'binaryen';
import asc from 'assemblyscript/asc';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'examples', 'plugins');
const out = path.join(root, 'build', 'plugins');
mkdirSync(out, { recursive: true });

/** The features a plugin may use (host/plugins/check.ts PLUGIN_FEATURES), less what these need not. */
const WAT_FEATURES = binaryen.Features.MutableGlobals | binaryen.Features.SignExt | binaryen.Features.BulkMemory;

function assemble(file) {
  const module = binaryen.parseText(readFileSync(path.join(src, file), 'utf8'));
  try {
    module.setFeatures(WAT_FEATURES);
    if (!module.validate()) throw new Error(`${file}: does not validate`);
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}

async function compile(file) {
  const target = path.join(out, file.replace(/\.ts$/, '.wasm'));
  // Its own asconfig (not the core's: no shared memory, no imported memory, the stub runtime).
  const { error, stderr } = await asc.main([path.join(src, file), '--config', path.join(src, 'asconfig.json'), '--outFile', target]);
  if (error) throw new Error(`${file}: ${error.message}\n${stderr.toString()}`);
}

// plugin-abi.ts is the examples' shared part, not a plugin.
for (const file of readdirSync(src).sort()) {
  if (file.endsWith('.wat')) writeFileSync(path.join(out, file.replace(/\.wat$/, '.wasm')), assemble(file));
  else if (file.endsWith('.ts') && file !== 'plugin-abi.ts') await compile(file);
}
console.log(`build-plugins: ${readdirSync(out).filter((f) => f.endsWith('.wasm')).join(', ')} in build/plugins`);
