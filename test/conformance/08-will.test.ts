// 08 Will messages on the wire: when they are published and how (section 3.1.2.5-3.1.2.7, 3.1.3.2,
// 3.14.4 of both specs).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { WireClient } from '../helpers/wire.js';
import { bye, expectDisconnect, expectRefused, online, openRaw, ping, subscribe, take, uid } from './helpers.js';

describe('08 will messages', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  /** A watcher subscribed to `filter`, with whatever was retained there already read. */
  async function watch(filter: string, qos = 2, version: 4 | 5 = 4) {
    const w = await online(port, version);
    await subscribe(w, filter, qos);
    await ping(w);
    return w;
  }

  it('[MQTT-3.1.2-8] [MQTT-4.8.0-1] the will is published when the server closes the connection for a protocol violation', async () => {
    const topic = `will/violation/${uid('t')}`;
    const w = await watch(topic);
    const c = await online(port, 4, { will: { topic, payload: Buffer.from('violated'), qos: 0, retain: false } });
    c.sendRaw(raw.publish({ topic: 'bad/#', payload: 'x' })); // wildcard in a Topic Name
    assert.equal(await c.waitClosed(), true);
    const [m] = await take(w, 1);
    assert.equal(m.payload.toString(), 'violated');
    bye(w);
  });

  it('MQTT 5 [MQTT-3.1.2-8] the will is published after the server sends DISCONNECT for a Protocol Error', async () => {
    const topic = `will/violation5/${uid('t')}`;
    const w = await watch(topic, 2, 5);
    const c = await online(port, 5, { will: { topic, payload: Buffer.from('violated5'), qos: 1, retain: false } });
    c.sendRaw(raw.subscribe(1, [], { props5: raw.props() }));
    await expectDisconnect(c, [0x81, 0x82]);
    const [m] = await take(w, 1);
    assert.equal(m.payload.toString(), 'violated5');
    assert.equal(m.qos, 1);
    w.send({ cmd: 'puback', messageId: m.messageId });
    bye(w);
  });

  it('[MQTT-3.1.2-8] the will is published when the keep alive expires', async () => {
    const topic = `will/keepalive/${uid('t')}`;
    const w = await watch(topic);
    const c = await online(port, 4, { keepalive: 1, will: { topic, payload: Buffer.from('silent'), qos: 0, retain: false } });
    const started = Date.now();
    const [m] = await take(w, 1, 4000);
    assert.equal(m.payload.toString(), 'silent');
    assert.ok(Date.now() - started >= 1000, 'not before the keep alive passed');
    assert.equal(await c.waitClosed(), true);
    bye(w);
  });

  it('[MQTT-3.1.2-16] [MQTT-3.3.1-9] a will with Will Retain 0 is published non-retained (MQTT 5 [MQTT-3.1.2-14])', async () => {
    for (const version of [4, 5] as const) {
      const topic = `will/noretain/${uid('t')}`;
      const w = await watch(topic, 2, version);
      const c = await online(port, version, { will: { topic, payload: Buffer.from('not kept'), qos: 0, retain: false } });
      c.end();
      const [m] = await take(w, 1);
      assert.equal(m.retain, false);
      const late = await online(port, version);
      await subscribe(late, topic, 0);
      assert.deepEqual(await ping(late), [], 'nothing retained');
      bye(w);
      bye(late);
    }
  });

  it('[MQTT-3.1.2-14] [MQTT-3.1.2-17] a will with QoS 2 and Will Retain 1 is delivered at QoS 2 and retained (MQTT 5 [MQTT-3.1.2-12] [MQTT-3.1.2-15])', async () => {
    for (const version of [4, 5] as const) {
      const topic = `will/q2/${uid('t')}`;
      const w = await watch(topic, 2, version);
      const c = await online(port, version, { will: { topic, payload: Buffer.from('q2'), qos: 2, retain: true } });
      c.end();
      const [m] = await take(w, 1);
      assert.equal(m.qos, 2);
      w.send({ cmd: 'pubrec', messageId: m.messageId });
      assert.equal((await w.next()).cmd, 'pubrel');
      w.send({ cmd: 'pubcomp', messageId: m.messageId });
      const late = await online(port, version);
      await subscribe(late, topic, 2);
      const [r] = await take(late, 1);
      assert.equal(r.retain, true);
      assert.equal(r.qos, 2);
      late.send({ cmd: 'pubrec', messageId: r.messageId });
      bye(w);
      bye(late);
    }
  });

  it('[MQTT-3.1.2-12] without the Will Flag nothing is published when the connection ends', async () => {
    const w = await watch('#', 0);
    const c = await online(port, 4, { clientId: uid('nowill') });
    c.end();
    assert.equal(await c.waitClosed(), true);
    assert.deepEqual((await ping(w)).map((p) => p.topic), []);
    bye(w);
  });

  it('[MQTT-3.1.2-10] a will is published once: after it was sent, the resumed session has none', async () => {
    const topic = `will/once/${uid('t')}`;
    const clientId = uid('once');
    const w = await watch(topic);
    const a = await online(port, 4, { clientId, clean: false, will: { topic, payload: Buffer.from('first'), qos: 0, retain: false } });
    a.end();
    assert.equal((await take(w, 1))[0].payload.toString(), 'first');
    const b = await online(port, 4, { clientId, clean: false });
    b.end();
    assert.equal(await b.waitClosed(), true);
    assert.deepEqual(await ping(w), [], 'no second will');
    bye(w);
  });

  it('[MQTT-3.1.3-10] [MQTT-1.5.3-1] a Will Topic that is not well-formed UTF-8 is closed without CONNACK (MQTT 5 [MQTT-3.1.3-11]: 0x81 at most)', async () => {
    const c = await openRaw(port, 4, raw.connect({ clientId: uid('wt'), will: { topic: raw.BAD_UTF8, payload: Buffer.from('x') } }));
    await expectRefused(c, []);
    const c5 = await openRaw(port, 5, raw.connect({ level: 5, clientId: uid('wt5'), will: { topic: raw.BAD_UTF8, payload: Buffer.from('x') } }));
    await expectRefused(c5, [0x81]);
  });

  it('[MQTT-3.3.2-2] a Will Topic with a wildcard is refused: no successful CONNACK (MQTT 5 [MQTT-3.3.2-2]: CONNACK 0x90 Topic Name invalid)', async () => {
    for (const topic of ['will/+', 'will/#']) {
      const c = await openRaw(port, 4, raw.connect({ clientId: uid('wtw'), will: { topic, payload: Buffer.from('x') } }));
      const p = await c.nextOrClose(3000);
      if (p) assert.notEqual(p.reasonCode ?? p.returnCode, 0, 'the CONNECT is not accepted');
      assert.equal(await c.waitClosed(), true);
      const c5 = await openRaw(port, 5, raw.connect({ level: 5, clientId: uid('wtw5'), will: { topic, payload: Buffer.from('x') } }));
      assert.ok(await expectRefused(c5, [0x90]), 'MQTT 5 is told why');
    }
  });

  it('MQTT 5 (3.1.3.2.3) a will payload marked as UTF-8 that is not gets CONNACK 0x99 (Payload format invalid)', async () => {
    const will = { topic: `will/pfi/${uid('t')}`, payload: Buffer.from([0xff, 0xfe]), qos: 0, retain: false, properties: { payloadFormatIndicator: true } };
    const { client, connack } = await WireClient.connect(port, { clientId: uid('wpfi'), will }, 5);
    assert.equal(connack.cmd, 'connack');
    assert.equal(connack.reasonCode, 0x99);
    assert.equal(connack.sessionPresent, false);
    assert.equal(await client.waitClosed(), true);
    // Well-formed UTF-8 with the same indicator is accepted.
    const ok = await online(port, 5, { will: { ...will, payload: Buffer.from('fine') } });
    bye(ok);
  });

  it('MQTT 5 [MQTT-3.1.3-10] [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] will properties are forwarded unaltered, User Properties in order', async () => {
    const topic = `will/props/${uid('t')}`;
    const w = await watch(topic, 0, 5);
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'text/plain',
      responseTopic: 'will/answer',
      correlationData: Buffer.from([9, 8, 7]),
      userProperties: { z: '1', a: ['2', '3'] },
    };
    const c = await online(port, 5, { will: { topic, payload: Buffer.from('bye'), qos: 0, retain: false, properties } });
    c.end();
    const [m] = await take(w, 1);
    const p = m.properties ?? {};
    assert.equal(p.payloadFormatIndicator, true);
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.responseTopic, 'will/answer');
    assert.deepEqual(p.correlationData, Buffer.from([9, 8, 7]));
    assert.deepEqual(Object.keys(p.userProperties ?? {}), ['z', 'a']);
    assert.deepEqual({ ...p.userProperties }, { z: '1', a: ['2', '3'] });
    assert.equal(p.willDelayInterval, undefined, 'will-only properties are not forwarded');
    bye(w);
  });

  it('MQTT 5 [MQTT-3.1.2-7] [MQTT-3.1.2-8] a will whose delay outlasts the session is published when the session ends', async () => {
    const topic = `will/sessionend/${uid('t')}`;
    const w = await watch(topic, 0, 5);
    const c = await online(port, 5, {
      properties: { sessionExpiryInterval: 1 },
      will: { topic, payload: Buffer.from('session over'), qos: 0, retain: false, properties: { willDelayInterval: 30 } },
    });
    const started = Date.now();
    c.end();
    const [m] = await take(w, 1, 4000);
    assert.equal(m.payload.toString(), 'session over');
    const took = Date.now() - started;
    assert.ok(took >= 800 && took < 3500, `published after ${took} ms, when the 1 s session ended`);
    bye(w);
  });

  it('[MQTT-3.14.4-3] [MQTT-3.1.2-10] DISCONNECT discards the will (MQTT 5 [MQTT-3.14.4-3] [MQTT-3.1.2-10]: with reason 0x00)', async () => {
    for (const version of [4, 5] as const) {
      const topic = `will/normal${version}/${uid('t')}`;
      const w = await watch(topic, 0, version);
      const c = await online(port, version, { will: { topic, payload: Buffer.from('x'), qos: 0, retain: false } });
      bye(c);
      assert.equal(await c.waitClosed(), true);
      assert.deepEqual(await ping(w), []);
      bye(w);
    }
  });
});
