/**
 * The client side of one mux/msgpack connection, as a sans-IO state machine.
 *
 * Theory of operation: bytes from the server go in through `receive()`, which
 * returns the events they caused; bytes for the server accumulate and come out
 * of `dataToSend()`. Local actions (`openStream`, `sendData`, `sendTrailers`,
 * `resetStream`, `consume`, `ping`, `goaway`) either queue frames or throw
 * `LocalProtocolError` without queuing anything. No I/O, no timers: the driver
 * (channel.ts) owns those, and the vector tests drive this class directly.
 *
 * Received frames are checked in the order of spec 3.3 (size in the decoder,
 * first SETTINGS, unknown type, stream id class, fixed sizes), then per type:
 * HEADERS 4.2 (id rules, size, shape, field count, state, semantics), DATA 8.4
 * (connection window, state, stream window). A connection error queues
 * GOAWAY(0, code) as the last frame and stops processing input; a stream error
 * queues RST_STREAM and remembers the id among the recently reset (7.3).
 *
 * Floods (11.2) are counted by `budgets` (budgets.ts).
 *
 * Flow control: send windows follow the server's settings and WINDOW_UPDATEs
 * (they may go negative through a SETTINGS change, 8.5). Receive windows return
 * credit only for bytes the application consumed (or frames dropped), once the
 * unannounced bytes reach half the window (8.3). Local settings follow 6.2: a
 * value in force is the loosest of the acknowledged one and those still awaiting
 * their ACK, so relaxing applies when sent and tightening at the ACK.
 */
import {
  DEFAULT_SETTINGS, ErrorCode, FLAG_ACK, FLAG_END_STREAM, FrameType, MAX_HEADER_FIELDS, MAX_SETTINGS_ENTRIES,
  MAX_STREAM_ID, MAX_WINDOW, PREFACE, SETTING_NAMES, SETTING_RANGES, SettingId, type SettingName, type Settings,
  errorCodeName,
} from "./constants.js";
import { FloodBudget } from "./budgets.js";
import { ConnectionViolation, LocalProtocolError } from "./errors.js";
import { type Frame, FrameDecoder, decodeGoaway, encodeFrame, encodeFrameHeader, encodeGoaway, readU32, u32 } from "./frames.js";
import { type HeaderPairs, checkResponse, checkTrailers, decodeFields, encodeFields } from "./headers.js";
import { MalformedPayload, decodeHeaderList, decodeSettingsMap, encodeHeaderList, encodeSettingsMap } from "./msgpack.js";

export type ConnEvent =
  | { type: "settings"; settings: Settings }
  | { type: "response"; streamId: number; headers: HeaderPairs; endStream: boolean }
  | { type: "data"; streamId: number; data: Uint8Array; endStream: boolean }
  | { type: "trailers"; streamId: number; headers: HeaderPairs }
  | { type: "reset"; streamId: number; code: number; remote: boolean; message: string }
  | { type: "window" }
  | { type: "goaway"; lastStreamId: number; code: number; debug: Uint8Array; refused: number[] }
  | { type: "ping-ack"; data: Uint8Array }
  | { type: "closed"; code: number; message: string };

interface Stream {
  id: number;
  localOpen: boolean;
  remoteOpen: boolean;
  gotResponse: boolean;
  sendWindow: number;
  recvWindow: number;
  unannounced: number;
}

const RECENTLY_RESET = 1024;

const WINDOW_NAMES: SettingName[] = ["INITIAL_STREAM_WINDOW", "CONNECTION_WINDOW"];

