/**
 * One connection to a server: a socket driving a `ClientConnection`.
 *
 * Theory of operation: `Channel.open` connects (TCP, or TLS offering ALPN
 * `mux/1`), sends the preface and SETTINGS and resolves once the server's
 * SETTINGS arrived, so the first streams already know its limits. Bytes read are
 * fed to the state machine and its events dispatched to the `StreamSink` of each
 * stream (a Call). Frames the machine queues are written in one corked batch per
 * tick. A writer blocked by flow control (or by the socket's own backpressure)
 * parks until a WINDOW_UPDATE, a SETTINGS or a drain wakes it, so one slow
 * stream never blocks another and nothing buffers beyond the windows.
 *
 * Reading pauses while more than OUTPUT_BACKLOG bytes wait to be written, so
 * what a server that does not read can make the client queue stays bounded.
 *
 * Keepalive (spec 9.3): the client advertises KEEPALIVE_INTERVAL N and sends a
 * PING after N ms without receiving anything; if nothing at all arrives within
 * max(N, 10 s) more, the connection is declared lost. GOAWAY: streams above its
 * last_stream_id are refused (the caller retries them elsewhere); the rest run
 * to completion, then the channel closes. Any other end of the connection fails
 * the streams still open with `ConnectionLostError`.
 */
import net from "node:net";
import tls from "node:tls";
import { randomBytes } from "node:crypto";
import { ErrorCode, type Settings, errorCodeName } from "./constants.js";
import { ClientConnection, type ConnEvent } from "./connection.js";
import { ConnectError, ConnectionLostError, MuxError } from "./errors.js";
import type { HeaderPairs } from "./headers.js";

/** What a stream's owner hears from its channel. */
export interface StreamSink {
  onResponse(headers: HeaderPairs, endStream: boolean): void;
  onData(data: Uint8Array, endStream: boolean): void;
  onTrailers(headers: HeaderPairs): void;
  /** Reset by the server (remote) or by the client for a protocol violation. */
  onReset(code: number, remote: boolean, message: string): void;
  /** Provably not processed: above a GOAWAY's last_stream_id. */
  onRefused(message: string): void;
  /** The connection ended under the stream (`why` names the cause). */
  onLost(why: string): void;
}

export interface ChannelOptions {
  host: string;
  port: number;
  /** TLS options (ALPN is set to mux/1), or undefined for cleartext. */
  tls?: tls.ConnectionOptions;
  settings: Partial<Settings>;
  keepaliveMs: number;
  /** After a keepalive PING, how long without any frame before the connection is lost (default max(N, 10 s)). */
  keepaliveTimeoutMs?: number;
  connectTimeoutMs: number;
}

/** Unwritten bytes above which the channel stops reading (DATA writers stop at the high-water mark). */
const OUTPUT_BACKLOG = 4 << 20;

export class Channel {
  readonly conn: ClientConnection;
  private sinks = new Map<number, StreamSink>();
  private waiters: Array<() => void> = [];
  private flushScheduled = false;
  private lastRecv = Date.now();
  private pingSentAt = 0;
  private timer: NodeJS.Timeout | null = null;
  closedError: MuxError | null = null;
  /** Called when a stream slot may have freed or the channel became unusable. */
  onChange: () => void = () => {};

  private constructor(private readonly socket: net.Socket, private readonly opts: ChannelOptions) {
    this.conn = new ClientConnection({ ...opts.settings, KEEPALIVE_INTERVAL: opts.keepaliveMs });
  }

