// 03 PUBLISH at QoS 0 on the wire, and the PUBLISH checks common to every QoS (section 3.3, 4.7).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, expectDisconnect, expectSilentClose, online, ping, publish1, subscribe, take, uid } from './helpers.js';

describe('03 PUBLISH QoS 0', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.3.1-4] a PUBLISH with both QoS bits set closes the connection (MQTT 5 [MQTT-3.3.1-4]: Malformed Packet, DISCONNECT 0x81)', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.publish({ topic: 'q3/x', qos: 3, packetId: 1, payload: 'x' }));
    await expectSilentClose(c);
    const c5 = await online(port, 5);
    c5.sendRaw(raw.publish({ topic: 'q3/x', qos: 3, packetId: 1, props5: raw.props(), payload: 'x' }));
    await expectDisconnect(c5, 0x81);
  });

  it('[MQTT-3.3.1-2] [MQTT-2.2.2-2] a QoS 0 PUBLISH with DUP set closes the connection (MQTT 5 [MQTT-3.3.1-2]: DISCONNECT)', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.publish({ topic: 'dup0/x', dup: true, payload: 'x' }));
    await expectSilentClose(c);
    const c5 = await online(port, 5);
    c5.sendRaw(raw.publish({ topic: 'dup0/x', dup: true, props5: raw.props(), payload: 'x' }));
    await expectDisconnect(c5, [0x81, 0x82]);
  });

  it('[MQTT-3.3.2-2] [MQTT-4.7.1-1] a Topic Name containing a wildcard closes the connection (MQTT 5 [MQTT-3.3.2-2] [MQTT-4.7.0-1]: DISCONNECT)', async () => {
    for (const topic of ['wild/+', 'wild/#', '+', '#', 'wi+ld', 'wild#']) {
      const c = await online(port, 4);
      c.sendRaw(raw.publish({ topic, payload: 'x' }));
      await expectSilentClose(c);
      const c5 = await online(port, 5);
      c5.sendRaw(raw.publish({ topic, props5: raw.props(), payload: 'x' }));
      await expectDisconnect(c5, [0x90, 0x82, 0x81]);
    }
  });

  it('[MQTT-3.3.2-1] [MQTT-1.5.3-1] a Topic Name that is not well-formed UTF-8 closes the connection (MQTT 5 [MQTT-3.3.2-1] [MQTT-1.5.4-1]: 0x81)', async () => {
    for (const topic of [raw.BAD_UTF8, raw.SURROGATE_UTF8, Buffer.from([0xc0, 0xaf])]) {
      const c = await online(port, 4);
      c.sendRaw(raw.publish({ topic, payload: 'x' }));
      await expectSilentClose(c);
      const c5 = await online(port, 5);
      c5.sendRaw(raw.publish({ topic, props5: raw.props(), payload: 'x' }));
      await expectDisconnect(c5, 0x81);
    }
  });

  it('[MQTT-1.5.3-2] [MQTT-4.7.3-2] a Topic Name containing U+0000 closes the connection (MQTT 5 [MQTT-1.5.4-2]: 0x81)', async () => {
    const topic = Buffer.from('nul/\u0000/x', 'utf8');
    const c = await online(port, 4);
    c.sendRaw(raw.publish({ topic, payload: 'x' }));
    await expectSilentClose(c);
    const c5 = await online(port, 5);
    c5.sendRaw(raw.publish({ topic, props5: raw.props(), payload: 'x' }));
    await expectDisconnect(c5, 0x81);
  });

  it('[MQTT-4.7.3-1] MQTT 3.1.1: an empty Topic Name closes the connection', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.publish({ topic: '', payload: 'x' }));
    await expectSilentClose(c);
  });

  it('MQTT 5 (3.3.2.1) an empty Topic Name without a Topic Alias is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.publish({ topic: '', props5: raw.props(), payload: 'x' }));
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-4.3.1-1] [MQTT-3.3.2-3] [MQTT-3.3.1-9] [MQTT-2.3.1-5] a QoS 0 message arrives at QoS 0, DUP 0, RETAIN 0, no packet id, under the Topic Name it was published to (MQTT 5 [MQTT-4.3.1-1] [MQTT-3.3.2-3] [MQTT-2.2.1-2])', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      await subscribe(sub, `deliver${version}/+/x`, 2);
      const pub = await online(port, version);
      pub.send({ cmd: 'publish', topic: `deliver${version}/abc/x`, payload: 'hello', qos: 0 });
      const [m] = await take(sub, 1);
      assert.equal(m.cmd, 'publish');
      assert.equal(m.topic, `deliver${version}/abc/x`, 'the Topic Name, not the filter');
      assert.equal(m.qos, 0);
      assert.equal(m.dup, false);
      assert.equal(m.retain, false);
      assert.equal(m.messageId, undefined);
      assert.equal(m.payload.toString(), 'hello');
      bye(sub);
      bye(pub);
    }
  });

  it('[MQTT-3.3.4-1] a QoS 0 PUBLISH gets no response', async () => {
    const c = await online(port, 4);
    c.send({ cmd: 'publish', topic: `noresp/${uid('t')}`, payload: 'x', qos: 0 });
    assert.deepEqual(await ping(c), [], 'nothing but the PINGRESP');
    bye(c);
  });

  it('payloads arrive byte for byte: every byte value, and an empty payload', async () => {
    const sub = await online(port, 5);
    await subscribe(sub, 'bytes/#', 0);
    const pub = await online(port, 5);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    pub.send({ cmd: 'publish', topic: 'bytes/all', payload: all, qos: 0 });
    pub.send({ cmd: 'publish', topic: 'bytes/empty', payload: Buffer.alloc(0), qos: 0 });
    const [a, e] = await take(sub, 2);
    assert.deepEqual(a.payload, all);
    assert.equal(e.topic, 'bytes/empty');
    assert.equal(e.payload.length, 0);
    bye(sub);
    bye(pub);
  });

  it('[MQTT-1.5.3-3] a leading U+FEFF (0xEF 0xBB 0xBF) in a Topic Name is kept, not stripped (MQTT 5 [MQTT-1.5.4-3])', async () => {
    for (const version of [4, 5] as const) {
      const bom = `\ufeffbom${version}/x`;
      const plain = await online(port, version);
      await subscribe(plain, `bom${version}/x`, 0);
      const withBom = await online(port, version);
      await subscribe(withBom, bom, 0);
      const pub = await online(port, version);
      await publish1(pub, bom, 'b');
      const [m] = await take(withBom, 1);
      assert.equal(m.topic, bom);
      assert.deepEqual(Buffer.from(m.topic, 'utf8').subarray(0, 3), Buffer.from([0xef, 0xbb, 0xbf]));
      assert.deepEqual(await ping(plain), [], 'a filter without the BOM does not match');
      bye(plain);
      bye(withBom);
      bye(pub);
    }
  });

  it('[MQTT-4.7.3-3] Topic Names up to the UTF-8 string limit are accepted and matched exactly', async () => {
    const long = `long/${'x'.repeat(60_000)}`;
    const sub = await online(port, 4);
    await subscribe(sub, long, 0);
    const pub = await online(port, 4);
    await publish1(pub, long, 'far');
    const [m] = await take(sub, 1);
    assert.equal(m.topic, long);
    bye(sub);
    bye(pub);
  });

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] messages from one client to one topic are forwarded in the order they were received (MQTT 5 [MQTT-4.6.0-5] [MQTT-4.6.0-6])', async () => {
    for (const version of [4, 5] as const) {
      const sub = await online(port, version);
      await subscribe(sub, 'order0/x', 0);
      const pub = await online(port, version);
      for (let i = 0; i < 200; i++) pub.send({ cmd: 'publish', topic: 'order0/x', payload: String(i), qos: 0 });
      const got = await take(sub, 200);
      assert.deepEqual(
        got.map((p) => Number(p.payload.toString())),
        Array.from({ length: 200 }, (_, i) => i),
      );
      bye(sub);
      bye(pub);
    }
  });
});
