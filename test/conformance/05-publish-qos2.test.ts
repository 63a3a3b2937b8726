// 05 PUBLISH at QoS 2 on the wire: PUBLISH/PUBREC/PUBREL/PUBCOMP in both directions, exactly-once
// across resends and reconnections (sections 3.5-3.7, 4.3.3, 4.4).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient, type WirePacket } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, expectDisconnect, expectSilentClose, online, ping, sleep, subscribe, take, uid } from './helpers.js';

async function expectNext(c: WireClient, cmd: string, messageId: number | undefined): Promise<WirePacket> {
  const p = await c.next();
  assert.equal(p.cmd, cmd, `expected ${cmd.toUpperCase()}, got ${p.cmd}`);
  assert.equal(p.messageId, messageId, `${cmd.toUpperCase()} packet id`);
  return p;
}

describe('05 PUBLISH QoS 2', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.6.1-1] [MQTT-2.2.2-2] a PUBREL whose fixed-header flags are not 0010 closes the connection (MQTT 5 [MQTT-3.6.1-1]: 0x81)', async () => {
    for (const version of [4, 5] as const) {
      const c = await online(port, version);
      c.send({ cmd: 'publish', topic: `rel/${uid('t')}`, payload: 'x', qos: 2, messageId: 1 });
      await expectNext(c, 'pubrec', 1);
      c.sendRaw(raw.packet(0x60, raw.u16(1)));
      if (version === 4) await expectSilentClose(c);
      else await expectDisconnect(c, 0x81);
    }
  });

  it('[MQTT-4.3.3-2] / MQTT 5 [MQTT-4.3.3-8] [MQTT-4.3.3-10] [MQTT-4.3.3-11] [MQTT-4.3.3-12] inbound: PUBREC, resends acknowledged but not routed again, PUBCOMP, then the id is free', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      const topic = `in2/${uid('t')}`;
      await subscribe(sub, topic, 0);
      const pub = await online(port, version);
      pub.send({ cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 42 });
      await expectNext(pub, 'pubrec', 42);
      pub.send({ cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 42, dup: true });
      await expectNext(pub, 'pubrec', 42);
      pub.send({ cmd: 'pubrel', messageId: 42 });
      await expectNext(pub, 'pubcomp', 42);
      const got = await ping(sub);
      assert.deepEqual(got.map((p) => p.payload.toString()), ['once'], 'delivered exactly once');
      // After PUBCOMP the identifier starts a new message.
      pub.send({ cmd: 'publish', topic, payload: 'again', qos: 2, messageId: 42 });
      await expectNext(pub, 'pubrec', 42);
      pub.send({ cmd: 'pubrel', messageId: 42 });
      await expectNext(pub, 'pubcomp', 42);
      const again = await ping(sub);
      assert.deepEqual(again.map((p) => p.payload.toString()), ['again']);
      bye(sub);
      bye(pub);
    }
  });

  it('[MQTT-4.3.3-1] / MQTT 5 [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.3.3-3] [MQTT-4.3.3-4] [MQTT-4.3.3-5] [MQTT-4.3.3-6] [MQTT-3.6.2-1] outbound: PUBLISH (DUP 0), PUBREC → PUBREL with the same id, PUBCOMP ends it', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      const topic = `out2/${uid('t')}`;
      await subscribe(sub, topic, 2);
      const pub = await online(port, version);
      pub.send({ cmd: 'publish', topic, payload: 'exactly', qos: 2, messageId: 3 });
      await expectNext(pub, 'pubrec', 3);
      const [m] = await take(sub, 1);
      assert.equal(m.qos, 2);
      assert.equal(m.dup, false);
      assert.ok((m.messageId ?? 0) > 0);
      sub.send({ cmd: 'pubrec', messageId: m.messageId });
      await expectNext(sub, 'pubrel', m.messageId);
      sub.send({ cmd: 'pubcomp', messageId: m.messageId });
      assert.deepEqual(await ping(sub), [], 'nothing is resent after PUBREL/PUBCOMP');
      bye(sub);
      bye(pub);
    }
  });

  it('[MQTT-3.6.1-1] the PUBREL the server sends has fixed-header flags 0010', async () => {
    const sub = await online(port, 4);
    const topic = `relflags/${uid('t')}`;
    await subscribe(sub, topic, 2);
    const chunks: Buffer[] = [];
    sub.socket.on('data', (d: Buffer) => chunks.push(d));
    const pub = await online(port, 4);
    pub.send({ cmd: 'publish', topic, payload: 'f', qos: 2, messageId: 1 });
    const [m] = await take(sub, 1);
    sub.send({ cmd: 'pubrec', messageId: m.messageId });
    await expectNext(sub, 'pubrel', m.messageId);
    const bytes = Buffer.concat(chunks);
    const id = m.messageId as number;
    const rel = Buffer.from([0x62, 0x02, id >> 8, id & 0xff]);
    assert.ok(bytes.includes(rel), `PUBREL bytes ${rel.toString('hex')} in ${bytes.toString('hex')}`);
    sub.send({ cmd: 'pubcomp', messageId: m.messageId });
    bye(sub);
    bye(pub);
  });

  it('[MQTT-4.4.0-1] / MQTT 5 [MQTT-4.3.3-6] resumption after PUBREC resends PUBREL, not the PUBLISH; before PUBREC it resends the PUBLISH with DUP 1', async () => {
    const clientId = uid('resume2');
    const topic = `resume2/${uid('t')}`;
    const a = await online(port, 4, { clientId, clean: false });
    await subscribe(a, topic, 2);
    const pub = await online(port, 4);
    for (const [id, payload] of [[1, 'recd'], [2, 'unrecd']] as const) {
      pub.send({ cmd: 'publish', topic, payload, qos: 2, messageId: id });
      await expectNext(pub, 'pubrec', id);
      pub.send({ cmd: 'pubrel', messageId: id });
      await expectNext(pub, 'pubcomp', id);
    }
    const [m1, m2] = await take(a, 2);
    a.send({ cmd: 'pubrec', messageId: m1.messageId });
    await expectNext(a, 'pubrel', m1.messageId);
    a.end();
    await a.waitClosed();
    const { client: b, connack } = await WireClient.connect(port, { clientId, clean: false }, 4);
    assert.equal(connack.sessionPresent, true);
    const resent = await take(b, 2);
    const rel = resent.find((p) => p.cmd === 'pubrel');
    const again = resent.find((p) => p.cmd === 'publish');
    assert.equal(rel?.messageId, m1.messageId, 'PUBREL resent for the message past PUBREC');
    assert.equal(again?.messageId, m2.messageId, 'PUBLISH resent with its original identifier');
    assert.equal(again?.dup, true, 'DUP set on the resend [MQTT-3.3.1-1]');
    assert.equal(again?.payload.toString(), 'unrecd');
    b.send({ cmd: 'pubcomp', messageId: m1.messageId });
    b.send({ cmd: 'pubrec', messageId: m2.messageId });
    await expectNext(b, 'pubrel', m2.messageId);
    b.send({ cmd: 'pubcomp', messageId: m2.messageId });
    assert.deepEqual(await ping(b), []);
    bye(b);
    bye(pub);
  });

  it('[MQTT-4.3.3-2] [MQTT-4.4.0-1] [MQTT-4.1.0-1] exactly once across a publisher reconnection: the unreleased id survives in the session', async () => {
    const topic = `pubresume/${uid('t')}`;
    const sub = await online(port, 4);
    await subscribe(sub, topic, 2);
    const clientId = uid('pubresume');
    const a = await online(port, 4, { clientId, clean: false });
    a.send({ cmd: 'publish', topic, payload: 'one', qos: 2, messageId: 7 });
    await expectNext(a, 'pubrec', 7);
    a.end();
    await a.waitClosed();
    const b = await online(port, 4, { clientId, clean: false });
    b.send({ cmd: 'publish', topic, payload: 'one', qos: 2, messageId: 7, dup: true });
    await expectNext(b, 'pubrec', 7);
    b.send({ cmd: 'pubrel', messageId: 7 });
    await expectNext(b, 'pubcomp', 7);
    const got = await ping(sub);
    assert.deepEqual(got.map((p) => p.payload.toString()), ['one'], 'one delivery, not two');
    for (const p of got) sub.send({ cmd: 'pubrec', messageId: p.messageId });
    bye(sub);
    bye(b);
  });

  it('a PUBREL for an unknown identifier is answered with PUBCOMP (MQTT 5 [MQTT-3.7.2-1]: reason 0x92 Packet Identifier not found)', async () => {
    const c4 = await online(port, 4);
    c4.send({ cmd: 'pubrel', messageId: 999 });
    await expectNext(c4, 'pubcomp', 999);
    bye(c4);
    const c5 = await online(port, 5);
    c5.send({ cmd: 'pubrel', messageId: 999 });
    const p = await expectNext(c5, 'pubcomp', 999);
    assert.equal(p.reasonCode, 0x92);
    bye(c5);
  });

  it('MQTT 5 [MQTT-4.3.3-4] [MQTT-4.4.0-2] a PUBREC with a failure code ends the exchange: no PUBREL, no resend on resumption', async () => {
    const clientId = uid('recfail');
    const topic = `recfail/${uid('t')}`;
    const sub = await online(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(sub, topic, 2);
    const pub = await online(port, 5);
    pub.send({ cmd: 'publish', topic, payload: 'refused', qos: 2, messageId: 1 });
    await expectNext(pub, 'pubrec', 1);
    const [m] = await take(sub, 1);
    sub.send({ cmd: 'pubrec', messageId: m.messageId, reasonCode: 0x80 });
    assert.deepEqual(await ping(sub), [], 'no PUBREL after a failed PUBREC');
    sub.end();
    await sub.waitClosed();
    const again = await online(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.deepEqual(await ping(again), [], 'nothing resent on resumption');
    bye(again);
    bye(pub);
  });

  it('MQTT 5 [MQTT-3.5.2-1] [MQTT-3.4.2-1] PUBREC / PUBACK reason codes: 0x00 when routed, 0x10 when nobody is subscribed', async () => {
    const c = await online(port, 5);
    const topic = `rc2/${uid('t')}`;
    c.send({ cmd: 'publish', topic, payload: 'x', qos: 2, messageId: 1 });
    const none = await expectNext(c, 'pubrec', 1);
    assert.equal(none.reasonCode, 0x10);
    c.send({ cmd: 'pubrel', messageId: 1 });
    await expectNext(c, 'pubcomp', 1);
    const sub = await online(port, 5);
    await subscribe(sub, topic, 0);
    c.send({ cmd: 'publish', topic, payload: 'x', qos: 2, messageId: 2 });
    const some = await expectNext(c, 'pubrec', 2);
    assert.equal(some.reasonCode ?? 0, 0);
    c.send({ cmd: 'pubrel', messageId: 2 });
    await expectNext(c, 'pubcomp', 2);
    bye(c);
    bye(sub);
  });

  it('MQTT 5 [MQTT-4.3.3-7] a QoS 2 message whose PUBLISH was sent is not expired: it is resent on resumption after its Message Expiry Interval', async () => {
    const clientId = uid('exp2');
    const topic = `exp2/${uid('t')}`;
    const session = { sessionExpiryInterval: 60 };
    const sub = await online(port, 5, { clientId, properties: session });
    await subscribe(sub, topic, 2);
    const pub = await online(port, 5);
    pub.send({ cmd: 'publish', topic, payload: 'short-lived', qos: 2, messageId: 1, properties: { messageExpiryInterval: 1 } });
    await expectNext(pub, 'pubrec', 1);
    pub.send({ cmd: 'pubrel', messageId: 1 });
    await expectNext(pub, 'pubcomp', 1);
    const [m] = await take(sub, 1); // sent, never acknowledged
    sub.end();
    await sub.waitClosed();
    await sleep(1500);
    const again = await online(port, 5, { clientId, clean: false, properties: session });
    const [r] = await take(again, 1);
    assert.equal(r.cmd, 'publish');
    assert.equal(r.payload.toString(), 'short-lived');
    assert.equal(r.messageId, m.messageId);
    assert.equal(r.dup, true);
    again.send({ cmd: 'pubrec', messageId: r.messageId });
    await expectNext(again, 'pubrel', r.messageId);
    again.send({ cmd: 'pubcomp', messageId: r.messageId });
    bye(again);
    bye(pub);
  });

  it('MQTT 5 [MQTT-4.3.3-13] inbound: the QoS 2 exchange is completed even after the message expired', async () => {
    const c = await online(port, 5);
    c.send({ cmd: 'publish', topic: `exp2in/${uid('t')}`, payload: 'x', qos: 2, messageId: 4, properties: { messageExpiryInterval: 1 } });
    await expectNext(c, 'pubrec', 4);
    await sleep(1300);
    c.send({ cmd: 'pubrel', messageId: 4 });
    const comp = await expectNext(c, 'pubcomp', 4);
    assert.equal(comp.reasonCode ?? 0, 0, 'PUBCOMP Success, not Packet Identifier not found');
    bye(c);
  });

  it('MQTT 5 [MQTT-4.3.3-9] after a PUBREC with a failure code, the same Packet Identifier starts a new message', async () => {
    const topic = `recnew/${uid('t')}`;
    const sub = await online(port, 5);
    await subscribe(sub, topic, 0);
    const c = await online(port, 5);
    c.send({ cmd: 'publish', topic, payload: Buffer.from([0xff]), qos: 2, messageId: 6, properties: { payloadFormatIndicator: true } });
    const refused = await expectNext(c, 'pubrec', 6);
    assert.equal(refused.reasonCode, 0x99);
    c.send({ cmd: 'publish', topic, payload: 'valid now', qos: 2, messageId: 6, properties: { payloadFormatIndicator: true } });
    const accepted = await expectNext(c, 'pubrec', 6);
    assert.ok((accepted.reasonCode ?? 0) < 0x80, 'accepted as a new message');
    c.send({ cmd: 'pubrel', messageId: 6 });
    await expectNext(c, 'pubcomp', 6);
    assert.deepEqual((await ping(sub)).map((p) => p.payload.toString()), ['valid now']);
    bye(c);
    bye(sub);
  });
});
