/**
 * Frame encoding and incremental decoding (spec 2.2, 3, 4).
 *
 * Theory of operation: `encodeFrameHeader` writes the 10-byte header; DATA
 * payloads are written after it without copying. `FrameDecoder` is fed bytes in
 * any split (whole, byte by byte) and hands out complete frames. It checks the
 * peer's preface byte by byte as it arrives (a wrong magic byte fails at once,
 * another version is UNSUPPORTED_VERSION), and a frame's Length against the
 * local MAX_FRAME_SIZE as soon as the 10 header bytes are in, before waiting for
 * any payload byte (spec 3.2). Violations throw `ConnectionViolation`, which the
 * state machine turns into GOAWAY. Chunks are kept as received and only joined
 * when a frame straddles them.
 */
import { ErrorCode, FRAME_HEADER_SIZE, PREFACE_MAGIC, VERSION } from "./constants.js";
import { ConnectionViolation } from "./errors.js";

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

export function encodeFrameHeader(length: number, type: number, flags: number, streamId: number): Uint8Array {
  const h = new Uint8Array(FRAME_HEADER_SIZE);
  const v = new DataView(h.buffer);
  v.setUint32(0, length);
  h[4] = type;
  h[5] = flags;
  v.setUint32(6, streamId & 0x7fffffff);
  return h;
}

/** Header and payload in one buffer (control frames; DATA uses the header alone). */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  out.set(encodeFrameHeader(payload.length, type, flags, streamId), 0);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

export function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0);
  return b;
}

export function readU32(p: Uint8Array, offset = 0): number {
  return ((p[offset]! << 24) >>> 0) + (p[offset + 1]! << 16) + (p[offset + 2]! << 8) + p[offset + 3]!;
}

export function encodeGoaway(lastStreamId: number, code: number, debug: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + debug.length);
  p.set(u32(lastStreamId & 0x7fffffff), 0);
  p.set(u32(code), 4);
  p.set(debug, 8);
  return p;
}

export function decodeGoaway(p: Uint8Array): { lastStreamId: number; code: number; debug: Uint8Array } {
  return { lastStreamId: readU32(p) & 0x7fffffff, code: readU32(p, 4), debug: p.subarray(8) };
}

export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private prefaceLeft: number;
  private header: { length: number; type: number; flags: number; streamId: number } | null = null;

  /** `maxFrameSize` may be raised later (a local setting relaxed when sent). */
  constructor(public maxFrameSize: number, expectPreface = true) {
    this.prefaceLeft = expectPreface ? PREFACE_MAGIC.length + 1 : 0;
  }

  get prefaceDone(): boolean {
    return this.prefaceLeft === 0;
  }

  receive(data: Uint8Array): void {
    if (data.length) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
  }

  /** The next complete frame, or null when more bytes are needed. */
  next(): Frame | null {
    while (this.prefaceLeft > 0) {
      if (this.buffered === 0) return null;
      const at = PREFACE_MAGIC.length + 1 - this.prefaceLeft;
      const b = this.take(1)[0]!;
      this.prefaceLeft--;
      if (at < PREFACE_MAGIC.length && b !== PREFACE_MAGIC[at]) {
        throw new ConnectionViolation(ErrorCode.PROTOCOL_ERROR, `bad preface: byte ${at} is 0x${b.toString(16)}, not the mux magic`);
      }
      if (at === PREFACE_MAGIC.length && b !== VERSION) {
        throw new ConnectionViolation(ErrorCode.UNSUPPORTED_VERSION, `the server speaks version ${b}; this client speaks 1`);
      }
    }
    if (this.header === null) {
      if (this.buffered < FRAME_HEADER_SIZE) return null;
      const h = this.take(FRAME_HEADER_SIZE);
      const length = readU32(h);
      if (length > this.maxFrameSize) {
        throw new ConnectionViolation(ErrorCode.FRAME_SIZE_ERROR, `frame length ${length} exceeds MAX_FRAME_SIZE ${this.maxFrameSize}`);
      }
      this.header = { length, type: h[4]!, flags: h[5]!, streamId: readU32(h, 6) & 0x7fffffff };
    }
    if (this.buffered < this.header.length) return null;
    const frame = { ...this.header, payload: this.take(this.header.length) };
    this.header = null;
    return frame;
  }

  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        out.set(c.subarray(0, k), off);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
