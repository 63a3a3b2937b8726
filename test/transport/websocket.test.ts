import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import mqtt from 'mqtt';
import { openListener, type ListenerOptions, type OpenListener } from '../../src/transport/listeners.js';
import type { ListenerInfo, Transport } from '../../src/transport/transport.js';
import { captureLog, certificateFixture, configWith, echoServer, once, waitFor, CONNECT_BYTES } from './helpers.js';
import { listenerSpec as spec, transportOptions } from '../../src/server/transport-options.js';

type Fixture = Awaited<ReturnType<typeof certificateFixture>>;

/** Opens a client WebSocket; resolves when open, rejects with the HTTP status and body when refused. */
function wsOpen(url: string, protocols?: string | string[], opts: ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    const timer = setTimeout(() => reject(new Error('no WebSocket handshake within 5 s')), 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function httpGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) };
}

const collect = (ws: WebSocket): Buffer[] => {
  const got: Buffer[] = [];
  ws.on('message', (d: Buffer) => got.push(d));
  return got;
};


/** The start-up warning of a listener open to any origin (the default), not a client's mistake. */
const ORIGIN_WARNING = /accepts pages from any origin/;
describe('websocket listener (ws://, ws+ssl://)', () => {
  let certs: Fixture;
  const open: OpenListener[] = [];
  const servers: ReturnType<typeof echoServer>[] = [];
  const clients: WebSocket[] = [];
  before(async () => {
    certs = await certificateFixture();
  });
  after(async () => {
    for (const c of clients) c.terminate();
    await Promise.all(open.map((l) => l.close()));
    for (const srv of servers) for (const t of srv.transports) t.destroy();
    certs.cleanup();
  });

  async function listen(url = 'ws://127.0.0.1:0', flags: Record<string, string> = {}, extra: Partial<ListenerOptions> = {}, handlers: Parameters<typeof echoServer>[0] = {}) {
    const cap = captureLog();
    const srv = echoServer(handlers);
    servers.push(srv);
    const config = configWith({ mqttListeners: url, ...flags });
    const l = await openListener(spec(url), { transport: transportOptions(config), log: cap.log, ...extra }, srv.accept);
    open.push(l);
    const scheme = l.info.scheme === 'ws+ssl' ? 'wss' : 'ws';
    return { ...cap, srv, l, url: (path = l.info.path ?? '/mqtt') => `${scheme}://127.0.0.1:${l.info.port}${path}` };
  }
  const client = async (...args: Parameters<typeof wsOpen>): Promise<WebSocket> => {
    const ws = await wsOpen(...args);
    clients.push(ws);
    return ws;
  };

  it('echoes binary frames both ways on ws:// with subprotocol mqtt', async () => {
    const { srv, l, url } = await listen();
    assert.equal(l.info.path, '/mqtt');
    assert.equal(l.info.url, `ws://127.0.0.1:${l.info.port}`);
    const ws = await client(url(), 'mqtt');
    assert.equal(ws.protocol, 'mqtt');
    const got = collect(ws);
    ws.send(CONNECT_BYTES);
    await waitFor(() => Buffer.concat(got).length === CONNECT_BYTES.length, 'echo');
    assert.deepEqual(Buffer.concat(got), CONNECT_BYTES);
    const t = srv.transports[0];
    assert.equal(t.kind, 'ws');
    assert.equal(t.remoteAddress, '127.0.0.1');
    assert.ok(t.remotePort > 0);
    ws.close();
    await waitFor(() => srv.closed.length === 1, 'close');
    assert.equal(srv.closed[0], undefined);
  });

  it('echoes on ws+ssl:// and reports a verified client certificate', async () => {
    const flags = {
      mqttTlsCertificateFilePath: certs.a.certFile,
      mqttTlsKeyFilePath: certs.a.keyFile,
      mqttTlsTrustCertsFilePath: certs.a.caFile,
      mqttTlsRequireTrustedClientCertOnConnect: 'true',
    };
    const { srv, url } = await listen('ws+ssl://127.0.0.1:0', flags);
    const ws = await client(url(), 'mqtt', {
      ca: readFileSync(certs.a.caFile),
      cert: readFileSync(certs.a.clientCertFile),
      key: readFileSync(certs.a.clientKeyFile),
      servername: 'localhost',
    } as ClientOptions);
    const got = collect(ws);
    ws.send(CONNECT_BYTES);
    await waitFor(() => Buffer.concat(got).length === CONNECT_BYTES.length, 'echo');
    const t = srv.transports[0];
    assert.equal(t.kind, 'wss');
    assert.equal(t.peer?.authorized, true);
    assert.equal(t.peer?.certificateSubject?.CN, 'starling-dev-client');
    await assert.rejects(wsOpen(url(), 'mqtt', { ca: readFileSync(certs.a.caFile), servername: 'localhost' } as ClientOptions), 'no client certificate, no connection');
  });

  it('close() stops accepting while open WebSocket transports stay up', async () => {
    const cap = captureLog();
    const srv = echoServer();
    servers.push(srv);
    const config = configWith({ mqttListeners: 'ws://127.0.0.1:0' });
    const l = await openListener(spec('ws://127.0.0.1:0'), { transport: transportOptions(config), log: cap.log }, srv.accept);
    const url = `ws://127.0.0.1:${l.info.port}/mqtt`;
    const ws = await client(url, 'mqtt');
    await l.close();
    await assert.rejects(wsOpen(url, 'mqtt'), /ECONNREFUSED/);
    const got = collect(ws);
    ws.send(CONNECT_BYTES);
    await waitFor(() => Buffer.concat(got).length === CONNECT_BYTES.length, 'echo after close()');
  });

  it('an upgrade on another path gets 404 naming the right path; a path in the URL overrides webSocketPath', async () => {
    const { url } = await listen();
    await assert.rejects(client(url('/'), 'mqtt'), (err: { status: number; body: string }) => {
      assert.equal(err.status, 404);
      assert.match(err.body, /at path "\/mqtt": ws:\/\/127\.0\.0\.1:\d+\/mqtt/);
      return true;
    });
    const custom = await listen('ws://127.0.0.1:0/custom');
    assert.equal(custom.l.info.url, `ws://127.0.0.1:${custom.l.info.port}/custom`);
    assert.equal(custom.l.info.path, '/custom');
    const ws = await client(custom.url(), 'mqtt');
    assert.equal(ws.protocol, 'mqtt');
  });

  describe('subprotocol negotiation [MQTT-6.0.0-3] [MQTT-6.0.0-4]', () => {
    for (const p of ['mqtt', 'mqttv3.1', 'mqttv3.1.1', 'mqttv5.0']) {
      it(`offering only ${p} gets ${p}`, async () => {
        const { url } = await listen();
        const ws = await client(url(), p);
        assert.equal(ws.protocol, p);
      });
    }

    it('mqtt is preferred when offered with others', async () => {
      const { url } = await listen();
      assert.equal((await client(url(), ['mqttv3.1', 'mqtt'])).protocol, 'mqtt');
      assert.equal((await client(url(), ['foo', 'mqttv5.0', 'mqttv3.1'])).protocol, 'mqttv5.0');
    });

    it('offering none is accepted without a subprotocol', async () => {
      const { url, srv } = await listen();
      const ws = await client(url());
      assert.equal(ws.protocol, '');
      const got = collect(ws);
      ws.send(CONNECT_BYTES);
      await waitFor(() => got.length > 0, 'echo');
      assert.equal(srv.transports.length, 1);
    });

    it('offering only unknown subprotocols is refused with 400 naming the supported ones', async () => {
      const { url, srv } = await listen();
      await assert.rejects(client(url(), ['chat', 'mqttv4']), (err: { status: number; body: string }) => {
        assert.equal(err.status, 400);
        assert.match(err.body, /Unsupported WebSocket subprotocol "chat", "mqttv4"; Starling speaks mqtt, mqttv3\.1, mqttv3\.1\.1, mqttv5\.0/);
        return true;
      });
      assert.equal(srv.transports.length, 0);
    });

    for (const protocolVersion of [3, 4, 5] as const) {
      it(`MQTT.js (protocolVersion ${protocolVersion}) completes its handshake`, async () => {
        const connack = protocolVersion === 5 ? Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]) : Buffer.from([0x20, 0x02, 0x00, 0x00]);
        const cap = captureLog();
        const accepted: Transport[] = [];
        const config = configWith({ mqttListeners: 'ws://127.0.0.1:0' });
        const l = await openListener(spec('ws://127.0.0.1:0'), { transport: transportOptions(config), log: cap.log }, (t) => {
          accepted.push(t);
          t.start({ data: (c) => c[0] === 0x10 && t.write(connack), drain: () => {}, close: () => {} });
        });
        open.push(l);
        const c = mqtt.connect(`ws://127.0.0.1:${l.info.port}/mqtt`, { protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 });
        try {
          await once(c, 'connect');
        } finally {
          c.end(true);
          for (const t of accepted) t.destroy();
        }
      });
    }
  });

  it('a text frame closes the connection with code 1003 [MQTT-6.0.0-1]', async () => {
    const { url, srv } = await listen();
    const ws = await client(url(), 'mqtt');
    ws.send('hello');
    const [code] = await new Promise<[number]>((resolve) => ws.once('close', (c: number) => resolve([c])));
    assert.equal(code, 1003);
    await waitFor(() => srv.closed.length === 1, 'server close');
    assert.match(String(srv.closed[0]), /text WebSocket frame/);
  });

  it('one packet over several messages and frames, and several packets in one message, all arrive [MQTT-6.0.0-2]', async () => {
    const received: Buffer[] = [];
    const { url } = await listen('ws://127.0.0.1:0', {}, {}, { data: (c) => received.push(c) });
    const ws = await client(url(), 'mqtt');
    const echoed = collect(ws);
    // Split over three messages.
    ws.send(CONNECT_BYTES.subarray(0, 3));
    ws.send(CONNECT_BYTES.subarray(3, 9));
    ws.send(CONNECT_BYTES.subarray(9));
    // One message in two frames (continuation frame).
    ws.send(Buffer.from([0x82, 0x00]), { fin: false });
    ws.send(Buffer.from([0xc0, 0x00]), { fin: true });
    // Two PINGREQs coalesced in one message.
    ws.send(Buffer.from([0xc0, 0x00, 0xc0, 0x00]));
    const expected = Buffer.concat([CONNECT_BYTES, Buffer.from([0x82, 0x00, 0xc0, 0x00, 0xc0, 0x00, 0xc0, 0x00])]);
    await waitFor(() => Buffer.concat(received).length === expected.length, 'all bytes');
    assert.deepEqual(Buffer.concat(received), expected);
    await waitFor(() => Buffer.concat(echoed).length === expected.length, 'echo');
    assert.deepEqual(Buffer.concat(echoed), expected);
  });

  it('checks Origin against webSocketAllowedOrigins (403), letting clients without Origin through', async () => {
    const { url } = await listen('ws://127.0.0.1:0', { webSocketAllowedOrigins: 'https://app.example.com,https://*.example.org' });
    await client(url(), 'mqtt', { origin: 'https://app.example.com' });
    await client(url(), 'mqtt', { origin: 'https://console.example.org' });
    await client(url(), 'mqtt');
    await assert.rejects(client(url(), 'mqtt', { origin: 'https://evil.example.com' }), (err: { status: number; body: string }) => {
      assert.equal(err.status, 403);
      assert.match(err.body, /Origin https:\/\/evil\.example\.com is not allowed/);
      return true;
    });
  });

  it('warns at start-up when a listener accepts any origin (webSocketAllowedOrigins=*), and not with a list or the default', async () => {
    const anyOrigin = await listen('ws://127.0.0.1:0', { webSocketAllowedOrigins: '*' });
    await client(anyOrigin.url(), 'mqtt', { origin: 'https://anywhere.example' });
    assert.ok(anyOrigin.lines.some((l) => l.level === 40 && ORIGIN_WARNING.test(l.msg)), 'warned about webSocketAllowedOrigins=*');
    const listed = await listen('ws://127.0.0.1:0', { webSocketAllowedOrigins: 'https://app.example.com' });
    assert.ok(!listed.lines.some((l) => ORIGIN_WARNING.test(l.msg)));
    const byDefault = await listen();
    assert.ok(!byDefault.lines.some((l) => ORIGIN_WARNING.test(l.msg)));
  });

  it('by default admits clients without Origin, its own pages, pages from this machine and file pages, whatever Host says', async () => {
    const { url, l, lines } = await listen();
    const port = l.info.port;
    await client(url(), 'mqtt');
    await client(url(), 'mqtt', { origin: `http://127.0.0.1:${port}` });
    await client(url(), 'mqtt', { origin: `http://localhost:${port}` });
    // A dev server or a page on this machine, any port and scheme; a file page on a loopback listener.
    await client(url(), 'mqtt', { origin: 'http://localhost:5173' });
    await client(url(), 'mqtt', { origin: `https://127.0.0.1:${port}` });
    await client(url(), 'mqtt', { origin: 'http://[::1]:5500' });
    await client(url(), 'mqtt', { origin: 'null' });
    const refused = async (origin: string, headers: Record<string, string> = {}): Promise<void> => {
      await assert.rejects(client(url(), 'mqtt', { origin, headers }), (err: { status: number }) => err.status === 403, origin);
    };
    await refused('https://anywhere.example');
    // DNS rebinding: evil.example re-resolved to 127.0.0.1; the page's Host matches, its Origin does not.
    await refused(`http://evil.example:${port}`, { host: `127.0.0.1:${port}` });
    await refused(`http://evil.example:${port}`, { host: `evil.example:${port}` });
    await refused('http://localhost.evil.example');
    await refused('https://anywhere.example'); // a page retrying: refused again, not logged again
    // Each refused origin is logged once (per minute) at warn, with the line that admits it.
    const warned = lines.filter((x) => x.level === 40 && /WebSocket upgrade refused/.test(x.msg));
    assert.deepEqual(
      warned.map((x) => [x.origin, x.configLine]),
      [
        ['https://anywhere.example', 'webSocketAllowedOrigins=https://anywhere.example'],
        [`http://evil.example:${port}`, `webSocketAllowedOrigins=http://evil.example:${port}`],
        ['http://localhost.evil.example', 'webSocketAllowedOrigins=http://localhost.evil.example'],
      ],
    );
    assert.match(warned[0].msg, /set webSocketAllowedOrigins=https:\/\/anywhere\.example$/);
  });

  it('refuses Origin null on a listener that is not bound to a loopback address', async () => {
    const { url, lines } = await listen('ws://0.0.0.0:0');
    await assert.rejects(client(url(), 'mqtt', { origin: 'null' }), (err: { status: number }) => err.status === 403);
    const warned = lines.find((x) => x.level === 40 && x.origin === 'null');
    assert.ok(warned, 'the refusal is logged');
    assert.equal(warned.configLine, undefined, 'null is never suggested');
    assert.match(warned.msg, /bind this listener to 127\.0\.0\.1/);
  });

  it('write returns false under backpressure and drain fires when the client reads again', async () => {
    let drained = 0;
    const { url, srv } = await listen('ws://127.0.0.1:0', {}, {}, { drain: () => drained++ });
    const ws = await client(url(), 'mqtt');
    ws.send(CONNECT_BYTES);
    await waitFor(() => srv.transports.length === 1, 'accept');
    ws.pause();
    const t = srv.transports[0];
    const block = Buffer.alloc(64 * 1024, 1);
    let writes = 0;
    while (t.write(block)) {
      writes++;
      assert.ok(writes < 10_000, 'write never reported backpressure');
    }
    assert.ok(t.bufferedBytes > 0);
    ws.resume();
    await waitFor(() => drained > 0, 'drain');
  });

  it('pause stops data until resume', async () => {
    const received: Buffer[] = [];
    const { url, srv } = await listen('ws://127.0.0.1:0', {}, {}, { data: (c) => received.push(c) });
    const ws = await client(url(), 'mqtt');
    ws.send(CONNECT_BYTES);
    await waitFor(() => received.length === 1, 'first message');
    srv.transports[0].pause();
    ws.send(Buffer.from([0xc0, 0x00]));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 1);
    srv.transports[0].resume();
    await waitFor(() => received.length === 2, 'message after resume');
  });

  it('a message over webSocketMaxFrameSize closes with 1009', async () => {
    const { url } = await listen('ws://127.0.0.1:0', { webSocketMaxFrameSize: '1KiB' });
    const ws = await client(url(), 'mqtt');
    ws.send(Buffer.alloc(2048));
    const code = await new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)));
    assert.equal(code, 1009);
  });

  it('pings clients and drops one that stops answering', async () => {
    const { url, srv } = await listen('ws://127.0.0.1:0', { webSocketPingIntervalSec: '1' });
    const live = await client(url(), 'mqtt');
    const mute = await client(url(), 'mqtt', { autoPong: false });
    let pings = 0;
    live.on('ping', () => pings++);
    const muteClosed = new Promise<void>((resolve) => mute.once('close', () => resolve()));
    await Promise.race([muteClosed, new Promise((_, rej) => setTimeout(() => rej(new Error('mute client not dropped')), 4000))]);
    assert.ok(pings >= 1, 'the answering client was pinged');
    assert.equal(live.readyState, WebSocket.OPEN, 'the answering client stays');
    await waitFor(() => srv.closed.length === 1, 'server-side close');
    assert.match(String(srv.closed[0]), /no WebSocket pong/);
  });

  it('takes the X-Forwarded-For entry added by the trusted proxy, never a client-written one, and only when trusted', async () => {
    // The client wrote 10.9.9.9 itself; the proxy appended 203.0.113.7, the address it saw.
    const headers = { 'X-Forwarded-For': '10.9.9.9, 203.0.113.7' };
    const oneHop = await listen('ws://127.0.0.1:0', { webSocketTrustForwardedFor: 'true' });
    await client(oneHop.url(), 'mqtt', { headers });
    await waitFor(() => oneHop.srv.transports.length === 1, 'accept');
    assert.equal(oneHop.srv.transports[0].remoteAddress, '203.0.113.7', 'default: one proxy, the last entry');

    // Two proxies (a CDN, then a load balancer): the client is the second entry from the right.
    const twoHops = await listen('ws://127.0.0.1:0', { webSocketTrustForwardedFor: 'true', webSocketTrustedProxyHops: '2' });
    await client(twoHops.url(), 'mqtt', { headers: { 'X-Forwarded-For': '10.9.9.9, 198.51.100.4, 192.0.2.10' } });
    await client(twoHops.url(), 'mqtt', { headers: { 'X-Forwarded-For': '198.51.100.5' } });
    await client(twoHops.url(), 'mqtt', { headers: { 'X-Forwarded-For': 'not-an-ip, 10.9.9.9' } });
    await waitFor(() => twoHops.srv.transports.length === 3, 'accept');
    assert.deepEqual(
      twoHops.srv.transports.map((t) => t.remoteAddress),
      ['198.51.100.4', '198.51.100.5', '127.0.0.1'],
      'two hops from the right; a short header gives its first entry; a malformed entry gives the socket address',
    );

    const untrusted = await listen();
    await client(untrusted.url(), 'mqtt', { headers });
    await waitFor(() => untrusted.srv.transports.length === 1, 'accept');
    assert.equal(untrusted.srv.transports[0].remoteAddress, '127.0.0.1');
  });

  describe('plain HTTP on the WebSocket port', () => {
    it('GET / is a page naming the URL to connect to; GET /healthz answers ok; GET /mqtt asks for an upgrade', async () => {
      const { l } = await listen();
      const home = await httpGet(l.info.port, '/');
      assert.equal(home.status, 200);
      assert.match(String(home.headers['content-type']), /text\/html/);
      assert.match(home.body, new RegExp(`ws://127\\.0\\.0\\.1:${l.info.port}/mqtt`));
      assert.match(home.body, /MQTT-over-WebSocket endpoint of the Starling/);
      const health = await httpGet(l.info.port, '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.body, 'ok\n');
      const endpoint = await httpGet(l.info.port, '/mqtt');
      assert.equal(endpoint.status, 426);
      const missing = await httpGet(l.info.port, '/nope');
      assert.equal(missing.status, 404);
    });

    it('the Host header is escaped into the page, never injected', async () => {
      const { l } = await listen();
      const res = await new Promise<string>((resolve, reject) => {
        const s = connect(l.info.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: <script>x</script>\r\nConnection: close\r\n\r\n'));
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve(Buffer.concat(chunks).toString()));
        s.on('error', reject);
      });
      assert.doesNotMatch(res, /<script>/);
      assert.match(res, new RegExp(`ws://127\\.0\\.0\\.1:${l.info.port}/mqtt`));
    });

    it('the http hook gets the first go', async () => {
      const { l } = await listen('ws://127.0.0.1:0', {}, {
        http: (req, res) => {
          if (req.url !== '/metrics') return false;
          res.end('metrics here');
          return true;
        },
      });
      assert.equal((await httpGet(l.info.port, '/metrics')).body, 'metrics here');
      assert.equal((await httpGet(l.info.port, '/healthz')).body, 'ok\n');
    });
  });

  describe('common mistakes', () => {
    const siblings: ListenerInfo[] = [
      { url: 'mqtt://127.0.0.1:1883', scheme: 'mqtt', host: '127.0.0.1', port: 1883 },
      { url: 'ws://127.0.0.1:8083', scheme: 'ws', host: '127.0.0.1', port: 8083, path: '/mqtt' },
      { url: 'ws+ssl://127.0.0.1:8084', scheme: 'ws+ssl', host: '127.0.0.1', port: 8084, path: '/mqtt' },
    ];
    const closed = (s: Socket) => {
      s.on('error', () => {});
      return once(s, 'close');
    };

    it('raw MQTT bytes on ws:// are closed with one line pointing at mqtt://', async () => {
      const { l, lines } = await listen('ws://127.0.0.1:0', {}, { siblings: () => siblings });
      const s = connect(l.info.port, '127.0.0.1', () => s.write(CONNECT_BYTES));
      await closed(s);
      await waitFor(() => lines.some((x) => x.level === 40 && !ORIGIN_WARNING.test(x.msg)), 'log line');
      const warn = lines.filter((x) => x.level === 40 && !ORIGIN_WARNING.test(x.msg));
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^MQTT bytes without WebSocket framing on ws listener ws:\/\/127\.0\.0\.1:\d+: WebSocket clients connect to ws:\/\/127\.0\.0\.1:\d+\/mqtt; MQTT-over-TCP clients to mqtt:\/\/127\.0\.0\.1:1883$/);
    });

    it('a TLS ClientHello on ws:// points at wss://', async () => {
      const { l, lines } = await listen('ws://127.0.0.1:0', {}, { siblings: () => siblings });
      const s = tlsConnect({ port: l.info.port, host: '127.0.0.1', rejectUnauthorized: false });
      await closed(s);
      await waitFor(() => lines.some((x) => x.level === 40 && !ORIGIN_WARNING.test(x.msg)), 'log line');
      const warn = lines.filter((x) => x.level === 40 && !ORIGIN_WARNING.test(x.msg));
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^TLS handshake on plain WebSocket ws listener .*use wss:\/\/127\.0\.0\.1:8084\/mqtt for wss:\/\//);
    });

    it('a plain ws:// client on ws+ssl:// points at both URLs', async () => {
      const flags = { mqttTlsCertificateFilePath: certs.a.certFile, mqttTlsKeyFilePath: certs.a.keyFile };
      const { l, lines } = await listen('ws+ssl://127.0.0.1:0', flags, { siblings: () => siblings });
      await assert.rejects(wsOpen(`ws://127.0.0.1:${l.info.port}/mqtt`, 'mqtt'));
      await waitFor(() => lines.some((x) => x.level === 40 && !ORIGIN_WARNING.test(x.msg)), 'log line');
      const warn = lines.filter((x) => x.level === 40 && !ORIGIN_WARNING.test(x.msg));
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^plain HTTP\/WebSocket \(no TLS\) on secure ws\+ssl listener .*use wss:\/\/127\.0\.0\.1:\d+\/mqtt \(wss:\/\/\), or ws:\/\/127\.0\.0\.1:8083\/mqtt without TLS$/);
    });
  });
});
