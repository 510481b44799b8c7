/**
 * Errors of the protocol core and of the client API.
 *
 * Theory of operation: the sans-IO core throws `ConnectionViolation` (the peer
 * broke the protocol: the connection ends with GOAWAY of that code) and
 * `LocalProtocolError` (the application asked for something the protocol
 * forbids; nothing is sent). Every failed call rejects with a `CallError` whose
 * `processed` answers the question a caller has before retrying, "did the server
 * act on my request?":
 *  - `not-processed`: provably not (never sent, REFUSED_STREAM, or above a
 *    GOAWAY's last_stream_id); the client already retried where it could.
 *  - `maybe-processed`: sent but not answered; retry only if idempotent.
 *  - `processed`: the server answered (response headers) before the failure.
 */
import { errorCodeName } from "./constants.js";

export class ConnectionViolation extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "ConnectionViolation";
  }
}

export class LocalProtocolError extends Error {
  override name = "LocalProtocolError";
}

export type Processed = "not-processed" | "maybe-processed" | "processed";

const ADVICE: Record<Processed, string> = {
  "not-processed": "the server did not process it (safe to retry)",
  "maybe-processed": "the server MAY have processed it (retry only if idempotent)",
  processed: "the server processed it",
};

/** Base of every error the client raises. */
export class MuxError extends Error {
  override name = "MuxError";
}

/** Connecting failed (refused, TLS, handshake, wrong protocol). */
export class ConnectError extends MuxError {
  override name = "ConnectError";
}

/** A call failed; `processed` says whether the server may have acted on it. */
export class CallError extends MuxError {
  override name = "CallError";
  constructor(what: string, readonly processed: Processed, options?: { cause?: unknown }) {
    super(`${what}; ${ADVICE[processed]}`, options);
  }
}

/** The stream was reset (by the server, or because its answer broke the protocol). */
export class StreamResetError extends CallError {
  override name = "StreamResetError";
  constructor(readonly code: number, what: string, processed: Processed) {
    super(`${what} (${errorCodeName(code)})`, processed);
  }
}

/** The connection ended (GOAWAY with an error, closed, keepalive timeout). */
export class ConnectionLostError extends CallError {
  override name = "ConnectionLostError";
}

/** The `timeout` passed: the stream was reset with CANCEL. */
export class DeadlineExceededError extends CallError {
  override name = "DeadlineExceededError";
}

/** The caller's AbortSignal fired (or the call was cancelled): the stream was reset with CANCEL. */
export class CancelledError extends CallError {
  override name = "AbortError";
}
