// Skipping a test because a tool, a privilege or a device is missing. Outside CI the test is skipped
// and says why. Under CI=true a skip is a failure (CI installs what the tests need, so a skip there
// means a test silently did not run) unless .ci/allowed-skips lists the test with its reason.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ALLOWED_SKIPS_FILE = path.join(ROOT, '.ci', 'allowed-skips');

export interface AllowedSkip { prefix: string; reason: string }

/** `.ci/allowed-skips`: one `test name (or its start) :: reason` per line; `#` starts a comment. */
export function parseAllowedSkips(text: string): AllowedSkip[] {
  const out: AllowedSkip[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const at = line.indexOf('::');
    const prefix = at < 0 ? '' : line.slice(0, at).trim();
    const reason = at < 0 ? '' : line.slice(at + 2).trim();
    if (prefix === '' || reason === '') {
      throw new Error(`${ALLOWED_SKIPS_FILE}:${i + 1}: expected "test name :: reason", got "${raw}"`);
    }
    out.push({ prefix, reason });
  });
  return out;
}

function allowedSkips(): AllowedSkip[] {
  return fs.existsSync(ALLOWED_SKIPS_FILE) ? parseAllowedSkips(fs.readFileSync(ALLOWED_SKIPS_FILE, 'utf8')) : [];
}

/**
 * What to do with a skip of test `name` for `reason` when `ci` is set: 'skip', or the failure's message.
 * Split from skipUnless so the policy itself is tested.
 */
export function skipVerdict(name: string, reason: string, ci: boolean, allowed: AllowedSkip[]): 'skip' | string {
  if (!ci || allowed.some((a) => name.startsWith(a.prefix))) return 'skip';
  return `this test would be skipped (${reason}), and under CI=true a skip is a failure: make .ci/run ` +
    `provide what it needs, or list it in .ci/allowed-skips with its reason`;
}

/**
 * Skip the test for `reason` (returns true: the caller returns at once), or, under CI=true and not
 * allowed, fail it with the reason. `missing` false: nothing is missing, run the test (returns false).
 */
export function skipIfMissing(t: TestContext, missing: boolean, reason: string): boolean {
  if (!missing) return false;
  const verdict = skipVerdict(t.name, reason, process.env.CI === 'true', allowedSkips());
  if (verdict !== 'skip') throw new Error(verdict);
  t.skip(reason);
  return true;
}
