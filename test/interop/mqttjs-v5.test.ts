// MQTT 5.0 behaviour as seen by the real MQTT.js client (protocolVersion 5).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient, type Packet } from 'mqtt';
import { connectClient, endClient, Inbox, sleep, connectWithInbox } from '../helpers/mqttjs.js';
import { startScramServer, startTestServer, type TestServer } from '../helpers/server.js';
import { clientFinal, clientFirst, verifyServerFinal } from '../helpers/scram-client.js';
import { WireClient } from '../helpers/wire.js';

const v5 = { protocolVersion: 5 as const };

/** Records every packet the client receives. */
function recorder(client: MqttClient): Packet[] {
  const seen: Packet[] = [];
  client.on('packetreceive', (p) => seen.push(p));
  return seen;
}

function connackOf(client: MqttClient): Promise<IConnackPacket> {
  return new Promise((resolve) => client.once('connect', resolve));
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('MQTT.js 5.0', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ mqttMaxKeepAliveSec: '120', mqttMessageMaxLength: '4096', mqttResponseInformation: 'replies/%c/' });
  });
  after(() => t.close());

  it('returns Response Information only to a client that requests it [MQTT-3.1.2-28]', async () => {
    const asks = mqttConnect(t.url(), { ...v5, clientId: 'ri-yes', properties: { requestResponseInformation: true } });
    assert.equal((await connackOf(asks)).properties?.responseInformation, 'replies/ri-yes/');
    await endClient(asks);
    const silent = mqttConnect(t.url(), { ...v5, clientId: 'ri-no' });
    assert.equal((await connackOf(silent)).properties?.responseInformation, undefined);
    await endClient(silent);
  });

  it('CONNACK advertises what the server supports and assigns an id to an empty one [MQTT-3.2.2-16]', async () => {
    const c = mqttConnect(t.url(), { ...v5, clientId: '' });
    const props = (await connackOf(c)).properties;
    assert.ok(props, 'CONNACK properties present');
    assert.match(String(props.assignedClientIdentifier), /^starling-/);
    assert.equal(props.retainAvailable, true);
    assert.equal(props.wildcardSubscriptionAvailable, true);
    assert.equal(props.subscriptionIdentifiersAvailable, true);
    assert.equal(props.sharedSubscriptionAvailable, true);
    assert.equal(props.maximumPacketSize, 4096);
    assert.ok((props.receiveMaximum ?? 0) > 0);
    assert.ok((props.topicAliasMaximum ?? 0) > 0);
    await endClient(c);
  });

  it('caps keepalive with Server Keep Alive for MQTT 5, refuses MQTT 3.1.1 above the cap', async () => {
    const c = mqttConnect(t.url(), { ...v5, clientId: 'ka5', keepalive: 600 });
    const connack = await connackOf(c);
    assert.equal(connack.properties?.serverKeepAlive, 120);
    await endClient(c);
    await assert.rejects(connectClient(t.url(), { protocolVersion: 4, clientId: 'ka4', keepalive: 600 }), /Identifier rejected/i);
  });

  it('resumes a session within its expiry and forgets it after [MQTT-3.1.2-23]', async () => {
    const opts = { ...v5, clientId: 'exp5', clean: false, properties: { sessionExpiryInterval: 1 } };
    const a = await connectClient(t.url(), opts);
    await a.subscribeAsync('exp/#', { qos: 1 });
    await endClient(a);
    const b = mqttConnect(t.url(), opts);
    assert.equal((await connackOf(b)).sessionPresent, true);
    await endClient(b);
    await sleep(1600);
    const c = mqttConnect(t.url(), opts);
    assert.equal((await connackOf(c)).sessionPresent, false);
    await endClient(c);
  });

  it('never has more unacknowledged QoS 1 messages out than the client Receive Maximum allows [MQTT-3.3.4-9]', async () => {
    // MQTT.js acknowledges as it reads, so the holding subscriber is a raw client (mqtt-packet).
    const { client: sub, connack } = await WireClient.connect(t.port(), { clientId: 'rm-sub', properties: { receiveMaximum: 2 } }, 5);
    assert.equal(connack.reasonCode, 0);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rm/#', qos: 1 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    const pub = await connectClient(t.url(), { ...v5, clientId: 'rm-pub' });
    for (let i = 0; i < 5; i++) await pub.publishAsync('rm/x', `m${i}`, { qos: 1 });
    const first = [await sub.next(), await sub.next()];
    assert.deepEqual(first.map((p) => p.payload.toString()), ['m0', 'm1']);
    await sub.expectSilence(150);
    sub.send({ cmd: 'puback', messageId: first[0].messageId, reasonCode: 0 });
    const third = await sub.next();
    assert.equal(third.payload.toString(), 'm2');
    await sub.expectSilence(100);
    sub.end();
    await endClient(pub);
  });

  it('does not send a message larger than the client Maximum Packet Size, and does not block behind it [MQTT-3.1.2-25]', async () => {
    const sub = await connectClient(t.url(), { ...v5, clientId: 'mps-sub', properties: { maximumPacketSize: 200 } });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('mps/#', { qos: 1 });
    const pub = await connectClient(t.url(), { ...v5, clientId: 'mps-pub' });
    await pub.publishAsync('mps/big', Buffer.alloc(1000, 1), { qos: 1 });
    await pub.publishAsync('mps/small', 'ok', { qos: 1 });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.topic, 'mps/small');
    await sleep(100);
    assert.equal(inbox.messages.length, 1);
    await Promise.all([endClient(sub), endClient(pub)]);
  });

  it('closes a client that sends a packet over the maximum with DISCONNECT 0x95 [MQTT-3.2.2-15 / 4.13]', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'too-big' });
    const disconnect = new Promise<number | undefined>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)));
    c.publish('big', Buffer.alloc(10_000, 1), { qos: 0 });
    assert.equal(await disconnect, 0x95);
    c.end(true);
  });

  it('assigns topic aliases towards a client that allows them, and resolves aliases from it [MQTT-3.3.2-10]', async () => {
    const sub = await connectClient(t.url(), { ...v5, clientId: 'alias-sub', properties: { topicAliasMaximum: 5 } });
    const seen = recorder(sub);
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('alias/#');
    const pub = await connectClient(t.url(), { ...v5, clientId: 'alias-pub', autoUseTopicAlias: true, properties: {} });
    await pub.publishAsync('alias/long/topic/name', 'one', { properties: { topicAlias: 1 } });
    await pub.publishAsync('', 'two', { properties: { topicAlias: 1 } });
    const got = await inbox.waitFor(2);
    assert.deepEqual(got.map((m) => m.topic), ['alias/long/topic/name', 'alias/long/topic/name']);
    const publishes = seen.filter((p) => p.cmd === 'publish') as Array<Packet & { topic: string; properties?: { topicAlias?: number } }>;
    assert.equal(publishes[0].properties?.topicAlias, 1);
    assert.equal(publishes[1].properties?.topicAlias, 1);
    await Promise.all([endClient(sub), endClient(pub)]);
  });

  it('drops queued messages whose expiry passed and counts the remainder down [MQTT-3.3.2-5, MQTT-3.3.2-6]', async () => {
    const opts = { ...v5, clientId: 'mexp', clean: false, properties: { sessionExpiryInterval: 60 } };
    const a = await connectClient(t.url(), opts);
    await a.subscribeAsync('mexp/#', { qos: 1 });
    await endClient(a);
    const pub = await connectClient(t.url(), { ...v5, clientId: 'mexp-pub' });
    await pub.publishAsync('mexp/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('mexp/long', 'long', { qos: 1, properties: { messageExpiryInterval: 30 } });
    await sleep(1500);
    const b = await connectClient(t.url(), opts);
    const inbox = new Inbox(b);
    const [m] = await inbox.waitFor(1);
    assert.equal(m.topic, 'mexp/long');
    const left = m.packet.properties?.messageExpiryInterval ?? 0;
    assert.ok(left <= 29 && left >= 27, `remaining expiry ${left}`);
    await sleep(100);
    assert.equal(inbox.messages.length, 1);
    await Promise.all([endClient(b), endClient(pub)]);
  });

  it('honours No Local, Retain As Published and Retain Handling [MQTT-3.8.3-3, MQTT-3.3.1-12, MQTT-3.3.1-9..11]', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'opts' });
    const inbox = new Inbox(c);
    await c.publishAsync('opt/r', 'retained', { qos: 1, retain: true });
    await c.subscribeAsync('opt/r', { qos: 1, nl: true, rap: true, rh: 0 });
    const [first] = await inbox.waitFor(1);
    assert.equal(first.packet.retain, true);
    // Own message not echoed (No Local).
    await c.publishAsync('opt/r', 'mine', { qos: 1 });
    const other = await connectClient(t.url(), { ...v5, clientId: 'opts-other' });
    await other.publishAsync('opt/r', 'theirs', { qos: 1, retain: true });
    const [, second] = await inbox.waitFor(2);
    assert.equal(second.payload.toString(), 'theirs');
    assert.equal(second.packet.retain, true, 'Retain As Published keeps the flag');
    // Retain Handling 1: only for a new subscription; 2: never.
    await c.subscribeAsync('opt/r', { qos: 1, rh: 1 });
    await c.subscribeAsync('opt/#', { qos: 1, rh: 2 });
    await sleep(150);
    assert.equal(inbox.messages.length, 2);
    await Promise.all([endClient(c), endClient(other)]);
  });

  it('delivers every matching subscription identifier [MQTT-3.3.4-3]', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'subid' });
    const inbox = new Inbox(c);
    await c.subscribeAsync('sid/+', { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await c.subscribeAsync('sid/#', { qos: 0, properties: { subscriptionIdentifier: 9 } });
    await c.publishAsync('sid/x', 'x');
    const [m] = await inbox.waitFor(1);
    const ids = m.packet.properties?.subscriptionIdentifier;
    assert.deepEqual([ids].flat().sort(), [7, 9]);
    await endClient(c);
  });

  it('balances a shared subscription across its members round-robin (4.8.2)', async () => {
    const members = await Promise.all([0, 1, 2].map((i) => connectClient(t.url(), { ...v5, clientId: `share-${i}` })));
    const inboxes = members.map((m) => new Inbox(m));
    await Promise.all(members.map((m) => m.subscribeAsync('$share/g/sh/#', { qos: 1 })));
    const pub = await connectClient(t.url(), { ...v5, clientId: 'share-pub' });
    for (let i = 0; i < 30; i++) await pub.publishAsync('sh/x', `${i}`, { qos: 1 });
    await waitUntil(() => inboxes.reduce((n, b) => n + b.messages.length, 0) >= 30, '30 deliveries');
    const counts = inboxes.map((b) => b.messages.length);
    assert.deepEqual(counts, [10, 10, 10]);
    await Promise.all([...members, pub].map((c) => endClient(c)));
  });

  it('cancels a delayed will when the session resumes in time, and sends it otherwise [MQTT-3.1.3-9]', async () => {
    const watcher = await connectClient(t.url(), { ...v5, clientId: 'wd-watch' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('wd/#');
    const will = { topic: 'wd/x', payload: Buffer.from('late'), qos: 0 as const, retain: false, properties: { willDelayInterval: 1 } };
    const opts = { ...v5, clientId: 'wd', clean: false, properties: { sessionExpiryInterval: 30 }, will };
    const a = await connectClient(t.url(), opts);
    (a as unknown as { stream: { destroy(): void } }).stream.destroy();
    a.end(true);
    const b = await connectClient(t.url(), opts);
    await sleep(1300);
    assert.equal(inbox.messages.length, 0, 'resumed within the delay: no will');
    (b as unknown as { stream: { destroy(): void } }).stream.destroy();
    b.end(true);
    const [m] = await inbox.waitFor(1, 3000);
    assert.equal(m.payload.toString(), 'late');
    await endClient(watcher);
  });

  it('publishes the will on DISCONNECT with reason 0x04', async () => {
    const watcher = await connectClient(t.url(), { ...v5, clientId: 'w4-watch' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('w4/#');
    const c = await connectClient(t.url(), { ...v5, clientId: 'w4', will: { topic: 'w4/x', payload: Buffer.from('asked'), qos: 0, retain: false } });
    await new Promise<void>((resolve) => c.end(false, { reasonCode: 4 }, () => resolve()));
    const [m] = await inbox.waitFor(1);
    assert.equal(m.payload.toString(), 'asked');
    await endClient(watcher);
  });

  it('tells a taken-over client why: DISCONNECT 0x8E', async () => {
    const first = await connectClient(t.url(), { ...v5, clientId: 'to5' });
    const reason = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)));
    const second = await connectClient(t.url(), { ...v5, clientId: 'to5' });
    assert.equal(await reason, 0x8e);
    first.end(true);
    await endClient(second);
  });

  it('passes request/response properties through unchanged and in order [MQTT-3.3.2-15..20]', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'rr' });
    const inbox = new Inbox(c);
    await c.subscribeAsync('rr/req');
    const properties = {
      responseTopic: 'rr/resp',
      correlationData: Buffer.from([1, 2, 3]),
      contentType: 'application/json',
      payloadFormatIndicator: true,
      userProperties: { b: '2', a: ['1', '3'] },
    };
    await c.publishAsync('rr/req', '{"q":1}', { properties });
    const [m] = await inbox.waitFor(1);
    const p = m.packet.properties!;
    assert.equal(p.responseTopic, 'rr/resp');
    assert.deepEqual(p.correlationData, Buffer.from([1, 2, 3]));
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.payloadFormatIndicator, true);
    assert.deepEqual(Object.keys(p.userProperties!), ['b', 'a']);
    assert.deepEqual({ ...p.userProperties }, { b: '2', a: ['1', '3'] });
    await endClient(c);
  });

  it('refuses a payload marked UTF-8 that is not, with 0x99', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'pfi' });
    await assert.rejects(
      c.publishAsync('pfi', Buffer.from([0xff, 0xfe]), { qos: 1, properties: { payloadFormatIndicator: true } }),
      (err: Error & { code?: number }) => err.code === 0x99,
    );
    await endClient(c);
  });

  it('answers PUBACK 0x10 when nobody is subscribed', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'nosubs' });
    const seen = recorder(c);
    await c.publishAsync('nobody/here', 'x', { qos: 1 });
    const puback = seen.find((p) => p.cmd === 'puback') as Packet & { reasonCode?: number };
    assert.equal(puback.reasonCode, 0x10);
    await endClient(c);
  });

  it('lets a 3.1.1 and a 5.0 client talk: v5-only properties dropped, expiry still honoured', async () => {
    const old = await connectClient(t.url(), { protocolVersion: 4, clientId: 'v4-peer', clean: false });
    await old.subscribeAsync('mix/#', { qos: 1 });
    await endClient(old);
    const neu = await connectClient(t.url(), { ...v5, clientId: 'v5-peer' });
    await neu.publishAsync('mix/a', 'expires', { qos: 1, properties: { messageExpiryInterval: 1, userProperties: { k: 'v' } } });
    await neu.publishAsync('mix/b', 'stays', { qos: 1, properties: { userProperties: { k: 'v' } } });
    await sleep(1500);
    const { client: back, inbox } = await connectWithInbox(t.url(), { protocolVersion: 4, clientId: 'v4-peer', clean: false });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.topic, 'mix/b');
    assert.equal(m.packet.properties, undefined);
    await Promise.all([endClient(back), endClient(neu)]);
  });
});

