// Every configured limit, met by real clients over real sockets, and counted in /metrics
// (starling_limit_hits_total{limit}). MQTT.js where it can misbehave enough; the raw wire where
// it cannot (it never exceeds a Receive Maximum or skips a PUBACK).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient, Inbox, sleep, subackCodes } from '../helpers/mqttjs.js';
import { connectFrom } from '../helpers/connect-from.js';
import { limitHits, scrape } from '../helpers/metrics.js';
import { sampleValue } from '../observe/helpers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', () => {});
    s.once('error', reject);
  });
}

describe('limits: maxConnections and maxConnectionsPerAddress', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ maxConnections: '3', maxConnectionsPerAddress: '2' });
  });
  after(() => t.close());

  it('refuses a third connection from one address and a fourth overall with a CONNACK that says why, counting each cause apart', async () => {
    const port = t.port();
    const code = (expected: number) => (err: Error & { code?: number }) => err.code === expected;
    const a1 = await connectFrom(port, '127.0.0.1', { clientId: 'addr1-a' });
    const a2 = await connectFrom(port, '127.0.0.1', { clientId: 'addr1-b' });
    // MQTT 5: 0x97 Quota exceeded for the per-address limit.
    await assert.rejects(connectFrom(port, '127.0.0.1', { clientId: 'addr1-c', protocolVersion: 5 }), code(0x97), 'per-address limit');
    const b1 = await connectFrom(port, '127.0.0.2', { clientId: 'addr2-a' });
    // MQTT 3.1.1: return code 3 Server unavailable; MQTT 5: 0x89 Server busy for the total.
    await assert.rejects(connectFrom(port, '127.0.0.3', { clientId: 'addr3-a' }), code(3), 'total limit, from a fresh address');
    await assert.rejects(connectFrom(port, '127.0.0.3', { clientId: 'addr3-b', protocolVersion: 5 }), code(0x89), 'total limit, MQTT 5');
    assert.equal(await limitHits(t, 'maxConnectionsPerAddress'), 1);
    assert.equal(await limitHits(t, 'maxConnections'), 2);
    assert.equal(sampleValue(await scrape(t), 'starling_connections_refused_total'), 3, 'the total stays the sum of both causes');
    // A place freed is a place again.
    await endClient(a1);
    await waitUntil(() => t.server.connections.size === 2, 'the broker to see the close');
    const a3 = await connectFrom(port, '127.0.0.1', { clientId: 'addr1-d' });
    await Promise.all([a2, b1, a3].map((c) => endClient(c)));
  });
});

