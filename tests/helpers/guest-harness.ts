// Where the shared QEMU guest harness and a built guest are, and why a guest test cannot run here
// (the e2e tests pass the reason to helpers/skip.ts).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
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