describe('MQTT.js 5.0 enhanced authentication (SCRAM-SHA-256)', () => {
  let t: TestServer;
  before(async () => {
    t = await startScramServer({ alice: 'wonderland' });
  });
  after(() => t.close());

  function scramClient(user: string, password: string) {
    const first = clientFirst(user);
    const c = mqttConnect(t.url(), {
      ...v5,
      clientId: `scram-${user}-${password.length}`,
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: first.message },
    });
    let serverFinalOk: boolean | undefined;
    c.handleAuth = (packet, cb) => {
      const data = packet.properties?.authenticationData as Buffer;
      const final = clientFinal(first, password, data);
      (c as unknown as { scram: unknown }).scram = final;
      cb(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: final.message } });
    };
    return {
      client: c,
      verify: (connack: IConnackPacket) => {
        const final = (c as unknown as { scram: ReturnType<typeof clientFinal> }).scram;
        serverFinalOk = verifyServerFinal(final, connack.properties?.authenticationData as Buffer);
        return serverFinalOk;
      },
    };
  }

  it('authenticates with the right password and the server proves itself [MQTT-4.12.0-1]', async () => {
    const { client, verify } = scramClient('alice', 'wonderland');
    const connack = await connackOf(client);
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, 'SCRAM-SHA-256');
    assert.equal(verify(connack), true);
    await endClient(client);
  });

  it('refuses a wrong password with CONNACK 0x86', async () => {
    const { client } = scramClient('alice', 'looking-glass');
    const err = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve));
    assert.equal(err.code, 0x86);
    client.end(true);
  });

  it('refuses an unknown method with CONNACK 0x8C', async () => {
    const c = mqttConnect(t.url(), { ...v5, clientId: 'badmethod', properties: { authenticationMethod: 'KERBEROS' } });
    const err = await new Promise<Error & { code?: number }>((resolve) => c.once('error', resolve));
    assert.equal(err.code, 0x8c);
    c.end(true);
  });
});

function mqttConnect(url: string, opts: IClientOptions): MqttClient {
  return mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}
