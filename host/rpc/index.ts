// wstor's JSON-RPC 2.0 transport: the server, the client and the error mapping. Method handlers plug in as an
// RpcDispatcher; other components import only this file.
export { RpcError, toRpcError, PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR } from './errors.js';
export type { RpcErrorObject } from './errors.js';
export {
  RpcServer, RPC_CONNECTIONS_MAX, RPC_IN_FLIGHT_MAX, RPC_IDLE_TIMEOUT_MS, RPC_OUTPUT_MAX_BYTES, RPC_CLOSE_GRACE_MS,
} from './server.js';
export type { RpcDispatcher, RpcConnectionInfo, RpcServerOptions, RpcServerStats, RpcLog, RpcLogLevel } from './server.js';
export { RPC_BATCH_MAX } from './connection.js';
export { JsonSplitter, JSON_VALUE_MAX_BYTES, JSON_DEPTH_MAX } from './json-stream.js';
export { RpcClient, RPC_CLIENT_TIMEOUT_MS, RPC_RESPONSE_MAX_BYTES, RPC_DEFAULT_SOCKET } from './client.js';
export type { RpcTarget, RpcClientOptions } from './client.js';
export { isLoopback } from './listen.js';