export class ClientConnection {
  readonly peer: Settings = { ...DEFAULT_SETTINGS };
  private acked: Settings = { ...DEFAULT_SETTINGS };
  private pending: Settings[] = [];
  private readonly decoder: FrameDecoder;
  private out: Uint8Array[] = [];
  private streams = new Map<number, Stream>();
  private recentlyReset = new Set<number>();
  private nextId = 1;
  private peerSettingsSeen = false;
  private connSend: number = DEFAULT_SETTINGS.CONNECTION_WINDOW;
  private connRecv: number = DEFAULT_SETTINGS.CONNECTION_WINDOW;
  private connUnannounced = 0;
  private pings = new Set<string>();
  readonly budgets = new FloodBudget();
  /** Smallest last_stream_id of the GOAWAYs received, or null. */
  goawayLastId: number | null = null;
  /** The connection error that ended this connection (either side), or null. */
  error: { code: number; message: string; local: boolean } | null = null;

  constructor(private readonly wanted: Partial<Settings> = {}) {
    this.decoder = new FrameDecoder(DEFAULT_SETTINGS.MAX_FRAME_SIZE, true);
  }

  get closed(): boolean {
    return this.error !== null || (this.goawayLastId !== null && this.streams.size === 0);
  }
  /** Every stream id has been used: the client needs a new connection (spec 7.1). */
  get exhausted(): boolean {
    return this.nextId > MAX_STREAM_ID;
  }
  get activeStreams(): number {
    return this.streams.size;
  }
  get peerSettingsReceived(): boolean {
    return this.peerSettingsSeen;
  }

  /** Preface and first SETTINGS (the non-default wanted values). */
  initiate(): void {
    this.out.push(PREFACE);
    const next = { ...this.acked };
    const entries = new Map<number, number>();
    for (const [name, value] of Object.entries(this.wanted) as Array<[SettingName, number]>) {
      if (value === undefined || value === DEFAULT_SETTINGS[name]) continue;
      next[name] = value;
      entries.set(SettingId[name], value);
    }
    this.sendLocalSettings(next, entries);
  }

  dataToSend(): Uint8Array[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Whether a new stream may be opened now (GOAWAY, concurrency, ids). */
  canOpen(): boolean {
    return this.error === null && this.goawayLastId === null && this.nextId <= MAX_STREAM_ID
      && this.streams.size < this.peer.MAX_CONCURRENT_STREAMS;
  }

  openStream(fields: HeaderPairs, endStream: boolean): number {
    if (this.error) throw new LocalProtocolError("the connection is closed");
    if (this.goawayLastId !== null) throw new LocalProtocolError("the server sent GOAWAY: no new streams");
    if (this.nextId > MAX_STREAM_ID) throw new LocalProtocolError("stream ids exhausted");
    if (this.streams.size >= this.peer.MAX_CONCURRENT_STREAMS) {
      throw new LocalProtocolError(`the server allows ${this.peer.MAX_CONCURRENT_STREAMS} concurrent streams`);
    }
    const payload = this.headerPayload(fields);
    const id = this.nextId;
    this.nextId += 2;
    this.streams.set(id, {
      id, localOpen: !endStream, remoteOpen: true, gotResponse: false,
      sendWindow: this.peer.INITIAL_STREAM_WINDOW, recvWindow: this.inForce("INITIAL_STREAM_WINDOW"), unannounced: 0,
    });
    this.out.push(encodeFrame(FrameType.HEADERS, endStream ? FLAG_END_STREAM : 0, id, payload));
    return id;
  }

  /** Whether the stream is open or half-closed (still counts toward concurrency). */
  isLive(streamId: number): boolean {
    return this.streams.has(streamId);
  }

  /** Bytes of DATA that may be sent on the stream now: max(0, min(stream, connection)). */
  sendWindow(streamId: number): number {
    const s = this.streams.get(streamId);
    if (!s || !s.localOpen) return 0;
    return Math.max(0, Math.min(s.sendWindow, this.connSend));
  }

  sendData(streamId: number, data: Uint8Array, endStream: boolean): void {
    const s = this.liveLocal(streamId);
    if (data.length > Math.max(0, Math.min(s.sendWindow, this.connSend))) {
      throw new LocalProtocolError(`${data.length} bytes exceed the send window ${this.sendWindow(streamId)} of stream ${streamId}`);
    }
    const max = this.peer.MAX_FRAME_SIZE;
    let off = 0;
    do {
      const n = Math.min(max, data.length - off);
      const last = off + n === data.length;
      this.out.push(encodeFrameHeader(n, FrameType.DATA, last && endStream ? FLAG_END_STREAM : 0, streamId));
      if (n) this.out.push(data.subarray(off, off + n));
      off += n;
    } while (off < data.length);
    s.sendWindow -= data.length;
    this.connSend -= data.length;
    if (data.length) this.budgets.progress();
    if (endStream) this.endLocal(s);
  }

  sendTrailers(streamId: number, fields: HeaderPairs): void {
    const s = this.liveLocal(streamId);
    this.out.push(encodeFrame(FrameType.HEADERS, FLAG_END_STREAM, streamId, this.headerPayload(fields)));
    this.endLocal(s);
  }

  /** Reset an open or half-closed stream; a no-op on one already closed. */
  resetStream(streamId: number, code: number): void {
    const s = this.streams.get(streamId);
    if (!s || this.error) return;
    this.out.push(encodeFrame(FrameType.RST_STREAM, 0, streamId, u32(code)));
    this.forget(streamId, true);
  }

  /** The application consumed `n` received bytes of the stream: credit returns (8.3). */
  consume(streamId: number, n: number): void {
    if (n <= 0 || this.error) return;
    const s = this.streams.get(streamId);
    if (s && s.remoteOpen) {
      s.unannounced += n;
      if (s.unannounced >= this.inForce("INITIAL_STREAM_WINDOW") / 2) {
        this.out.push(encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, u32(s.unannounced)));
        s.recvWindow += s.unannounced;
        s.unannounced = 0;
      }
    }
    this.creditConnection(n);
  }

