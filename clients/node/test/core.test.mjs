// The sans-IO connection beyond the vectors: flood budgets (spec 11.2), credit
// return (8.3) and the checks on what the client itself would send (5.2, 5.3).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ClientConnection, encodeFrame, encodeHeaderList, encodeSettingsMap, FrameType, PREFACE, ErrorCode, SettingId,
  requestFields, checkedFields, readU32,
} from "../dist/internal.js";

const serverHello = (settings = new Map()) => Buffer.concat([PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0, encodeSettingsMap(settings))]);
const response = (sid) => encodeFrame(FrameType.HEADERS, 0, sid, encodeHeaderList([[Buffer.from(":status"), Buffer.from("200")]]));
const ping = () => encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8));

function started(settings) {
  const c = new ClientConnection();
  c.initiate();
  c.receive(serverHello(settings));
  const id = c.openStream([[":method", "GET"], [":path", "/"]], true);
  c.receive(response(id));
  c.dataToSend();
  return { c, id };
}

function frames(chunks) {
  const b = Buffer.concat(chunks);
  const out = [];
  for (let i = 0; i < b.length; i += 10 + b.readUInt32BE(i)) {
    out.push({ type: b[i + 4], sid: b.readUInt32BE(i + 6), payload: b.subarray(i + 10, i + 10 + b.readUInt32BE(i)) });
  }
  return out;
}

test("empty DATA frames: 10 in a row pass, the 11th is ENHANCE_YOUR_CALM", () => {
  const { c, id } = started();
  const empty = encodeFrame(FrameType.DATA, 0, id, new Uint8Array(0));
  for (let i = 0; i < 10; i++) c.receive(empty);
  assert.equal(c.error, null);
  c.receive(encodeFrame(FrameType.DATA, 0, id, Buffer.from("x")));
  for (let i = 0; i < 10; i++) c.receive(empty);
  assert.equal(c.error, null, "a non-empty DATA frame resets the run");
  c.receive(empty);
  assert.equal(c.error?.code, ErrorCode.ENHANCE_YOUR_CALM);
  const last = frames(c.dataToSend()).at(-1);
  assert.equal(last.type, FrameType.GOAWAY);
  assert.equal(readU32(last.payload, 4), ErrorCode.ENHANCE_YOUR_CALM);
});

test("unknown frames: 1000 without progress pass, 1001 do not", () => {
  const { c } = started();
  const unknown = encodeFrame(0x42, 0, 0, Buffer.from("zz"));
  c.receive(Buffer.concat(Array.from({ length: 1000 }, () => unknown)));
  assert.equal(c.error, null);
  c.receive(unknown);
  assert.equal(c.error?.code, ErrorCode.ENHANCE_YOUR_CALM);
});

test("control frames: 10000 without progress pass, then ENHANCE_YOUR_CALM; DATA is progress", () => {
  const { c, id } = started();
  c.receive(Buffer.concat(Array.from({ length: 9999 }, ping))); // + the server's SETTINGS = 10000
  assert.equal(c.error, null);
  c.receive(encodeFrame(FrameType.DATA, 0, id, Buffer.from("x")));
  c.receive(Buffer.concat(Array.from({ length: 10000 }, ping)));
  assert.equal(c.error, null);
  c.receive(ping());
  assert.equal(c.error?.code, ErrorCode.ENHANCE_YOUR_CALM);
});

test("keepalive PINGs the server announced are not counted", () => {
  const { c } = started(new Map([[SettingId.KEEPALIVE_INTERVAL, 1000]]));
  let t = 0;
  c.budgets.now = () => t;
  for (let i = 0; i < 12000; i++) {
    t += 600;
    c.receive(ping());
  }
  assert.equal(c.error, null);
});

test("credit returns once consumed bytes reach half the stream window", () => {
  const { c, id } = started();
  const chunk = Buffer.alloc(65536, 1);
  c.receive(Buffer.concat([encodeFrame(FrameType.DATA, 0, id, chunk), encodeFrame(FrameType.DATA, 0, id, chunk)]));
  c.dataToSend();
  c.consume(id, 65536);
  assert.deepEqual(frames(c.dataToSend()), [], "a quarter of the window: no WINDOW_UPDATE yet");
  c.consume(id, 65536);
  const wu = frames(c.dataToSend());
  assert.deepEqual(wu.map((f) => [f.type, f.sid, readU32(f.payload)]), [[FrameType.WINDOW_UPDATE, id, 131072]]);
});

test("the client refuses to send malformed requests", () => {
  assert.throws(() => checkedFields({ "Bad Name": "x" }, "req"), /not a lowercase token/);
  assert.throws(() => checkedFields({ connection: "close" }, "req"), /connection-specific/);
  assert.throws(() => checkedFields({ te: "gzip" }, "req"), /te: gzip/);
  assert.throws(() => checkedFields({ "x-a": "a\r\nb" }, "req"), /NUL, CR or LF/);
  assert.throws(() => requestFields("GET", "no-slash", undefined, "http", []), /must start with/);
  assert.throws(() => requestFields("GET", "/a b", undefined, "http", []), /space or control/);
  assert.throws(() => requestFields("G E T", "/", undefined, "http", []), /not an HTTP token/);
  assert.deepEqual(checkedFields({ "X-Up": "v" }, "req"), [["x-up", "v"]]);
});

test("local settings: a larger window applies when sent, a smaller one at the ACK (spec 6.2)", () => {
  const data = (sid, n) => encodeFrame(FrameType.DATA, 0, sid, Buffer.alloc(n));
  // Smaller stream window (1000): the default 262144 still holds until the server's ACK.
  const small = new ClientConnection({ INITIAL_STREAM_WINDOW: 1000 });
  small.initiate();
  small.receive(serverHello());
  const a = small.openStream([[":method", "GET"], [":path", "/"]], true);
  small.receive(Buffer.concat([response(a), data(a, 5000)]));
  assert.equal(small.error, null);
  assert.equal(frames(small.dataToSend()).filter((f) => f.type === FrameType.RST_STREAM).length, 0, "5000 bytes accepted before the ACK");
  small.receive(encodeFrame(FrameType.SETTINGS, 1, 0, new Uint8Array(0)));
  const b = small.openStream([[":method", "GET"], [":path", "/"]], true);
  small.receive(Buffer.concat([response(b), data(b, 1001)]));
  const rst = frames(small.dataToSend()).filter((f) => f.type === FrameType.RST_STREAM);
  assert.deepEqual(rst.map((f) => [f.sid, readU32(f.payload)]), [[b, ErrorCode.FLOW_CONTROL_ERROR]]);
  // Larger connection window (4 MiB): in force at once, before any ACK.
  const big = new ClientConnection({ CONNECTION_WINDOW: 4 << 20, INITIAL_STREAM_WINDOW: 4 << 20 });
  big.initiate();
  big.receive(serverHello());
  const c = big.openStream([[":method", "GET"], [":path", "/"]], true);
  big.receive(response(c));
  for (let i = 0; i < 48; i++) big.receive(data(c, 65536)); // 3 MiB > the default 1 MiB
  assert.equal(big.error, null);
});
