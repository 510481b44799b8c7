/**
 * The public client: `connect()` and `Client` (unary, server-streaming, client
 * and bidirectional streaming calls over pooled connections).
 *
 * Theory of operation: every call takes a stream slot from the pool, opens a
 * stream with the request headers (`mux-timeout` carries the time left before
 * the deadline, in whole ms rounded up) and, for `request()`/`stream()`, sends
 * the body known up front and waits for the response headers. Until then, a
 * failure that is provably not processed (REFUSED_STREAM, above a GOAWAY's
 * last_stream_id, never sent because no connection could be had) is retried
 * transparently on another stream or connection, up to `maxAttempts`, within
 * the deadline. A `timeout` or an `AbortSignal` cancels the call: its stream is
 * reset with CANCEL (that stream only) and the call rejects with
 * `DeadlineExceededError` or `CancelledError`. `call()` hands the caller a
 * `Call` to write a body of any length (client and bidirectional streaming);
 * its body is not replayable, so it is never retried.
 */
import type tls from "node:tls";
import { type Settings } from "./constants.js";
import { Call, ResponseStream } from "./call.js";
import { CallError, CancelledError, ConnectError, DeadlineExceededError, LocalProtocolError } from "./errors.js";
import { type HeaderPairs, type HeadersInit, checkedFields, requestFields } from "./headers.js";
import { type BackoffOptions, NEVER, Pool } from "./pool.js";

export interface ConnectOptions {
  /** `true` for TLS with the system CAs, or tls.connect options (ALPN mux/1 is always offered). */
  tls?: boolean | tls.ConnectionOptions;
  /** Connections opened when one's MAX_CONCURRENT_STREAMS is reached (default 1: wait for a slot). */
  maxConnections?: number;
  /** Local settings to advertise (default: larger windows for bulk transfers). */
  settings?: Partial<Settings>;
  /** Keepalive PING after this many ms without a frame; 0 disables (default 30000). */
  keepaliveMs?: number;
  /** After a keepalive PING, ms without any frame before the connection counts as lost (default max(keepaliveMs, 10000)). */
  keepaliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Attempts of a request that was provably not processed (default 3). */
  maxAttempts?: number;
  backoff?: Partial<BackoffOptions>;
  /** `:authority` to send (default: the target). */
  authority?: string;
}

export interface CallOptions {
  headers?: HeadersInit;
  /** Milliseconds for the whole call; sent as `mux-timeout`. */
  timeout?: number;
  signal?: AbortSignal;
}

export interface RequestOptions extends CallOptions {
  body?: Uint8Array | string;
  trailers?: HeadersInit;
  maxAttempts?: number;
}

export interface Response {
  status: number;
  headers: HeaderPairs;
  trailers: HeaderPairs;
  body: Buffer;
  header(name: string): string | undefined;
}

const DEFAULT_WINDOWS: Partial<Settings> = { INITIAL_STREAM_WINDOW: 1 << 20, CONNECTION_WINDOW: 16 << 20 };

export class Client {
  private readonly pool: Pool;
  private readonly scheme: string;
  private readonly maxAttempts: number;

  constructor(readonly target: string, private readonly opts: ConnectOptions = {}) {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(target);
    if (!m) throw new TypeError(`target ${JSON.stringify(target)} is not HOST:PORT`);
    const tlsOpts = opts.tls === true ? {} : opts.tls || undefined;
    this.scheme = tlsOpts ? "https" : "http";
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.pool = new Pool(
      {
        host: m[1] ?? m[2]!, port: Number(m[3]), tls: tlsOpts,
        settings: { ...DEFAULT_WINDOWS, ...opts.settings }, keepaliveMs: opts.keepaliveMs ?? 30_000,
        keepaliveTimeoutMs: opts.keepaliveTimeoutMs,
        connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      },
      opts.maxConnections ?? 1,
      { baseMs: 100, maxMs: 5_000, attempts: 5, ...opts.backoff },
    );
  }

  /** Connections currently in the pool. */
  get connections(): number {
    return this.pool.size;
  }

  /** Open the first connection now (connect() does), so a bad target fails early. */
  async warm(): Promise<void> {
    await this.pool.connect();
  }