  ping(data: Uint8Array): void {
    if (this.error) return;
    this.pings.add(Buffer.from(data).toString("hex"));
    this.out.push(encodeFrame(FrameType.PING, 0, 0, data));
  }

  /** Send GOAWAY (a client's is informative: last_stream_id 0, spec 9.1). */
  goaway(code: number = ErrorCode.NO_ERROR, message = ""): void {
    if (this.error) return;
    this.out.push(encodeFrame(FrameType.GOAWAY, 0, 0, encodeGoaway(0, code, Buffer.from(message).subarray(0, 256))));
  }

  receive(data: Uint8Array): ConnEvent[] {
    const events: ConnEvent[] = [];
    if (this.error) return events;
    this.decoder.receive(data);
    try {
      for (let f = this.decoder.next(); f !== null; f = this.error ? null : this.decoder.next()) this.handle(f, events);
    } catch (e) {
      if (!(e instanceof ConnectionViolation)) throw e;
      this.fail(e.code, e.message, events);
    }
    return events;
  }

  // ---------------------------------------------------------------- internals

  private fail(code: number, message: string, events: ConnEvent[]): void {
    this.out.push(encodeFrame(FrameType.GOAWAY, 0, 0, encodeGoaway(0, code, Buffer.from(message).subarray(0, 256))));
    this.error = { code, message, local: true };
    this.streams.clear();
    events.push({ type: "closed", code, message });
  }

  private headerPayload(fields: HeaderPairs): Uint8Array {
    const payload = encodeHeaderList(encodeFields(fields));
    const limit = Math.min(this.peer.MAX_HEADER_LIST_SIZE, this.peer.MAX_FRAME_SIZE);
    if (payload.length > limit) throw new LocalProtocolError(`header list of ${payload.length} bytes exceeds the server's limit ${limit}`);
    return payload;
  }

  private liveLocal(streamId: number): Stream {
    const s = this.streams.get(streamId);
    if (this.error || !s || !s.localOpen) throw new LocalProtocolError(`stream ${streamId} is not open for sending`);
    return s;
  }

  private endLocal(s: Stream): void {
    s.localOpen = false;
    if (!s.remoteOpen) this.forget(s.id, false);
  }

