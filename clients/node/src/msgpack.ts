/**
 * The msgpack subset of HEADERS and SETTINGS payloads (spec 1.2, 5.1, 6, 11.3).
 *
 * Theory of operation: encoding goes through `@msgpack/msgpack` (a header list
 * is an array of `Uint8Array`, which it writes as bin in the shortest forms;
 * integers come out in the shortest unsigned form), and a SETTINGS map is
 * written as a map header followed by ascending (id, value) integer pairs: the
 * canonical encoding. Decoding is a small strict reader of its own, because the
 * spec asks more than a general decoder gives: only str/bin elements, no
 * nesting, signed formats accepted only for non-negative values, no float
 * (a float 1.0 must be refused, a general decoder returns 1), and every declared
 * length checked against the bytes left before anything is allocated. It never
 * recurses, so its cost is linear in the payload.
 */
import { Encoder } from "@msgpack/msgpack";

/** One encoder for the process: `encode()` copies its result out of the shared buffer. */
const encoder = new Encoder();
const encode = (value: unknown): Uint8Array => encoder.encode(value);

/** A payload that is not the msgpack the spec asks for. */
export class MalformedPayload extends Error {}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get left(): number {
    return this.buf.length - this.pos;
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new MalformedPayload("truncated msgpack");
    return this.buf[this.pos++]!;
  }
  uint(n: number): number {
    if (this.left < n) throw new MalformedPayload("truncated msgpack");
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.buf[this.pos++]!;
    return v;
  }
  bytes(n: number): Uint8Array {
    if (n > this.left) throw new MalformedPayload(`declared length ${n} exceeds the ${this.left} bytes left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A non-negative integer in any integer format (spec 1.2). */
  int(): number {
    const b = this.byte();
    if (b <= 0x7f) return b;
    switch (b) {
      case 0xcc: return this.uint(1);
      case 0xcd: return this.uint(2);
      case 0xce: return this.uint(4);
      case 0xcf: return this.uint(8); // above 2^53 loses precision, but is out of every range anyway
      case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        const n = 1 << (b - 0xd0);
        if (this.left < n) throw new MalformedPayload("truncated msgpack");
        if (this.buf[this.pos]! & 0x80) throw new MalformedPayload("negative integer");
        return this.uint(n);
      }
      default:
        throw new MalformedPayload(`msgpack type 0x${b.toString(16)} where a non-negative integer belongs`);
    }
  }
  /** The raw octets of a str or bin element (spec 5.1). */
  octets(): Uint8Array {
    const b = this.byte();
    if (b >= 0xa0 && b <= 0xbf) return this.bytes(b & 0x1f);
    switch (b) {
      case 0xd9: case 0xc4: return this.bytes(this.uint(1));
      case 0xda: case 0xc5: return this.bytes(this.uint(2));
      case 0xdb: case 0xc6: return this.bytes(this.uint(4));
      default:
        throw new MalformedPayload(`msgpack type 0x${b.toString(16)} in a header list (only str and bin)`);
    }
  }
}

/** Decode a HEADERS payload into [name, value] octet pairs; throws MalformedPayload. */
export function decodeHeaderList(payload: Uint8Array): Array<[Uint8Array, Uint8Array]> {
  const r = new Reader(payload);
  const b = r.byte();
  let n: number;
  if (b >= 0x90 && b <= 0x9f) n = b & 0x0f;
  else if (b === 0xdc) n = r.uint(2);
  else if (b === 0xdd) n = r.uint(4);
  else throw new MalformedPayload("a header list must be a msgpack array");
  if (n > r.left) throw new MalformedPayload(`array of ${n} elements declared in ${r.left} bytes`);
  if (n % 2) throw new MalformedPayload(`header list has an odd number (${n}) of elements`);
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < n; i += 2) out.push([r.octets(), r.octets()]);
  if (r.left) throw new MalformedPayload(`${r.left} bytes after the header list`);
  return out;
}

/** Decode a SETTINGS payload to id -> value (entries in payload order); throws MalformedPayload. */
export function decodeSettingsMap(payload: Uint8Array, maxEntries: number): Map<number, number> {
  const r = new Reader(payload);
  const b = r.byte();
  let n: number;
  if (b >= 0x80 && b <= 0x8f) n = b & 0x0f;
  else if (b === 0xde) n = r.uint(2);
  else if (b === 0xdf) n = r.uint(4);
  else throw new MalformedPayload("a SETTINGS payload must be a msgpack map");
  if (n > maxEntries) throw new MalformedPayload(`SETTINGS has ${n} entries (at most ${maxEntries})`);
  if (2 * n > r.left) throw new MalformedPayload(`map of ${n} entries declared in ${r.left} bytes`);
  const out = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = r.int();
    const value = r.int();
    if (out.has(id)) throw new MalformedPayload(`SETTINGS repeats id ${id}`);
    out.set(id, value);
  }
  if (r.left) throw new MalformedPayload(`${r.left} bytes after the SETTINGS map`);
  return out;
}

/** Canonical header list: an array of bin elements. */
export function encodeHeaderList(fields: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const flat: Uint8Array[] = [];
  for (const [n, v] of fields) flat.push(n, v);
  return encode(flat);
}

/** Canonical SETTINGS map: shortest forms, entries in ascending id order. */
export function encodeSettingsMap(entries: Map<number, number>): Uint8Array {
  const ids = [...entries.keys()].sort((a, b) => a - b);
  const n = ids.length;
  const head = n < 16 ? Uint8Array.of(0x80 | n) : Uint8Array.of(0xde, n >> 8, n & 0xff);
  const parts: Uint8Array[] = [head];
  for (const id of ids) parts.push(encode(id), encode(entries.get(id)!));
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
