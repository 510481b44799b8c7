// Transparent retry, reconnect, backoff and keepalive, against a scripted server
// (test/fake-server.mjs) over loopback: what the server provably did not process
// is retried; everything else fails saying whether it may have been processed.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { connect, ConnectError, CallError, StreamResetError, ErrorCode } from "../dist/index.js";
import { FrameType, SettingId, backoffDelay } from "../dist/internal.js";
import { fakeServer } from "./fake-server.mjs";

const isRequest = (f) => f.type === FrameType.HEADERS && f.headers?.some(([n]) => n === ":method");

test("REFUSED_STREAM is retried transparently", { timeout: 20_000 }, async () => {
  let seen = 0;
  const srv = await fakeServer((f, c) => {
    if (!isRequest(f)) return;
    if (seen++ === 0) c.reset(f.streamId, ErrorCode.REFUSED_STREAM);
    else c.respond(f.streamId, 200, "second try");
  });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    const r = await client.request("POST", "/x", { body: "payload" });
    assert.equal(r.body.toString(), "second try");
    assert.deepEqual(srv.headers().map((f) => f.streamId), [1, 3]);
  } finally {
    await client.close();
    await srv.close();
  }
});

test("streams above GOAWAY's last_stream_id are retried on a new connection", { timeout: 20_000 }, async () => {
  const srv = await fakeServer((f, c) => {
    if (!isRequest(f)) return;
    if (c.index === 0 && f.streamId === 3) {
      c.goaway(1, ErrorCode.NO_ERROR);
      c.respond(1, 200, "first");
    } else if (c.index > 0) c.respond(f.streamId, 200, `conn ${c.index}`);
  });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    const [a, b] = await Promise.all([client.request("GET", "/a"), client.request("GET", "/b")]);
    assert.equal(a.body.toString(), "first");
    assert.equal(b.body.toString(), "conn 1");
    assert.equal(srv.conns.length, 2);
  } finally {
    await client.close();
    await srv.close();
  }
});

test("a reset other than REFUSED_STREAM is not retried and says maybe-processed", { timeout: 20_000 }, async () => {
  const srv = await fakeServer((f, c) => { if (isRequest(f)) c.reset(f.streamId, ErrorCode.INTERNAL_ERROR); });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    await assert.rejects(client.request("POST", "/x", { body: "b" }),
      (e) => e instanceof StreamResetError && e.code === ErrorCode.INTERNAL_ERROR && e.processed === "maybe-processed");
    assert.equal(srv.headers().length, 1);
  } finally {
    await client.close();
    await srv.close();
  }
});

test("a dropped connection fails in-flight calls as maybe-processed; the next call reconnects", { timeout: 20_000 }, async () => {
  const srv = await fakeServer((f, c) => {
    if (!isRequest(f)) return;
    if (c.index === 0) c.socket.destroy();
    else c.respond(f.streamId, 200, "reconnected");
  });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    await assert.rejects(client.request("GET", "/a"), (e) => e instanceof CallError && e.processed === "maybe-processed");
    assert.equal(srv.headers().length, 1);
    const r = await client.request("GET", "/b");
    assert.equal(r.body.toString(), "reconnected");
    assert.equal(srv.conns.length, 2);
  } finally {
    await client.close();
    await srv.close();
  }
});

test("response headers then a reset: processed", { timeout: 20_000 }, async () => {
  const srv = await fakeServer((f, c) => {
    if (!isRequest(f)) return;
    c.respond(f.streamId, 200, "partial", false);
    c.reset(f.streamId, ErrorCode.INTERNAL_ERROR);
  });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    await assert.rejects(client.request("GET", "/a"), (e) => e instanceof StreamResetError && e.processed === "processed");
  } finally {
    await client.close();
    await srv.close();
  }
});

test("connecting to a closed port fails after the backoff attempts", { timeout: 20_000 }, async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const t0 = Date.now();
  await assert.rejects(connect(`127.0.0.1:${port}`, { backoff: { baseMs: 20, maxMs: 50, attempts: 3 } }), ConnectError);
  assert.ok(Date.now() - t0 < 5000);
});

test("keepalive: advertised, PINGs an idle connection, declares a silent one lost", { timeout: 20_000 }, async () => {
  const srv = await fakeServer(() => {}); // never answers requests nor PINGs
  const client = await connect(`127.0.0.1:${srv.port}`, { keepaliveMs: 100, keepaliveTimeoutMs: 300 });
  try {
    const t0 = Date.now();
    await assert.rejects(client.request("GET", "/hang"), (e) => e instanceof CallError && e.processed === "maybe-processed" && /keepalive/.test(e.message));
    assert.ok(Date.now() - t0 < 5000);
    const c = srv.conns[0];
    assert.equal(c.clientSettings.get(SettingId.KEEPALIVE_INTERVAL), 100);
    assert.ok(c.frames.some((f) => f.type === FrameType.PING && !(f.flags & 1)));
  } finally {
    await client.close();
    await srv.close();
  }
});

