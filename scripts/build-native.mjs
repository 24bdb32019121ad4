// Builds host/native with node-gyp against the headers of the running Node, so no header download is
// ever needed (the machines reach the npm registry only). Fails with a clear message if they are absent.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const prefix = path.resolve(path.dirname(process.execPath), '..');
const headers = path.join(prefix, 'include', 'node', 'node_api.h');
const args = ['rebuild', '--directory', 'host/native', '--silent'];
if (existsSync(headers)) {
  args.push(`--nodedir=${prefix}`);
} else {
  console.error(`build-native: no Node headers at ${headers}; node-gyp will look for them itself`);
}
const gyp = path.resolve('node_modules', '.bin', 'node-gyp');
const r = spawnSync(gyp, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-native: the native addon did not build. It needs python3, make and a C compiler, and Node headers.');
  process.exit(r.status ?? 1);
}
