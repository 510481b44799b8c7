/**
 * One request/response exchange on one stream: `Call` and `ResponseStream`.
 *
 * Theory of operation: a Call is the `StreamSink` of its stream. Response body
 * chunks queue up as they arrive and are handed to the reader one at a time;
 * flow-control credit goes back to the server only when the reader takes a
 * chunk (`consume`), so a slow reader slows its sender and memory stays bounded
 * by the windows. Writes go through the channel, which parks them until the
 * windows allow. Every failure is a `CallError` whose `processed` follows what
 * the client saw: refused or above GOAWAY = not-processed, response headers seen
 * = processed, otherwise maybe-processed. Cancelling (deadline, AbortSignal,
 * `cancel()`, a reader breaking out early) resets that stream only with CANCEL.
 */
import { ErrorCode } from "./constants.js";
import type { Channel, StreamSink } from "./channel.js";
import { CallError, ConnectionLostError, type Processed, StreamResetError } from "./errors.js";
import { type HeaderPairs, type HeadersInit, checkedFields } from "./headers.js";

function lookup(pairs: HeaderPairs, name: string): string | undefined {
  const n = name.toLowerCase();
  return pairs.find(([k]) => k === n)?.[1];
}

/** A response whose body is read as it arrives (async iteration of Buffers). */
export class ResponseStream implements AsyncIterable<Buffer> {
  readonly status: number;
  /** Trailers, once the body has been read to the end. */
  trailers: HeaderPairs = [];
  constructor(readonly headers: HeaderPairs, private readonly call: Call) {
    this.status = Number(lookup(headers, ":status"));
    this.headers = headers.filter(([n]) => !n.startsWith(":"));
  }
  header(name: string): string | undefined {
    return lookup(this.headers, name);
  }
  trailer(name: string): string | undefined {
    return lookup(this.trailers, name);
  }
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => this.call.read(),
      return: async () => {
        this.call.cancel();
        return { done: true, value: undefined };
      },
    };
  }
  /** The whole remaining body. */
  async bytes(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this) parts.push(c);
    return Buffer.concat(parts);
  }
  async text(): Promise<string> {
    return (await this.bytes()).toString("utf8");
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

export class Call implements StreamSink {
  streamId = 0;
  channel: Channel | null = null;
  private queue: Buffer[] = [];
  private ended = false;
  private responded = false;
  private localDone = false;
  private failure: CallError | null = null;
  private readers: Array<() => void> = [];
  private resolveResponse!: (r: ResponseStream) => void;
  private rejectResponse!: (e: CallError) => void;
  private responseStream: ResponseStream | null = null;
  /** Resolves with the response headers (the body follows through iteration). */
  readonly response: Promise<ResponseStream>;
  /** Called once when the call is over (success or failure): timers are cleared. */
  onSettled: () => void = () => {};

  constructor(readonly what: string) {
    this.response = new Promise((res, rej) => {
      this.resolveResponse = res;
      this.rejectResponse = rej;
    });
    this.response.catch(() => {}); // read through `await call.response` or iteration
  }

  /** Attach to the stream the client opened for this call. */
  attach(channel: Channel, streamId: number, localDone: boolean): void {
    this.channel = channel;
    this.streamId = streamId;
    this.localDone = localDone;
  }

  get error(): CallError | null {
    return this.failure;
  }

  /** Send a body chunk; resolves once it is handed to the connection (flow control permitting). */
  async write(chunk: Uint8Array | string): Promise<void> {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (this.failure) throw this.failure;
    if (this.localDone) throw new TypeError(`${this.what}: the request body has ended`);
    try {
      await this.channel!.write(this.streamId, data, false, () => !this.failure);
    } catch (e) {
      throw this.failure ?? e;
    }
  }

  /** The whole request body and its end (END_STREAM on the last DATA frame, or trailers). */
  async send(body: Uint8Array, trailers: HeaderPairs): Promise<void> {
    if (trailers.length) {
      if (body.length) await this.write(body);
      return this.end(trailers);
    }
    if (this.failure) throw this.failure;
    this.localDone = true;
    try {
      await this.channel!.write(this.streamId, body, true, () => !this.failure);
    } catch (e) {
      throw this.failure ?? e;
    }
    if (this.ended) this.onSettled();
  }

  /** End the request body, optionally with trailers. */
  async end(trailers?: HeadersInit): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.localDone) return;
    const fields = Array.isArray(trailers) ? checkedFields(trailers, "trailers") : trailers ? checkedFields(trailers, "trailers") : [];
    this.localDone = true;
    try {
      if (fields.length) this.channel!.trailers(this.streamId, fields);
      else await this.channel!.write(this.streamId, new Uint8Array(0), true, () => !this.failure);
    } catch (e) {
      throw this.failure ?? e;
    }
    if (this.ended) this.onSettled();
  }

  /** Reset this stream with CANCEL and fail the call with `error` (default: cancelled). */
  cancel(error?: CallError): void {
    if (this.failure || (this.ended && this.localDone)) return;
    this.channel?.reset(this.streamId, ErrorCode.CANCEL);
    this.fail(error ?? new CallError(`${this.what} was cancelled`, this.processedNow()));
  }

  processedNow(): Processed {
    return this.responded ? "processed" : "maybe-processed";
  }

  async read(): Promise<IteratorResult<Buffer>> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.channel!.consume(this.streamId, chunk.length);
        return { done: false, value: chunk };
      }
      if (this.failure) throw this.failure;
      if (this.ended) return { done: true, value: undefined };
      await new Promise<void>((r) => this.readers.push(r));
    }
  }

  // ---------------------------------------------------------------- StreamSink

  onResponse(headers: HeaderPairs, endStream: boolean): void {
    this.responded = true;
    this.responseStream = new ResponseStream(headers, this);
    this.resolveResponse(this.responseStream);
    if (endStream) this.finish();
  }
  onData(data: Uint8Array, endStream: boolean): void {
    if (data.length) this.queue.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (endStream) this.finish();
    else this.wakeReaders();
  }
  onTrailers(headers: HeaderPairs): void {
    if (this.responseStream) this.responseStream.trailers = headers;
    this.finish();
  }
  onReset(code: number, remote: boolean, message: string): void {
    if (remote && code === ErrorCode.NO_ERROR && this.ended) {
      // The response is complete and the server wants no more of the request (spec 5.4).
      this.localDone = true;
      this.onSettled();
      return;
    }
    const processed: Processed = remote && code === ErrorCode.REFUSED_STREAM ? "not-processed" : this.processedNow();
    this.fail(new StreamResetError(code, `${this.what}: ${message}`, processed));
  }
  onRefused(message: string): void {
    this.fail(new CallError(`${this.what}: ${message}`, "not-processed"));
  }
  onLost(why: string): void {
    if (this.ended && this.localDone) return;
    this.fail(new ConnectionLostError(`${this.what}: ${why}`, this.processedNow()));
  }

  private finish(): void {
    this.ended = true;
    this.wakeReaders();
    if (this.localDone) this.onSettled();
  }

  fail(error: CallError): void {
    if (this.failure) return;
    this.failure = error;
    this.localDone = true;
    // Body bytes nobody will read still hold connection credit: give it back (spec 8.3).
    let unread = 0;
    for (const c of this.queue) unread += c.length;
    this.queue = [];
    if (unread && this.channel) this.channel.consume(this.streamId, unread);
    this.rejectResponse(error);
    this.wakeReaders();
    this.onSettled();
  }

  private wakeReaders(): void {
    const r = this.readers;
    this.readers = [];
    for (const w of r) w();
  }
}