  static open(opts: ChannelOptions): Promise<Channel> {
    return new Promise((resolve, reject) => {
      const where = `${opts.host}:${opts.port}`;
      const socket = opts.tls
        ? tls.connect({ ...opts.tls, host: opts.host, port: opts.port, ALPNProtocols: ["mux/1"], servername: opts.tls.servername ?? (net.isIP(opts.host) ? undefined : opts.host) })
        : net.connect({ host: opts.host, port: opts.port });
      socket.setNoDelay(true);
      const ch = new Channel(socket, opts);
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        socket.destroy();
        reject(new ConnectError(`cannot connect to ${where}: ${why}`));
      };
      const deadline = setTimeout(() => fail(`no mux handshake within ${opts.connectTimeoutMs} ms`), opts.connectTimeoutMs);
      const start = () => {
        if (opts.tls && (socket as tls.TLSSocket).alpnProtocol !== "mux/1") {
          return fail(`the TLS server did not select ALPN mux/1 (got ${(socket as tls.TLSSocket).alpnProtocol || "none"})`);
        }
        ch.conn.initiate();
        ch.flush();
      };
      socket.once(opts.tls ? "secureConnect" : "connect", start);
      socket.on("error", (e) => (settled ? ch.lost(`socket error: ${e.message}`) : fail(e.message)));
      socket.on("close", () => (settled ? ch.lost("the server closed the connection") : fail("closed during the handshake")));
      socket.on("drain", () => {
        if (socket.isPaused()) socket.resume();
        ch.wake();
      });
      socket.on("data", (data: Buffer) => {
        const events = ch.receive(data);
        if (!settled) {
          if (ch.conn.error) return fail(`handshake failed: ${ch.conn.error.message}`);
          if (events.some((e) => e.type === "settings")) {
            settled = true;
            clearTimeout(deadline);
            ch.startKeepalive();
            resolve(ch);
          }
        }
      });
    });
  }

  get usable(): boolean {
    return this.closedError === null && this.conn.canOpen();
  }
  get draining(): boolean {
    return this.closedError !== null || this.conn.goawayLastId !== null || this.conn.error !== null || this.conn.exhausted;
  }
  get peer(): Settings {
    return this.conn.peer;
  }

  /** Open a stream for `sink`; throws LocalProtocolError when the connection cannot. */
  open(fields: HeaderPairs, endStream: boolean, sink: StreamSink): number {
    const id = this.conn.openStream(fields, endStream);
    this.sinks.set(id, sink);
    this.scheduleFlush();
    return id;
  }

  /** Send body bytes, waiting for flow-control credit and socket drain as needed. */
  async write(id: number, data: Uint8Array, endStream: boolean, alive: () => boolean): Promise<void> {
    let off = 0;
    for (;;) {
      if (!alive() || this.closedError) throw this.closedError ?? new MuxError(`stream ${id} is closed`);
      if (!this.conn.isLive(id)) return; // the server answered and closed the stream (RST NO_ERROR): no more body wanted
      const avail = this.conn.sendWindow(id);
      const left = data.length - off;
      if (this.socket.writableNeedDrain || (left > 0 && avail <= 0)) {
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      const n = Math.min(left, avail, 1 << 20);
      this.conn.sendData(id, data.subarray(off, off + n), endStream && off + n === data.length);
      off += n;
      if (n >= 1 << 16) this.flush();
      else this.scheduleFlush(); // small frames of many calls leave in one write
      if (off >= data.length) {
        if (endStream) this.done(id);
        return;
      }
    }
  }

  trailers(id: number, fields: HeaderPairs): void {
    this.conn.sendTrailers(id, fields);
    this.scheduleFlush();
    this.done(id);
  }

  /** Reset one stream (CANCEL by default): that stream only, never the connection. */
  reset(id: number, code: number = ErrorCode.CANCEL): void {
    if (!this.sinks.delete(id)) return;
    this.conn.resetStream(id, code);
    this.scheduleFlush();
    this.wake(); // a writer parked on this stream's window sees it gone
    this.streamGone();
  }

  consume(id: number, n: number): void {
    this.conn.consume(id, n);
    this.scheduleFlush();
  }

  /** Close now (GOAWAY NO_ERROR); open streams fail as lost. */
  close(): void {
    if (!this.closedError) this.conn.goaway(ErrorCode.NO_ERROR, "client closing");
    this.flush();
    this.lost("the client closed the connection");
    this.socket.end();
  }

  private receive(data: Buffer): ConnEvent[] {
    this.lastRecv = Date.now();
    this.pingSentAt = 0;
    const events = this.conn.receive(data);
    for (const ev of events) this.dispatch(ev);
    this.flush();
    // Frames the server's own actions queue (PING/SETTINGS ACKs, resets) stay bounded:
    // stop reading while the server does not read them (spec 11.1); drain resumes.
    if (this.socket.writableLength > OUTPUT_BACKLOG) this.socket.pause();
    if (this.conn.error) this.lost(this.conn.error.local ? `protocol error: ${this.conn.error.message}` : this.conn.error.message);
    else if (this.draining && this.conn.activeStreams === 0) this.finish();
    return events;
  }

  private dispatch(ev: ConnEvent): void {
    switch (ev.type) {
      case "response": this.sinks.get(ev.streamId)?.onResponse(ev.headers, ev.endStream); if (ev.endStream) this.done(ev.streamId); break;
      case "data": this.sinks.get(ev.streamId)?.onData(ev.data, ev.endStream); if (ev.endStream) this.done(ev.streamId); break;
      case "trailers": this.sinks.get(ev.streamId)?.onTrailers(ev.headers); this.done(ev.streamId); break;
      case "reset": {
        const sink = this.sinks.get(ev.streamId);
        this.sinks.delete(ev.streamId);
        sink?.onReset(ev.code, ev.remote, ev.message);
        this.wake();
        this.streamGone();
        break;
      }
      case "goaway": {
        const why = `the server sent GOAWAY (${errorCodeName(ev.code)}, last stream ${ev.lastStreamId})`;
        for (const id of ev.refused) {
          const sink = this.sinks.get(id);
          this.sinks.delete(id);
          sink?.onRefused(`${why}: stream ${id} was not processed`);
        }
        this.wake();
        this.onChange();
        break;
      }
      case "window": case "settings": this.wake(); this.onChange(); break;
      case "ping-ack": case "closed": break;
    }
  }

  /** The remote half ended; the stream leaves the table once the machine forgot it. */
  private done(id: number): void {
    if (this.sinks.has(id) && !this.conn.isLive(id)) {
      this.sinks.delete(id);
      this.streamGone();
    }
  }

  /** A stream freed its slot: maybe the end of a draining connection. */
  streamGone(): void {
    this.onChange();
    if (this.draining && this.conn.activeStreams === 0) this.finish();
  }

  private finish(): void {
    if (this.closedError) return;
    this.flush();
    this.closedError = new ConnectionLostError("the connection was shut down (GOAWAY or stream ids exhausted)", "not-processed");
    if (this.conn.goawayLastId === null) this.conn.goaway(ErrorCode.NO_ERROR, "stream ids exhausted");
    this.flush();
    this.stopKeepalive();
    this.socket.end();
    this.onChange();
  }

  /** The connection is gone: every stream still registered fails. */
  private lost(why: string): void {
    if (this.closedError && this.sinks.size === 0) return;
    this.closedError ??= new ConnectionLostError(why, "maybe-processed");
    this.stopKeepalive();
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    for (const s of sinks) s.onLost(why);
    this.wake();
    this.socket.destroy();
    this.onChange();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const chunks = this.conn.dataToSend();
    if (!chunks.length || this.socket.destroyed) return;
    let total = 0;
    for (const c of chunks) total += c.length;
    if (total <= 1 << 16) {
      this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
      return;
    }
    this.socket.cork();
    for (const c of chunks) this.socket.write(c);
    this.socket.uncork();
  }

  private startKeepalive(): void {
    const n = this.opts.keepaliveMs;
    if (!n) return;
    this.timer = setInterval(() => {
      const now = Date.now();
      if (this.pingSentAt && now - this.pingSentAt > (this.opts.keepaliveTimeoutMs ?? Math.max(n, 10_000))) {
        this.lost(`keepalive: no frame from the server for ${now - this.lastRecv} ms`);
      } else if (!this.pingSentAt && now - this.lastRecv >= n) {
        this.pingSentAt = now;
        this.conn.ping(randomBytes(8));
        this.flush();
      }
    }, Math.max(50, Math.floor(n / 2)));
    this.timer.unref();
  }

  private stopKeepalive(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