test("timeout is sent as mux-timeout; a retry sends the time left, not the whole timeout", { timeout: 20_000 }, async () => {
  let seen = 0;
  const srv = await fakeServer((f, c) => {
    if (!isRequest(f)) return;
    if (seen++ === 0) setTimeout(() => c.reset(f.streamId, ErrorCode.REFUSED_STREAM), 300);
    else c.respond(f.streamId, 200, "ok");
  });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    await client.request("GET", "/t", { timeout: 5000 });
    const [first, second] = srv.headers().map((f) => Number(f.headers.find(([n]) => n === "mux-timeout")[1]));
    assert.ok(first <= 5000 && first > 4500, `first mux-timeout ${first}`);
    assert.ok(second <= first - 250, `retry mux-timeout ${second} after ${first}`);
  } finally {
    await client.close();
    await srv.close();
  }
});

test("cancel sends RST_STREAM(CANCEL) on that stream only; the connection carries on", { timeout: 20_000 }, async () => {
  const srv = await fakeServer((f, c) => {
    if (isRequest(f) && f.headers.some(([n, v]) => n === ":path" && v === "/fast")) c.respond(f.streamId, 200, "fast");
  });
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    const ac = new AbortController();
    const slow = client.request("GET", "/slow", { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await assert.rejects(slow, { name: "AbortError", processed: "maybe-processed" });
    assert.equal((await client.request("GET", "/fast")).body.toString(), "fast");
    const c = srv.conns[0];
    const resets = c.frames.filter((f) => f.type === FrameType.RST_STREAM);
    assert.deepEqual(resets.map((f) => [f.streamId, f.payload.readUInt32BE?.(0) ?? Buffer.from(f.payload).readUInt32BE(0)]), [[1, ErrorCode.CANCEL]]);
    assert.equal(c.frames.filter((f) => f.type === FrameType.GOAWAY).length, 0);
    assert.equal(srv.conns.length, 1);
  } finally {
    await client.close();
    await srv.close();
  }
});

test("reconnect: the server goes away and comes back on the same port; backoff bridges the gap", { timeout: 20_000 }, async () => {
  const answer = (f, c) => { if (isRequest(f)) c.respond(f.streamId, 200, `conn ${c.index}`); };
  const first = await fakeServer(answer);
  const port = first.port;
  const client = await connect(`127.0.0.1:${port}`, { backoff: { baseMs: 50, maxMs: 400, attempts: 12 } });
  let second;
  try {
    assert.equal((await client.request("GET", "/a")).body.toString(), "conn 0");
    await first.close(); // drops the connection and stops listening
    while (client.connections) await new Promise((r) => setTimeout(r, 10)); // the client saw it
    const back = new Promise((r) => setTimeout(r, 400)).then(async () => { second = await fakeServer(answer, port); });
    const t0 = Date.now();
    const r = await client.request("GET", "/b");
    await back;
    assert.equal(r.body.toString(), "conn 0"); // the new server's first connection
    assert.ok(Date.now() - t0 >= 300, "the request waited for the server to come back");
    assert.equal(second.conns.length, 1);
  } finally {
    await client.close();
    await second?.close();
  }
});

test("backoff: full jitter below min(maxMs, baseMs * 2^n)", { timeout: 20_000 }, () => {
  const b = { baseMs: 100, maxMs: 1000, attempts: 5 };
  for (let n = 0; n < 8; n++) {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(n, b);
      assert.ok(d >= 0 && d < Math.min(1000, 100 * 2 ** n));
    }
  }
  const spread = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(3, b))));
  assert.ok(spread.size > 10, "delays are jittered");
});

test("a deadline fires while the body waits for flow-control credit", { timeout: 20_000 }, async () => {
  // The server grants no stream window: the body can never leave.
  const srv = await fakeServer(() => {}, 0, new Map([[SettingId.INITIAL_STREAM_WINDOW, 0]]));
  const client = await connect(`127.0.0.1:${srv.port}`);
  try {
    const t0 = Date.now();
    await assert.rejects(client.request("POST", "/up", { body: Buffer.alloc(100), timeout: 200 }),
      { name: "DeadlineExceededError", processed: "maybe-processed" });
    assert.ok(Date.now() - t0 < 3000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(client.request("POST", "/up", { body: Buffer.alloc(100), signal: ac.signal }), { name: "AbortError" });
    const resets = () => srv.conns[0].frames.filter((f) => f.type === FrameType.RST_STREAM).map((f) => f.streamId);
    for (let i = 0; i < 100 && resets().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(resets(), [1, 3]);
  } finally {
    await client.close();
    await srv.close();
  }
});
