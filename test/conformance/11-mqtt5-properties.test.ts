// 11 MQTT 5 properties, topic aliases, AUTH and flow control on the wire (sections 2.2.2, 3.1.2.11,
// 3.2.2.3, 3.3.2.3, 3.15, 4.9, 4.12, 4.13).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient, type WirePacket } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, connackCode, expectDisconnect, expectRefused, expectSilentClose, online, onlineWith, openRaw, packetSize, ping, pingOnly, publish1, sleep, subscribe, take, uid } from './helpers.js';

const P = raw.prop;

/**
 * Opens every QoS 2 exchange the server's Receive Maximum allows (ids 1..max, never released) and
 * reads their PUBRECs. Returns how many ids that was.
 */
async function fillQos2Window(c: WireClient, connack: WirePacket, topic: string): Promise<number> {
  const ids = Math.min((connack.properties?.receiveMaximum as number | undefined) ?? 65535, 65535);
  c.sendRaw(Buffer.concat(Array.from({ length: ids }, (_, i) => raw.publish({ topic, qos: 2, packetId: i + 1, props5: raw.props() }))));
  let pubrecs = 0;
  for (let i = 0; i < ids + 10 && pubrecs < ids; i++) {
    const p = await c.next(10_000);
    assert.equal(p.cmd, 'pubrec');
    pubrecs++;
  }
  assert.equal(pubrecs, ids, 'every message of the window is accepted');
  return ids;
}

