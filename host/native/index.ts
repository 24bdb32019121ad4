// Loads the native addon (built by node-gyp during `npm ci`). Node only; the browser has no addon.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeAddon {
  getThreadAffinity(): number[];
  setThreadAffinity(cpus: number[]): void;
  getThreadId(): number;
}

let cached: NativeAddon | null | undefined;

/** The addon, or null if it was not built (callers then fall back and say so). */
export function loadNative(): NativeAddon | null {
  if (cached !== undefined) return cached;
  // Compiled to build/host/native/index.js; the addon stays in the source tree's host/native/build.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '..', '..', '..');
  const addonPath = path.join(root, 'host', 'native', 'build', 'Release', 'wstor_native.node');
  try {
    cached = createRequire(import.meta.url)(addonPath) as NativeAddon;
  } catch {
    cached = null;
  }
  return cached;
}
