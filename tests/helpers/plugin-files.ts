// Files for the plugin tests: the built example plugins (build/plugins) and scratch disk files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const built = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'plugins');

/** The bytes of an example plugin built by npm run build (e.g. 'crc32c.wasm'). */
export function builtPlugin(file: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(path.join(built, file)));
}

/** A zero-filled file of `bytes` in a new temporary directory for `body` (all removed after). */
export async function withDiskFile(bytes: number, body: (file: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wstor-plugin-file-'));
  try {
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(bytes));
    await body(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
