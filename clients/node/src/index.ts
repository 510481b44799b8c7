/**
 * mux-client: a Node.js client for mux/msgpack (spec/mux-protocol.md).
 * Theory of operation: see client.ts (calls), pool.ts (connections), channel.ts
 * (one connection), connection.ts (the sans-IO protocol machine).
 */
export { connect, Client, type ConnectOptions, type CallOptions, type RequestOptions, type Response } from "./client.js";
export { Call, ResponseStream } from "./call.js";
export {
  MuxError, ConnectError, CallError, StreamResetError, ConnectionLostError, DeadlineExceededError, CancelledError,
  type Processed,
} from "./errors.js";
export { ErrorCode, errorCodeName, type Settings } from "./constants.js";
export type { HeaderPairs, HeadersInit } from "./headers.js";
