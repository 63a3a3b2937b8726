// 02 SUBSCRIBE / SUBACK and topic-filter matching on the wire (sections 3.8, 3.9, 4.7).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WireClient, WirePacket } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, expectDisconnect, expectSilentClose, online, ping, publish1, subscribe, take, uid } from './helpers.js';

/**
 * An invalid Topic Filter, refused as docs/conformance.md "Choices" says: MQTT 3.1.1 closes the
 * connection (no SUBACK 0x80), MQTT 5 sends DISCONNECT 0x8F (Topic Filter invalid) and closes.
 */
async function refusedFilter(c: WireClient, version: 4 | 5): Promise<void> {
  if (version === 4) await expectSilentClose(c);
  else await expectDisconnect(c, 0x8f);
}

/** Whether `sub`, subscribed to `filter`, receives a QoS 1 message published to `topic`. */
async function receives(port: number, filter: string, topic: string): Promise<boolean> {
  return (await received(port, filter, topic)).includes(topic);
}

/** The topics `sub`, subscribed to `filter`, receives while a QoS 1 message is published to `topic`. */
async function received(port: number, filter: string, topic: string): Promise<string[]> {
  const sub = await online(port, 4);
  await subscribe(sub, filter, 0);
  const pub = await online(port, 4);
  await publish1(pub, topic, 'probe');
  // Routed before the PUBACK, so any delivery reaches the subscriber before its PINGRESP.
  const got = (await ping(sub)).filter((p) => p.cmd === 'publish');
  bye(sub);
  bye(pub);
  return got.map((p) => p.topic as string);
}