describe('limits enforced by the channel', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      maxTopicLength: '32',
      maxTopicLevels: '4',
      maxSubscriptionsPerClient: '3',
      connectTimeoutSec: '1',
      mqttMessageMaxLength: '1024',
      maxInflightMessages: '5',
      mqttReceiveMaximum: '20',
    });
  });
  after(() => t.close());

  it('refuses filters over maxTopicLength / maxTopicLevels in SUBACK: 0x8F for MQTT 5, 0x80 for 3.1.1', async () => {
    const long = `a/${'x'.repeat(40)}`;
    const deep = 'a/b/c/d/e';
    const before = await limitHits(t, 'subscribeTopicLimit');
    const v5 = await connectClient(t.url(), { protocolVersion: 5, clientId: 'topic-limit-5' });
    assert.deepEqual(await subackCodes(v5, ['a/b/c/d', long, deep]), [0, 0x8f, 0x8f]);
    const v4 = await connectClient(t.url(), { clientId: 'topic-limit-4' });
    assert.deepEqual(await subackCodes(v4, [deep]), [0x80]);
    assert.equal((await limitHits(t, 'subscribeTopicLimit')) - before, 3);
    // A PUBLISH to such a topic is refused too (PUBACK 0x90) and counted as a drop.
    await assert.rejects(v5.publishAsync(deep, 'x', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x90);
    assert.ok(t.server.broker.stats.drops.topicLimit >= 1);
    await Promise.all([endClient(v5), endClient(v4)]);
  });

  it('refuses subscriptions beyond maxSubscriptionsPerClient: SUBACK 0x97 (MQTT 5) / 0x80 (3.1.1); renewing one is not new', async () => {
    const before = await limitHits(t, 'maxSubscriptions');
    const v5 = await connectClient(t.url(), { protocolVersion: 5, clientId: 'subs-5' });
    assert.deepEqual(await subackCodes(v5, ['s/1', 's/2', 's/3', 's/4']), [0, 0, 0, 0x97]);
    assert.deepEqual(await subackCodes(v5, ['s/1']), [0], 'replacing a held subscription is within the limit');
    const v4 = await connectClient(t.url(), { clientId: 'subs-4' });
    assert.deepEqual(await subackCodes(v4, ['s/1', 's/2', 's/3', 's/4', 's/5']), [0, 0, 0, 0x80, 0x80]);
    assert.equal((await limitHits(t, 'maxSubscriptions')) - before, 3);
    await Promise.all([endClient(v5), endClient(v4)]);
  });

  it('closes a socket that sends no CONNECT within connectTimeoutSec, and counts it', async () => {
    const before = await limitHits(t, 'connectTimeout');
    const idle = await WireClient.open(t.port());
    assert.equal(await idle.waitClosed(4000), true, 'closed by the connect timeout');
    assert.equal((await limitHits(t, 'connectTimeout')) - before, 1);
  });

  it('refuses a packet over mqttMessageMaxLength with DISCONNECT 0x95 [MQTT-3.2.2-15], and counts it', async () => {
    const before = await limitHits(t, 'packetTooLarge');
    const { client, connack } = await WireClient.connect(t.port(), { clientId: 'too-big' }, 5);
    assert.equal(connack.properties?.maximumPacketSize, 1024);
    client.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(2000, 1), qos: 0, retain: false, dup: false });
    const p = await client.nextOrClose(3000);
    assert.equal(p?.cmd, 'disconnect');
    assert.equal(p?.reasonCode, 0x95);
    assert.equal(await client.waitClosed(3000), true);
    assert.equal((await limitHits(t, 'packetTooLarge')) - before, 1);
  });

  it('advertises mqttReceiveMaximum in CONNACK and closes a client over it with DISCONNECT 0x93 [MQTT-3.3.4-7], and counts it', async () => {
    const before = await limitHits(t, 'receiveMaximum');
    const { client, connack } = await WireClient.connect(t.port(), { clientId: 'rx-max' }, 5);
    const max = connack.properties?.receiveMaximum ?? 65535;
    assert.equal(max, 20, 'the configured Receive Maximum is advertised (3.2.2.3.3)');
    // QoS 2 PUBLISHes never released: ids 1..max fill the window; one more exchange, a QoS 1
    // (a QoS 2 on an id still open would be a resend, not a new exchange), is over it.
    // Bytes written by hand (8 each: topic "r", no properties, empty payload) to keep it quick.
    const burst = Buffer.alloc((max + 1) * 8);
    for (let i = 0; i <= max; i++) {
      const id = (i % max) + 1;
      burst.set([i < max ? 0x34 : 0x32, 6, 0, 1, 0x72, id >> 8, id & 0xff, 0], i * 8);
    }
    const disconnect = new Promise<WirePacket | undefined>((resolve) => {
      // Past the CONNACK, read the stream ourselves: tens of thousands of PUBRECs come first.
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (pk: WirePacket) => pk.cmd === 'disconnect' && resolve(pk));
      client.socket.removeAllListeners('data');
      client.socket.on('data', (d) => parser.parse(d));
      client.socket.once('close', () => resolve(undefined));
      setTimeout(() => resolve(undefined), 10_000).unref();
    });
    client.sendRaw(burst);
    assert.equal((await disconnect)?.reasonCode, 0x93);
    assert.equal((await limitHits(t, 'receiveMaximum')) - before, 1);
    client.end();
  });

  it('never has more unacknowledged QoS 1 deliveries out to a client than maxInflightMessages, and counts what waited', async () => {
    const hitsBefore = await limitHits(t, 'maxInflightMessages');
    const { client: sub } = await WireClient.connect(t.port(), { clientId: 'window-sub' });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'win/#', qos: 1 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    const pub = await connectClient(t.url(), { clientId: 'window-pub' });
    for (let i = 0; i < 12; i++) await pub.publishAsync('win/x', String(i), { qos: 1 });
    const got: WirePacket[] = [];
    for (let i = 0; i < 5; i++) got.push(await sub.next());
    await sub.expectSilence(300);
    const session = t.server.broker.sessions.get('window-sub')!;
    assert.equal(session.inflight.size, 5, 'the window is full');
    assert.equal(session.queuedCount, 7, 'the rest waits in the queue');
    assert.equal((await limitHits(t, 'maxInflightMessages')) - hitsBefore, 7, 'each message held back by the window counted once');
    // Each PUBACK opens room for exactly one more.
    let received = 5;
    while (received < 12) {
      sub.send({ cmd: 'puback', messageId: got.shift()!.messageId });
      const next = await sub.next();
      assert.equal(next.cmd, 'publish');
      got.push(next);
      received++;
      assert.ok(session.inflight.size <= 5, `in flight ${session.inflight.size}`);
    }
    assert.deepEqual(
      got.map((p) => p.payload.toString()),
      ['7', '8', '9', '10', '11'],
    );
    sub.end();
    await endClient(pub);
  });
});

