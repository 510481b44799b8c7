/**
 * Everything, for tests and tools: the codec and the sans-IO connection next to
 * the public API. Theory of operation: a re-export module, no code of its own.
 */
export * from "./constants.js";
export * from "./errors.js";
export * from "./frames.js";
export * from "./msgpack.js";
export * from "./headers.js";
export * from "./connection.js";
export * from "./budgets.js";
export * from "./pool.js";
