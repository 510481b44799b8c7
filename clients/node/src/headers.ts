/**
 * Header fields: conversion between strings and octets, and the message rules
 * of spec 5.2-5.5 as they apply to a client.
 *
 * Theory of operation: the API deals in `[name, value]` string pairs; strings
 * map to octets as latin1 (one char per byte, so any octet round-trips, like
 * node:http). `checkResponse` / `checkTrailers` return null or the reason a
 * received list is malformed (the caller resets the stream with PROTOCOL_ERROR);
 * `requestFields` builds and checks an outgoing request list and throws a
 * TypeError naming the bad field, since a sender MUST NOT send one.
 */
export type HeaderPairs = Array<[string, string]>;
export type HeadersInit = HeaderPairs | Record<string, string | string[]>;

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const TOKEN_ANY_CASE = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;
const BAD_VALUE = /[\0\r\n]/;
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

export function toOctets(s: string): Uint8Array {
  return Buffer.from(s, "latin1");
}

export function fromOctets(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Why a regular field breaks spec 5.2, or null. */
function regularFieldProblem(name: string, value: string): string | null {
  if (!TCHAR.test(name)) return `field name ${JSON.stringify(name)} is not a lowercase token`;
  if (BAD_VALUE.test(value)) return `field ${name} has NUL, CR or LF in its value`;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  if (name === "te" && value.toLowerCase() !== "trailers") return `te: ${value} (only "trailers" is allowed)`;
  return null;
}

/** Why a received response header list is malformed (spec 5.2, 5.4), or null. */
export function checkResponse(fields: HeaderPairs): string | null {
  let status: string | null = null;
  let regular = false;
  for (const [name, value] of fields) {
    if (name.startsWith(":")) {
      if (regular) return `pseudo-header ${name} after a regular field`;
      if (name !== ":status") return `pseudo-header ${name} in a response`;
      if (status !== null) return "duplicate :status";
      if (value === "") return "empty :status";
      status = value;
    } else {
      regular = true;
      const p = regularFieldProblem(name, value);
      if (p) return p;
    }
  }
  if (status === null) return "response without :status";
  if (!/^[0-9]{3}$/.test(status) || Number(status) < 200 || Number(status) > 599) return `invalid :status ${JSON.stringify(status)}`;
  return null;
}

/** Why a received trailer list is malformed (spec 5.5), or null. */
export function checkTrailers(fields: HeaderPairs, endStream: boolean): string | null {
  if (!endStream) return "trailers without END_STREAM";
  for (const [name, value] of fields) {
    if (name.startsWith(":")) return `pseudo-header ${name} in trailers`;
    const p = regularFieldProblem(name, value);
    if (p) return p;
  }
  return null;
}

export function pairsOf(init: HeadersInit | undefined): HeaderPairs {
  if (!init) return [];
  if (Array.isArray(init)) return init.map(([n, v]) => [String(n), String(v)]);
  const out: HeaderPairs = [];
  for (const [n, v] of Object.entries(init)) {
    for (const one of Array.isArray(v) ? v : [v]) out.push([n, String(one)]);
  }
  return out;
}

/** User fields for a request or trailers: lowercased names, checked (spec 5.2). */
export function checkedFields(init: HeadersInit | undefined, where: string): HeaderPairs {
  const out: HeaderPairs = [];
  for (const [n, v] of pairsOf(init)) {
    const name = n.toLowerCase();
    if (name.startsWith(":")) throw new TypeError(`${where}: pseudo-header ${name} cannot be set`);
    const p = regularFieldProblem(name, v);
    if (p) throw new TypeError(`${where}: ${p}`);
    out.push([name, v]);
  }
  return out;
}

/** The request header list: pseudo-headers first (spec 5.3), then the user's fields. */
export function requestFields(method: string, path: string, authority: string | undefined, scheme: string, extra: HeaderPairs): HeaderPairs {
  if (!TOKEN_ANY_CASE.test(method)) throw new TypeError(`method ${JSON.stringify(method)} is not an HTTP token`);
  if (!(path.startsWith("/") || (path === "*" && method === "OPTIONS"))) throw new TypeError(`path ${JSON.stringify(path)} must start with "/"`);
  if (/[\x00-\x20\x7f]/.test(path)) throw new TypeError(`path ${JSON.stringify(path)} contains a space or control character`);
  const out: HeaderPairs = [[":method", method], [":path", path], [":scheme", scheme]];
  if (authority) out.push([":authority", authority]);
  return out.concat(extra);
}

export function encodeFields(fields: HeaderPairs): Array<[Uint8Array, Uint8Array]> {
  return fields.map(([n, v]) => [toOctets(n), toOctets(v)]);
}

export function decodeFields(raw: Array<[Uint8Array, Uint8Array]>): HeaderPairs {
  return raw.map(([n, v]) => [fromOctets(n), fromOctets(v)]);
}
