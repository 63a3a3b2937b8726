// MQTT 5.0 sessions, wills, shared subscriptions and mixed versions as the real MQTT.js client
// (protocolVersion 5) sees them; the rest is in mqttjs-v5.test.ts and mqttjs-v5-hooks.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectClient, endClient, Inbox, recordPackets, sleep } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const v5 = { protocolVersion: 5 as const };
const NEVER = 0xffffffff;

describe('MQTT.js 5.0 sessions', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  /** Connects and returns the client with its Session Present flag. */
  async function session(opts: IClientOptions): Promise<{ client: MqttClient; present: boolean }> {
    const client = await connectClient(t.url(), { ...v5, ...opts });
    // MQTT.js keeps the CONNACK it connected with (a private field).
    const connack = (client as unknown as { connackPacket?: { sessionPresent?: boolean } }).connackPacket;
    return { client, present: connack?.sessionPresent === true };
  }

  it('keeps a session with Session Expiry Interval 0xFFFFFFFF (never expires), with what was queued for it', async () => {
    const opts = { clientId: 'never-exp', clean: false, properties: { sessionExpiryInterval: NEVER } };
    const a = await session(opts);
    assert.equal(a.present, false);
    await a.client.subscribeAsync('never/#', { qos: 1 });
    await endClient(a.client);
    const pub = await connectClient(t.url(), { ...v5, clientId: 'never-pub' });
    await pub.publishAsync('never/x', 'waiting', { qos: 1 });
    assert.equal(t.server.broker.sessions.get('never-exp')?.expiryInterval, NEVER, 'stored as never expiring');
    const b = await session(opts);
    assert.equal(b.present, true);
    const [m] = await new Inbox(b.client).waitFor(1);
    assert.equal(m.payload.toString(), 'waiting');
    await Promise.all([endClient(b.client, true), endClient(pub)]);
  });

  it('Clean Start 1 discards an existing session: Session Present 0, its subscriptions and queue gone [MQTT-3.1.2-4]', async () => {
    const a = await session({ clientId: 'cs5', clean: false, properties: { sessionExpiryInterval: 60 } });
    await a.client.subscribeAsync('cs5/#', { qos: 1 });
    await endClient(a.client);
    const pub = await connectClient(t.url(), { ...v5, clientId: 'cs5-pub' });
    await pub.publishAsync('cs5/queued', 'old', { qos: 1 });
    const b = await session({ clientId: 'cs5', clean: true, properties: { sessionExpiryInterval: 60 } });
    assert.equal(b.present, false);
    const inbox = new Inbox(b.client);
    await pub.publishAsync('cs5/new', 'new', { qos: 1 });
    await sleep(150);
    assert.equal(inbox.messages.length, 0, 'neither the queued message nor the old subscription survived');
    await Promise.all([endClient(b.client), endClient(pub)]);
  });

  it('DISCONNECT changes the Session Expiry Interval: to 0 ends the session, upwards keeps it longer (3.14.2.2.2)', async () => {
    const ending = await session({ clientId: 'sei-mqttjs', clean: false, properties: { sessionExpiryInterval: 60 } });
    await new Promise<void>((resolve) => ending.client.end(false, { properties: { sessionExpiryInterval: 0 } }, () => resolve()));
    const again = await session({ clientId: 'sei-mqttjs', clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.equal(again.present, false, 'expiry 0 at DISCONNECT ended the session');
    await endClient(again.client);

    const keeping = await session({ clientId: 'sei-mqttjs-up', clean: false, properties: { sessionExpiryInterval: 1 } });
    await new Promise<void>((resolve) => keeping.client.end(false, { properties: { sessionExpiryInterval: 300 } }, () => resolve()));
    await sleep(1300);
    const later = await session({ clientId: 'sei-mqttjs-up', clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.equal(later.present, true, 'the longer interval from DISCONNECT applies');
    await endClient(later.client);
  });

  it('a shared subscription delivers into the queues of offline persistent members, spread among them (4.8.2)', async () => {
    const ids = ['shq-0', 'shq-1'];
    const opts = (clientId: string) => ({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    for (const id of ids) {
      const m = await session(opts(id));
      await m.client.subscribeAsync('$share/q/shq/#', { qos: 1 });
      await endClient(m.client);
    }
    const pub = await connectClient(t.url(), { ...v5, clientId: 'shq-pub' });
    for (let i = 0; i < 4; i++) await pub.publishAsync('shq/x', `${i}`, { qos: 1 });
    const got: string[][] = [];
    for (const id of ids) {
      const m = await session(opts(id));
      assert.equal(m.present, true);
      const inbox = new Inbox(m.client);
      const msgs = await inbox.waitFor(2);
      await sleep(100);
      got.push(inbox.messages.map((x) => x.payload.toString()));
      assert.equal(msgs.length, 2);
      await endClient(m.client);
    }
    assert.deepEqual(got.flat().sort(), ['0', '1', '2', '3'], 'each message went to exactly one member');
    assert.deepEqual(got.map((g) => g.length), [2, 2], 'spread over both queues');
    await endClient(pub);
  });

  it('UNSUBACK says 0x11 (No subscription existed) for a filter that was not subscribed [MQTT-3.11.3-1]', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'unsub11' });
    const seen = recordPackets(c);
    await c.subscribeAsync('un/yes');
    await c.unsubscribeAsync(['un/yes', 'un/never']);
    const unsuback = seen.find((p) => p.cmd === 'unsuback');
    assert.deepEqual(unsuback?.granted, [0x00, 0x11]);
    await endClient(c);
  });

  it('delivers a will with its properties: Content Type, User Properties, Response Topic, Correlation Data, Message Expiry Interval', async () => {
    const watcher = await connectClient(t.url(), { ...v5, clientId: 'wp-watch' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wp/#');
    const properties = {
      contentType: 'text/plain',
      userProperties: { first: '1', second: ['2', '3'] },
      responseTopic: 'wp/reply',
      correlationData: Buffer.from([4, 5, 6]),
      messageExpiryInterval: 60,
      payloadFormatIndicator: true,
    };
    const c = await connectClient(t.url(), { ...v5, clientId: 'wp', will: { topic: 'wp/gone', payload: Buffer.from('bye'), qos: 1, retain: false, properties } });
    (c as unknown as { stream: { destroy(): void } }).stream.destroy();
    c.end(true);
    const [m] = await inbox.waitFor(1);
    const p = m.packet.properties ?? {};
    assert.equal(m.payload.toString(), 'bye');
    assert.equal(p.contentType, 'text/plain');
    assert.deepEqual(Object.keys(p.userProperties ?? {}), ['first', 'second']);
    assert.deepEqual({ ...p.userProperties }, { first: '1', second: ['2', '3'] });
    assert.equal(p.responseTopic, 'wp/reply');
    assert.deepEqual(p.correlationData, Buffer.from([4, 5, 6]));
    assert.ok((p.messageExpiryInterval ?? 0) > 0 && (p.messageExpiryInterval ?? 0) <= 60, `expiry ${p.messageExpiryInterval}`);
    assert.equal(p.payloadFormatIndicator, true);
    assert.equal((p as Record<string, unknown>).willDelayInterval, undefined);
    await endClient(watcher);
  });

  it('a 3.1.1 publisher reaches a 5.0 subscriber: payload, RETAIN and QoS kept, no properties added', async () => {
    const old = await connectClient(t.url(), { protocolVersion: 4, clientId: 'v311-pub' });
    await old.publishAsync('m311/r', 'kept', { qos: 1, retain: true });
    const neu = await connectClient(t.url(), { ...v5, clientId: 'v5-sub' });
    const inbox = new Inbox(neu);
    await neu.subscribeAsync('m311/#', { qos: 2 });
    const [retained] = await inbox.waitFor(1);
    assert.deepEqual([retained.topic, retained.payload.toString(), retained.packet.retain, retained.packet.qos], ['m311/r', 'kept', true, 1]);
    assert.equal(retained.packet.properties, undefined, 'no properties on a message that had none');
    await old.publishAsync('m311/x', Buffer.from([0, 1, 2, 255]), { qos: 2 });
    const [, live] = await inbox.waitFor(2);
    assert.deepEqual([live.topic, live.packet.retain, live.packet.qos], ['m311/x', false, 2]);
    assert.deepEqual(live.payload, Buffer.from([0, 1, 2, 255]));
    assert.equal(live.packet.properties, undefined);
    await old.publishAsync('m311/r', '', { qos: 0, retain: true });
    await Promise.all([endClient(old), endClient(neu)]);
  });
});