  /** Unary: send the whole body, read the whole response. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const { call, res } = await this.exchange(method, path, opts);
    try {
      const body = await res.bytes();
      return { status: res.status, headers: res.headers, trailers: res.trailers, body, header: (n) => res.header(n) };
    } finally {
      call.onSettled();
    }
  }

  /** Server streaming: the response with a body to iterate (`for await (const chunk of res)`). */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<ResponseStream> {
    return (await this.exchange(method, path, opts)).res;
  }

  /** Client or bidirectional streaming: write with `call.write()`, finish with `call.end()`, read `await call.response`. */
  async call(method: string, path: string, opts: CallOptions = {}): Promise<Call> {
    const deadline = opts.timeout !== undefined ? Date.now() + opts.timeout : undefined;
    return this.start(method, path, opts, deadline, undefined, undefined);
  }

  async close(): Promise<void> {
    this.pool.close();
  }

  private async exchange(method: string, path: string, opts: RequestOptions): Promise<{ call: Call; res: ResponseStream }> {
    const attempts = opts.maxAttempts ?? this.maxAttempts;
    const deadline = opts.timeout !== undefined ? Date.now() + opts.timeout : undefined;
    const body = typeof opts.body === "string" ? Buffer.from(opts.body) : opts.body ?? new Uint8Array(0);
    for (let attempt = 1; ; attempt++) {
      const call = await this.start(method, path, opts, deadline, body, opts.trailers);
      try {
        return { call, res: await call.response };
      } catch (e) {
        // Retry only what the server provably did not process (spec 9.2), within the deadline.
        if (!(e instanceof CallError) || e.processed !== "not-processed" || attempt >= attempts || e instanceof DeadlineExceededError) throw e;
      }
    }
  }

  /** Take a slot, open the stream, send what is known up front. */
  private async start(method: string, path: string, opts: CallOptions, deadline: number | undefined,
    body: Uint8Array | undefined, trailers: HeadersInit | undefined): Promise<Call> {
    const what = `${method} ${path}`;
    const extra = checkedFields(opts.headers, what).filter(([n]) => n !== "mux-timeout");
    const trailerFields = trailers ? checkedFields(trailers, "trailers") : [];
    const call = new Call(what);
    let signal = NEVER;
    if (deadline !== undefined || opts.signal) {
      const ac = new AbortController();
      signal = ac.signal;
      const timeout = opts.timeout;
      const timer = deadline !== undefined
        ? setTimeout(() => ac.abort(new DeadlineExceededError(`${what}: deadline of ${timeout} ms exceeded`, call.processedNow())),
          Math.max(0, deadline - Date.now()))
        : null;
      const onUserAbort = () => ac.abort(new CancelledError(`${what} was aborted`, call.processedNow()));
      if (opts.signal?.aborted) onUserAbort();
      opts.signal?.addEventListener("abort", onUserAbort, { once: true });
      signal.addEventListener("abort", () => call.cancel(signal.reason as CallError), { once: true });
      call.onSettled = () => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onUserAbort);
      };
    }
    const noBody = body !== undefined && body.length === 0 && trailerFields.length === 0;
    try {
      for (;;) {
        let channel;
        try {
          channel = await this.pool.acquire(signal);
        } catch (e) {
          if (e instanceof CallError) throw e;
          throw new CallError(`${what}: ${(e as Error).message}`, "not-processed", { cause: e });
        }
        const fields = requestFields(method, path, this.opts.authority ?? this.target, this.scheme, extra);
        if (deadline !== undefined) fields.push(["mux-timeout", String(Math.max(0, Math.ceil(deadline - Date.now())))]);
        let id: number;
        try {
          id = channel.open(fields, noBody, call);
        } catch (e) {
          if (e instanceof LocalProtocolError && !channel.usable) continue; // raced with GOAWAY or a full table
          throw new CallError(`${what}: ${(e as Error).message}`, "not-processed", { cause: e });
        }
        call.attach(channel, id, noBody);
        break;
      }
      if (body !== undefined && !noBody) await call.send(body, trailerFields);
    } catch (e) {
      call.onSettled();
      if (e instanceof CallError) call.fail(e);
      throw call.error ?? e;
    }
    return call;
  }
}

/** Connect to `HOST:PORT` (the first connection opens now) and return the client. */
export async function connect(target: string, opts: ConnectOptions = {}): Promise<Client> {
  const client = new Client(target, opts);
  try {
    await client.warm();
  } catch (e) {
    throw e instanceof ConnectError ? e : new ConnectError(String(e));
  }
  return client;
}
