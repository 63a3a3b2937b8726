// 13 Malformed packets and protocol violations on the wire (sections 1.5.5, 2.1-2.2, 4.8 / 4.13): each
// closes only the connection it came on, and framing copes with any split or coalescing of bytes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, connackCode, expectDisconnect, expectSilentClose, online, openRaw, ping, sleep, subscribe, take, uid } from './helpers.js';

/** A Topic Alias property (7) never set: the PUBLISH carrying it is refused. */
const P7 = raw.prop.topicAlias(7);

/** Sends `bytes` after CONNACK and expects the close (3.1.1) or DISCONNECT with one of `codes` (5.0). */
async function violates(port: number, version: 4 | 5, bytes: Buffer, codes: number[] = [0x81]): Promise<void> {
  const c = await online(port, version);
  c.sendRaw(bytes);
  if (version === 4) await expectSilentClose(c);
  else await expectDisconnect(c, codes);
}

describe('13 malformed packets', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer({ mqttMessageMaxLength: '1024' });
    port = t.port();
  });
  after(() => t.close());

  it('a Remaining Length longer than four bytes closes the connection (MQTT 5: 0x81)', async () => {
    const bytes = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    await violates(port, 4, bytes);
    await violates(port, 5, bytes, [0x81, 0x95]);
    const early = await openRaw(port, 4, bytes);
    await expectSilentClose(early);
  });

  it('MQTT 5 [MQTT-1.5.5-1] a Remaining Length not minimally encoded is a Malformed Packet: DISCONNECT 0x81', async () => {
    await violates(port, 5, Buffer.from([0xc0, 0x80, 0x00]));
  });

  it('[MQTT-2.2.2-2] reserved packet types 0 and 15 (15 before MQTT 5) close the connection', async () => {
    await violates(port, 4, Buffer.from([0x00, 0x00]));
    await violates(port, 4, Buffer.from([0xf0, 0x00]));
    await violates(port, 5, Buffer.from([0x00, 0x00]), [0x81, 0x82]);
    const early = await openRaw(port, 4, Buffer.from([0x00, 0x00, 0x00, 0x00]));
    await expectSilentClose(early);
  });

  it('[MQTT-4.8.0-1] packets only a server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) close the connection', async () => {
    const serverOnly = [Buffer.from([0x20, 0x02, 0x00, 0x00]), Buffer.from([0x90, 0x03, 0x00, 0x01, 0x00]), Buffer.from([0xb0, 0x02, 0x00, 0x01]), Buffer.from([0xd0, 0x00])];
    for (const bytes of serverOnly) await violates(port, 4, bytes);
    const v5 = [
      Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]),
      Buffer.from([0x90, 0x04, 0x00, 0x01, 0x00, 0x00]),
      Buffer.from([0xb0, 0x04, 0x00, 0x01, 0x00, 0x00]),
      Buffer.from([0xd0, 0x00]),
    ];
    for (const bytes of v5) await violates(port, 5, bytes, [0x81, 0x82]);
  });

  it('[MQTT-2.2.2-1] [MQTT-2.2.2-2] [MQTT-3.14.1-1] reserved fixed-header flags on PINGREQ, PUBACK, PUBREC, PUBCOMP, DISCONNECT close the connection (MQTT 5 [MQTT-2.1.3-1] [MQTT-3.14.1-1]: 0x81)', async () => {
    const bad = [
      Buffer.from([0xc1, 0x00]),
      Buffer.from([0x42, 0x02, 0x00, 0x01]),
      Buffer.from([0x58, 0x02, 0x00, 0x01]),
      Buffer.from([0x71, 0x02, 0x00, 0x01]),
      Buffer.from([0xe2, 0x00]),
    ];
    for (const bytes of bad) {
      await violates(port, 4, bytes);
      await violates(port, 5, bytes);
    }
  });

  it('a packet whose Remaining Length does not match its contents closes the connection (MQTT 5: 0x81)', async () => {
    const cases = [
      Buffer.from([0xc0, 0x01, 0x00]), // PINGREQ with a body
      Buffer.from([0x40, 0x01, 0x00]), // PUBACK cut inside its packet id
      raw.packet(0x30, raw.u16(10), 'ab'), // topic length past the end
      raw.packet(0x82, raw.u16(1), raw.str('no/options')), // SUBSCRIBE filter without its options byte
      raw.packet(0xe0, [0x00]), // 3.1.1 DISCONNECT with a body
    ];
    for (const bytes of cases.slice(0, 4)) {
      await violates(port, 4, bytes);
    }
    await violates(port, 4, cases[4]);
    const v5 = [
      Buffer.from([0xc0, 0x01, 0x00]),
      Buffer.from([0x40, 0x01, 0x00]),
      raw.packet(0x30, raw.u16(10), 'ab'),
      raw.packet(0x82, raw.u16(1), raw.props(), raw.str('no/options')),
    ];
    for (const bytes of v5) await violates(port, 5, bytes);
  });

  it('MQTT 5 [MQTT-3.14.2-1] [MQTT-3.4.2-1] a reason code outside the packet\'s table is refused', async () => {
    await violates(port, 5, Buffer.from([0xe0, 0x01, 0x05]), [0x81, 0x82]); // DISCONNECT 0x05
    await violates(port, 5, Buffer.from([0x40, 0x03, 0x00, 0x01, 0x05]), [0x81, 0x82]); // PUBACK 0x05
  });

  it('a packet over the maximum packet size closes the connection as soon as its header says so (MQTT 5: 0x95)', async () => {
    const big = raw.publish({ topic: 'big/x', payload: Buffer.alloc(2000, 0x61) });
    await violates(port, 4, big);
    await violates(port, 5, raw.publish({ topic: 'big/x', props5: raw.props(), payload: Buffer.alloc(2000, 0x61) }), [0x95]);
    // Only the fixed header of a 1 MB PUBLISH: refused without waiting for the body.
    const c = await online(port, 5);
    const started = Date.now();
    c.sendRaw(Buffer.concat([Buffer.from([0x30]), raw.varint(1_000_000)]));
    await expectDisconnect(c, 0x95, 2000);
    assert.ok(Date.now() - started < 1000);
  });

  it('the MQTT 5 CONNACK advertises the Maximum Packet Size the server enforces', async () => {
    const { client, connack } = await WireClient.connect(port, { clientId: uid('mps') }, 5);
    assert.equal(connackCode(connack), 0);
    assert.equal(connack.properties?.maximumPacketSize, 1024);
    bye(client);
  });

  it('[MQTT-4.8.0-1] every violation closes only its own connection: healthy clients carry on', async () => {
    const sub4 = await online(port, 4);
    const sub5 = await online(port, 5);
    const topic = `healthy/${uid('t')}`;
    await subscribe(sub4, topic, 1);
    await subscribe(sub5, topic, 1);
    const pub = await online(port, 5);
    const violations: Array<[4 | 5, Buffer]> = [
      [4, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])],
      [4, raw.publish({ topic: 'x/#', payload: 'x' })],
      [4, raw.subscribe(1, [])],
      [5, raw.publish({ topic: 'q3', qos: 3, packetId: 1, props5: raw.props() })],
      [5, raw.publish({ topic: '', props5: raw.props(P7), payload: 'x' })],
      [5, Buffer.from([0xc1, 0x00])],
      [4, raw.connect({ clientId: uid('second') })],
      [5, raw.publish({ topic: 'big', props5: raw.props(), payload: Buffer.alloc(5000) })],
    ];
    let sent = 0;
    const storm = Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const [version, bytes] = violations[i % violations.length];
        const c = await online(port, version);
        c.sendRaw(bytes);
        assert.equal(await c.waitClosed(3000), true, `violator ${i} closed`);
      }),
    );
    for (let i = 0; i < 30; i++) {
      pub.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i + 1 });
      sent++;
      if (i % 5 === 0) await sleep(5);
    }
    await storm;
    const acks = await take(pub, sent);
    assert.ok(acks.every((a) => a.cmd === 'puback'));
    for (const sub of [sub4, sub5]) {
      const got = await take(sub, sent);
      assert.deepEqual(got.map((p) => Number(p.payload.toString())), Array.from({ length: sent }, (_, i) => i));
      for (const p of got) sub.send({ cmd: 'puback', messageId: p.messageId });
      assert.deepEqual(await ping(sub), []);
    }
    const late = await online(port, 4);
    bye(late);
    for (const c of [sub4, sub5, pub]) bye(c);
  });

  it('framing: packets split into single bytes, and many packets in one write, are all processed', async () => {
    const c = await WireClient.open(port, 4);
    c.socket.setNoDelay(true);
    const topic = `frame/${uid('t')}`;
    const bytes = Buffer.concat([
      raw.connect({ clientId: uid('bytes') }),
      raw.subscribe(1, [[topic, 1]]),
      raw.publish({ topic, qos: 1, packetId: 2, payload: 'split' }),
    ]);
    for (const b of bytes) {
      c.sendRaw([b]);
      await sleep(1);
    }
    const got = await take(c, 4);
    assert.equal(got[0].cmd, 'connack');
    assert.equal(got[1].cmd, 'suback');
    const cmds = got.slice(2).map((p) => p.cmd).sort();
    assert.deepEqual(cmds, ['puback', 'publish']);
    const many = Buffer.concat(Array.from({ length: 100 }, () => Buffer.from([0xc0, 0x00])));
    c.sendRaw(many);
    const pongs = await take(c, 100);
    assert.ok(pongs.every((p) => p.cmd === 'pingresp'));
    bye(c);
  });
});