describe('11 MQTT 5 properties', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('(2.2.2.2) a property included twice in CONNECT is a Protocol Error: no successful CONNACK (0x82 if any), closed', async () => {
    const properties = raw.props(P.sessionExpiryInterval(10), P.sessionExpiryInterval(20));
    const c = await openRaw(port, 5, raw.connect({ level: 5, clientId: uid('dup'), properties }));
    await expectRefused(c, [0x82]);
  });

  it('(2.2.2.2) a property included twice in PUBLISH or SUBSCRIBE is a Protocol Error: DISCONNECT 0x82', async () => {
    const pub = await online(port, 5);
    pub.sendRaw(raw.publish({ topic: 'dup/x', props5: raw.props(P.messageExpiryInterval(5), P.messageExpiryInterval(6)), payload: 'x' }));
    await expectDisconnect(pub, 0x82);
    const sub = await online(port, 5);
    sub.sendRaw(raw.subscribe(1, [['dup/x', 0]], { props5: raw.props(P.subscriptionIdentifier(1), P.subscriptionIdentifier(2)) }));
    await expectDisconnect(sub, 0x82);
  });

  it('(2.2.2.2) a property identifier not valid for the packet type is a Malformed Packet: DISCONNECT 0x81', async () => {
    const a = await online(port, 5);
    a.sendRaw(raw.publish({ topic: 'wrong/x', props5: raw.props(P.sessionExpiryInterval(5)), payload: 'x' }));
    await expectDisconnect(a, 0x81);
    const b = await online(port, 5);
    b.sendRaw(raw.subscribe(1, [['wrong/x', 0]], { props5: raw.props(P.topicAlias(1)) }));
    await expectDisconnect(b, 0x81);
  });

  it('(2.2.2.2) an unknown property identifier, or a property length past the packet end, is a Malformed Packet: DISCONNECT 0x81', async () => {
    const a = await online(port, 5);
    a.sendRaw(raw.publish({ topic: 'unknown/x', props5: raw.props([0x7f, 0x00]), payload: '' }));
    await expectDisconnect(a, 0x81);
    const b = await online(port, 5);
    b.sendRaw(raw.packet(0x30, raw.str('len/x'), raw.varint(50), P.messageExpiryInterval(1)));
    await expectDisconnect(b, 0x81);
  });

  it('[MQTT-3.14.0-1] (3.1.2.11) CONNECT with Receive Maximum 0, Maximum Packet Size 0 or Request Problem Information 2 is a Protocol Error: refused, never with a DISCONNECT', async () => {
    for (const bad of [P.receiveMaximum(0), P.maximumPacketSize(0), P.requestProblemInformation(2)]) {
      const c = await openRaw(port, 5, raw.connect({ level: 5, clientId: uid('bad'), properties: raw.props(bad) }));
      await expectRefused(c, [0x82]);
    }
  });

  it('[MQTT-1.5.4-1] [MQTT-1.5.7-1] [MQTT-3.3.2-13] [MQTT-3.3.2-19] UTF-8 properties (User Property, Response Topic, Content Type) must be well-formed: DISCONNECT 0x81', async () => {
    for (const bad of [P.userProperty(raw.BAD_UTF8, 'v'), P.userProperty('k', raw.SURROGATE_UTF8), P.responseTopic(raw.BAD_UTF8), P.contentType(raw.BAD_UTF8)]) {
      const c = await online(port, 5);
      c.sendRaw(raw.publish({ topic: 'utf8/x', props5: raw.props(bad), payload: 'x' }));
      await expectDisconnect(c, 0x81);
    }
  });

  it('[MQTT-3.3.2-14] a Response Topic with a wildcard is refused with a DISCONNECT', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.publish({ topic: 'rt/x', props5: raw.props(P.responseTopic('reply/#')), payload: 'x' }));
    await expectDisconnect(c, [0x90, 0x82, 0x81]);
  });

  it('[MQTT-3.3.4-6] a PUBLISH from a client must not carry a Subscription Identifier: Protocol Error, DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.publish({ topic: 'sid/pub', props5: raw.props(P.subscriptionIdentifier(5)), payload: 'x' }));
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-3.2.0-1] [MQTT-3.2.2-1] [MQTT-3.2.2-9] [MQTT-3.1.2-28] [MQTT-4.12.0-6] CONNACK first: reserved flag bits 0, no Maximum QoS (QoS 2 is supported), no Response Information or Authentication Method unasked', async () => {
    const c = await openRaw(port, 5, raw.connect({ level: 5, clientId: uid('connack') }));
    const bytes: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => bytes.push(d));
    const p = await c.next();
    assert.equal(connackCode(p), 0);
    const b = Buffer.concat(bytes);
    assert.equal(b[0], 0x20, 'CONNACK type and flags');
    assert.equal(b[b[1] < 128 ? 2 : 3] & 0xfe, 0, 'Connect Acknowledge Flags bits 7-1 are 0');
    assert.equal(p.properties?.maximumQoS, undefined);
    assert.equal(p.properties?.responseInformation, undefined);
    assert.equal(p.properties?.authenticationMethod, undefined);
    bye(c);
  });

  it('[MQTT-4.12.0-7] [MQTT-3.15.2-1] an AUTH from a client that gave no Authentication Method is a Protocol Error: DISCONNECT 0x82', async () => {
    const a = await online(port, 5);
    a.send({ cmd: 'auth', reasonCode: 0x18 }); // no Authentication Method at all
    await expectDisconnect(a, 0x82);
    const b = await online(port, 5);
    b.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-256' } });
    await expectDisconnect(b, 0x82);
  });

  it('[MQTT-3.15.1-1] AUTH with reserved fixed-header flags is malformed: DISCONNECT 0x81', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.packet(0xf1, [0x18], raw.props(P.authenticationMethod('X'))));
    await expectDisconnect(c, 0x81);
  });

  it('(3.3.2.3.4) a PUBLISH using a Topic Alias that was never set is refused: DISCONNECT (0x82 / 0x94)', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.publish({ topic: '', props5: raw.props(P.topicAlias(7)), payload: 'x' }));
    await expectDisconnect(c, [0x82, 0x94]);
  });

  it('[MQTT-3.3.2-8] a Topic Alias of 0 is refused: DISCONNECT (0x82 / 0x94)', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.publish({ topic: 'alias/zero', props5: raw.props(P.topicAlias(0)), payload: 'x' }));
    await expectDisconnect(c, [0x82, 0x94]);
  });

  it('[MQTT-3.3.2-12] the server accepts every Topic Alias from 1 to the Topic Alias Maximum it sent', async () => {
    const { client: c, connack } = await onlineWith(port, 5);
    const max = connack.properties?.topicAliasMaximum as number;
    assert.ok(max > 0, 'the server accepts topic aliases');
    const sub = await online(port, 5);
    const topic = `alias/ok/${uid('t')}`;
    await subscribe(sub, topic, 0);
    for (const alias of [1, max]) {
      c.sendRaw(raw.publish({ topic, props5: raw.props(P.topicAlias(alias)), payload: `set ${alias}` }));
      c.sendRaw(raw.publish({ topic: '', props5: raw.props(P.topicAlias(alias)), payload: `use ${alias}` }));
    }
    const got = await take(sub, 4);
    assert.deepEqual(got.map((p) => [p.topic, p.payload.toString()]), [
      [topic, 'set 1'],
      [topic, 'use 1'],
      [topic, `set ${max}`],
      [topic, `use ${max}`],
    ]);
    bye(c);
    bye(sub);
  });

  it('[MQTT-3.3.2-7] topic aliases are not carried over to a new connection, even of the same session', async () => {
    const clientId = uid('alias-carry');
    const a = await online(port, 5, { clientId, properties: { sessionExpiryInterval: 60 } });
    a.sendRaw(raw.publish({ topic: 'alias/carry', props5: raw.props(P.topicAlias(3)), payload: 'x' }));
    await ping(a);
    bye(a);
    await a.waitClosed();
    const b = await online(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    b.sendRaw(raw.publish({ topic: '', props5: raw.props(P.topicAlias(3)), payload: 'x' }));
    // An alias with no mapping on this connection is a Protocol Error (3.3.4), not 0x94 (which is
    // for 0 or above the maximum).
    await expectDisconnect(b, 0x82);
  });

  it('[MQTT-3.1.2-27] no Topic Alias is sent to a client that did not send a Topic Alias Maximum', async () => {
    const sub = await online(port, 5);
    const topic = `noalias/${uid('t')}`;
    await subscribe(sub, topic, 0);
    const pub = await online(port, 5);
    for (let i = 0; i < 3; i++) await publish1(pub, topic, `m${i}`, i + 1);
    const got = await take(sub, 3);
    for (const p of got) {
      assert.equal(p.topic, topic);
      assert.equal(p.properties?.topicAlias, undefined);
    }
    bye(sub);
    bye(pub);
  });

  it('[MQTT-3.1.2-26] [MQTT-3.3.2-11] Topic Aliases sent to the client stay within its Topic Alias Maximum and resolve consistently', async () => {
    const sub = await online(port, 5, { properties: { topicAliasMaximum: 2 } });
    const base = `aliasmax/${uid('t')}`;
    await subscribe(sub, `${base}/#`, 0);
    const pub = await online(port, 5);
    const sent: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5; i++) {
        const topic = `${base}/${i}`;
        sent.push(topic);
        pub.send({ cmd: 'publish', topic, payload: topic, qos: 0 });
      }
    }
    const got = await take(sub, sent.length);
    const aliases = new Map<number, string>();
    const resolved = got.map((p: WirePacket) => {
      const alias = p.properties?.topicAlias as number | undefined;
      if (alias === undefined) return p.topic as string;
      assert.ok(alias >= 1 && alias <= 2, `alias ${alias} within the client maximum 2`);
      if (p.topic) aliases.set(alias, p.topic);
      return p.topic || aliases.get(alias);
    });
    assert.deepEqual(resolved, sent, 'every message resolves to the topic it was published to');
    assert.deepEqual(got.map((p) => p.payload.toString()), sent);
    bye(sub);
    bye(pub);
  });

  it('[MQTT-3.1.2-25] [MQTT-3.3.2-11] a message too large for the client, dropped while its Topic Alias table is full, leaves every topic resolving to itself', async () => {
    const sub = await online(port, 5, { properties: { topicAliasMaximum: 2, maximumPacketSize: 200 } });
    const base = `aliasdrop/${uid('t')}`;
    await subscribe(sub, `${base}/#`, 0);
    const pub = await online(port, 5);
    const [a, b, x, y] = ['a', 'b', 'x', 'y'].map((n) => `${base}/${n}`);
    // a → 1, b → 2 (table full); x would take over 1 but is too large and dropped; then y, and b
    // again: b must not be sent as a bare alias that the client now maps to y.
    const plan: Array<[string, string]> = [[a, 'a1'], [b, 'b1'], [x, 'x'.repeat(500)], [y, 'y1'], [b, 'b2'], [y, 'y2'], [a, 'a2'], [b, 'b3']];
    for (const [topic, payload] of plan) pub.send({ cmd: 'publish', topic, payload, qos: 0 });
    const expected = plan.filter(([topic]) => topic !== x);
    const got = await take(sub, expected.length);
    const aliases = new Map<number, string>();
    const resolved = got.map((p: WirePacket) => {
      const alias = p.properties?.topicAlias as number;
      assert.ok(alias >= 1 && alias <= 2, `alias ${alias} within the client maximum 2`);
      if (p.topic) aliases.set(alias, p.topic);
      return [aliases.get(alias), p.payload.toString()];
    });
    assert.deepEqual(resolved, expected, 'the dropped message is not delivered and every alias resolves to its own topic');
    await pingOnly(sub);
    bye(sub);
    bye(pub);
  });

  it('[MQTT-3.14.4-1] [MQTT-3.14.4-2] (3.14.2.1) when the server shuts down, a connected client gets DISCONNECT 0x8B (Server shutting down), then the close; an MQTT 3.1.1 client, or one before CONNACK, gets the close alone', async () => {
    const own = await startTestServer();
    try {
      const ownPort = own.port();
      const connected = await online(ownPort, 5);
      const v4 = await online(ownPort, 4);
      const early = await WireClient.open(ownPort, 5); // no CONNECT yet: no DISCONNECT is owed [MQTT-3.14.0-1]
      const closing = own.close();
      const d = await expectDisconnect(connected, 0x8b);
      assert.equal(d.properties?.sessionExpiryInterval, undefined);
      const early1 = await early.nextOrClose(3000);
      assert.equal(early1, undefined, `a client without CONNACK got ${early1?.cmd}`);
      await expectSilentClose(v4); // MQTT 3.1.1 has no DISCONNECT from the server
      await closing;
    } finally {
      await own.close();
    }
  });

  it('[MQTT-3.1.2-29] with Request Problem Information 0 no Reason String is sent on PUBACK', async () => {
    const c = await online(port, 5, { properties: { requestProblemInformation: false } });
    c.send({ cmd: 'publish', topic: `rpi/${uid('t')}`, payload: Buffer.from([0xff]), qos: 1, messageId: 1, properties: { payloadFormatIndicator: true } });
    const ack = await c.next();
    assert.equal(ack.cmd, 'puback');
    assert.equal(ack.reasonCode, 0x99);
    assert.equal(ack.properties?.reasonString, undefined);
    assert.equal(ack.properties?.userProperties, undefined);
    bye(c);
  });

  it('[MQTT-4.9.0-1] [MQTT-4.9.0-2] [MQTT-4.9.0-3] [MQTT-3.3.4-10] while the client has no send quota left, the server still answers PINGREQ, SUBSCRIBE and UNSUBSCRIBE', async () => {
    const sub = await online(port, 5, { properties: { receiveMaximum: 1 } });
    const topic = `quota/${uid('t')}`;
    await subscribe(sub, topic, 1);
    const pub = await online(port, 5);
    await publish1(pub, topic, 'a', 1);
    await publish1(pub, topic, 'b', 2);
    const [m] = await take(sub, 1);
    assert.equal(m.payload.toString(), 'a');
    assert.deepEqual(await ping(sub), [], 'PINGRESP, and no second PUBLISH');
    await subscribe(sub, `${topic}/other`, 0, 2);
    sub.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: [`${topic}/other`] });
    assert.equal((await sub.next()).cmd, 'unsuback');
    sub.send({ cmd: 'puback', messageId: m.messageId });
    const [n] = await take(sub, 1);
    assert.equal(n.payload.toString(), 'b');
    sub.send({ cmd: 'puback', messageId: n.messageId });
    bye(sub);
    bye(pub);
  });

  it('[MQTT-3.3.4-7] more unacknowledged QoS 2 PUBLISHes than the server Receive Maximum: DISCONNECT 0x93', async () => {
    const { client: c, connack } = await onlineWith(port, 5);
    const topic = `rm/${uid('t')}`;
    // Fill the window with QoS 2 messages that are never released, then send one more QoS 1.
    await fillQos2Window(c, connack, topic);
    c.sendRaw(raw.publish({ topic, qos: 1, packetId: 1, props5: raw.props() }));
    await expectDisconnect(c, 0x93, 10_000);
  });

  it('[MQTT-3.3.4-7] [MQTT-4.4.0-1] [MQTT-4.3.3-10] a client resuming with a full window of QoS 2 ids awaiting PUBREL resends them with DUP: PUBREC, not 0x93; only exchanges opened on this connection count against the Receive Maximum', async () => {
    const clientId = uid('rm-qos2-resume');
    const session = { clientId, clean: false, properties: { sessionExpiryInterval: 60 } };
    const { client: a, connack } = await onlineWith(port, 5, { clientId, properties: { sessionExpiryInterval: 60 } });
    const topic = `rm-resume/${uid('t')}`;
    const ids = await fillQos2Window(a, connack, topic);
    bye(a);
    await a.waitClosed();
    const { client: b, connack: resumed } = await onlineWith(port, 5, session);
    assert.equal(resumed.sessionPresent, true);
    // Resends of ids the session holds: acknowledged again, never taken for new exchanges.
    for (const id of [1, ids]) {
      b.sendRaw(raw.publish({ topic, qos: 2, dup: true, packetId: id, props5: raw.props(), payload: 'x' }));
      const p = await b.next(3000);
      assert.equal(p.cmd, 'pubrec', `a resend of id ${id} gets PUBREC, not ${p.cmd} 0x${Number(p.reasonCode).toString(16)}`);
      assert.equal(p.messageId, id);
      assert.ok(!p.reasonCode, `PUBREC ${id} is a success`);
    }
    b.send({ cmd: 'pubrel', messageId: 1 });
    const comp = await b.next(3000);
    assert.equal(comp.cmd, 'pubcomp');
    assert.equal(comp.messageId, 1);
    // Nothing was opened on this connection, so a new exchange on the freed id is within the quota.
    b.sendRaw(raw.publish({ topic, qos: 1, packetId: 1, props5: raw.props(), payload: 'y' }));
    const ack = await b.next(3000);
    assert.equal(ack.cmd, 'puback');
    assert.ok(!ack.reasonCode || ack.reasonCode === 0x10, `PUBACK 0x${Number(ack.reasonCode).toString(16)}`);
    await pingOnly(b);
    // Leave no session behind holding 65535 ids.
    b.socket.end(raw.packet(0xe0, [0x00], raw.props(P.sessionExpiryInterval(0))));
    await b.waitClosed();
  });

  it('[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] overlapping subscriptions: one copy at the highest QoS, carrying every matching Subscription Identifier', async () => {
    const c = await online(port, 5);
    const base = `ovl5/${uid('t')}`;
    await subscribe(c, `${base}/+`, 0, 1, { subscriptionIdentifier: 11 });
    await subscribe(c, `${base}/#`, 1, 2, { subscriptionIdentifier: 22 });
    await subscribe(c, `${base}/x`, 0, 3);
    const pub = await online(port, 5);
    await publish1(pub, `${base}/x`, 'x');
    const got = await ping(c);
    assert.equal(got.length, 1, 'one copy');
    assert.equal(got[0].qos, 1, 'at the highest granted QoS');
    assert.deepEqual([got[0].properties?.subscriptionIdentifier].flat().sort(), [11, 22]);
    c.send({ cmd: 'puback', messageId: got[0].messageId });
    bye(c);
    bye(pub);
  });

  it('[MQTT-3.1.2-24] [MQTT-3.4.2-2] [MQTT-3.5.2-2] [MQTT-3.14.2-3] Reason Strings are left out where they would exceed the client Maximum Packet Size', async () => {
    const max = 26;
    const { client: c, connack } = await onlineWith(port, 5, { properties: { maximumPacketSize: max } });
    assert.ok(packetSize(connack) <= max, `CONNACK of ${packetSize(connack)} bytes`);
    const bad = { payload: Buffer.from([0xff]), properties: { payloadFormatIndicator: true } };
    c.send({ cmd: 'publish', topic: `mps/${uid('t')}`, qos: 1, messageId: 1, ...bad });
    const puback = await c.next();
    assert.equal(puback.reasonCode, 0x99);
    assert.ok(packetSize(puback) <= max, `PUBACK of ${packetSize(puback)} bytes exceeds the client Maximum Packet Size ${max}`);
    c.send({ cmd: 'publish', topic: `mps/${uid('t')}`, qos: 2, messageId: 2, ...bad });
    const pubrec = await c.next();
    assert.equal(pubrec.reasonCode, 0x99);
    assert.ok(packetSize(pubrec) <= max, `PUBREC of ${packetSize(pubrec)} bytes exceeds the client Maximum Packet Size ${max}`);
    c.sendRaw(raw.publish({ topic: '', props5: raw.props(), payload: 'x' }));
    const d = await expectDisconnect(c, 0x82);
    assert.ok(packetSize(d) <= max, `DISCONNECT of ${packetSize(d)} bytes exceeds the client Maximum Packet Size ${max}`);
  });

  it('[MQTT-3.3.4-9] on resume with a smaller Receive Maximum, in-flight messages are resent (DUP 1) only as far as it allows, the rest as acknowledgements come', async () => {
    const clientId = uid('rm-resume');
    const topic = `rmr/${uid('t')}`;
    const a = await online(port, 5, { clientId, properties: { sessionExpiryInterval: 60, receiveMaximum: 10 } });
    await subscribe(a, topic, 1);
    const pub = await online(port, 5);
    for (let i = 0; i < 5; i++) await publish1(pub, topic, `m${i}`, i + 1);
    const first = await take(a, 5);
    assert.deepEqual(first.map((p) => p.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4']);
    a.end(); // gone without acknowledging anything
    await a.waitClosed();
    const { client: b, connack } = await onlineWith(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 0, receiveMaximum: 2 } });
    assert.equal(connack.sessionPresent, true);
    const resent = await take(b, 2);
    assert.deepEqual(resent.map((p) => [p.payload.toString(), p.dup]), [['m0', true], ['m1', true]]);
    await b.expectSilence(150);
    let oldest = 0;
    for (let i = 2; i < 5; i++) {
      b.send({ cmd: 'puback', messageId: resent[oldest++].messageId, reasonCode: 0 });
      const next = await b.next();
      assert.deepEqual([next.cmd, next.payload?.toString(), next.dup], ['publish', `m${i}`, true], 'one more for each PUBACK, in order');
      resent.push(next);
      await b.expectSilence(60);
    }
    bye(b);
    bye(pub);
  });

  it('[MQTT-3.3.2-6] a message in flight when the connection dropped is resent on resume with the Message Expiry Interval it has left', async () => {
    const clientId = uid('exp-resume');
    const topic = `exr/${uid('t')}`;
    const a = await online(port, 5, { clientId, properties: { sessionExpiryInterval: 60 } });
    await subscribe(a, topic, 1);
    const pub = await online(port, 5);
    await publish1(pub, topic, 'ticking', 1, { properties: { messageExpiryInterval: 10 } });
    const [sent] = await take(a, 1);
    assert.equal(sent.properties?.messageExpiryInterval, 10);
    a.end();
    await a.waitClosed();
    await sleep(1100);
    const { client: b } = await onlineWith(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 0 } });
    const [again] = await take(b, 1);
    assert.equal(again.dup, true);
    const left = again.properties?.messageExpiryInterval as number;
    assert.ok(left >= 7 && left <= 9, `resent with ${left} s left of 10, after more than a second`);
    bye(b);
    bye(pub);
  });

  it('[MQTT-3.2.2-19] a refusing CONNACK leaves out its Reason String where it would exceed the client Maximum Packet Size', async () => {
    const will = { topic: 'mps/will', payload: Buffer.from([0xff]), qos: 0, retain: false, properties: { payloadFormatIndicator: true } };
    const roomy = await WireClient.connect(port, { clientId: uid('mps-ca'), will }, 5);
    assert.equal(roomy.connack.reasonCode, 0x99);
    assert.ok(roomy.connack.properties?.reasonString, 'a Reason String when it fits');
    const max = 16;
    const tight = await WireClient.connect(port, { clientId: uid('mps-cb'), will, properties: { maximumPacketSize: max } }, 5);
    assert.equal(tight.connack.reasonCode, 0x99);
    assert.equal(tight.connack.properties?.reasonString, undefined);
    assert.ok(packetSize(tight.connack) <= max, `CONNACK of ${packetSize(tight.connack)} bytes exceeds ${max}`);
    assert.equal(await tight.client.waitClosed(), true);
  });
});

