// Interop: the Node client against `mux serve` of this checkout, over loopback.
// Every server started here is stopped here (after(), or by the test itself).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { connect, CallError, CancelledError, ConnectError, DeadlineExceededError } from "../dist/index.js";
import { findPython, startServer } from "./server.mjs";

const skip = findPython() ? false : "no Python for `mux serve` (set MUX_PYTHON or create .venv with make)";
const opts = { skip, timeout: 120_000 }; // every test is bounded in time
let server;
let client;
const servers = [];

before(async () => {
  if (skip) return;
  server = await startServer();
  servers.push(server);
  client = await connect(`127.0.0.1:${server.port}`);
});
after(async () => {
  await client?.close();
  for (const s of servers) await s.stop();
});

const sha = (b) => createHash("sha256").update(b).digest("hex");

test("echo: body, headers and trailers round-trip", opts, async () => {
  const r = await client.request("POST", "/echo", { body: "hello", headers: { "x-trace": "42" }, trailers: { "x-sum": "7" } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), "hello");
  assert.equal(r.header("x-trace"), "42");
  assert.equal(r.trailers.find(([n]) => n === "x-sum")?.[1], "7");
});

test("1,000 concurrent requests on one connection", opts, async () => {
  const all = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.request("GET", `/bytes/${i % 300}`)));
  all.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.equal(r.body.length, i % 300);
    assert.ok(r.body.every((b, k) => b === k % 256));
  });
  assert.equal(client.connections, 1);
});

test("32 MiB each way at once through /echo, content checked", opts, async () => {
  const size = 32 << 20;
  const data = randomBytes(size);
  const call = await client.call("POST", "/echo");
  const reading = (async () => {
    const res = await call.response;
    const h = createHash("sha256");
    let n = 0;
    for await (const chunk of res) { h.update(chunk); n += chunk.length; }
    return { n, digest: h.digest("hex") };
  })();
  for (let off = 0; off < size; off += 1 << 20) await call.write(data.subarray(off, off + (1 << 20)));
  await call.end();
  const got = await reading;
  assert.equal(got.n, size);
  assert.equal(got.digest, sha(data));
});

test("32 MiB upload to /sink and download from /bytes, sha256 checked", opts, async () => {
  const size = 32 << 20;
  const up = randomBytes(size);
  const sink = await client.request("POST", "/sink", { body: up });
  assert.deepEqual(JSON.parse(sink.body.toString()), { bytes: size, sha256: sha(up) });
  const pattern = Buffer.alloc(size);
  for (let i = 0; i < size; i++) pattern[i] = i & 0xff;
  const down = await client.stream("GET", `/bytes/${size}`);
  const h = createHash("sha256");
  let n = 0;
  for await (const chunk of down) { h.update(chunk); n += chunk.length; }
  assert.equal(n, size);
  assert.equal(h.digest("hex"), sha(pattern));
});

test("flow control: a stream its reader leaves unread does not hold up the others", opts, async () => {
  const size = 16 << 20;
  const stalled = await client.stream("GET", `/bytes/${size}`);
  const it = stalled[Symbol.asyncIterator]();
  const first = await it.next();
  assert.ok(first.value.length > 0);
  await new Promise((r) => setTimeout(r, 200)); // the server fills this stream's window, then waits
  const others = await Promise.all(Array.from({ length: 50 }, () => client.request("GET", "/bytes/1000")));
  assert.ok(others.every((r) => r.body.length === 1000));
  let n = first.value.length;
  for (let r = await it.next(); !r.done; r = await it.next()) n += r.value.length;
  assert.equal(n, size);
});

test("cancelling a stream gives back the connection credit of its unread bytes", opts, async () => {
  const windows = { INITIAL_STREAM_WINDOW: 1 << 20, CONNECTION_WINDOW: 1 << 20 };
  const c = await connect(`127.0.0.1:${server.port}`, { settings: windows });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await c.stream("GET", `/bytes/${4 << 20}`);
      for await (const _ of res) {
        await new Promise((r) => setTimeout(r, 300)); // the server fills the whole window meanwhile
        break; // cancels the stream with up to 1 MiB unread
      }
    }
    const r = await c.request("GET", `/bytes/${2 << 20}`, { timeout: 10_000 });
    assert.equal(r.body.length, 2 << 20);
  } finally {
    await c.close();
  }
});

test("client streaming: 200 chunks to /sink, answered once the body ended", opts, async () => {
  const call = await client.call("POST", "/sink");
  const h = createHash("sha256");
  let total = 0;
  for (let i = 0; i < 200; i++) {
    const chunk = randomBytes(1000 + i);
    h.update(chunk);
    total += chunk.length;
    await call.write(chunk);
  }
  await call.end();
  const res = await call.response;
  assert.deepEqual(JSON.parse(await res.text()), { bytes: total, sha256: h.digest("hex") });
});

