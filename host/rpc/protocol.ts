// JSON-RPC 2.0 messages: checking that a parsed value is a request, and writing responses as text.
import { INTERNAL_ERROR, INVALID_REQUEST, RpcError, type RpcErrorObject } from './errors.js';

/** A request's id; a request without one is a notification and gets no response. */
export type RpcId = string | number | null;

export interface RpcRequest {
  method: string;
  /** An object or array, or undefined when the request has none. */
  params: unknown;
  /** undefined for a notification. */
  id: RpcId | undefined;
}

export type RpcResponse =
  | { jsonrpc: '2.0'; id: RpcId; result: unknown }
  | { jsonrpc: '2.0'; id: RpcId; error: RpcErrorObject };

/** A request, or the error response that answers a value that is not one. */
export type Checked = { request: RpcRequest } | { invalid: RpcResponse };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validId(id: unknown): id is RpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

export function errorResponse(id: RpcId, err: RpcError): RpcResponse {
  return { jsonrpc: '2.0', id, error: err.toObject() };
}

export function resultResponse(id: RpcId, result: unknown): RpcResponse {
  // JSON-RPC requires the member; a handler that returns nothing answers null.
  return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
}

/**
 * Check one request (not a batch). Whatever is wrong is answered with INVALID_REQUEST and the request's id
 * when it has a usable one, else id null, as JSON-RPC 2.0 says: a malformed notification is still answered.
 */
export function checkRequest(value: unknown): Checked {
  if (!isPlainObject(value)) {
    const kind = Array.isArray(value) ? 'an array (batches do not nest)' : value === null ? 'null' : `a ${typeof value}`;
    return { invalid: errorResponse(null, new RpcError(INVALID_REQUEST, `a request must be a JSON object, not ${kind}`)) };
  }
  const hasId = Object.hasOwn(value, 'id');
  if (hasId && !validId(value.id)) {
    return { invalid: errorResponse(null, new RpcError(INVALID_REQUEST, 'a request id must be a string, a number or null')) };
  }
  const id = hasId ? (value.id as RpcId) : null;
  const refuse = (message: string): Checked => ({ invalid: errorResponse(id, new RpcError(INVALID_REQUEST, message)) });
  if (value.jsonrpc !== '2.0') return refuse('a request must have "jsonrpc": "2.0"');
  if (typeof value.method !== 'string') return refuse('a request must have a "method" string');
  const params = value.params;
  if (params !== undefined && typeof params !== 'object') return refuse('"params" must be an object or an array when given');
  if (params === null) return refuse('"params" must be an object or an array when given, not null');
  return { request: { method: value.method, params, id: hasId ? id : undefined } };
}

/**
 * JSON.stringify's replacer for results: a bigint goes out as a number when it is exact as one (JSON.parse on
 * the other side makes it a double anyway), else as a decimal string rather than wrong digits.
 */
export function replaceBigint(_key: string, value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  const asNumber = Number(value);
  return Number.isSafeInteger(asNumber) ? asNumber : value.toString();
}

/** The response as JSON text; a result that cannot be written as JSON becomes an INTERNAL_ERROR response. */
export function encodeResponse(response: RpcResponse): string {
  try {
    return JSON.stringify(response, replaceBigint);
  } catch (err) {
    const why = new RpcError(INTERNAL_ERROR, `the result could not be written as JSON: ${(err as Error).message}`);
    return JSON.stringify(errorResponse(response.id, why));
  }
}
