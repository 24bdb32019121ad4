// Sizes the host takes and reports, kept exact: products are computed as BigInt and refused past
// Number.MAX_SAFE_INTEGER, and a number that is no longer exact is never printed, so no answer or
// error carries a rounded figure (a resize once reported "18446744073709550000").
import { WstorError } from './errors.js';

/** The largest size in bytes wstor takes or reports: 2^53 - 1 (8 PiB), exact as a JavaScript or JSON number. */
export const SIZE_MAX_BYTES = Number.MAX_SAFE_INTEGER;

/** `n` as text when that text is exact; else what it is (a number past 2^53 has lost its low digits). */
export function shown(n: unknown): string {
  if (typeof n === 'number' && Number.isInteger(n) && !Number.isSafeInteger(n)) return 'a number past 2^53 - 1, which is not exact';
  return JSON.stringify(n) ?? String(n);
}

/** `count` units of `unitBytes` as bytes; EINVAL with the exact figures when that passes SIZE_MAX_BYTES. */
export function exactBytes(count: number, unitBytes: number, what: string): number {
  if (!Number.isSafeInteger(count) || count < 0) throw new WstorError('EINVAL', `${what}: ${shown(count)} must be a whole number from 0 to ${SIZE_MAX_BYTES}`);
  const bytes = BigInt(count) * BigInt(unitBytes);
  if (bytes > BigInt(SIZE_MAX_BYTES)) {
    throw new WstorError('EINVAL', `${what} is ${bytes} bytes; wstor takes sizes of at most ${SIZE_MAX_BYTES} bytes (2^53 - 1, exact in JSON)`);
  }
  return Number(bytes);
}
