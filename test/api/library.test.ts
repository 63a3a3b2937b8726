// The library's surface (src/index.ts) against real clients: createBroker's option checking,
// listen, handle, attachWebSocket, in-process publish/subscribe, introspection and close.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createBroker, ConfigError, type Broker, type Message } from '../../src/index.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError as ConfigErrorInternal } from '../../src/config/errors.js';
import { connectClient, connectWithInbox, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { silentLog } from '../helpers/channel.js';
import { waitUntil } from '../helpers/wait.js';
import { certificateFixture } from '../transport/helpers.js';

const quiet = { persistence: 'memory' as const, logger: silentLog, sysIntervalSec: 0 };

/** Collects what an in-process handler is given. */
function collector(): { got: Message[]; handler: (m: Message) => void } {
  const got: Message[] = [];
  return { got, handler: (m) => void got.push(m) };
}

function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('createBroker options', () => {
  it('are checked by the configuration loader: the same message as for the config file, named as createBroker options', async () => {
    const fromFile = (() => {
      try {
        loadConfig({ env: {}, flags: { maxQueuedMessages: '-1' } });
      } catch (err) {
        return (err as ConfigError).problems[0];
      }
    })();
    await assert.rejects(createBroker({ ...quiet, maxQueuedMessages: -1 }), (err: unknown) => {
      assert.ok(err instanceof ConfigError && err instanceof ConfigErrorInternal);
      assert.equal(err.problems.length, 1);
      assert.equal(err.problems[0], fromFile!.replace('--max-queued-messages', 'createBroker options'));
      return true;
    });
  });

  it('refuse unknown settings with a suggestion, wrong types, and several problems at once', async () => {
    await assert.rejects(
      createBroker({ ...quiet, maxQueuedMesages: 5, logLevel: 'loud', mqttListeners: [42] } as never),
      (err: ConfigError) => {
        assert.equal(err.problems.length, 3, err.message);
        assert.match(err.message, /createBroker options: unknown setting "maxQueuedMesages" \(did you mean maxQueuedMessages\?\)/);
        assert.match(err.message, /createBroker options: logLevel: "loud" is not one of/);
        assert.match(err.message, /createBroker options: mqttListeners: every item must be a string/);
        return true;
      },
    );
  });

  it('accept typed values and text alike, and an empty mqttListeners (an embedded broker)', async () => {
    const b = await createBroker({ ...quiet, mqttListeners: [], maxQueuedBytes: '1MiB', connectTimeoutSec: '5s' });
    try {
      assert.deepEqual(await b.listen(), []);
      assert.deepEqual(b.listeners, []);
    } finally {
      await b.close();
    }
  });

  it('refuse workers other than 1, a bad hookTimeoutMs and misspelt hooks', async () => {
    await assert.rejects(createBroker({ ...quiet, mqttListeners: [], workers: 2 }), /workers: the library runs one broker/);
    await assert.rejects(createBroker({ ...quiet, mqttListeners: [], hookTimeoutMs: 0 }), /hookTimeoutMs/);
    await assert.rejects(createBroker({ ...quiet, mqttListeners: [], hooks: { authorisePublish: () => true } as never }), /unknown hook "authorisePublish" \(did you mean authorizePublish\?\)/);
    await assert.rejects(createBroker({ ...quiet, mqttListeners: [], hooks: { authenticate: true } as never }), /hooks.authenticate must be a function/);
  });
});

describe('a broker made with createBroker', () => {
  let broker: Broker;
  let url = '';
  let admin = '';
  after(() => broker?.close());
  const adminGet = async (path: string): Promise<Record<string, unknown>> => {
    const r = await httpGet(`${admin}${path}`, { Authorization: 'Bearer admin-token' });
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Record<string, unknown>;
  };

  it('listens on its configured listeners and exchanges messages between MQTT.js and the application', async () => {
    broker = await createBroker({ ...quiet, mqttListeners: ['mqtt://127.0.0.1:0', 'ws://127.0.0.1:0'], httpAdminToken: 'admin-token' });
    assert.deepEqual(broker.listeners, [], 'nothing listens before listen()');
    const [l, w] = await broker.listen();
    assert.equal(l.scheme, 'mqtt');
    assert.ok(l.port > 0);
    url = `mqtt://127.0.0.1:${l.port}`;
    admin = `http://127.0.0.1:${w.port}/api/v1`;

    const { got, handler } = collector();
    const unsubscribe = broker.subscribe('app/+/in', handler);
    const { client, inbox } = await connectWithInbox(url, { clientId: 'lib-a', protocolVersion: 5 });
    await client.subscribeAsync('app/out', { qos: 1 });

    await client.publishAsync('app/x/in', 'from mqtt', { qos: 1 });
    await waitUntil(() => got.length === 1, 'the in-process handler to get the message');
    assert.equal(got[0].topic, 'app/x/in');
    assert.equal(got[0].payload.toString(), 'from mqtt');
    assert.equal(got[0].qos, 1);

    await broker.publish('app/out', 'from the app', { qos: 1, properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.payload.toString(), 'from the app');
    assert.equal(m.packet.qos, 1);
    assert.equal(m.packet.properties?.contentType, 'text/plain');
    assert.deepEqual({ ...m.packet.properties?.userProperties }, { k: 'v' });

    unsubscribe();
    await client.publishAsync('app/y/in', 'after unsubscribe', { qos: 1 });
    await sleep(100);
    assert.equal(got.length, 1, 'no message after unsubscribe');
    await endClient(client);
  });

  it('publish checks topics as MQTT does, and caps the QoS a handler is told', async () => {
    await assert.rejects(broker.publish('a/+/b', 'x'), /wildcard/);
    await assert.rejects(broker.publish('', 'x'), /empty/);
    await assert.rejects(broker.publish('a\u0000b', 'x'), /U\+0000/);
    await assert.rejects(broker.publish('a', 'x', { qos: 3 as never }), /qos must be 0, 1 or 2/);
    await assert.rejects(broker.publish('a', Buffer.from([0xff]), { properties: { payloadFormatIndicator: 1 } }), /UTF-8/);
    assert.throws(() => broker.subscribe('a/#/b', () => {}), /topic filter/);
    const { got, handler } = collector();
    const stop = broker.subscribe('capped/#', handler, { qos: 0 });
    await broker.publish('capped/x', 'y', { qos: 2 });
    await waitUntil(() => got.length === 1, 'the capped message');
    assert.equal(got[0].qos, 0);
    stop();
  });

  it('retained messages: published in process, seen by subscribe, listed by retained(), cleared by an empty payload', async () => {
    await broker.publish('r/one', 'kept', { retain: true, qos: 1, properties: { messageExpiryInterval: 600 } });
    const { got, handler } = collector();
    const stop = broker.subscribe('r/#', handler);
    await waitUntil(() => got.length === 1, 'the retained message on subscribe');
    assert.equal(got[0].retain, true);
    const [r] = broker.retained('r/#');
    assert.equal(r.topic, 'r/one');
    assert.equal(r.payload.toString(), 'kept');
    assert.ok(r.receivedAt instanceof Date && r.expiresAt instanceof Date);
    assert.ok(r.properties?.messageExpiryInterval !== undefined && r.properties.messageExpiryInterval <= 600);
    assert.throws(() => broker.retained('r/#/x'), /filter/);
    await broker.publish('r/one', '', { retain: true });
    assert.deepEqual(broker.retained('r/#'), []);
    stop();
  });

  it('introspection lists clients, sessions and subscriptions as the admin API does', async () => {
    const c = await connectClient(url, { clientId: 'lib-intro', clean: false, protocolVersion: 4 });
    await c.subscribeAsync('intro/#', { qos: 1 });
    const row = broker.clients().find((x) => x.clientId === 'lib-intro');
    assert.ok(row);
    assert.equal(row.protocol, '3.1.1');
    assert.equal(row.transport, 'tcp');
    assert.equal(row.subscriptions, 1);
    assert.deepEqual(broker.subscriptions('lib-intro').map((s) => [s.filter, s.qos, s.online]), [['intro/#', 1, true]]);
    // The admin API answers from the same functions: the same rows.
    assert.deepEqual((await adminGet('/clients')).clients, broker.clients());
    assert.deepEqual((await adminGet('/subscriptions')).subscriptions, broker.subscriptions());
    await endClient(c);
    await waitUntil(() => broker.sessions().some((s) => s.clientId === 'lib-intro' && !s.online), 'the session to go offline');
    assert.equal(broker.clients().find((x) => x.clientId === 'lib-intro'), undefined);
    assert.equal(broker.subscriptions('lib-intro')[0].online, false);
  });

  it('handle() serves MQTT over a stream the application accepted', async () => {
    const tcp = createNetServer((socket) => broker.handle(socket, { remoteAddress: 'app-side' }));
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    try {
      const { port } = tcp.address() as AddressInfo;
      const { client, inbox } = await connectWithInbox(`mqtt://127.0.0.1:${port}`, { clientId: 'lib-stream' });
      await client.subscribeAsync('stream/t');
      await broker.publish('stream/t', 'over a stream');
      const [m] = await inbox.waitFor(1);
      assert.equal(m.payload.toString(), 'over a stream');
      const row = broker.clients().find((c) => c.clientId === 'lib-stream');
      assert.equal(row?.transport, 'stream');
      assert.equal(row?.address, 'app-side');
      assert.equal(row?.listenerUrl, 'stream:', 'no address to dial: the name stands');
      await endClient(client);
    } finally {
      tcp.close();
    }
  });

  it('disconnect() closes one client as the admin API\'s kick does', async () => {
    const { client } = await connectWithInbox(url, { clientId: 'lib-kicked', protocolVersion: 5 });
    const told = new Promise<{ reasonCode?: number }>((resolve) => client.once('disconnect', (p) => resolve(p)));
    assert.equal(broker.disconnect('lib-kicked'), true);
    assert.equal((await Promise.race([told, sleep(5000).then(() => undefined)]))?.reasonCode, 0x98);
    assert.equal(broker.disconnect('lib-kicked'), false);
    client.end(true);
  });

  it('close() disconnects clients, ends in-process subscriptions and refuses further use', async () => {
    const { client } = await connectWithInbox(url, { clientId: 'lib-closing', protocolVersion: 5 });
    const disconnected = new Promise<{ reasonCode?: number }>((resolve) => client.once('disconnect', (p) => resolve(p)));
    await broker.close();
    const packet = await Promise.race([disconnected, sleep(5000).then(() => undefined)]);
    assert.equal(packet?.reasonCode, 0x8b, 'MQTT 5 clients are told the server is shutting down');
    await assert.rejects(broker.publish('a', 'b'), /closed/);
    assert.throws(() => broker.subscribe('a', () => {}), /closed/);
    await broker.close();
    client.end(true);
  });
});

describe('attachWebSocket', () => {
  it('serves MQTT over WebSocket on the application\'s HTTP server beside its routes, and leaves its other upgrades alone', async () => {
    const broker = await createBroker({ ...quiet, mqttListeners: [] });
    const server: Server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`route ${req.url}`);
    });
    // The application's own WebSocket route on another path.
    let otherUpgrades = 0;
    server.on('upgrade', (req, socket) => {
      if (req.url?.startsWith('/app-ws')) {
        otherUpgrades++;
        socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\n\r\n');
      }
    });
    const detach = broker.attachWebSocket(server, { path: '/mqtt' });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      assert.deepEqual(await httpGet(`http://127.0.0.1:${port}/hello`), { status: 200, body: 'route /hello' });
      const { client, inbox } = await connectWithInbox(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'lib-ws' });
      await client.subscribeAsync('ws/t');
      await broker.publish('ws/t', 'same port');
      assert.equal((await inbox.waitFor(1))[0].payload.toString(), 'same port');
      const row = broker.clients().find((c) => c.clientId === 'lib-ws');
      assert.equal(row?.transport, 'ws');
      assert.equal(row?.listener, `ws://127.0.0.1:${port}`);
      assert.equal(row?.listenerUrl, `ws://127.0.0.1:${port}/mqtt`, 'the URL the client dialled');

      const teapot = await new Promise<number>((resolve, reject) => {
        const req = request(`http://127.0.0.1:${port}/app-ws`, { headers: { Connection: 'Upgrade', Upgrade: 'websocket' } });
        req.on('response', (res) => resolve(res.statusCode ?? 0));
        req.on('upgrade', (res) => resolve(res.statusCode ?? 0));
        req.on('error', reject);
        req.end();
      });
      assert.equal(teapot, 418);
      assert.equal(otherUpgrades, 1);

      // Browser pages: the application's own origin may connect, another site's may not [webSocketAllowedOrigins].
      const own = await connectClient(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'lib-ws-own', wsOptions: { headers: { Origin: `http://127.0.0.1:${port}` } } });
      await endClient(own);
      await assert.rejects(connectClient(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'lib-ws-evil', wsOptions: { headers: { Origin: 'https://evil.example' } } }, 3000));

      detach();
      await endClient(client);
      await assert.rejects(connectClient(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'lib-ws-2' }, 2000));
    } finally {
      await broker.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('on an https server it serves wss://, reported as such', async () => {
    const certs = await certificateFixture();
    const broker = await createBroker({ ...quiet, mqttListeners: [] });
    const server = createHttpsServer({ cert: readFileSync(certs.a.certFile), key: readFileSync(certs.a.keyFile) }, (_req, res) => res.end('ok'));
    broker.attachWebSocket(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const client = await connectClient(`wss://127.0.0.1:${port}/mqtt`, { clientId: 'lib-wss', ca: readFileSync(certs.a.caFile) });
      const row = broker.clients().find((c) => c.clientId === 'lib-wss');
      assert.equal(row?.transport, 'wss');
      assert.equal(row?.listener, `wss://127.0.0.1:${port}`);
      assert.equal(row?.listenerUrl, `wss://127.0.0.1:${port}/mqtt`);
      await endClient(client);
    } finally {
      await broker.close();
      server.closeAllConnections();
      server.close();
      certs.cleanup();
    }
  });
});
