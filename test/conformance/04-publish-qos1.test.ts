// 04 PUBLISH at QoS 1 on the wire: both directions of the exchange, packet identifiers, DUP and
// redelivery on session resumption (sections 2.3, 3.3, 3.4, 4.3.2, 4.4, 4.6).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, expectDisconnect, expectSilentClose, online, onlineWith, packetSize, ping, publish1, subscribe, take, uid } from './helpers.js';

describe('04 PUBLISH QoS 1', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-2.3.1-1] a QoS 1 PUBLISH with Packet Identifier 0 closes the connection (MQTT 5 [MQTT-2.2.1-3]: DISCONNECT)', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.publish({ topic: 'pid0/x', qos: 1, packetId: 0, payload: 'x' }));
    await expectSilentClose(c);
    const c5 = await online(port, 5);
    c5.sendRaw(raw.publish({ topic: 'pid0/x', qos: 1, packetId: 0, props5: raw.props(), payload: 'x' }));
    await expectDisconnect(c5, [0x81, 0x82]);
  });

  it('[MQTT-4.3.2-2] [MQTT-3.3.4-1] [MQTT-2.3.1-6] the server answers each QoS 1 PUBLISH with a PUBACK carrying its Packet Identifier (MQTT 5 [MQTT-4.3.2-4] [MQTT-3.3.4-1] [MQTT-2.2.1-5])', async () => {
    for (const version of [4, 5] as const) {
      const c = await online(port, version);
      for (const id of [1, 2, 0x7fff, 0xffff]) await publish1(c, `ack1/${uid('t')}`, 'x', id);
      bye(c);
    }
  });

  it('[MQTT-4.3.2-2] after its PUBACK, a PUBLISH reusing the Packet Identifier is a new message, DUP or not (MQTT 5 [MQTT-4.3.2-5])', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      await subscribe(sub, `reuse1${version}/x`, 1);
      const pub = await online(port, version);
      await publish1(pub, `reuse1${version}/x`, 'first', 5);
      await publish1(pub, `reuse1${version}/x`, 'second', 5, { dup: true });
      const got = await take(sub, 2);
      assert.deepEqual(got.map((p) => p.payload.toString()), ['first', 'second']);
      for (const p of got) sub.send({ cmd: 'puback', messageId: p.messageId });
      bye(sub);
      bye(pub);
    }
  });

  it('[MQTT-3.3.1-3] the DUP flag of an incoming PUBLISH is not propagated to subscribers (MQTT 5 [MQTT-3.3.1-3])', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      await subscribe(sub, `dupin${version}/x`, 1);
      const pub = await online(port, version);
      await publish1(pub, `dupin${version}/x`, 'x', 9, { dup: true });
      const [m] = await take(sub, 1);
      assert.equal(m.dup, false);
      sub.send({ cmd: 'puback', messageId: m.messageId });
      bye(sub);
      bye(pub);
    }
  });

  it('[MQTT-4.3.2-1] [MQTT-2.3.1-1] [MQTT-2.3.1-4] outgoing QoS 1: DUP 0, non-zero Packet Identifiers, none reused while unacknowledged (MQTT 5 [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.2-3] [MQTT-2.2.1-4])', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      await subscribe(sub, `out1${version}/x`, 1);
      const pub = await online(port, version);
      for (let i = 0; i < 20; i++) await publish1(pub, `out1${version}/x`, `m${i}`, i + 1);
      const got = await take(sub, 20);
      const ids = got.map((p) => p.messageId as number);
      for (const p of got) {
        assert.equal(p.qos, 1);
        assert.equal(p.dup, false);
      }
      assert.ok(ids.every((id) => id > 0 && id <= 0xffff));
      assert.equal(new Set(ids).size, ids.length, 'unacknowledged messages have distinct identifiers');
      for (const id of ids) sub.send({ cmd: 'puback', messageId: id });
      assert.deepEqual(await ping(sub), []);
      bye(sub);
      bye(pub);
    }
  });

  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.6.0-1] [MQTT-2.3.1-3] unacknowledged QoS 1 messages are resent on resumption, with DUP 1, the same identifiers, in the original order', async () => {
    const clientId = uid('resend1');
    const first = await online(port, 4, { clientId, clean: false });
    await subscribe(first, 'resend1/x', 1);
    const pub = await online(port, 4);
    for (let i = 0; i < 5; i++) await publish1(pub, 'resend1/x', `m${i}`, i + 1);
    const sent = await take(first, 5);
    // Acknowledge only the second one, then drop the connection.
    first.send({ cmd: 'puback', messageId: sent[1].messageId });
    await ping(first);
    first.end();
    await first.waitClosed();
    const { client: again, connack } = await WireClient.connect(port, { clientId, clean: false }, 4);
    assert.equal(connack.sessionPresent, true);
    const resent = await take(again, 4);
    assert.deepEqual(
      resent.map((p) => [p.payload.toString(), p.messageId, p.dup]),
      [0, 2, 3, 4].map((i) => [`m${i}`, sent[i].messageId, true]),
    );
    for (const p of resent) again.send({ cmd: 'puback', messageId: p.messageId });
    assert.deepEqual(await ping(again), [], 'acknowledged messages are not sent again');
    bye(again);
    bye(pub);
  });

  it('MQTT 5 [MQTT-4.4.0-1] messages are not resent while the connection lasts, only on resumption', async () => {
    const sub = await online(port, 5);
    await subscribe(sub, 'noretry/x', 1);
    const pub = await online(port, 5);
    await publish1(pub, 'noretry/x', 'once');
    const [m] = await take(sub, 1);
    assert.equal(m.dup, false);
    // Unacknowledged for a while: no retransmission on a live connection.
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(await ping(sub), []);
    sub.send({ cmd: 'puback', messageId: m.messageId });
    bye(sub);
    bye(pub);
  });

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] QoS 1 messages from one client to one topic are forwarded in order', async () => {
    const sub = await online(port, 4);
    await subscribe(sub, 'order1/x', 1);
    const pub = await online(port, 4);
    for (let i = 0; i < 50; i++) pub.send({ cmd: 'publish', topic: 'order1/x', payload: String(i), qos: 1, messageId: i + 1 });
    const acks = await take(pub, 50);
    assert.deepEqual(acks.map((a) => a.messageId), Array.from({ length: 50 }, (_, i) => i + 1), 'PUBACKs in PUBLISH order');
    const got = await take(sub, 50);
    assert.deepEqual(got.map((p) => Number(p.payload.toString())), Array.from({ length: 50 }, (_, i) => i));
    for (const p of got) sub.send({ cmd: 'puback', messageId: p.messageId });
    bye(sub);
    bye(pub);
  });

  it('a PUBACK for an identifier the server never used does not break the connection', async () => {
    const c = await online(port, 4);
    c.send({ cmd: 'puback', messageId: 4242 });
    assert.deepEqual(await ping(c), []);
    bye(c);
  });
});

