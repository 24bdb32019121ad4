// Typed errors of the Node API: an errno-like code and a message that says what to do.

import { ERRNO } from './core-constants.js';

/** The core's errno names by value (from its own declarations). */
const ERRNO_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ERRNO).map(([name, value]) => [value, name]));

export class WstorError extends Error {
  /** errno name, e.g. 'EINVAL', or a wstor code such as 'EREACTORTRAP'. */
  readonly code: string;
  /** Negative errno from the core, when there is one. */
  readonly errno?: number;

  constructor(code: string, message: string, errno?: number) {
    super(message);
    this.name = 'WstorError';
    this.code = code;
    if (errno !== undefined) this.errno = errno;
  }

  /** From a negative errno returned by the core. */
  static fromErrno(rc: number, what: string): WstorError {
    const name = ERRNO_NAMES[-rc] ?? `E${-rc}`;
    return new WstorError(name, `${what}: ${name} (${rc})`, rc);
  }
}
