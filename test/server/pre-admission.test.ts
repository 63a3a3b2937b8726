// Before admission: a socket counts against maxConnections and maxConnectionsPerAddress from
// accept, while it is still in the TLS handshake or the WebSocket HTTP upgrade, and
// connectTimeoutSec closes it if it never gets to MQTT. Real sockets on loopback: raw TCP sockets
// that never start or finish a handshake, MQTT.js for the healthy clients.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { MqttClient, IClientOptions } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { connectFrom } from '../helpers/connect-from.js';
import { waitUntil } from '../helpers/wait.js';
import { certificateFixture } from '../transport/helpers.js';
import type { ListenerScheme } from '../../src/transport/transport.js';

type Certs = Awaited<ReturnType<typeof certificateFixture>>;

const LISTENERS = 'mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0';

function serverFlags(certs: Certs, extra: Record<string, string>): Record<string, string> {
  return {
    mqttListeners: LISTENERS,
    mqttTlsCertificateFilePath: certs.a.certFile,
    mqttTlsKeyFilePath: certs.a.keyFile,
    sysIntervalSec: '0',
    ...extra,
  };
}

/** A raw TCP socket that says nothing: no ClientHello, no HTTP request. */
function idleSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.on('error', () => {});
    s.once('error', reject);
  });
}

/** Resolves true once the socket is closed (by the server), false after `ms`. */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed || s.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Writes raw bytes and waits for the server to close; returns what it answered. */
function exchange(port: number, bytes: string | Buffer, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const s = tcpConnect({ host: '127.0.0.1', port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`server did not close within ${ms} ms`));
    }, ms);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got).toString('latin1'));
    });
  });
}

