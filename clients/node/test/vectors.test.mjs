// The language-neutral vectors of spec/vectors/ against this client's codec and
// its sans-IO connection (format: spec/README.md). Frame vectors: every frame
// decodes (whole and byte by byte) to its stated meaning, and canonical ones
// re-encode from that meaning to the same bytes. Client session vectors: the
// steps drive a real ClientConnection, each recv fed whole, one byte at a time
// and split at every byte boundary; what it sent is parsed here independently
// (DataView + @msgpack/msgpack) and compared with `expect`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { decode } from "@msgpack/msgpack";
import {
  ClientConnection, FrameDecoder, encodeFrame, decodeHeaderList, decodeSettingsMap, encodeHeaderList,
  encodeSettingsMap, encodeGoaway, ErrorCode, SettingId, SETTING_NAMES, DEFAULT_SETTINGS, PREFACE, FrameType,
  LocalProtocolError, errorCodeName,
} from "../dist/internal.js";

const VECTORS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "spec", "vectors");
const load = (kind) =>
  readdirSync(join(VECTORS, kind)).filter((f) => f.endsWith(".json")).sort().flatMap((f) =>
    JSON.parse(readFileSync(join(VECTORS, kind, f), "utf8")).vectors.map((v) => ({ file: f.replace(".json", ""), v })));
const hex = (b) => Buffer.from(b).toString("hex");
const bytes = (h) => new Uint8Array(Buffer.from(h, "hex"));
const latin1 = (b) => Buffer.from(b).toString("latin1");
const code = (name) => (name.startsWith("0x") ? parseInt(name, 16) : ErrorCode[name]);

// ------------------------------------------------------------------ frames

function typed(f) {
  const p = f.payload;
  switch (f.type) {
    case FrameType.HEADERS: return { headers: decodeHeaderList(p).map(([n, v]) => [latin1(n), latin1(v)]) };
    case FrameType.RST_STREAM: return { error_code_value: p.readUInt32BE?.(0) ?? Buffer.from(p).readUInt32BE(0) };
    case FrameType.SETTINGS: {
      if (f.flags & 1) return { settings: {} };
      const out = {};
      for (const [k, v] of decodeSettingsMap(p, 32)) out[SETTING_NAMES[k] ?? `0x${k.toString(16)}`] = v;
      return { settings: out };
    }
    case FrameType.GOAWAY: {
      const b = Buffer.from(p);
      return { last_stream_id: b.readUInt32BE(0) & 0x7fffffff, error_code_value: b.readUInt32BE(4), debug_data: hex(b.subarray(8)) };
    }
    case FrameType.WINDOW_UPDATE: return { increment: Buffer.from(p).readUInt32BE(0) & 0x7fffffff };
    default: return { data: hex(p) };
  }
}

function payloadOf(meaning) {
  const p = meaning.payload;
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return new Uint8Array(b); };
  switch (meaning.type) {
    case "HEADERS": return encodeHeaderList(p.headers.map(([n, v]) => [Buffer.from(n, "latin1"), Buffer.from(v, "latin1")]));
    case "SETTINGS":
      if (meaning.flag_names.includes("ACK")) return new Uint8Array(0);
      return encodeSettingsMap(new Map(Object.entries(p.settings).map(([k, v]) => [k.startsWith("0x") ? parseInt(k, 16) : SettingId[k], v])));
    case "RST_STREAM": return u32(p.error_code_value);
    case "GOAWAY": return encodeGoaway(p.last_stream_id, p.error_code_value, bytes(p.debug_data));
    case "WINDOW_UPDATE": return u32(p.increment);
    default: return bytes(p.data);
  }
}

