// What the browser build imports by bare name (binaryen: plugins are checked and metered with it)
// and how a page finds it: the import map a page that loads the engine puts before its scripts, and
// the file the static server answers that path with. Node side only (the server's); the browser
// build never imports this file.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Bare specifiers the browser build may import: each is in IMPORT_MAP (tests/unit/web-import-graph.test.ts checks it). */
export const BARE_IMPORTS: Readonly<Record<string, string>> = { binaryen: '/vendor/binaryen.js' };

/** Goes in a page's <head>, before any module script. */
export const IMPORT_MAP = `<script type="importmap">${JSON.stringify({ imports: BARE_IMPORTS })}</script>`;

/** The static server's answers for BARE_IMPORTS' paths (read once, when a server starts). */
export function vendorFiles(): Record<string, { contentType: string; body: string | Buffer }> {
  const binaryen = fileURLToPath(import.meta.resolve('binaryen'));
  return { [BARE_IMPORTS.binaryen]: { contentType: 'text/javascript; charset=utf-8', body: fs.readFileSync(binaryen) } };
}
