/**
 * Pooled connections to one server, with reconnection and backoff.
 *
 * Theory of operation: `acquire()` returns a channel with a free stream slot
 * (the server's MAX_CONCURRENT_STREAMS honoured): an open one if it can, else a
 * new connection while fewer than `maxConnections` are up, else it waits until a
 * stream ends anywhere. Connecting is single-flight (one attempt serves every
 * waiter). A failed attempt is retried after a full-jitter exponential backoff
 * (random in [0, min(maxMs, baseMs * 2^n))), up to `attempts` in a row; success
 * resets the count. Channels that received GOAWAY or died leave the pool at
 * once (draining ones finish their streams on their own), so the next request
 * transparently opens a fresh connection: that is the reconnect.
 */
import { Channel, type ChannelOptions } from "./channel.js";
import { ConnectError } from "./errors.js";

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Connection attempts in a row before a request fails. */
  attempts: number;
}

export function backoffDelay(attempt: number, b: BackoffOptions): number {
  return Math.random() * Math.min(b.maxMs, b.baseMs * 2 ** attempt);
}

/** The signal of calls without deadline or AbortSignal: never aborts (and takes no listeners). */
export const NEVER = new AbortController().signal;

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal === NEVER) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export class Pool {
  private channels: Channel[] = [];
  /** Every channel not yet closed, draining ones included (closed by close()). */
  private all = new Set<Channel>();
  private connecting: Promise<Channel> | null = null;
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly opts: ChannelOptions, private readonly maxConnections: number, private readonly backoff: BackoffOptions) {}

  get size(): number {
    return this.channels.length;
  }

  async acquire(signal: AbortSignal): Promise<Channel> {
    for (;;) {
      if (this.closed) throw new ConnectError("the client is closed");
      signal.throwIfAborted();
      const ch = this.channels.find((c) => c.usable);
      if (ch) return ch;
      if (this.connecting) await abortable(this.connecting, signal);
      else if (this.channels.length < this.maxConnections) await abortable(this.connect(), signal);
      else await abortable(new Promise<void>((r) => this.waiters.push(r)), signal);
    }
  }

  /** Open a connection (single-flight), retrying with backoff and jitter. */
  connect(): Promise<Channel> {
    this.connecting ??= (async () => {
      let last: unknown;
      try {
        for (let attempt = 0; attempt < this.backoff.attempts && !this.closed; attempt++) {
          if (attempt) await new Promise((r) => setTimeout(r, backoffDelay(attempt - 1, this.backoff)));
          try {
            const ch = await Channel.open(this.opts);
            ch.onChange = () => this.changed(ch);
            this.channels.push(ch);
            this.all.add(ch);
            return ch;
          } catch (e) {
            last = e;
          }
        }
        throw last instanceof Error ? last : new ConnectError("cannot connect");
      } finally {
        this.connecting = null;
        this.wake();
      }
    })();
    return this.connecting;
  }

  private changed(ch: Channel): void {
    if (ch.draining) this.channels = this.channels.filter((c) => c !== ch);
    if (ch.closedError) this.all.delete(ch);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  close(): void {
    this.closed = true;
    for (const c of this.all) c.close();
    this.all.clear();
    this.channels = [];
    this.wake();
  }
}
