import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { openListener, type OpenListener } from '../../src/transport/listeners.js';
import type { ListenerInfo } from '../../src/transport/transport.js';
import { captureLog, configWith, echoServer, once, waitFor, CONNECT_BYTES } from './helpers.js';
import { listenerSpec as spec, transportOptions } from '../../src/server/transport-options.js';
import { socketFlag } from '../helpers/socket-flags.js';

const dial = async (port: number): Promise<Socket> => {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  return s;
};

/** Collects what a socket receives until it closes (bounded). */
async function readAll(s: Socket, timeoutMs = 5000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', () => {});
  await once(s, 'close', timeoutMs);
  return Buffer.concat(chunks);
}

describe('tcp listener (mqtt://)', () => {
  const open: OpenListener[] = [];
  const servers: ReturnType<typeof echoServer>[] = [];
  after(async () => {
    await Promise.all(open.map((l) => l.close()));
    for (const srv of servers) for (const t of srv.transports) t.destroy();
  });
  const echo = (...args: Parameters<typeof echoServer>) => {
    const srv = echoServer(...args);
    servers.push(srv);
    return srv;
  };

  it('binds port 0, reports the bound port, and echoes bytes both ways', async () => {
    const { log } = captureLog();
    const srv = echo();
    const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, srv.accept);
    open.push(l);
    assert.equal(l.info.scheme, 'mqtt');
    assert.equal(l.info.host, '127.0.0.1');
    assert.ok(l.info.port > 0);
    assert.equal(l.info.url, `mqtt://127.0.0.1:${l.info.port}`, 'port 0 is replaced by the bound port');

    const s = await dial(l.info.port);
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.write(CONNECT_BYTES);
    await waitFor(() => Buffer.concat(got).length === CONNECT_BYTES.length, 'echo');
    assert.deepEqual(Buffer.concat(got), CONNECT_BYTES);
    const t = srv.transports[0];
    assert.equal(t.kind, 'tcp');
    assert.equal(t.remoteAddress, '127.0.0.1');
    assert.equal(t.remotePort, s.localPort);
    assert.equal(t.peer, undefined);
    s.end();
    await waitFor(() => srv.closed.length === 1, 'server-side close');
    assert.equal(srv.closed[0], undefined, 'an orderly close carries no error');
  });

  it('accepted sockets have Nagle off (TCP keepalive only where the MQTT watchdog is off or slower), and still name their client once closed', async () => {
    const { log } = captureLog();
    const srv = echo();
    const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, srv.accept);
    open.push(l);
    const s = await dial(l.info.port);
    s.write(CONNECT_BYTES);
    await waitFor(() => srv.transports.length === 1, 'accept');
    const t = srv.transports[0];
    // Set by net.Server at accept ({ noDelay }), where Node records it on the socket.
    const flag = (name: string): unknown => socketFlag(t, name);
    assert.equal(flag('kSetNoDelay'), true);
    assert.equal(flag('kSetKeepAlive'), false, 'no TCP keepalive at accept: four setsockopt calls saved per socket');
    // A keepalive watchdog that closes a silent client within 45 s notices a vanished one before the
    // OS's probes would (60 s, then 10 × 1 s): none are asked for.
    t.silenceLimit!(45_000);
    assert.equal(flag('kSetKeepAlive'), false);
    // Keep Alive 0 (no watchdog): the OS probes the peer.
    t.silenceLimit!(0);
    assert.equal(flag('kSetKeepAlive'), true);
    assert.equal(flag('kSetKeepAliveInitialDelay'), 60, 'keepalive probes after 60 s (in seconds)');
    const port = s.localPort;
    s.destroy();
    await waitFor(() => srv.closed.length === 1, 'server-side close');
    // Read from the socket, which keeps its peer's address after closing (for the disconnect log).
    assert.equal(t.remoteAddress, '127.0.0.1');
    assert.equal(t.remotePort, port);
    // Ending a transport whose socket is gone is a no-op, not an error.
    t.end();
  });

  it('write returns false under backpressure and drain fires once the client reads', async () => {
    const { log } = captureLog();
    let drained = 0;
    const srv = echo({ drain: () => drained++ });
    const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, srv.accept);
    open.push(l);
    const s = await dial(l.info.port);
    s.pause();
    s.write(CONNECT_BYTES);
    await waitFor(() => srv.transports.length === 1, 'accept');
    const t = srv.transports[0];
    const block = Buffer.alloc(64 * 1024, 7);
    let writes = 0;
    while (t.write(block)) {
      writes++;
      assert.ok(writes < 10_000, 'write never reported backpressure');
    }
    assert.ok(t.bufferedBytes > 0, 'bytes are waiting in user space');
    s.resume();
    await waitFor(() => drained > 0, 'drain');
    s.destroy();
  });

  it('cork batches writes and pause stops data until resume', async () => {
    const { log } = captureLog();
    const received: Buffer[] = [];
    const srv = echo({ data: (c) => received.push(c) });
    const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, srv.accept);
    open.push(l);
    const s = await dial(l.info.port);
    s.write(CONNECT_BYTES);
    await waitFor(() => received.length === 1, 'first bytes');
    const t = srv.transports[0];
    t.pause();
    s.write(Buffer.from([0xc0, 0x00]));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 1, 'no data while paused');
    t.resume();
    await waitFor(() => received.length === 2, 'data after resume');

    const echoed: Buffer[] = [];
    s.on('data', (c: Buffer) => echoed.push(c));
    t.cork();
    t.write(Buffer.from([1]));
    t.write(Buffer.from([2]));
    t.uncork();
    await waitFor(() => Buffer.concat(echoed).includes(Buffer.from([1, 2])), 'corked bytes');
    s.destroy();
  });

  it('corked small writes go as one buffer, counted as buffered until then; a large one keeps its place without a copy', async () => {
    const { log } = captureLog();
    const srv = echo();
    const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, srv.accept);
    open.push(l);
    const s = await dial(l.info.port);
    const received: Buffer[] = [];
    s.on('data', (c: Buffer) => received.push(c));
    s.write(CONNECT_BYTES);
    await waitFor(() => Buffer.concat(received).length === CONNECT_BYTES.length, 'the first bytes echoed');
    received.length = 0;
    const t = srv.transports[0];
    const large = Buffer.alloc(10_000, 9);
    // What the transport hands its socket, call by call.
    const sock = (t as unknown as { socket: Socket }).socket;
    const handed: Buffer[] = [];
    const write = sock.write.bind(sock) as (data: Buffer) => boolean;
    sock.write = ((data: Buffer) => (handed.push(data), write(data))) as typeof sock.write;
    t.cork();
    t.write(Buffer.from([1, 2]));
    t.write(Buffer.from([3]));
    assert.equal(t.bufferedBytes, 3, 'held bytes count as buffered (the slow-consumer limits see them)');
    t.write(large);
    t.write(Buffer.from([4]));
    assert.equal(handed.length, 2, 'the small ones held so far went as one buffer, then the large one, into the corked socket');
    assert.deepEqual(handed[0], Buffer.from([1, 2, 3]));
    assert.equal(handed[1], large, 'the large one itself, not a copy');
    t.uncork();
    assert.equal(handed.length, 3, 'the small one after it goes at uncork');
    assert.deepEqual(handed[2], Buffer.from([4]));
    const expected = Buffer.concat([Buffer.from([1, 2, 3]), large, Buffer.from([4])]);
    await waitFor(() => Buffer.concat(received).length >= expected.length, 'all bytes');
    assert.deepEqual(Buffer.concat(received), expected, 'in the order written');
    s.destroy();
  });

  it('close() stops accepting while open transports stay up', async () => {
    const { log } = captureLog();
    const srv = echo();
    const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, srv.accept);
    const s = await dial(l.info.port);
    s.write(CONNECT_BYTES);
    await waitFor(() => srv.transports.length === 1, 'accept');
    await l.close();
    const refused = connect(l.info.port, '127.0.0.1');
    const err = await once<NodeJS.ErrnoException>(refused, 'error');
    assert.equal(err.code, 'ECONNREFUSED');
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.write(Buffer.from([0xc0, 0x00]));
    await waitFor(() => got.length > 0, 'echo after close()');
    s.destroy();
  });

  it('a port already in use fails with a message naming the listener', async () => {
    const { log } = captureLog();
    const first = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log }, () => {});
    open.push(first);
    await assert.rejects(openListener(spec(`mqtt://127.0.0.1:${first.info.port}`), { transport: transportOptions(configWith()), log }, () => {}), (err: Error) => {
      assert.match(err.message, new RegExp(`cannot listen on mqtt://127\\.0\\.0\\.1:${first.info.port}: the address is already in use`));
      return true;
    });
  });

  it('refuses a bad URL with the parse error, naming the listener', () => {
    // The server parses each configured URL (server/transport-options.ts) before the transport opens it.
    assert.throws(() => spec('tcp://127.0.0.1:0'), /listener tcp:\/\/127\.0\.0\.1:0: unknown scheme "tcp"/);
  });

  describe('common mistakes', () => {
    const siblings: ListenerInfo[] = [
      { url: 'mqtt://127.0.0.1:1883', scheme: 'mqtt', host: '127.0.0.1', port: 1883 },
      { url: 'mqtt+ssl://127.0.0.1:8883', scheme: 'mqtt+ssl', host: '127.0.0.1', port: 8883 },
      { url: 'ws://127.0.0.1:8083', scheme: 'ws', host: '127.0.0.1', port: 8083, path: '/mqtt' },
    ];

    async function listener() {
      const cap = captureLog();
      const received: Buffer[] = [];
      const srv = echo({ data: (c) => received.push(c) });
      const l = await openListener(spec('mqtt://127.0.0.1:0'), { transport: transportOptions(configWith()), log: cap.log, siblings: () => siblings }, srv.accept);
      open.push(l);
      return { ...cap, srv, l, received };
    }

    it('a TLS ClientHello on mqtt:// is closed with one line pointing at mqtts://', async () => {
      const { lines, srv, l } = await listener();
      const c = tlsConnect({ port: l.info.port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => {});
      await once(c, 'close');
      await waitFor(() => srv.closed.length === 1, 'transport close');
      const warn = lines.filter((x) => x.level === 40);
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^TLS handshake on plain mqtt listener mqtt:\/\/127\.0\.0\.1:\d+: TLS clients should use mqtts:\/\/127\.0\.0\.1:8883/);
      assert.equal(warn[0].listener, l.info.url);
      assert.ok(srv.closed[0] instanceof Error);
    });

    it('an HTTP request on mqtt:// gets HTTP/1.1 400 and one line pointing at the WebSocket URL', async () => {
      const { lines, l, received, srv } = await listener();
      const s = await dial(l.info.port);
      const reply = readAll(s);
      s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const text = (await reply).toString();
      assert.equal(received.length, 0, 'HTTP bytes never reach the MQTT side');
      await waitFor(() => srv.closed.length === 1, 'transport close');
      assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(text, /this port speaks MQTT, not HTTP/);
      const warn = lines.filter((x) => x.level === 40);
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^HTTP request on mqtt listener mqtt:\/\/127\.0\.0\.1:\d+.*ws:\/\/127\.0\.0\.1:8083\/mqtt/);
    });

    it('a WebSocket handshake on mqtt:// is named as such', async () => {
      const { lines, l } = await listener();
      const s = await dial(l.info.port);
      const reply = readAll(s);
      s.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      assert.match((await reply).toString(), /^HTTP\/1\.1 400/);
      const warn = lines.filter((x) => x.level === 40);
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^WebSocket handshake on mqtt listener .*WebSocket clients should use ws:\/\/127\.0\.0\.1:8083\/mqtt/);
    });

    it('MQTT bytes, even split one byte at a time, pass through untouched', async () => {
      const { lines, l, srv } = await listener();
      const s = await dial(l.info.port);
      s.setNoDelay(true);
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      for (const b of CONNECT_BYTES) {
        s.write(Buffer.from([b]));
        await new Promise((r) => setTimeout(r, 2));
      }
      await waitFor(() => Buffer.concat(got).length === CONNECT_BYTES.length, 'echo');
      assert.deepEqual(Buffer.concat(got), CONNECT_BYTES);
      assert.equal(lines.filter((x) => x.level >= 40).length, 0);
      assert.equal(srv.closed.length, 0);
      s.destroy();
    });
  });
});
