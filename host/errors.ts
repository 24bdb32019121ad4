// Typed errors of the Node API: an errno-like code and a message that says what to do.

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV',
  22: 'EINVAL', 28: 'ENOSPC', 34: 'ERANGE', 61: 'ENODATA', 95: 'ENOTSUP', 110: 'ETIMEDOUT', 125: 'ECANCELED',
};

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
