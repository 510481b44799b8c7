// A scripted mux server for the tests the real server cannot provoke on demand
// (REFUSED_STREAM, GOAWAY below in-flight streams, dropped connections, silence).
// It speaks the wire format through the package's own codec and calls
// `onFrame(frame, conn)` for every frame after the client's SETTINGS.
import net from "node:net";
import { FrameDecoder, encodeFrame, encodeHeaderList, encodeSettingsMap, encodeGoaway, PREFACE, FrameType, u32, decodeHeaderList, decodeSettingsMap } from "../dist/internal.js";

export async function fakeServer(onFrame, port = 0, settings = new Map()) {
  const conns = [];
  const server = net.createServer((socket) => {
    const conn = {
      index: conns.length, socket, frames: [], clientSettings: null,
      send: (type, flags, sid, payload) => socket.write(encodeFrame(type, flags, sid, payload)),
      respond(sid, status, body, end = true) {
        const h = encodeHeaderList([[Buffer.from(":status"), Buffer.from(String(status))]]);
        this.send(FrameType.HEADERS, body === undefined && end ? 1 : 0, sid, h);
        if (body !== undefined) this.send(FrameType.DATA, end ? 1 : 0, sid, Buffer.from(body));
      },
      reset: (sid, code) => conn.send(FrameType.RST_STREAM, 0, sid, u32(code)),
      goaway: (last, code) => conn.send(FrameType.GOAWAY, 0, 0, encodeGoaway(last, code, new Uint8Array(0))),
    };
    conns.push(conn);
    const dec = new FrameDecoder(16777215, true);
    socket.write(PREFACE);
    conn.send(FrameType.SETTINGS, 0, 0, encodeSettingsMap(settings));
    socket.on("error", () => {});
    socket.on("data", (d) => {
      dec.receive(d);
      for (let f = dec.next(); f; f = dec.next()) {
        conn.frames.push(f);
        if (f.type === FrameType.SETTINGS && !(f.flags & 1)) {
          conn.clientSettings = decodeSettingsMap(f.payload, 32);
          conn.send(FrameType.SETTINGS, 1, 0, new Uint8Array(0));
          continue;
        }
        if (f.type === FrameType.HEADERS) f.headers = decodeHeaderList(f.payload).map(([n, v]) => [Buffer.from(n).toString(), Buffer.from(v).toString()]);
        onFrame(f, conn);
      }
    });
  });
  await new Promise((r, j) => { server.once("error", j); server.listen(port, "127.0.0.1", r); });
  return {
    port: server.address().port,
    conns,
    headers: () => conns.flatMap((c) => c.frames.filter((f) => f.type === FrameType.HEADERS && f.headers.some(([n]) => n === ":method"))),
    close: () => new Promise((r) => { for (const c of conns) c.socket.destroy(); server.close(r); }),
  };
}