  private forget(id: number, wasReset: boolean): void {
    this.streams.delete(id);
    if (wasReset) {
      this.recentlyReset.add(id);
      if (this.recentlyReset.size > RECENTLY_RESET) this.recentlyReset.delete(this.recentlyReset.values().next().value!);
    }
  }

  private isIdle(id: number): boolean {
    return id % 2 === 0 || id >= this.nextId;
  }

  /** The limit in force for a local setting: the loosest of acked and pending (6.2). */
  private inForce(name: SettingName): number {
    let v = this.acked[name];
    for (const p of this.pending) v = Math.max(v, p[name]);
    return v;
  }

  private sendLocalSettings(next: Settings, entries: Map<number, number>): void {
    const before = WINDOW_NAMES.map((n) => this.inForce(n));
    this.pending.push(next);
    this.applyLocalDeltas(before);
    this.out.push(encodeFrame(FrameType.SETTINGS, 0, 0, encodeSettingsMap(entries)));
  }

  private applyLocalDeltas(before: number[]): void {
    const streamDelta = this.inForce("INITIAL_STREAM_WINDOW") - before[0]!;
    for (const s of this.streams.values()) s.recvWindow += streamDelta;
    this.connRecv += this.inForce("CONNECTION_WINDOW") - before[1]!;
    this.decoder.maxFrameSize = this.inForce("MAX_FRAME_SIZE");
  }