describe('11 MQTT 5 server-sent DISCONNECT 0x97', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ maxOutgoingBytes: '65536', slowConsumerTimeoutSec: '1', maxQueuedMessages: '10' });
  });
  after(() => t.close());

  it('(3.14.2.1) a consumer that stops reading until its outgoing buffer stays over maxOutgoingBytes gets DISCONNECT 0x97 (Quota exceeded)', async () => {
    const topic = `slow/${uid('t')}`;
    const sub = await online(t.port(), 5);
    await subscribe(sub, topic, 0);
    sub.socket.pause();
    // Enough to fill the loopback socket buffers, so the broker's own buffer fills behind them.
    const pub = await online(t.port(), 5);
    const chunk = Buffer.alloc(256 * 1024, 7);
    const stats = t.server.broker.stats;
    const before = stats.slowConsumersDisconnected;
    for (let i = 0; i < 64; i++) await publish1(pub, topic, chunk, i + 1);
    // Read again once the broker gave up on it (within its 2 s grace before the socket is destroyed).
    for (let i = 0; i < 100 && stats.slowConsumersDisconnected === before; i++) await sleep(50);
    assert.equal(stats.slowConsumersDisconnected, before + 1, 'disconnected as a slow consumer');
    sub.socket.resume();
    let last: WirePacket | undefined;
    for (let i = 0; i < 1000; i++) {
      const p = await sub.nextOrClose(3000);
      if (!p) break;
      last = p;
      if (p.cmd === 'disconnect') break;
    }
    assert.equal(last?.cmd, 'disconnect', 'told before the close');
    assert.equal(last?.reasonCode, 0x97);
    assert.equal(await sub.waitClosed(), true);
    bye(pub);
  });
});
