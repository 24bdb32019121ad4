// Where the shared QEMU guest harness and a built guest are, and why a guest test cannot run here
// (the e2e tests pass the reason to helpers/skip.ts).
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HARNESS = process.env.WSTOR_HARNESS ?? path.resolve(ROOT, '..', 'shared', 'harness');
export const GUEST = process.env.WSTOR_GUEST;

/** Null when a guest can be booted; else what is missing and how to provide it. */
export function guestSkipReason(): string | null {
  if (!GUEST) return 'WSTOR_GUEST is not set (build a guest with the harness\'s build-guest.sh; .ci/run does)';
  if (!fs.existsSync(path.join(GUEST, 'vmlinuz'))) return `no guest in ${GUEST}`;
  if (!fs.existsSync(path.join(HARNESS, 'run-guest.sh'))) return `no harness at ${HARNESS} (set WSTOR_HARNESS)`;
  if (spawnSync('qemu-system-x86_64', ['--version']).error) return 'qemu-system-x86_64 is not installed';
  return null;
}

export interface GuestRun { code: number | null; out: string }

/**
 * Boot the guest with run-guest.sh `args` (GUEST is added first); `onLine` sees each line of its
 * console as it comes (a test watching for a step). Resolves with the exit code and the whole output.
 */
export function runHarnessGuest(args: string[], onLine: (line: string) => void = () => undefined, env: NodeJS.ProcessEnv = process.env): Promise<GuestRun> {
  const child = spawn(path.join(HARNESS, 'run-guest.sh'), ['-g', GUEST!, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '', partial = '';
  const take = (d: Buffer) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}