describe('limits: maxPublishRate and maxPublishBytesRate', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ maxPublishRate: '20', maxPublishBytesRate: '10000' });
  });
  after(() => t.close());

  /** Floods, checks everything arrived, then shows the publisher is paused: its next message waits. */
  async function throttledNotDropped(limit: string, clientId: string, flood: (c: MqttClient) => void, count: number): Promise<void> {
    const sub = await connectClient(t.url(), { clientId: `${clientId}-sub` });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(`${clientId}/#`, { qos: 1 });
    const pub = await connectClient(t.url(), { clientId });
    const before = await limitHits(t, limit);
    flood(pub);
    await inbox.waitFor(count, 10_000);
    assert.ok((await limitHits(t, limit)) > before, `${limit} counted`);
    // The broker stopped reading from the publisher until its budget refills (seconds, here):
    // a message sent now is not routed at once, but it is not lost either.
    pub.publish(`${clientId}/marker`, 'after', { qos: 1 });
    await sleep(300);
    assert.equal(inbox.messages.length, count, 'reading from the publisher is paused');
    const all = await inbox.waitFor(count + 1, 10_000);
    assert.equal(all[count].payload.toString(), 'after');
    await Promise.all([endClient(sub), endClient(pub)]);
  }

  it('maxPublishRate: a burst over the rate is throttled, not dropped', async () => {
    await throttledNotDropped('publishRate', 'rate', (c) => {
      for (let i = 0; i < 60; i++) c.publish('rate/x', String(i), { qos: 0 });
    }, 60);
  });

  it('maxPublishBytesRate: a burst over the byte rate is throttled, not dropped', async () => {
    await throttledNotDropped('publishBytesRate', 'bytes', (c) => {
      for (let i = 0; i < 3; i++) c.publish('bytes/x', Buffer.alloc(8000, i), { qos: 0 });
    }, 3);
  });
});

describe('limits: slowConsumerTimeoutSec', () => {
  let t: TestServer;
  const maxOutgoing = 64 * 1024;
  before(async () => {
    t = await startTestServer({ maxOutgoingBytes: String(maxOutgoing), slowConsumerTimeoutSec: '1' });
  });
  after(() => t.close());

  it('disconnects a subscriber that stops reading once its buffer stays over maxOutgoingBytes', async () => {
    const slow = await openSocket(t.port());
    slow.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'stalled', keepalive: 0 } as mqttPacket.Packet));
    slow.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'firehose', qos: 0 }] } as mqttPacket.Packet));
    await waitUntil(() => t.server.broker.sessions.get('stalled')?.subscriptions.size === 1, 'the subscription');
    slow.pause();
    const conn = [...t.server.connections].find((c) => c.channel.clientId === 'stalled')!;
    const pub = await connectClient(t.url(), { clientId: 'firehose-pub' });
    const payload = Buffer.alloc(8 * 1024, 3);
    // Flood until the kernel's buffers are full and the broker's own buffer is over the limit.
    // Each round waits for a PUBACK, so the publisher's own buffers do not hide the flood.
    let overLimit = false;
    for (let round = 0; round < 100 && !overLimit && conn.channel.state !== 'closed'; round++) {
      for (let i = 0; i < 100; i++) pub.publish('firehose', payload);
      await pub.publishAsync('elsewhere', 'sync', { qos: 1 });
      overLimit = conn.bufferedBytes > maxOutgoing;
    }
    assert.ok(overLimit || conn.channel.state === 'closed', 'the stalled buffer went over the limit');
    await waitUntil(() => conn.channel.state === 'closed', 'the slow consumer to be disconnected', 5000);
    assert.equal(t.server.broker.stats.slowConsumersDisconnected, 1);
    assert.equal(sampleValue(await scrape(t), 'starling_slow_consumers_disconnected_total'), 1);
    assert.ok(pub.connected, 'the publisher is untouched');
    slow.destroy();
    await endClient(pub);
  });
});
