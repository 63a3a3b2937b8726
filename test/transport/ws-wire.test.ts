// The WebSocket transport on a real listener, driven by a raw client of our own that writes frames
// byte by byte: the opening handshake's refusals, the close handshake both ways, pings answered,
// hostile frames closing only their own connection with the RFC's code, and frames cut anywhere.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { openListener, type OpenListener } from '../../src/transport/listeners.js';
import { listenerSpec as spec, transportOptions } from '../../src/server/transport-options.js';
import { acceptValue } from '../../src/transport/ws-accept.js';
import { PONG_BACKLOG } from '../../src/transport/ws-transport.js';
import { captureLog, configWith, echoServer, waitFor, CONNECT_BYTES } from './helpers.js';

interface RawClient {
  socket: Socket;
  /** Frames from the server: [opcode, payload]. */
  frames: Array<[number, Buffer]>;
  ended: Promise<void>;
  send(opcode: number, payload: Buffer, opts?: { fin?: boolean; mask?: boolean }): void;
}

/** A masked client frame. */
function clientFrame(opcode: number, payload: Buffer, { fin = true, mask = true } = {}): Buffer {
  const n = payload.length;
  const len = n < 126 ? Buffer.from([n]) : n < 0x10000 ? Buffer.from([126, n >> 8, n & 0xff]) : Buffer.from([127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  if (mask) len[0] = len[0]! | 0x80;
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < n; i++) body[i] = body[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode]), len, key, body]);
}

/** Sends a raw upgrade request; resolves with the response head and, on 101, a framed client. */
function rawUpgrade(port: number, headers: Record<string, string>, method = 'GET'): Promise<{ head: string; client: RawClient }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const frames: Array<[number, Buffer]> = [];
    let buf = Buffer.alloc(0);
    let head: string | undefined;
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    const client: RawClient = { socket, frames, ended, send: (op, payload, opts) => socket.write(clientFrame(op, payload, opts)) };
    const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
    socket.once('error', reject);
    socket.on('connect', () => {
      const lines = Object.entries({ Host: '127.0.0.1', Upgrade: 'websocket', Connection: 'Upgrade', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`${method} /mqtt HTTP/1.1\r\n${lines.join('')}\r\n`);
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (head === undefined) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        clearTimeout(timer);
        resolve({ head, client });
      }
      for (;;) {
        if (buf.length < 2) return;
        const code = buf[1]! & 0x7f;
        const hl = code < 126 ? 2 : code === 126 ? 4 : 10;
        if (buf.length < hl) return;
        const length = code < 126 ? code : code === 126 ? buf.readUInt16BE(2) : Number(buf.readBigUInt64BE(2));
        if (buf.length < hl + length) return;
        frames.push([buf[0]! & 0x0f, Buffer.from(buf.subarray(hl, hl + length))]);
        buf = buf.subarray(hl + length);
      }
    });
  });
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const GOOD = { 'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Protocol': 'mqtt' };
const closeBody = (code: number, reason = ''): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