  private creditConnection(n: number): void {
    this.connUnannounced += n;
    if (this.connUnannounced >= this.inForce("CONNECTION_WINDOW") / 2) {
      this.out.push(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, u32(this.connUnannounced)));
      this.connRecv += this.connUnannounced;
      this.connUnannounced = 0;
    }
  }

  private streamError(id: number, code: number, message: string, events: ConnEvent[]): void {
    this.out.push(encodeFrame(FrameType.RST_STREAM, 0, id, u32(code)));
    if (this.streams.has(id)) events.push({ type: "reset", streamId: id, code, remote: false, message });
    this.forget(id, true);
  }

  private handle(f: Frame, events: ConnEvent[]): void {
    if (!this.peerSettingsSeen) {
      if (f.type !== FrameType.SETTINGS || f.flags & FLAG_ACK) {
        throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, "the server's first frame is not SETTINGS");
      }
    }
    if (f.type > FrameType.WINDOW_UPDATE) return this.budgets.unknownFrame(); // ignored (3.4), but counted (11.2)
    if (f.type >= FrameType.RST_STREAM) {
      const keepalive = f.type === FrameType.PING && !(f.flags & FLAG_ACK) ? this.peer.KEEPALIVE_INTERVAL : 0;
      this.budgets.controlFrame(keepalive);
    }
    const onZero = f.type === FrameType.SETTINGS || f.type === FrameType.PING || f.type === FrameType.GOAWAY;
    const onStream = f.type === FrameType.DATA || f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM;
    if ((onZero && f.streamId !== 0) || (onStream && f.streamId === 0)) {
      throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `frame type ${f.type} on stream ${f.streamId}`);
    }
    const n = f.payload.length;
    const size = { [FrameType.RST_STREAM]: 4, [FrameType.PING]: 8, [FrameType.WINDOW_UPDATE]: 4 }[f.type];
    if ((size !== undefined && n !== size) || (f.type === FrameType.SETTINGS && f.flags & FLAG_ACK && n !== 0)
      || (f.type === FrameType.GOAWAY && n < 8)) {
      throw new ConnectionViolation(ErrorCode.FRAME_SIZE_ERROR, `frame type ${f.type} with a ${n}-byte payload`);
    }
    switch (f.type) {
      case FrameType.DATA: return this.onData(f, events);
      case FrameType.HEADERS: return this.onHeaders(f, events);
      case FrameType.RST_STREAM: return this.onReset(f, events);
      case FrameType.SETTINGS: return this.onSettings(f, events);
      case FrameType.PING: return this.onPing(f, events);
      case FrameType.GOAWAY: return this.onGoaway(f, events);
      case FrameType.WINDOW_UPDATE: return this.onWindowUpdate(f, events);
    }
  }

  private onData(f: Frame, events: ConnEvent[]): void {
    const n = f.payload.length;
    this.budgets.dataFrame(n, (f.flags & FLAG_END_STREAM) !== 0);
    if (n > this.connRecv) {
      throw new ConnectionViolation(ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${n} bytes exceeds the connection window ${this.connRecv}`);
    }
    this.connRecv -= n;
    const id = f.streamId;
    if (this.isIdle(id)) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `DATA on stream ${id}, never opened`);
    const s = this.streams.get(id);
    let problem: [number, string] | null = null;
    if (!s || !s.remoteOpen) {
      if (!s && this.recentlyReset.has(id)) return this.creditConnection(n);
      problem = [ErrorCode.STREAM_CLOSED, `DATA on closed stream ${id}`];
    } else if (!s.gotResponse) problem = [ErrorCode.PROTOCOL_ERROR, `DATA before the response HEADERS on stream ${id}`];
    else if (n > s.recvWindow) problem = [ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${n} bytes exceeds the window ${s.recvWindow} of stream ${id}`];
    if (problem || !s) {
      this.creditConnection(n);
      return this.streamError(id, problem![0], problem![1], events);
    }
    s.recvWindow -= n;
    if (n) this.budgets.progress();
    const endStream = (f.flags & FLAG_END_STREAM) !== 0;
    if (endStream) {
      s.remoteOpen = false;
      if (!s.localOpen) this.forget(id, false);
    }
    events.push({ type: "data", streamId: id, data: f.payload, endStream });
  }

  private onHeaders(f: Frame, events: ConnEvent[]): void {
    const id = f.streamId;
    if (this.isIdle(id)) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}, never opened`);
    const limit = this.inForce("MAX_HEADER_LIST_SIZE");
    if (f.payload.length > limit) {
      return this.streamError(id, ErrorCode.HEADER_LIST_TOO_LARGE, `header list of ${f.payload.length} bytes (limit ${limit})`, events);
    }
    let raw: Array<[Uint8Array, Uint8Array]>;
    try {
      raw = decodeHeaderList(f.payload);
    } catch (e) {
      if (e instanceof MalformedPayload) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `malformed header list: ${e.message}`);
      throw e;
    }
    if (raw.length > MAX_HEADER_FIELDS) {
      return this.streamError(id, ErrorCode.HEADER_LIST_TOO_LARGE, `${raw.length} header fields (limit ${MAX_HEADER_FIELDS})`, events);
    }
    const s = this.streams.get(id);
    if (!s || !s.remoteOpen) {
      if (!s && this.recentlyReset.has(id)) return;
      return this.streamError(id, ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`, events);
    }
    const headers = decodeFields(raw);
    const endStream = (f.flags & FLAG_END_STREAM) !== 0;
    const problem = s.gotResponse ? checkTrailers(headers, endStream) : checkResponse(headers);
    if (problem) return this.streamError(id, ErrorCode.PROTOCOL_ERROR, `malformed response: ${problem}`, events);
    if (endStream) {
      s.remoteOpen = false;
      if (!s.localOpen) this.forget(id, false);
    }
    if (s.gotResponse) events.push({ type: "trailers", streamId: id, headers });
    else {
      s.gotResponse = true;
      events.push({ type: "response", streamId: id, headers, endStream });
    }
  }

  private onReset(f: Frame, events: ConnEvent[]): void {
    const id = f.streamId;
    if (this.isIdle(id)) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on stream ${id}, never opened`);
    if (!this.streams.has(id)) return;
    const code = readU32(f.payload);
    this.forget(id, false);
    events.push({ type: "reset", streamId: id, code, remote: true, message: `the server reset stream ${id} with ${errorCodeName(code)}` });
  }

  private onSettings(f: Frame, events: ConnEvent[]): void {
    if (f.flags & FLAG_ACK) {
      const done = this.pending.shift();
      if (!done) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, "SETTINGS ACK with no SETTINGS awaiting one");
      const before = WINDOW_NAMES.map((n) => Math.max(this.inForce(n)));
      this.acked = done;
      this.applyLocalDeltas(before);
      return;
    }
    let map: Map<number, number>;
    try {
      map = decodeSettingsMap(f.payload, MAX_SETTINGS_ENTRIES);
    } catch (e) {
      if (e instanceof MalformedPayload) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `malformed SETTINGS: ${e.message}`);
      throw e;
    }
    const next = { ...this.peer };
    for (const id of [...map.keys()].sort((a, b) => a - b)) {
      const name = SETTING_NAMES[id];
      if (!name) continue;
      const [lo, hi, code] = SETTING_RANGES[name];
      const v = map.get(id)!;
      if (v < lo || v > hi) throw new ConnectionViolation(code, `SETTINGS ${name} ${v} out of range ${lo}..${hi}`);
      next[name] = v;
    }
    const streamDelta = next.INITIAL_STREAM_WINDOW - this.peer.INITIAL_STREAM_WINDOW;
    const connDelta = next.CONNECTION_WINDOW - this.peer.CONNECTION_WINDOW;
    const overflow = this.connSend + connDelta > MAX_WINDOW
      || [...this.streams.values()].some((s) => s.sendWindow + streamDelta > MAX_WINDOW);
    if (overflow) throw new ConnectionViolation(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS would push a send window above 2^31-1");
    for (const s of this.streams.values()) s.sendWindow += streamDelta;
    this.connSend += connDelta;
    Object.assign(this.peer, next);
    this.peerSettingsSeen = true;
    this.out.push(encodeFrame(FrameType.SETTINGS, FLAG_ACK, 0, new Uint8Array(0)));
    events.push({ type: "settings", settings: { ...this.peer } });
    if (streamDelta > 0 || connDelta > 0) events.push({ type: "window" });
  }

  private onPing(f: Frame, events: ConnEvent[]): void {
    if (f.flags & FLAG_ACK) {
      const key = Buffer.from(f.payload).toString("hex");
      if (this.pings.delete(key)) events.push({ type: "ping-ack", data: f.payload });
      return;
    }
    this.out.push(encodeFrame(FrameType.PING, FLAG_ACK, 0, f.payload));
  }

  private onGoaway(f: Frame, events: ConnEvent[]): void {
    const { lastStreamId, code, debug } = decodeGoaway(f.payload);
    this.goawayLastId = Math.min(this.goawayLastId ?? lastStreamId, lastStreamId);
    const refused: number[] = [];
    for (const id of this.streams.keys()) if (id > this.goawayLastId) refused.push(id);
    for (const id of refused) this.forget(id, false);
    events.push({ type: "goaway", lastStreamId: this.goawayLastId, code, debug: debug.slice(0, 256), refused });
    if (code !== ErrorCode.NO_ERROR) {
      this.error = { code, message: `the server sent GOAWAY ${errorCodeName(code)}`, local: false };
      this.streams.clear();
    }
  }

  private onWindowUpdate(f: Frame, events: ConnEvent[]): void {
    const inc = readU32(f.payload) & 0x7fffffff;
    const id = f.streamId;
    if (id === 0) {
      if (inc === 0) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
      if (this.connSend + inc > MAX_WINDOW) throw new ConnectionViolation(ErrorCode.FLOW_CONTROL_ERROR, "connection send window above 2^31-1");
      this.connSend += inc;
      events.push({ type: "window" });
      return;
    }
    if (this.isIdle(id)) throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on stream ${id}, never opened`);
    const s = this.streams.get(id);
    if (!s) return;
    if (inc === 0) return this.streamError(id, ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE of 0 on stream ${id}`, events);
    if (s.sendWindow + inc > MAX_WINDOW) return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR, `send window of stream ${id} above 2^31-1`, events);
    s.sendWindow += inc;
    events.push({ type: "window" });
  }
}