for (const { file, v } of load("frames")) {
  test(`frame vector ${file}/${v.id}`, () => {
    const raw = bytes(v.hex);
    const m = v.frame;
    if (m.type === "PREFACE") {
      assert.equal(hex(raw), hex(PREFACE));
      const d = new FrameDecoder(65536, true);
      d.receive(raw);
      assert.equal(d.next(), null);
      assert.ok(d.prefaceDone);
      return;
    }
    for (const split of ["whole", "bytewise"]) {
      const d = new FrameDecoder(16777215, false);
      if (split === "whole") d.receive(raw);
      else for (let i = 0; i < raw.length; i++) { assert.equal(d.next(), null); d.receive(raw.subarray(i, i + 1)); }
      const f = d.next();
      assert.ok(f, "a frame decodes");
      assert.equal(d.next(), null);
      assert.deepEqual([f.type, f.flags, f.streamId, f.payload.length], [m.type_code, m.flags, m.stream_id, m.length]);
      const expected = { ...m.payload };
      delete expected.error_code;
      assert.deepEqual(typed(f), expected);
    }
    // An encoder sets only the defined flags it is given (flag_names), never undefined ones.
    // Unknown types have no defined flags to go by: their flag byte is opaque and kept.
    const flags = m.type === "UNKNOWN" ? m.flags : m.flag_names.length ? 1 : 0;
    const encoded = encodeFrame(m.type_code, flags, m.stream_id, payloadOf(m));
    if (v.canonical) assert.equal(hex(encoded), v.hex, "canonical encoding");
    else assert.notEqual(hex(encoded), v.hex, "a non-canonical vector differs from the canonical encoding");
  });
}

// ------------------------------------------------------------------ sessions

function parseOutput(out) {
  const b = Buffer.from(out);
  assert.equal(hex(b.subarray(0, 8)), hex(PREFACE), "output starts with the preface");
  const frames = [];
  for (let i = 8; i < b.length;) {
    const length = b.readUInt32BE(i), type = b[i + 4], flags = b[i + 5], sid = b.readUInt32BE(i + 6) & 0x7fffffff;
    const p = b.subarray(i + 10, i + 10 + length);
    assert.equal(p.length, length, "truncated frame in output");
    const names = ["DATA", "HEADERS", "RST_STREAM", "SETTINGS", "PING", "GOAWAY", "WINDOW_UPDATE"];
    const d = { type: names[type] ?? `0x${type.toString(16)}`, stream_id: sid, flags, length };
    if (type <= 1) d.end_stream = !!(flags & 1);
    if (type === 3 || type === 4) d.ack = !!(flags & 1);
    if (type === 0 || type === 4) d.data = hex(p);
    if (type === 1) {
      const items = decode(p);
      d.headers = [];
      for (let k = 0; k < items.length; k += 2) d.headers.push([latin1(items[k]), latin1(items[k + 1])]);
    }
    if (type === 2) d.error_code = errorCodeName(p.readUInt32BE(0));
    if (type === 5) { d.last_stream_id = p.readUInt32BE(0) & 0x7fffffff; d.error_code = errorCodeName(p.readUInt32BE(4)); }
    if (type === 6) d.increment = p.readUInt32BE(0) & 0x7fffffff;
    if (type === 3 && !(flags & 1)) {
      d.settings = {};
      for (const [k, val] of Object.entries(decode(p))) {
        d.settings[SETTING_NAMES[Number(k)] ?? `0x${Number(k).toString(16)}`] = val;
      }
    }
    frames.push(d);
    i += 10 + length;
  }
  return frames;
}

const matches = (f, want) => Object.entries(want).every(([k, v]) => JSON.stringify(f[k]) === JSON.stringify(v));

function runSession(vec, chunker) {
  for (const [name, value] of Object.entries(vec.assumes ?? {})) assert.equal(DEFAULT_SETTINGS[name], value, `assumes ${name}`);
  const conn = new ClientConnection(vec.local_settings ?? {});
  conn.initiate();
  const out = [...conn.dataToSend()];
  let recvIndex = 0;
  for (const step of vec.steps) {
    if ("recv" in step) {
      for (const chunk of chunker(recvIndex++, bytes(step.recv))) {
        conn.receive(chunk);
        if (conn.error) break;
      }
    } else {
      let failed = null;
      try {
        local(conn, step);
      } catch (e) {
        if (!(e instanceof LocalProtocolError)) throw e;
        failed = e;
      }
      const sent = conn.dataToSend();
      if (step.expect_local_error) {
        assert.ok(failed, `local action did not fail: ${JSON.stringify(step)}`);
        assert.equal(sent.length, 0, "a refused action sent bytes");
      } else assert.equal(failed, null, `unexpected local error ${failed}`);
      out.push(...sent);
    }
    out.push(...conn.dataToSend());
    if (conn.error) break;
  }
  verify(vec, conn, parseOutput(Buffer.concat(out)));
}

