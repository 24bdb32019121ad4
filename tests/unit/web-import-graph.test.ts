// The browser build's module graph holds nothing of Node: walked from the browser entry and from the
// worker scripts it starts (new URL('…', import.meta.url)), through static, re-export and dynamic
// imports of the compiled JavaScript. Every specifier must be a relative path to a file of build/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BARE_IMPORTS } from '../../host/web/vendor.js';

const HOST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'host');
const ENTRY = path.join(HOST, 'web', 'index.js');

/** Every module specifier and worker URL in a compiled module's text, comments removed first. */
export function specifiersOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /\bimport\s+(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g,      // import x from '…', import '…'
    /\bexport\s+(?:\*|\{[^}]*\})\s*(?:as\s+\w+\s+)?from\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,                     // import('…')
    /\bimport\s*\(\s*([^'"`\s)][^)]*)\)/g,                              // import(expression): unknowable
    /new\s+URL\(\s*['"]([^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g, // a worker's script
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]);
  return found;
}

/** Each module reached from `entry` with what it imports that a browser could not load. */
function walk(entry: string): { modules: Set<string>; refused: string[] } {
  const modules = new Set<string>();
  const refused: string[] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (modules.has(file)) continue;
    modules.add(file);
    for (const spec of specifiersOf(fs.readFileSync(file, 'utf8'))) {
      const where = path.relative(HOST, file);
      // A bare name a page's import map gives a path (host/web/vendor.ts) loads; any other does not.
      if (Object.hasOwn(BARE_IMPORTS, spec)) continue;
      if (!spec.startsWith('./') && !spec.startsWith('../')) { refused.push(`${where} imports "${spec}"`); continue; }
      const target = path.resolve(path.dirname(file), spec);
      if (!fs.existsSync(target)) { refused.push(`${where} imports ${spec}, which is not built`); continue; }
      queue.push(target);
    }
  }
  return { modules, refused };
}

test('the specifier scan sees every form of import (and a computed one as unknowable)', () => {
  const source = `import a from './a.js';\nimport './b.js';\nimport { c, d } from "./c.js";\nexport * from './e.js';\n` +
    `export { f } from './f.js';\nconst g = await import('node:fs');\nawait import(name);\n// import x from 'node:os';\n` +
    `new Worker(new URL('./w.js', import.meta.url));`;
  assert.deepEqual(specifiersOf(source).sort(), ['./a.js', './b.js', './c.js', './e.js', './f.js', './w.js', 'name', 'node:fs'].sort());
});

test('the browser entry and its workers import nothing of Node', () => {
  const { modules, refused } = walk(ENTRY);
  const names = [...modules].map((m) => path.relative(HOST, m));
  for (const needed of ['engine.js', 'platform-web.js', 'web/reactor-worker.js', 'web/opfs-worker.js', 'blobstore.js', 'bdev.js', 'plugins/prepare.js']) {
    assert.ok(names.includes(needed), `${needed} is in the browser's graph (found ${names.length} modules)`);
  }
  assert.deepEqual(refused, [], `the browser build reaches modules it cannot load:\n${refused.join('\n')}`);
});