describe('04 PUBLISH QoS 1: what the server does not authorize', () => {
  let t: TestServer;
  let port: number;
  const closed = (s: string): boolean => s.startsWith('closed/');
  before(async () => {
    t = await startTestServer({}, {
      hooks: {
        authorizePublish: (_c, topic) => (closed(topic) ? 0x87 : 0),
        authorizeSubscribe: (_c, filter) => (closed(filter) ? 0x87 : 0),
      },
    });
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.3.5-2] MQTT 3.1.1: an unauthorized PUBLISH gets a positive PUBACK (or a close) and is not delivered', async () => {
    const watcher = await online(port, 4);
    await subscribe(watcher, '#', 1);
    const c = await online(port, 4);
    c.send({ cmd: 'publish', topic: 'closed/x', payload: 'no', qos: 1, messageId: 5 });
    const ack = await c.nextOrClose(3000);
    if (ack) {
      assert.equal(ack.cmd, 'puback');
      assert.equal(ack.messageId, 5);
      bye(c);
    }
    assert.deepEqual((await ping(watcher)).filter((p) => p.topic === 'closed/x'), [], 'not delivered');
    bye(watcher);
  });

  it('MQTT 5 [MQTT-3.4.2-1] an unauthorized PUBLISH is answered with PUBACK 0x87 and not delivered', async () => {
    const watcher = await online(port, 5);
    await subscribe(watcher, '#', 1);
    const c = await online(port, 5);
    c.send({ cmd: 'publish', topic: 'closed/y', payload: 'no', qos: 1, messageId: 6 });
    const ack = await c.next();
    assert.equal(ack.cmd, 'puback');
    assert.equal(ack.reasonCode, 0x87);
    assert.deepEqual((await ping(watcher)).filter((p) => p.topic === 'closed/y'), []);
    bye(c);
    bye(watcher);
  });

  it('[MQTT-3.9.3-2] [MQTT-3.8.4-5] an unauthorized subscription gets 0x80 in its SUBACK slot (MQTT 5 [MQTT-3.9.3-2] [MQTT-3.8.4-7]: 0x87), the others are granted', async () => {
    const c4 = await online(port, 4);
    const ack4 = await subscribe(c4, [
      { topic: 'open/a', qos: 1 },
      { topic: 'closed/a', qos: 1 },
    ]);
    assert.deepEqual(ack4.granted, [1, 0x80]);
    bye(c4);
    const c5 = await online(port, 5);
    const ack5 = await subscribe(c5, [
      { topic: 'closed/b', qos: 2 },
      { topic: 'open/b', qos: 2 },
    ]);
    assert.deepEqual(ack5.granted, [0x87, 2]);
    bye(c5);
  });

  it('MQTT 5 [MQTT-3.9.2-1] [MQTT-3.1.2-24] a SUBACK Reason String that would exceed the client Maximum Packet Size is left out', async () => {
    const { client: c, connack } = await onlineWith(port, 5, { properties: { maximumPacketSize: 26 } });
    assert.ok(packetSize(connack) <= 26, `CONNACK of ${packetSize(connack)} bytes within the client maximum`);
    const ack = await subscribe(c, [{ topic: 'closed/z', qos: 1 }], 0, 3);
    assert.deepEqual(ack.granted, [0x87]);
    assert.ok(packetSize(ack) <= 26, `SUBACK of ${packetSize(ack)} bytes exceeds the client Maximum Packet Size 26`);
    bye(c);
  });
});