const upgrade = (path: string, headers = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n${headers}\r\n`;

function clientOptions(certs: Certs, extra: IClientOptions = {}): IClientOptions {
  return { ca: readFileSync(certs.a.caFile), rejectUnauthorized: true, ...extra };
}

/** `from` publishes on `topic`; `to` (subscribed to h/#) receives it. */
async function healthyRoundTrip(to: MqttClient, topic: string, from = to): Promise<void> {
  const inbox = new Inbox(to);
  await from.publishAsync(topic, 'ping', { qos: 1 });
  const [m] = await inbox.waitFor(1, 10_000);
  assert.equal(m.topic, topic);
}

describe('before admission: sockets count from accept', () => {
  let certs: Certs;
  before(async () => {
    certs = await certificateFixture();
  });
  after(() => certs.cleanup());

  /** A server with these limits for the enclosing describe. */
  function serverFor(extra: Record<string, string>): () => TestServer {
    let t: TestServer | undefined;
    before(async () => {
      t = await startTestServer(serverFlags(certs, extra));
    });
    after(() => t?.close());
    return () => t!;
  }

  describe('limits', () => {
    let t: TestServer;
    let healthy: MqttClient;
    const idle: Socket[] = [];
    before(async () => {
      t = await startTestServer(serverFlags(certs, { maxConnections: '6', maxConnectionsPerAddress: '3', connectTimeoutSec: '60' }));
      healthy = await connectClient(t.url('mqtt+ssl'), clientOptions(certs, { clientId: 'healthy' }));
      await healthy.subscribeAsync('h/#', { qos: 1 });
    });
    after(async () => {
      for (const s of idle) s.destroy();
      await endClient(healthy, true);
      await t.close();
    });

    it('counts sockets in the TLS handshake and the HTTP upgrade, and closes the next one at once over either limit while a healthy client keeps working', async () => {
      const stats = t.server.broker.stats;
      assert.equal(t.server.admitted(), 1);
      // From 127.0.0.2: one socket each to the TLS, WS and WSS ports, saying nothing.
      for (const scheme of ['mqtt+ssl', 'ws', 'ws+ssl'] as ListenerScheme[]) idle.push(await idleSocket(t.port(scheme), '127.0.0.2'));
      await waitUntil(() => t.server.admitted() === 4, 'the three silent sockets to be counted');
      // A fourth from 127.0.0.2 is over maxConnectionsPerAddress: closed at once (nothing can be
      // said before the handshake), long before connectTimeoutSec.
      const perAddress = await idleSocket(t.port('mqtt+ssl'), '127.0.0.2');
      assert.equal(await closedWithin(perAddress, 10_000), true, 'over the per-address limit: closed');
      assert.equal(stats.limits.maxConnectionsPerAddress, 1);
      // From 127.0.0.3: two more, up to maxConnections.
      for (const scheme of ['ws+ssl', 'mqtt+ssl'] as ListenerScheme[]) idle.push(await idleSocket(t.port(scheme), '127.0.0.3'));
      await waitUntil(() => t.server.admitted() === 6, 'the broker to be full');
      const total = await idleSocket(t.port('mqtt+ssl'), '127.0.0.4');
      assert.equal(await closedWithin(total, 10_000), true, 'over maxConnections: closed');
      assert.equal(stats.limits.maxConnections, 1);
      // Plain TCP keeps its CONNACK refusal: MQTT 5 0x89 Server busy.
      await assert.rejects(connectFrom(t.port('mqtt'), '127.0.0.4', { clientId: 'over', protocolVersion: 5 }, 10_000), (err: Error & { code?: number }) => err.code === 0x89);
      assert.equal(stats.limits.maxConnections, 2);
      // The healthy client is untouched, and the silent sockets are still open.
      await healthyRoundTrip(healthy, 'h/full');
      for (const s of idle) assert.equal(s.destroyed, false);
      assert.equal(t.server.admitted(), 6);
    });

    it('while full, a WebSocket port still answers plain HTTP (/metrics) but refuses an upgrade with 503, counted', async () => {
      assert.equal(t.server.admitted(), 6);
      const before = t.server.broker.stats.limits.maxConnections;
      const res = await fetch(`http://127.0.0.1:${t.port('ws')}/metrics`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.text();
      const answer = await exchange(t.port('ws'), upgrade('/mqtt'), 10_000);
      assert.match(answer, /^HTTP\/1\.1 503 /);
      await waitUntil(() => t.server.broker.stats.limits.maxConnections === before + 1, 'the refused upgrade to be counted', 10_000);
      assert.equal(t.server.admitted(), 6, 'neither took a place');
    });

    it('gives the places back when the silent sockets go: new clients get in over TLS, WS and WSS', async () => {
      for (const s of idle.splice(0)) s.destroy();
      await waitUntil(() => t.server.admitted() === 1, 'the places to be given back', 10_000);
      // Within maxConnectionsPerAddress (3) next to the healthy client, all from 127.0.0.1.
      const ws = await connectClient(t.url('ws'), { clientId: 'after-ws' }, 10_000);
      const wss = await connectClient(t.url('ws+ssl'), clientOptions(certs, { clientId: 'after-wss' }), 10_000);
      assert.equal(t.server.admitted(), 3);
      await healthyRoundTrip(healthy, 'h/after', wss);
      await Promise.all([endClient(ws), endClient(wss)]);
      await waitUntil(() => t.server.admitted() === 1, 'the two to be gone', 10_000);
      const clients = [await connectClient(t.url('mqtt+ssl'), clientOptions(certs, { clientId: 'after-tls' }), 10_000)];
      assert.equal(t.server.admitted(), 2);
      await Promise.all(clients.map((c) => endClient(c)));
    });
  });

  describe('connectTimeoutSec', () => {
    const server = serverFor({ maxConnections: '6', connectTimeoutSec: '1' });

    it('closes sockets that never finish the TLS handshake or send the upgrade, counts them, and frees their places', async () => {
      const t = server();
      const healthy = await connectClient(t.url('ws+ssl'), clientOptions(certs, { clientId: 'healthy-timeout', keepalive: 0 }), 10_000);
      await healthy.subscribeAsync('h/#', { qos: 1 });
      const before = t.server.broker.stats.limits.connectTimeout;
      const silent: Socket[] = [];
      for (const scheme of ['mqtt+ssl', 'ws', 'ws+ssl', 'mqtt+ssl'] as ListenerScheme[]) silent.push(await idleSocket(t.port(scheme)));
      // A TLS client that finishes its handshake but sends no CONNECT: what is left of the timeout closes it.
      const half = tlsConnect({ host: '127.0.0.1', port: t.port('mqtt+ssl'), rejectUnauthorized: false });
      half.on('error', () => {});
      silent.push(half);
      try {
        const closed = await Promise.all(silent.map((s) => closedWithin(s, 20_000)));
        assert.deepEqual(closed, [true, true, true, true, true], 'every silent socket closed by the broker');
        await waitUntil(() => t.server.broker.stats.limits.connectTimeout >= before + 5, 'the timeouts to be counted', 10_000);
        await waitUntil(() => t.server.admitted() === 1, 'the places to be given back', 10_000);
        await healthyRoundTrip(healthy, 'h/timeout');
        const late = await connectClient(t.url('mqtt+ssl'), clientOptions(certs, { clientId: 'late' }), 10_000);
        await endClient(late);
      } finally {
        for (const s of silent) s.destroy();
        await endClient(healthy, true);
      }
    });
  });

  describe('the reported case: 300 silent sockets, limits 10 / 5 / 2 s', () => {
    const server = serverFor({ maxConnections: '10', maxConnectionsPerAddress: '5', connectTimeoutSec: '2' });

    it('closes every one of them (refused at accept or timed out) while a healthy client keeps being served', async () => {
      const t = server();
      const healthy = await connectClient(t.url('mqtt'), { clientId: 'healthy-300' }, 10_000);
      await healthy.subscribeAsync('h/#', { qos: 1 });
      const ports = [t.port('mqtt+ssl'), t.port('ws'), t.port('ws+ssl')];
      const silent: Socket[] = [];
      try {
        // From six addresses, in parallel batches of 30.
        for (let batch = 0; batch < 10; batch++) {
          const opening: Array<Promise<Socket | undefined>> = [];
          for (let i = 0; i < 30; i++) {
            const n = batch * 30 + i;
            opening.push(idleSocket(ports[n % 3], `127.0.0.${10 + (n % 6)}`).catch(() => undefined));
          }
          for (const s of await Promise.all(opening)) if (s) silent.push(s);
        }
        assert.ok(t.server.admitted() <= 10, `never more than maxConnections places (${t.server.admitted()})`);
        await healthyRoundTrip(healthy, 'h/during');
        const closed = await Promise.all(silent.map((s) => closedWithin(s, 30_000)));
        assert.equal(closed.filter((c) => !c).length, 0, 'every silent socket was closed by the broker');
        const { limits } = t.server.broker.stats;
        assert.ok(limits.connectTimeout >= 9, `the admitted ones timed out (${limits.connectTimeout})`);
        await waitUntil(() => limits.maxConnections + limits.maxConnectionsPerAddress + limits.connectTimeout >= silent.length, 'each one to be counted', 10_000);
        await waitUntil(() => t.server.admitted() === 1, 'only the healthy client to hold a place', 10_000);
        await healthyRoundTrip(healthy, 'h/after');
      } finally {
        for (const s of silent) s.destroy();
        await endClient(healthy, true);
      }
    });
  });

  describe('plain HTTP kept alive on a WebSocket port', () => {
    const server = serverFor({ maxConnections: '3', maxConnectionsPerAddress: '2', connectTimeoutSec: '1' });

    /** A keep-alive socket that has had one `GET /healthz` answered; what the answer said. */
    async function keptAlive(port: number, localAddress: string): Promise<{ socket: Socket; answer: string }> {
      const socket = await idleSocket(port, localAddress);
      const answer = await new Promise<string>((resolve, reject) => {
        const got: Buffer[] = [];
        const timer = setTimeout(() => reject(new Error('no answer to GET /healthz')), 10_000);
        socket.on('data', (d: Buffer) => {
          got.push(d);
          const text = Buffer.concat(got).toString('latin1');
          if (/\r\n\r\nok\n?$/.test(text)) {
            clearTimeout(timer);
            resolve(text);
          }
        });
        socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
      });
      return { socket, answer };
    }

    it('a kept-alive HTTP socket keeps its place until it closes (not timed by connectTimeoutSec); one over a limit is answered and closed', async () => {
      const t = server();
      const held: Socket[] = [];
      try {
        // Two from one address (its limit), one from another (the total's).
        for (const from of ['127.0.0.20', '127.0.0.20', '127.0.0.21']) {
          const { socket, answer } = await keptAlive(t.port('ws'), from);
          assert.match(answer, /^HTTP\/1\.1 200 /);
          assert.doesNotMatch(answer, /connection: close/i, 'within the limits: kept alive');
          held.push(socket);
        }
        assert.equal(t.server.admitted(), 3);
        // Past connectTimeoutSec (1 s) they are still open and still counted.
        await new Promise((r) => setTimeout(r, 1500));
        for (const s of held) assert.equal(s.destroyed, false, 'an HTTP socket is not closed by connectTimeoutSec');
        assert.equal(t.server.admitted(), 3, 'kept-alive HTTP sockets hold their places');
        // Over the total: let in for a moment as HTTP, answered, and closed rather than kept alive.
        const over = await keptAlive(t.port('ws'), '127.0.0.22');
        assert.match(over.answer, /^HTTP\/1\.1 200 /);
        assert.match(over.answer, /connection: close/i);
        assert.equal(await closedWithin(over.socket, 10_000), true, 'the socket over the limit is closed after its answer');
        // MQTT clients are refused while the HTTP sockets hold every place (0x89 Server busy).
        await assert.rejects(connectFrom(t.port('mqtt'), '127.0.0.23', { clientId: 'http-full', protocolVersion: 5 }, 10_000), (err: Error & { code?: number }) => err.code === 0x89);
        assert.equal(t.server.admitted(), 3);
        for (const s of held.splice(0)) s.destroy();
        await waitUntil(() => t.server.admitted() === 0, 'the places to be given back when the sockets close', 10_000);
        const after = await connectClient(t.url('ws'), { clientId: 'after-http' }, 10_000);
        assert.equal(t.server.admitted(), 1);
        await endClient(after);
      } finally {
        for (const s of held) s.destroy();
      }
    });

    it('an upgrade on a socket that had a plain HTTP request first claims the same place, not a second one', async () => {
      const t = server();
      const { socket } = await keptAlive(t.port('ws'), '127.0.0.24');
      try {
        assert.equal(t.server.admitted(), 1);
        // Longer than connectTimeoutSec (1 s) after the accept: the upgrade's clock starts at the
        // last request on the socket, not at the accept.
        await new Promise((r) => setTimeout(r, 1500));
        const answer = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no answer to the upgrade')), 10_000);
          socket.removeAllListeners('data');
          socket.once('data', (d: Buffer) => {
            clearTimeout(timer);
            resolve(d.toString('latin1'));
          });
          socket.write(upgrade('/mqtt'));
        });
        assert.match(answer, /^HTTP\/1\.1 101 /);
        assert.equal(t.server.admitted(), 1, 'one socket, one place');
        assert.equal(await closedWithin(socket, 400), false, 'not closed at once by a deadline counted from the accept');
      } finally {
        socket.destroy();
      }
      await waitUntil(() => t.server.admitted() === 0, 'the place to be given back', 10_000);
    });
  });

  describe('behind a trusted proxy (webSocketTrustForwardedFor)', () => {
    const server = serverFor({ maxConnectionsPerAddress: '1', webSocketTrustForwardedFor: 'true', connectTimeoutSec: '60' });

    it('counts the socket in the total at accept, and under the forwarded client address once the upgrade names it', async () => {
      const t = server();
      // Every socket comes from the proxy's address (127.0.0.1): at accept only the total counts.
      const silent = [await idleSocket(t.port('ws')), await idleSocket(t.port('ws'))];
      await waitUntil(() => t.server.admitted() === 2, 'both counted in the total');
      const via = (address: string, clientId: string) =>
        connectClient(t.url('ws'), { clientId, protocolVersion: 5, wsOptions: { headers: { 'X-Forwarded-For': address } } }, 10_000);
      const a = await via('203.0.113.1', 'fwd-a');
      const b = await via('203.0.113.2', 'fwd-b');
      // A second connection from one forwarded address: the per-address limit, told with CONNACK 0x97.
      await assert.rejects(via('203.0.113.1', 'fwd-a2'), (err: Error & { code?: number }) => err.code === 0x97);
      assert.equal(t.server.broker.stats.limits.maxConnectionsPerAddress, 1);
      for (const s of silent) s.destroy();
      await Promise.all([endClient(a), endClient(b)]);
      await waitUntil(() => t.server.admitted() === 0, 'every place given back', 10_000);
    });
  });

  describe('no leak', () => {
    const server = serverFor({ maxConnections: '4', maxConnectionsPerAddress: '2', connectTimeoutSec: '1' });

    it('after many failed handshakes, refused upgrades, timeouts and normal closes, the limits admit exactly as many clients as before', async () => {
      const t = server();
      const tls = t.port('mqtt+ssl');
      const ws = t.port('ws');
      for (let i = 0; i < 15; i++) {
        // Not TLS at all: the handshake fails.
        await exchange(tls, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        // Upgrades refused: wrong path (404), a foreign Origin (403), only a foreign subprotocol (400).
        assert.match(await exchange(ws, upgrade('/nope')), /^HTTP\/1\.1 404 /);
        assert.match(await exchange(ws, upgrade('/mqtt', 'Origin: https://evil.example\r\n')), /^HTTP\/1\.1 403 /);
        assert.match(await exchange(ws, upgrade('/mqtt').replace('Sec-WebSocket-Protocol: mqtt', 'Sec-WebSocket-Protocol: chat')), /^HTTP\/1\.1 400 /);
        // A TLS handshake the client abandons.
        const abandoned = tlsConnect({ host: '127.0.0.1', port: tls, rejectUnauthorized: false });
        abandoned.on('error', () => {});
        abandoned.destroy();
        // Plain HTTP on the WebSocket port, one request per socket (a kept-alive one holds its
        // place until it closes: the test above).
        assert.match(await exchange(ws, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 10_000), /^HTTP\/1\.1 200 /);
      }
      // Upgraded, then no CONNECT: the connection's own timer (what is left of connectTimeoutSec) closes it.
      for (let i = 0; i < 2; i++) assert.match(await exchange(ws, upgrade('/mqtt'), 20_000), /^HTTP\/1\.1 101 /);
      // Timeouts, two at a time (the per-address limit).
      for (let i = 0; i < 3; i++) {
        const pair = [await idleSocket(tls), await idleSocket(t.port('ws+ssl'))];
        assert.deepEqual(await Promise.all(pair.map((s) => closedWithin(s, 20_000))), [true, true]);
      }
      // Normal connections and closes over every listener.
      for (const scheme of ['mqtt', 'mqtt+ssl', 'ws', 'ws+ssl'] as ListenerScheme[]) {
        for (let i = 0; i < 3; i++) await endClient(await connectClient(t.url(scheme), clientOptions(certs, { clientId: `n-${scheme}-${i}` }), 10_000));
      }
      await waitUntil(() => t.server.admitted() === 0, 'every place to be given back', 15_000);

      // Exactly the limits: two from one address, the third refused; four in all, the fifth refused.
      const a1 = await connectClient(t.url('ws+ssl'), clientOptions(certs, { clientId: 'a1' }), 10_000);
      const a2 = await connectClient(t.url('mqtt+ssl'), clientOptions(certs, { clientId: 'a2' }), 10_000);
      const a3 = await idleSocket(tls);
      assert.equal(await closedWithin(a3, 10_000), true, 'a third socket from 127.0.0.1 is over maxConnectionsPerAddress');
      const b1 = await connectFrom(t.port('mqtt'), '127.0.0.2', { clientId: 'b1' }, 10_000);
      const b2 = await connectFrom(t.port('mqtt'), '127.0.0.2', { clientId: 'b2' }, 10_000);
      const c1 = await idleSocket(tls, '127.0.0.3');
      assert.equal(await closedWithin(c1, 10_000), true, 'a fifth socket is over maxConnections');
      assert.equal(t.server.admitted(), 4);
      await Promise.all([a1, a2, b1, b2].map((c) => endClient(c)));
      await waitUntil(() => t.server.admitted() === 0, 'the places to be given back', 10_000);
    });
  });
});