describe('WebSocket transport on the wire', () => {
  const open: OpenListener[] = [];
  const clients: Socket[] = [];
  after(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(open.map((l) => l.close()));
  });

  async function listen(flags: Record<string, string> = {}, handlers: Parameters<typeof echoServer>[0] = {}) {
    const cap = captureLog();
    const srv = echoServer(handlers);
    const config = configWith({ mqttListeners: 'ws://127.0.0.1:0', ...flags });
    const l = await openListener(spec('ws://127.0.0.1:0'), { transport: transportOptions(config), log: cap.log }, srv.accept);
    open.push(l);
    const upgrade = async (headers: Record<string, string> = GOOD, method?: string) => {
      const r = await rawUpgrade(l.info.port, headers, method);
      clients.push(r.client.socket);
      return r;
    };
    return { srv, upgrade };
  }

  it('answers the handshake with the RFC accept value and the chosen subprotocol', async () => {
    const { upgrade } = await listen();
    const { head } = await upgrade();
    assert.match(head, /^HTTP\/1.1 101 /);
    // The RFC's own example key and answer [RFC 6455 section 1.3].
    assert.equal(acceptValue(KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    assert.match(head, /\r\nSec-WebSocket-Protocol: mqtt/);
  });

  it('refuses a bad key (400), a missing version (400), another version (426 naming 13) and a POST (405)', async () => {
    const { upgrade, srv } = await listen();
    assert.match((await upgrade({ ...GOOD, 'Sec-WebSocket-Key': 'short' })).head, /^HTTP\/1.1 400 /);
    const { 'Sec-WebSocket-Version': _, ...noVersion } = GOOD;
    assert.match((await upgrade(noVersion)).head, /^HTTP\/1.1 400 /);
    const v8 = (await upgrade({ ...GOOD, 'Sec-WebSocket-Version': '8' })).head;
    assert.match(v8, /^HTTP\/1.1 426 /);
    assert.match(v8, /\r\nSec-WebSocket-Version: 13/);
    assert.match((await upgrade(GOOD, 'POST')).head, /^HTTP\/1.1 405 /);
    assert.equal(srv.transports.length, 0);
  });

  it('echoes binary data sent in fragments cut anywhere, answers pings with their payload, and takes bytes sent with the upgrade', async () => {
    const { upgrade, srv } = await listen();
    const { client } = await upgrade();
    await waitFor(() => srv.transports.length === 1, 'accept');
    // One CONNECT over three fragments, a ping between them, written a byte at a time.
    const bytes = Buffer.concat([
      clientFrame(0x2, CONNECT_BYTES.subarray(0, 3), { fin: false }),
      clientFrame(0x9, Buffer.from('hello')),
      clientFrame(0x0, CONNECT_BYTES.subarray(3, 10), { fin: false }),
      clientFrame(0x0, CONNECT_BYTES.subarray(10)),
    ]);
    for (const b of bytes) client.socket.write(Buffer.from([b]));
    await waitFor(() => Buffer.concat(client.frames.filter((f) => f[0] === 0x2).map((f) => f[1])).length === CONNECT_BYTES.length, 'echo');
    assert.ok(Buffer.concat(client.frames.filter((f) => f[0] === 0x2).map((f) => f[1])).equals(CONNECT_BYTES));
    assert.deepEqual(client.frames.filter((f) => f[0] === 0xa).map((f) => f[1].toString()), ['hello']);
  });

  it('answers no more pings once PONG_BACKLOG bytes wait unsent: a client that pings and never reads cannot grow the broker', async () => {
    const { upgrade, srv } = await listen();
    const { client } = await upgrade();
    await waitFor(() => srv.transports.length === 1, 'accept');
    client.socket.pause(); // reads nothing: every pong stays with the server once the kernel's buffers are full
    const ping = clientFrame(0x9, Buffer.alloc(125, 7));
    const burst = Buffer.concat(Array.from({ length: 10_000 }, () => ping)); // 1.3 MB of pings
    for (let i = 0; i < 10; i++) client.socket.write(burst); // 13 MB in all, 12.7 MB of pongs if all were answered
    await waitFor(() => client.socket.writableLength === 0, 'the client sent every ping', 10_000);
    let most = 0;
    for (let i = 0; i < 20; i++) {
      most = Math.max(most, srv.transports[0]!.bufferedBytes);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(most > 0, 'pongs did back up (the test reached the limit)');
    assert.ok(most <= PONG_BACKLOG + 127, `unsent bytes stayed within the pong backlog: ${most}`);
  });

  it('completes a close handshake the client starts: the code is echoed and the TCP connection closed; a normal code is no error', async () => {
    const { upgrade, srv } = await listen();
    const { client } = await upgrade();
    await waitFor(() => srv.transports.length === 1, 'accept');
    client.send(0x8, closeBody(1000, 'bye'));
    await client.ended;
    assert.deepEqual(client.frames.map((f) => [f[0], [...f[1]]]), [[0x8, [0x03, 0xe8]]]);
    await waitFor(() => srv.closed.length === 1, 'server-side close');
    assert.equal(srv.closed[0], undefined);
  });

  it('reports an application close code as the reason, and no error when the socket goes without a close frame (1006, as TCP closing)', async () => {
    const { upgrade, srv } = await listen();
    const a = (await upgrade()).client;
    const b = (await upgrade()).client;
    await waitFor(() => srv.transports.length === 2, 'accept');
    a.send(0x8, closeBody(4001, 'tab closed'));
    b.socket.destroy();
    await waitFor(() => srv.closed.length === 2, 'server-side closes');
    const reasons = srv.closed.map(String);
    assert.ok(reasons.some((r) => /code 4001: tab closed/.test(r)), reasons.join());
    assert.ok(srv.closed.includes(undefined), `the vanished client closed without an error: ${reasons.join()}`);
  });

  it('end() sends buffered data, then close 1000, and the connection ends', async () => {
    const { upgrade, srv } = await listen();
    const { client } = await upgrade();
    await waitFor(() => srv.transports.length === 1, 'accept');
    const t = srv.transports[0]!;
    t.write(Buffer.from([0xe0, 0x00]));
    t.end();
    assert.equal(t.write(Buffer.from([1])), false, 'nothing is written after end');
    await waitFor(() => client.frames.length === 2, 'data and close');
    assert.deepEqual(client.frames.map((f) => [f[0], [...f[1]]]), [[0x2, [0xe0, 0x00]], [0x8, [0x03, 0xe8]]]);
    client.send(0x8, closeBody(1000));
    await client.ended;
  });

  it('after destroy() from inside a data callback, nothing more of the same chunk is handed on', async () => {
    const got: Buffer[] = [];
    let srvRef: ReturnType<typeof echoServer> | undefined;
    const { upgrade, srv } = await listen({}, { data: (c) => {
      got.push(c);
      srvRef?.transports[0]?.destroy();
    } });
    srvRef = srv;
    const { client } = await upgrade();
    await waitFor(() => srv.transports.length === 1, 'accept');
    // A ping between them: the payload before a control frame is handed on before it is read.
    client.socket.write(Buffer.concat([clientFrame(0x2, Buffer.from([1])), clientFrame(0x9, Buffer.alloc(0)), clientFrame(0x2, Buffer.from([2]))]));
    await client.ended;
    await waitFor(() => srv.closed.length === 1, 'server-side close');
    assert.deepEqual(got.map((c) => [...c]), [[1]]);
    assert.equal(client.frames.filter((f) => f[0] === 0xa).length, 0, 'the ping after the destroy was not answered');
  });

  it('a pause made again before an earlier resume takes effect holds: nothing more is handed on until the next resume', async () => {
    const got: number[] = [];
    let srvRef: ReturnType<typeof echoServer> | undefined;
    const { upgrade, srv } = await listen({}, { data: (c) => {
      got.push(c[0]!);
      if (got.length === 1) {
        const t = srvRef!.transports[0]!;
        // As the broker does around an await: pause, resume, and pause again at once.
        t.pause();
        t.resume();
        t.pause();
      }
    } });
    srvRef = srv;
    const { client } = await upgrade();
    await waitFor(() => srv.transports.length === 1, 'accept');
    client.socket.write(Buffer.concat([clientFrame(0x2, Buffer.from([1])), clientFrame(0x9, Buffer.alloc(0)), clientFrame(0x2, Buffer.from([2]))]));
    await waitFor(() => got.length === 1, 'the first frame');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, [1], 'the second frame waits while paused');
    srv.transports[0]!.resume();
    await waitFor(() => got.length === 2, 'the second frame after the resume');
    assert.deepEqual(got, [1, 2]);
    client.socket.destroy();
  });

  const hostile: Array<[string, Buffer, number]> = [
    ['an unmasked frame', clientFrame(0x2, Buffer.from([1]), { mask: false }), 1002],
    ['a text frame', clientFrame(0x1, Buffer.from('x')), 1003],
    ['a continuation out of nowhere', clientFrame(0x0, Buffer.from([1])), 1002],
    ['an oversized ping', clientFrame(0x9, Buffer.alloc(126)), 1002],
    ['a bad close code', clientFrame(0x8, closeBody(1005)), 1002],
    ['a frame over webSocketMaxFrameSize', clientFrame(0x2, Buffer.alloc(1025)), 1009],
  ];
  for (const [what, bytes, code] of hostile) {
    it(`closes only the connection that sent ${what}, with ${code}`, async () => {
      const { upgrade, srv } = await listen({ webSocketMaxFrameSize: '1KiB' });
      const bad = (await upgrade()).client;
      const good = (await upgrade()).client;
      await waitFor(() => srv.transports.length === 2, 'accept');
      bad.socket.write(bytes);
      await bad.ended;
      const close = bad.frames.find((f) => f[0] === 0x8);
      assert.ok(close, 'a close frame was sent');
      assert.equal(close[1].readUInt16BE(0), code);
      await waitFor(() => srv.closed.length === 1, 'server-side close');
      assert.match(String(srv.closed[0]), /WebSocket/);
      // The other connection is untouched.
      good.send(0x2, CONNECT_BYTES);
      await waitFor(() => good.frames.some((f) => f[0] === 0x2), 'echo on the other connection');
      assert.equal(srv.closed.length, 1);
    });
  }
});
