// Unary requests/s over ONE connection with 100 in flight: the Node mux client
// (clients/node, mux/msgpack) against `mux serve`, next to Node's built-in
// node:http2 client against the same server over h2c (prior knowledge), in the
// same run. Each request is POST /echo with a 64-byte body, read whole.
//
// Usage (after `clients/node/run-tests.sh` or `npm ci && npx tsc` in clients/node):
//   node bench/node_unary.mjs [--seconds 5] [--inflight 100] [--rounds 2]
// MUX_PYTHON selects the Python that runs `mux serve` (default .venv/bin/python).
import http2 from "node:http2";
import { cpuUsage } from "node:process";
import { connect } from "../clients/node/dist/index.js";
import { startServer } from "../clients/node/test/server.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg("seconds", 5);
const INFLIGHT = arg("inflight", 100);
const ROUNDS = arg("rounds", 2);
const BODY = Buffer.alloc(64, "x");

async function drive(one) {
  let done = 0;
  const stop = performance.now() + SECONDS * 1000;
  const c0 = cpuUsage();
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (performance.now() < stop) {
      await one();
      done++;
    }
  }));
  const cpu = cpuUsage(c0);
  return { rps: done / SECONDS, clientCpuUsPerReq: (cpu.user + cpu.system) / done };
}

async function muxRun(port) {
  const client = await connect(`127.0.0.1:${port}`);
  for (let i = 0; i < 200; i++) await client.request("POST", "/echo", { body: BODY }); // warm-up
  const r = await drive(async () => {
    const res = await client.request("POST", "/echo", { body: BODY });
    if (res.status !== 200 || res.body.length !== 64) throw new Error("bad answer");
  });
  await client.close();
  return r;
}

async function h2Run(port) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  await new Promise((res, rej) => { session.once("connect", res); session.once("error", rej); });
  const one = () => new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": "/echo" });
    let n = 0;
    let status = 0;
    req.on("response", (h) => { status = h[":status"]; });
    req.on("data", (c) => { n += c.length; });
    req.on("end", () => (status === 200 && n === 64 ? resolve() : reject(new Error(`bad answer ${status} ${n}`))));
    req.on("error", reject);
    req.end(BODY);
  });
  for (let i = 0; i < 200; i++) await one();
  const r = await drive(one);
  session.close();
  return r;
}

const server = await startServer();
try {
  console.log(`node ${process.version}; ${SECONDS} s per round, ${INFLIGHT} in flight, one connection each; mux serve on port ${server.port}`);
  for (let round = 1; round <= ROUNDS; round++) {
    const m = await muxRun(server.port);
    const h = await h2Run(server.port);
    console.log(`round ${round}: mux client ${m.rps.toFixed(0)} req/s (client CPU ${m.clientCpuUsPerReq.toFixed(1)} µs/req)` +
      ` | node:http2 h2c ${h.rps.toFixed(0)} req/s (client CPU ${h.clientCpuUsPerReq.toFixed(1)} µs/req)` +
      ` | ratio ${(m.rps / h.rps).toFixed(2)}`);
  }
} finally {
  await server.stop();
}
