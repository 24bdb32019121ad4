// JSON-RPC 2.0 error codes and RpcError, and the one mapping from whatever a handler throws to the error
// object a client receives (SPDK's convention: wstor's own failures carry a negative errno as the code).
import { WstorError } from '../errors.js';
import { ERRNO } from '../core-constants.js';

/** The bytes received are not JSON. */
export const PARSE_ERROR = -32700;
/** Valid JSON, but not a JSON-RPC 2.0 request (or too large, or nested too deep). */
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
/** The handler failed in a way that is not one of wstor's errno-style errors. */
export const INTERNAL_ERROR = -32603;
/** -EMSGSIZE: an answer larger than a connection may hold (it is refused rather than sent in part). */
export const EMSGSIZE = -90;

/**
 * Negative errno for the errno names WstorError uses, as SPDK's JSON-RPC puts them in `code`. Consulted
 * only when a WstorError carries no errno of its own (errors raised in the host rather than the core).
 */
const ERRNO_BY_NAME: Readonly<Record<string, number>> = {
  ...Object.fromEntries(Object.entries(ERRNO).map(([name, value]) => [name, -value])),
  // Raised only by the host (paths, sockets, answers), never by the core.
  ENOTDIR: -20, ENAMETOOLONG: -36, EMSGSIZE: -90,
};

/** The `error` member of a JSON-RPC response. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export class RpcError extends Error {
  readonly code: number;
  readonly data?: unknown;
  /** Made from an exception no handler meant to throw (a TypeError, say): a bug, whatever the client sent. */
  unexpected = false;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    if (!Number.isInteger(code)) throw new TypeError(`RpcError code must be an integer (got ${code})`);
    this.name = 'RpcError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }

  toObject(): RpcErrorObject {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }
}

/**
 * What a client is told about `err`: an RpcError as it is; a WstorError as its negative errno (its own, else
 * the one its name stands for; INTERNAL_ERROR for a name that is no errno) with its message; anything else
 * as INTERNAL_ERROR with its message.
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof WstorError) {
    const code = err.errno ?? ERRNO_BY_NAME[err.code] ?? INTERNAL_ERROR;
    return new RpcError(code, err.message);
  }
  const e = err instanceof Error ? new RpcError(INTERNAL_ERROR, err.message || err.name) : new RpcError(INTERNAL_ERROR, `internal error: ${String(err)}`);
  e.unexpected = true;
  if (err instanceof Error && err.stack) e.stack = err.stack;
  return e;
}
