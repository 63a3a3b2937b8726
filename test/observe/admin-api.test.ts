import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../src/broker/broker.js';
import { createHttpHandler } from '../../src/observe/http.js';
import type { AdminSource } from '../../src/observe/ports.js';
import { makeBroker, openChannel, connectPacket, settle } from '../helpers/channel.js';
import { FakeConnections, http, serve, type Served } from './helpers.js';

const TOKEN = 'test-admin-token-0123456789';
const auth = { Authorization: `Bearer ${TOKEN}` };
const json = (body: unknown) => ({ method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** A real Broker for state, fake connections for what only the server knows. */
function adminSource(broker: Broker, conns: FakeConnections): AdminSource {
  return {
    stats: broker.stats,
    clients: broker.clients,
    sessions: broker.sessions,
    retained: broker.retained,
    options: broker.options,
    ids: broker.ids,
    now: () => broker.now(),
    route: (m) => broker.route(m),
    connectedClients: () => conns.connectedClients(),
    kick: (id) => conns.kick(id),
    listeners: () => conns.listeners(),
  };
}

describe('admin API', () => {
  let broker: Broker;
  let conns: FakeConnections;
  let server: Served;
  let sub: Awaited<ReturnType<typeof openChannel>>;

  before(async () => {
    broker = await makeBroker();
    conns = new FakeConnections();
    sub = await openChannel(broker, connectPacket('sub-1'));
    sub.ch.receive({ type: 'subscribe', packetId: 1, subscriptions: [
      { filter: 'sensors/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { filter: 'alerts', qos: 0, noLocal: true, retainAsPublished: true, retainHandling: 2 },
    ] });
    await sub.io.waitFor(1);
    conns.clients = [
      { clientId: 'sub-1', username: 'ann', address: '10.0.0.5', remotePort: 50123, protocolVersion: 5, transport: 'wss', listener: 'ws+ssl://0.0.0.0:8084', listenerUrl: 'wss://127.0.0.1:8084/mqtt', connectedAt: Date.UTC(2024, 0, 2, 3, 4, 5) },
      { clientId: 'other/id with space', address: '10.0.0.6', protocolVersion: 4, transport: 'tcp', listener: 'mqtt://0.0.0.0:1883', listenerUrl: 'mqtt://127.0.0.1:1883', connectedAt: 0 },
    ];
    server = await serve(createHttpHandler({ consoleDir: null, mqttBundle: null, admin: { source: adminSource(broker, conns), token: TOKEN, maxBodyBytes: 4096, version: '1.0.0-test' } }));
  });

  after(async () => {
    await server.close();
    await broker.close();
  });

  it('refuses requests without the bearer token', async () => {
    const variants: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong' }, { Authorization: TOKEN }, { Authorization: `Basic ${TOKEN}` }];
    for (const headers of variants) {
      const r = await http(server.port, '/api/v1/clients', { headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      assert.equal(r.json().error, 'missing or invalid bearer token');
    }
    const post = await http(server.port, '/api/v1/publish', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"topic":"x"}' });
    assert.equal(post.status, 401);
  });

  it('is off without a token', async () => {
    const off = await serve(createHttpHandler({ consoleDir: null, mqttBundle: null, admin: { source: adminSource(broker, conns), token: '' } }));
    try {
      const r = await http(off.port, '/api/v1/clients', { headers: auth });
      assert.equal(r.status, 404);
      assert.match(r.json().error, /admin API is off/);
    } finally {
      await off.close();
    }
  });

  it('describes the broker and its listeners', async () => {
    const r = await http(server.port, '/api/v1/broker', { headers: auth });
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-store');
    const body = r.json();
    assert.equal(body.version, '1.0.0-test');
    assert.equal(body.clients, 1);
    assert.equal(body.sessions, 1);
    assert.equal(typeof body.stats.drops.queueFull, 'number');
    const l = await http(server.port, '/api/v1/listeners', { headers: auth });
    assert.deepEqual(l.json().listeners, conns.listenerList);
    const index = await http(server.port, '/api/v1', { headers: auth });
    assert.ok(index.json().endpoints.includes('POST /api/v1/publish'));
  });

  it('lists clients with protocol, transport, connected since, inflight and queued', async () => {
    const r = await http(server.port, '/api/v1/clients', { headers: auth });
    assert.equal(r.status, 200);
    const body = r.json();
    assert.equal(body.total, 2);
    const c = body.clients.find((x: { clientId: string }) => x.clientId === 'sub-1');
    assert.deepEqual(c, {
      clientId: 'sub-1',
      username: 'ann',
      address: '10.0.0.5',
      remotePort: 50123,
      protocolVersion: 5,
      protocol: '5.0',
      transport: 'wss',
      listener: 'ws+ssl://0.0.0.0:8084',
      listenerUrl: 'wss://127.0.0.1:8084/mqtt',
      connectedAt: '2024-01-02T03:04:05.000Z',
      inflight: 0,
      queued: 0,
      subscriptions: 2,
    });
    const paged = await http(server.port, '/api/v1/clients?limit=1&offset=1', { headers: auth });
    assert.equal(paged.json().clients.length, 1);
    assert.equal(paged.json().offset, 1);
    // search matches the client id, user name, address or listener (as configured or as dialled), ignoring case.
    for (const [q, ids] of [['ANN', ['sub-1']], ['10.0.0.5', ['sub-1']], ['ws+ssl', ['sub-1']], ['wss://127.0.0.1:8084/mqtt', ['sub-1']], ['id with', ['other/id with space']], ['nobody', []]] as const) {
      const found = await http(server.port, `/api/v1/clients?search=${encodeURIComponent(q)}`, { headers: auth });
      assert.deepEqual(found.json().clients.map((x: { clientId: string }) => x.clientId), ids, `search=${q}`);
      assert.equal(found.json().total, ids.length);
    }
    const one = await http(server.port, `/api/v1/clients/${encodeURIComponent('other/id with space')}`, { headers: auth });
    assert.equal(one.status, 200);
    assert.equal(one.json().protocol, '3.1.1');
    assert.equal((await http(server.port, '/api/v1/clients/nobody', { headers: auth })).status, 404);
  });

  it('kicks a client by id; GET on kick is refused', async () => {
    conns.clients.push({ clientId: 'victim', address: '1.2.3.4', protocolVersion: 4, transport: 'ws', listener: 'ws://x', listenerUrl: 'ws://x/mqtt', connectedAt: 0 });
    const wrong = await http(server.port, '/api/v1/clients/victim/kick', { headers: auth });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'POST');
    const r = await http(server.port, '/api/v1/clients/victim/kick', { method: 'POST', headers: auth });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { clientId: 'victim', kicked: true });
    assert.deepEqual(conns.kicked, ['victim']);
    const again = await http(server.port, '/api/v1/clients/victim/kick', { method: 'POST', headers: auth });
    assert.equal(again.status, 404);
  });

  it('lists subscriptions with their options, optionally for one client', async () => {
    const r = await http(server.port, '/api/v1/subscriptions', { headers: auth });
    const body = r.json();
    assert.equal(body.total, 2);
    assert.deepEqual(body.subscriptions[0], { clientId: 'sub-1', online: true, filter: 'alerts', qos: 0, noLocal: true, retainAsPublished: true, retainHandling: 2 });
    assert.equal(body.subscriptions[1].filter, 'sensors/#');
    const none = await http(server.port, '/api/v1/subscriptions?clientId=else', { headers: auth });
    assert.equal(none.json().total, 0);
  });

  it('publishes a message through the broker to subscribers', async () => {
    sub.io.take();
    const r = await http(server.port, '/api/v1/publish', json({
      topic: 'sensors/t1', payload: 'AAEC/w==', encoding: 'base64', qos: 1, retain: true,
      properties: { contentType: 'application/octet-stream', userProperties: { site: 'north' }, messageExpiryInterval: 60, correlationData: 'YWJj', responseTopic: 'replies/1' },
    }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().matched, 1);
    assert.equal(typeof r.json().id, 'string');
    const [packet] = await sub.io.waitFor(1);
    assert.equal(packet.type, 'publish');
    if (packet.type !== 'publish') return;
    assert.equal(packet.topic, 'sensors/t1');
    assert.deepEqual([...packet.payload], [0, 1, 2, 255]);
    assert.equal(packet.qos, 1);
    const retained = broker.retained.get('sensors/t1')!;
    assert.deepEqual(retained.properties, { contentType: 'application/octet-stream', userProperties: [['site', 'north']], correlationData: Buffer.from('abc'), responseTopic: 'replies/1' });
    assert.equal(retained.expiresAt, retained.createdAt + 60_000);
  });

  it('validates publish requests', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ topic: 'a/+' }, /wildcard/],
      [{ topic: '' }, /empty/],
      [{ topic: '$SYS/broker/uptime', payload: 'x' }, /\$SYS/],
      [{ topic: 'a', qos: 3 }, /qos/],
      [{ topic: 'a', retain: 'yes' }, /retain/],
      [{ topic: 'a', payload: 'zz', encoding: 'hex' }, /hex/],
      [{ topic: 'a', payload: 'abc', encoding: 'base64' }, /base64/],
      [{ topic: 'a', payload: 'x', encoding: 'latin1' }, /encoding/],
      [{ topic: 'a', payload: 5 }, /payload/],
      [{ topic: 'a', extra: 1 }, /unknown field/],
      [{ topic: 'a', properties: { topicAlias: 1 } }, /unknown property/],
      [{ topic: 'a', properties: { messageExpiryInterval: -1 } }, /messageExpiryInterval/],
      [{ topic: 'a', properties: { userProperties: [['k']] } }, /user property/],
      [['not', 'an', 'object'], /JSON object/],
    ];
    for (const [body, why] of cases) {
      const r = await http(server.port, '/api/v1/publish', json(body));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.json().error, why, JSON.stringify(body));
    }
    const notJson = await http(server.port, '/api/v1/publish', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '{' });
    assert.equal(notJson.status, 400);
    const form = await http(server.port, '/api/v1/publish', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'topic=a' });
    assert.equal(form.status, 415);
    const big = await http(server.port, '/api/v1/publish', json({ topic: 'a', payload: 'x'.repeat(5000) }));
    assert.equal(big.status, 413);
    const get = await http(server.port, '/api/v1/publish', { headers: auth });
    assert.equal(get.status, 405);
  });

  it('gets, lists and deletes retained messages', async () => {
    await http(server.port, '/api/v1/publish', json({ topic: 'sensors/t2', payload: '{"v":21.5}', retain: true }));
    await http(server.port, '/api/v1/publish', json({ topic: 'other/x', payload: 'hello', retain: true }));
    await settle();
    const list = await http(server.port, '/api/v1/retained?filter=sensors/%23', { headers: auth });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json().messages.map((m: { topic: string }) => m.topic), ['sensors/t1', 'sensors/t2']);
    const all = await http(server.port, '/api/v1/retained', { headers: auth });
    assert.ok(all.json().total >= 3);
    const one = await http(server.port, '/api/v1/retained?topic=sensors/t2', { headers: auth });
    assert.equal(one.json().payloadText, '{"v":21.5}');
    assert.equal(Buffer.from(one.json().payloadBase64, 'base64').toString(), '{"v":21.5}');
    const binary = await http(server.port, '/api/v1/retained?topic=sensors/t1', { headers: auth });
    assert.equal(binary.json().payloadText, undefined, 'binary payloads have no text form');
    assert.equal(binary.json().properties.correlationDataBase64, 'YWJj');
    assert.equal((await http(server.port, '/api/v1/retained?topic=nope', { headers: auth })).status, 404);
    assert.equal((await http(server.port, '/api/v1/retained?filter=a/%23/b', { headers: auth })).status, 400);

    const del = await http(server.port, '/api/v1/retained?topic=other/x', { method: 'DELETE', headers: auth });
    assert.equal(del.status, 200);
    assert.deepEqual(del.json(), { topic: 'other/x', deleted: true });
    assert.equal(broker.retained.get('other/x'), undefined, 'an empty retained message cleared it [MQTT-3.3.1-10]');
    assert.equal((await http(server.port, '/api/v1/retained?topic=other/x', { method: 'DELETE', headers: auth })).status, 404);
    assert.equal((await http(server.port, '/api/v1/retained', { method: 'DELETE', headers: auth })).status, 400);
  });

  it('answers 404 for unknown endpoints and 400 for bad percent-encoding', async () => {
    assert.equal((await http(server.port, '/api/v1/nothing', { headers: auth })).status, 404);
    assert.equal((await http(server.port, '/api/v1/clients/%E0%A4%A', { headers: auth })).status, 400);
  });
});