describe('13 a bad packet behind a CONNECT still being answered', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    // Authentication answers later (as a password file's scrypt does), so the packets sent with the
    // CONNECT arrive while it is still being answered.
    t = await startTestServer({}, { hooks: { authenticate: () => new Promise<number>((resolve) => setTimeout(() => resolve(0), 20)) } });
    port = t.port();
  });
  after(() => t.close());

  const CASES: Array<{ name: string; bytes: (version: 4 | 5) => Buffer; code: number }> = [
    { name: 'PUBLISH QoS 0 with DUP set [MQTT-3.3.1-2]', bytes: (v) => raw.publish({ topic: 'a', payload: 'x', dup: true, ...(v === 5 ? { props5: raw.props() } : {}) }), code: 0x81 },
    { name: 'PUBLISH to a topic with a wildcard [MQTT-3.3.2-2]', bytes: (v) => raw.publish({ topic: 'a/+', payload: 'x', ...(v === 5 ? { props5: raw.props() } : {}) }), code: 0x90 },
    { name: 'PINGREQ with a body', bytes: () => Buffer.from([0xc0, 0x01, 0x00]), code: 0x81 },
    { name: 'SUBSCRIBE with Subscription Identifier 0', bytes: () => raw.subscribe(1, [['a', 1]], { props5: raw.props(raw.prop.subscriptionIdentifier(0)) }), code: 0x82 },
  ];

  for (const c of CASES) {
    it(`MQTT 5 [MQTT-4.13.1-1] ${c.name}: CONNACK 0x00, then (MQTT 5) DISCONNECT ${`0x${c.code.toString(16)}`}, never a CONNACK with the later packet's code`, async () => {
      for (const version of c.name.startsWith('SUBSCRIBE') ? ([5] as const) : ([4, 5] as const)) {
        const w = await openRaw(port, version, Buffer.concat([raw.connect({ level: version, clientId: uid('behind') }), c.bytes(version)]));
        const connack = await w.next(5000);
        assert.equal(connack.cmd, 'connack');
        assert.equal(connackCode(connack), 0, `MQTT ${version}: the CONNECT itself was fine`);
        if (version === 4) await expectSilentClose(w);
        else await expectDisconnect(w, c.code);
      }
    });
  }

  it('MQTT 5: a packet over maxUserProperties behind the CONNECT ends the connection after CONNACK, and nothing read after it is acted on', async () => {
    const tooMany = raw.props(...Array.from({ length: 40 }, (_, i) => raw.prop.userProperty(`k${i}`, 'v')));
    const after = raw.publish({ topic: 'behind/after', payload: 'kept?', retain: true, props5: raw.props() });
    const w = await openRaw(port, 5, Buffer.concat([raw.connect({ level: 5, clientId: uid('props') }), raw.publish({ topic: 'behind/over', payload: 'x', props5: tooMany }), after]));
    const connack = await w.next(5000);
    assert.equal(connackCode(connack), 0);
    await expectDisconnect(w, 0x97);
    assert.equal(t.server.broker.retained.get('behind/after'), undefined, 'the PUBLISH after the refused packet was not acted on');
  });

  it('a CONNECT refused for itself still gets its own code, whatever follows it', async () => {
    const bytes = Buffer.concat([raw.connect({ level: 5, clientId: uid('refused'), properties: raw.props(raw.prop.receiveMaximum(0)) }), Buffer.from([0xc0, 0x01, 0x00])]);
    const w = await openRaw(port, 5, bytes);
    const p = await w.nextOrClose(5000);
    // Receive Maximum 0 is a Protocol Error in the CONNECT itself: CONNACK 0x82, or the close.
    if (p !== undefined) {
      assert.equal(p.cmd, 'connack');
      assert.equal(connackCode(p), 0x82);
    }
    assert.equal(await w.waitClosed(5000), true);
  });
});