function local(conn, step) {
  const hdrs = (pairs) => pairs.map(([n, v]) => [n, v]);
  if (step.open_stream) conn.openStream(hdrs(step.open_stream.headers), step.open_stream.end_stream);
  else if (step.send_headers) conn.sendTrailers(step.send_headers.stream_id, hdrs(step.send_headers.headers));
  else if (step.send_data) conn.sendData(step.send_data.stream_id, bytes(step.send_data.data), !!step.send_data.end_stream);
  else if (step.consume) conn.consume(step.consume.stream_id, step.consume.bytes);
  else if (step.reset_stream) conn.resetStream(step.reset_stream.stream_id, code(step.reset_stream.error_code));
  else if (step.goaway) conn.goaway(code(step.goaway.error_code));
  else if (step.check_send_window) {
    const { stream_id, available } = step.check_send_window;
    assert.equal(conn.sendWindow(stream_id), available, `send window of stream ${stream_id}`);
  } else throw new Error(`unknown step ${JSON.stringify(step)}`);
}

function verify(vec, conn, frames) {
  const expect = vec.expect;
  const err = expect.error;
  const want = [...(expect.frames ?? [])];
  if (err?.scope === "connection") {
    assert.ok(conn.error, `expected connection error ${err.code}, none`);
    assert.equal(conn.error.code, code(err.code), `connection error ${conn.error.message}`);
    const g = { type: "GOAWAY", error_code: err.code };
    if ("last_stream_id" in err) g.last_stream_id = err.last_stream_id;
    want.push(g);
    assert.equal(frames.at(-1)?.type, "GOAWAY", "the GOAWAY is the last frame sent");
  } else {
    assert.ok(!conn.error || !conn.error.local, `unexpected connection error: ${conn.error?.message}`);
  }
  if (err?.scope === "stream" && want.length === 0) want.push({ type: "RST_STREAM", stream_id: err.stream_id, error_code: err.code });
  let pos = 0;
  for (const w of want) {
    while (pos < frames.length && !matches(frames[pos], w)) pos++;
    assert.ok(pos < frames.length, `expected frame ${JSON.stringify(w)} (in order) not in ${JSON.stringify(frames)}`);
    pos++;
  }
  for (const c of expect.contains ?? []) assert.ok(frames.some((f) => matches(f, c)), `expected ${JSON.stringify(c)}`);
  for (const a of expect.absent ?? []) {
    const bad = frames.filter((f) => matches(f, a));
    assert.deepEqual(bad, [], `frames matching ${JSON.stringify(a)} must not be sent`);
  }
}

function* whole(_i, data) { yield data; }
function* bytewise(_i, data) { for (let i = 0; i < data.length; i++) yield data.subarray(i, i + 1); }
const splitAt = (step, offset) => function* (i, data) {
  if (i === step) { yield data.subarray(0, offset); yield data.subarray(offset); } else yield data;
};

const clientSessions = load("sessions").filter(({ v }) => v.role === "client");
test("there are client session vectors", () => assert.ok(clientSessions.length >= 40));
for (const { file, v } of clientSessions) {
  test(`session vector ${file}/${v.id}`, () => {
    runSession(v, whole);
    runSession(v, bytewise);
    const lengths = v.steps.filter((s) => "recv" in s).map((s) => s.recv.length / 2);
    lengths.forEach((n, step) => {
      const stride = v.heavy ? Math.max(1, Math.floor(n / 40)) : 1;
      for (let off = 1; off < n; off += stride) {
        try {
          runSession(v, splitAt(step, off));
        } catch (e) {
          e.message = `split of recv step ${step} at byte ${off}: ${e.message}`;
          throw e;
        }
      }
    });
  });
}