describe('02 SUBSCRIBE', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.8.1-1] [MQTT-2.2.2-2] SUBSCRIBE with fixed-header flags other than 0010 is malformed: closed (MQTT 5 [MQTT-3.8.1-1]: DISCONNECT 0x81)', async () => {
    for (const flags of [0x0, 0x3, 0xa]) {
      const c = await online(port, 4);
      c.sendRaw(raw.subscribe(1, [['flags/x', 0]], { flags }));
      await expectSilentClose(c);
    }
    const c5 = await online(port, 5);
    c5.sendRaw(raw.subscribe(1, [['flags/x', 0]], { flags: 0, props5: raw.props() }));
    await expectDisconnect(c5, 0x81);
  });

  it('[MQTT-3.8.3-3] MQTT 3.1.1: a SUBSCRIBE without any Topic Filter closes the connection', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.subscribe(1, []));
    await expectSilentClose(c);
  });

  it('MQTT 5 [MQTT-3.8.3-2] a SUBSCRIBE without any Topic Filter is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.subscribe(1, [], { props5: raw.props() }));
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-3.8.3-4] MQTT 3.1.1: a requested QoS of 3 or a reserved option bit closes the connection', async () => {
    for (const options of [0x03, 0x04, 0x80, 0x41]) {
      const c = await online(port, 4);
      c.sendRaw(raw.subscribe(1, [['opt/x', options]]));
      await expectSilentClose(c);
    }
  });

  it('MQTT 5 [MQTT-3.8.3-5] reserved Subscription Options bits 6-7 are a Malformed Packet: DISCONNECT 0x81', async () => {
    for (const options of [0x40, 0x80]) {
      const c = await online(port, 5);
      c.sendRaw(raw.subscribe(1, [['opt/x', options]], { props5: raw.props() }));
      await expectDisconnect(c, 0x81);
    }
  });

  it('MQTT 5 (3.8.3.1) a Maximum QoS of 3 is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.subscribe(1, [['opt/x', 0x03]], { props5: raw.props() }));
    await expectDisconnect(c, 0x82);
  });

  it('MQTT 5 (3.8.3.1) a Retain Handling of 3 is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.subscribe(1, [['opt/x', 0x30]], { props5: raw.props() }));
    await expectDisconnect(c, 0x82);
  });

  it('MQTT 5 (3.8.2.1.2) a Subscription Identifier of 0 is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.subscribe(1, [['sid/x', 0]], { props5: raw.props(raw.prop.subscriptionIdentifier(0)) }));
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-3.8.3-1] [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-4.7.3-2] a Topic Filter that is not well-formed UTF-8 or contains U+0000 closes the connection (MQTT 5 [MQTT-3.8.3-1] [MQTT-1.5.4-1]: 0x81)', async () => {
    for (const filter of [raw.BAD_UTF8, raw.SURROGATE_UTF8, Buffer.from([0x61, 0x00])]) {
      const c = await online(port, 4);
      c.sendRaw(raw.subscribe(1, [[filter, 0]]));
      await expectSilentClose(c);
    }
    const c5 = await online(port, 5);
    c5.sendRaw(raw.subscribe(1, [[raw.BAD_UTF8, 0]], { props5: raw.props() }));
    await expectDisconnect(c5, 0x81);
  });

  it('[MQTT-2.3.1-1] a SUBSCRIBE with Packet Identifier 0 closes the connection', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.subscribe(0, [['pid/x', 0]]));
    await expectSilentClose(c);
  });

  it('[MQTT-4.7.3-1] an empty Topic Filter is refused: the connection is closed (MQTT 5 [MQTT-4.7.3-1]: DISCONNECT 0x8F)', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.subscribe(1, [['', 0]]));
    await refusedFilter(c, 4);
    const c5 = await online(port, 5);
    c5.sendRaw(raw.subscribe(1, [['', 0]], { props5: raw.props() }));
    await refusedFilter(c5, 5);
  });

  it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-2.3.1-7] SUBACK carries the Packet Identifier of its SUBSCRIBE (MQTT 5 [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-2.2.1-6])', async () => {
    for (const version of [4, 5] as const) {
      const c = await online(port, version);
      for (const id of [1, 0x1234, 0xffff]) await subscribe(c, `pid/${id}`, 0, id);
      bye(c);
    }
  });

  it('[MQTT-3.8.4-4] [MQTT-3.8.4-5] [MQTT-3.9.3-1] [MQTT-3.9.3-2] several filters in one SUBSCRIBE: one SUBACK, a code per filter in order, each subscription live (MQTT 5 [MQTT-3.8.4-5] [MQTT-3.8.4-6])', async () => {
    for (const version of [4, 5] as const) {
      const base = `multi${version}`;
      const c = await online(port, version);
      const ack = await subscribe(c, [
        { topic: `${base}/two`, qos: 2 },
        { topic: `${base}/zero`, qos: 0 },
        { topic: `${base}/one`, qos: 1 },
      ]);
      assert.deepEqual(ack.granted, [2, 0, 1]);
      const pub = await online(port, version);
      let id = 1;
      for (const topic of [`${base}/two`, `${base}/zero`, `${base}/one`]) {
        pub.send({ cmd: 'publish', topic, payload: topic, qos: 2, messageId: id++ });
        assert.equal((await pub.next()).cmd, 'pubrec');
      }
      const got = new Map<string, number>();
      for (let i = 0; i < 3; i++) {
        const m = await c.next();
        got.set(m.topic, m.qos);
        if (m.qos === 1) c.send({ cmd: 'puback', messageId: m.messageId });
        if (m.qos === 2) c.send({ cmd: 'pubrec', messageId: m.messageId });
      }
      assert.deepEqual(Object.fromEntries(got), { [`${base}/two`]: 2, [`${base}/zero`]: 0, [`${base}/one`]: 1 });
      bye(c);
      bye(pub);
    }
  });

  it('[MQTT-3.8.4-6] [MQTT-2.3.1-5] (MQTT 5 [MQTT-3.8.4-8] [MQTT-2.2.1-2]) a message is delivered at the lower of its QoS and the granted QoS', async () => {
    for (const version of [4, 5] as const) {
      for (const granted of [0, 1, 2]) {
        const sub = await online(port, version);
        const topic = `min/${uid('q')}`;
        await subscribe(sub, topic, granted);
        const pub = await online(port, version);
        for (const qos of [0, 1, 2]) {
          pub.send({ cmd: 'publish', topic, payload: `q${qos}`, qos, messageId: qos + 1 });
          if (qos > 0) assert.equal((await pub.next()).cmd, qos === 1 ? 'puback' : 'pubrec');
        }
        // Ordering is promised per topic and QoS only [MQTT-4.6.0-6], so match by payload.
        const got = await take(sub, 3);
        for (const qos of [0, 1, 2]) {
          const m = got.find((p) => p.payload.toString() === `q${qos}`);
          assert.ok(m, `q${qos} delivered`);
          assert.equal(m.qos, Math.min(qos, granted), `v${version} granted ${granted} published ${qos}`);
          assert.equal(m.messageId === undefined, m.qos === 0, 'a packet identifier exactly for QoS > 0 [MQTT-2.3.1-5]');
          if (m.qos === 1) sub.send({ cmd: 'puback', messageId: m.messageId });
          if (m.qos === 2) sub.send({ cmd: 'pubrec', messageId: m.messageId });
        }
        bye(sub);
        bye(pub);
      }
    }
  });

  it('[MQTT-3.8.4-3] (MQTT 5 [MQTT-3.8.4-3] [MQTT-3.8.4-4]) subscribing again to the same filter replaces it and re-sends the retained message', async () => {
    const topic = `again/${uid('r')}`;
    const pub = await online(port, 4);
    pub.send({ cmd: 'publish', topic, payload: 'kept', qos: 0, retain: true });
    await ping(pub);
    for (const version of [4, 5] as const) {
      const c = await online(port, version);
      await subscribe(c, topic, 1);
      const first = await c.next();
      assert.equal(first.retain, true);
      await subscribe(c, topic, 0, 2);
      const second = await c.next();
      assert.equal(second.payload.toString(), 'kept', 're-sent on the replacing SUBSCRIBE');
      assert.equal(second.retain, true);
      assert.equal(second.qos, 0, 'at the new granted QoS');
      // One subscription, not two: a live message arrives once.
      await publish1(pub, topic, 'live', 9);
      const live = (await ping(c)).filter((p) => p.cmd === 'publish');
      assert.equal(live.length, 1);
      bye(c);
    }
    bye(pub);
  });

  it('[MQTT-3.8.3-2] [MQTT-4.7.1-2] [MQTT-4.7.1-3] wildcard filters are accepted and match as the spec examples say', async () => {
    const cases: Array<[string, string, boolean]> = [
      ['sport/tennis/player1/#', 'sport/tennis/player1', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
      ['sport/#', 'sport', true],
      ['#', 'any/thing/at/all', true],
      ['sport/tennis/+', 'sport/tennis/player1', true],
      ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
      ['sport/+', 'sport', false],
      ['sport/+', 'sport/', true],
      ['+/+', '/finance', true],
      ['/+', '/finance', true],
      ['+', '/finance', false],
      ['+/tennis/#', 'sport/tennis/x/y', true],
    ];
    for (const [filter, topic, expected] of cases) {
      assert.equal(await receives(port, filter, topic), expected, `"${filter}" matches "${topic}": ${expected}`);
    }
  });

  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] a filter with a misplaced wildcard is refused: the connection is closed (MQTT 5 [MQTT-4.7.1-1] [MQTT-4.7.1-2]: DISCONNECT 0x8F)', async () => {
    for (const filter of ['sport/tennis#', 'sport/tennis/#/ranking', 'sport+', 'sport/+tennis', '#/x']) {
      const c = await online(port, 4);
      c.sendRaw(raw.subscribe(1, [[filter, 0]]));
      await refusedFilter(c, 4);
      const c5 = await online(port, 5);
      c5.sendRaw(raw.subscribe(1, [[filter, 0]], { props5: raw.props() }));
      await refusedFilter(c5, 5);
    }
  });

  it('[MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with $', async () => {
    for (const filter of ['#', '+/x', '+/#', '+']) {
      for (const topic of ['$x/x', '$SYS-test/x', '$x']) {
        // Retained messages of other tests may match '#'; no $-topic may.
        const dollar = (await received(port, filter, topic)).filter((x) => x.startsWith('$'));
        assert.deepEqual(dollar, [], `"${filter}" must not match "${topic}"`);
      }
    }
    assert.equal(await receives(port, '$x/#', '$x/x'), true, 'an explicit $ filter matches');
    assert.equal(await receives(port, '$x/+', '$x/x'), true);
  });

  it('[MQTT-4.7.3-4] matching does not normalise topics: case, empty levels, trailing slash and Unicode forms are distinct', async () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    const cases: Array<[string, string, boolean]> = [
      ['norm/a/b', 'norm/a/b', true],
      ['norm/a/b', 'norm/A/b', false],
      ['norm/a/b', 'norm/a//b', false],
      ['norm/a/b', 'norm/a/b/', false],
      ['norm/a/b', 'norm /a/b', false],
      [`norm/${nfc}`, `norm/${nfc}`, true],
      [`norm/${nfc}`, `norm/${nfd}`, false],
      ['norm/+/b', 'norm//b', true],
    ];
    for (const [filter, topic, expected] of cases) {
      assert.equal(await receives(port, filter, topic), expected, `"${filter}" matches "${topic}": ${expected}`);
    }
  });

  it('MQTT 5 [MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-3.8.4-7] SUBACK reason codes follow the filters in order and are Subscribe Reason Codes', async () => {
    const c = await online(port, 5);
    const ack: WirePacket = await subscribe(c, [
      { topic: 'rc5/a', qos: 1 },
      { topic: 'rc5/b', qos: 2 },
      { topic: 'rc5/c', qos: 0 },
    ]);
    assert.deepEqual(ack.granted, [1, 2, 0]);
    bye(c);
  });
});