test("server streaming: /stream/200 arrives line by line", opts, async () => {
  const res = await client.stream("GET", "/stream/200");
  assert.equal(res.status, 200);
  let text = "";
  let chunks = 0;
  for await (const c of res) { text += c; chunks++; }
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 200);
  lines.forEach((l, i) => assert.deepEqual(JSON.parse(l), { id: i }));
  assert.ok(chunks > 1);
});

test("cancel with an AbortSignal resets that stream only", opts, async () => {
  const ac = new AbortController();
  const slow = client.request("GET", "/delay/5000", { signal: ac.signal });
  const other = client.request("GET", "/delay/300");
  setTimeout(() => ac.abort(), 100);
  const t0 = Date.now();
  await assert.rejects(slow, (e) => e instanceof CancelledError && e.processed === "maybe-processed");
  assert.ok(Date.now() - t0 < 2000);
  assert.equal((await other).status, 200); // the other stream on the same connection finished
  assert.equal((await client.request("GET", "/healthz")).body.toString().trim(), "ok");
  assert.equal(client.connections, 1);
});

test("deadline: timeout (sent as mux-timeout) ends the call at the deadline", opts, async () => {
  // Two deadlines race: the client's timer, and the server's (from mux-timeout, started when
  // the request arrived). Usually the client's fires first; on a loaded machine the server's
  // 504 may arrive first. Either way the call ends at the deadline, not after 3 s.
  const t0 = Date.now();
  let outcome;
  try {
    outcome = await client.request("GET", "/delay/3000", { timeout: 250 });
  } catch (e) {
    outcome = e;
  }
  if (outcome instanceof Error) {
    assert.ok(outcome instanceof DeadlineExceededError, String(outcome));
    assert.equal(outcome.processed, "maybe-processed");
  } else assert.equal(outcome.status, 504, "the server honoured mux-timeout");
  assert.ok(Date.now() - t0 < 2500);
  assert.equal((await client.request("GET", "/delay/10", { timeout: 5000 })).status, 200);
});

test("MAX_CONCURRENT_STREAMS honoured: wait for a slot, or open more connections", opts, async () => {
  const small = await startServer(["--max-concurrent-streams", "2"]);
  servers.push(small);
  const one = await connect(`127.0.0.1:${small.port}`);
  const r1 = await Promise.all(Array.from({ length: 12 }, () => one.request("GET", "/delay/50")));
  assert.ok(r1.every((r) => r.status === 200));
  assert.equal(one.connections, 1);
  await one.close();
  const pooled = await connect(`127.0.0.1:${small.port}`, { maxConnections: 3 });
  const r2 = await Promise.all(Array.from({ length: 12 }, () => pooled.request("GET", "/delay/100")));
  assert.ok(r2.every((r) => r.status === 200));
  assert.equal(pooled.connections, 3);
  await pooled.close();
});

test("graceful GOAWAY on SIGTERM: every in-flight request finishes", opts, async () => {
  const s = await startServer();
  servers.push(s);
  const c = await connect(`127.0.0.1:${s.port}`);
  const inflight = Array.from({ length: 50 }, () => c.request("GET", "/delay/1500"));
  await new Promise((r) => setTimeout(r, 400));
  s.proc.kill("SIGTERM");
  const results = await Promise.all(inflight);
  assert.ok(results.every((r) => r.status === 200 && JSON.parse(r.body).delay_ms === 1500));
  assert.equal(await s.exited, 0);
  await assert.rejects(c.request("GET", "/healthz", { maxAttempts: 1 }), (e) => e instanceof CallError && e.processed === "not-processed");
  await c.close();
});

test("TLS with ALPN mux/1", opts, async () => {
  const dir = mkdtempSync(join(tmpdir(), "mux-node-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    const s = await startServer(["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")]);
    servers.push(s);
    const c = await connect(`127.0.0.1:${s.port}`, { tls: { ca: readFileSync(join(dir, "cert.pem")) } });
    const r = await c.request("POST", "/echo", { body: "over tls" });
    assert.equal(r.body.toString(), "over tls");
    await c.close();
    // A TLS server that does not select mux/1 is refused before any mux byte is sent.
    const h2only = tls.createServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")), ALPNProtocols: ["h2"] },
      (sock) => sock.on("data", () => assert.fail("the client sent bytes to a non-mux TLS server")).on("error", () => {}));
    h2only.on("tlsClientError", () => {});
    await new Promise((r) => h2only.listen(0, "127.0.0.1", r));
    try {
      await assert.rejects(connect(`127.0.0.1:${h2only.address().port}`, { tls: { ca: readFileSync(join(dir, "cert.pem")) }, backoff: { attempts: 1 } }),
        (e) => e instanceof ConnectError);
    } finally {
      await new Promise((r) => h2only.close(r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
