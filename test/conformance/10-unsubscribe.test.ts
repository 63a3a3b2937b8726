// 10 UNSUBSCRIBE / UNSUBACK on the wire (sections 3.10 and 3.11).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WireClient, WirePacket } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, expectDisconnect, expectSilentClose, online, ping, publish1, subscribe, take, uid } from './helpers.js';

async function unsubscribe(c: WireClient, filters: string[], messageId = 1): Promise<WirePacket> {
  c.send({ cmd: 'unsubscribe', messageId, unsubscriptions: filters });
  const ack = await c.next();
  assert.equal(ack.cmd, 'unsuback', `expected UNSUBACK, got ${ack.cmd}`);
  assert.equal(ack.messageId, messageId, 'UNSUBACK packet id');
  return ack;
}

describe('10 UNSUBSCRIBE', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  /** Publishes from a throwaway client and returns what `sub` received by the time it is routed. */
  async function deliveredTo(sub: WireClient, topic: string): Promise<WirePacket[]> {
    const p = await online(port, 4);
    await publish1(p, topic, 'probe');
    bye(p);
    return (await ping(sub)).filter((x) => x.cmd === 'publish');
  }

  it('[MQTT-3.10.1-1] [MQTT-2.2.2-2] UNSUBSCRIBE with fixed-header flags other than 0010 is malformed: closed (MQTT 5 [MQTT-3.10.1-1]: 0x81)', async () => {
    for (const flags of [0x0, 0x3, 0x8]) {
      const c = await online(port, 4);
      c.sendRaw(raw.unsubscribe(1, ['u/x'], { flags }));
      await expectSilentClose(c);
    }
    const c5 = await online(port, 5);
    c5.sendRaw(raw.unsubscribe(1, ['u/x'], { flags: 0, props5: raw.props() }));
    await expectDisconnect(c5, 0x81);
  });

  it('[MQTT-3.10.3-2] MQTT 3.1.1: an UNSUBSCRIBE without any Topic Filter closes the connection', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.unsubscribe(1, []));
    await expectSilentClose(c);
  });

  it('MQTT 5 [MQTT-3.10.3-2] an UNSUBSCRIBE without any Topic Filter is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.unsubscribe(1, [], { props5: raw.props() }));
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-3.10.3-1] [MQTT-1.5.3-1] a Topic Filter that is not well-formed UTF-8 closes the connection (MQTT 5 [MQTT-3.10.3-1] [MQTT-1.5.4-1]: 0x81)', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.unsubscribe(1, [raw.BAD_UTF8]));
    await expectSilentClose(c);
    const c5 = await online(port, 5);
    c5.sendRaw(raw.unsubscribe(1, [raw.SURROGATE_UTF8], { props5: raw.props() }));
    await expectDisconnect(c5, 0x81);
  });

  it('[MQTT-2.3.1-1] an UNSUBSCRIBE with Packet Identifier 0 closes the connection', async () => {
    const c = await online(port, 4);
    c.sendRaw(raw.unsubscribe(0, ['u/x']));
    await expectSilentClose(c);
  });

  it('[MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-2.3.1-7] UNSUBACK carries the Packet Identifier, even when nothing was subscribed (MQTT 5 [MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-2.2.1-6])', async () => {
    for (const version of [4, 5] as const) {
      const c = await online(port, version);
      for (const id of [1, 0x4321, 0xffff]) await unsubscribe(c, [`never/${id}`], id);
      bye(c);
    }
  });

  it('[MQTT-3.10.4-1] filters are compared character by character: only the identical subscription is removed', async () => {
    const sub = await online(port, 4);
    const base = `cmp/${uid('t')}`;
    await subscribe(sub, [
      { topic: `${base}/+`, qos: 0 },
      { topic: `${base}/b`, qos: 1 },
    ]);
    await unsubscribe(sub, [`${base}/#`, `${base.toUpperCase()}/+`, `${base}/b/`]); // none of these exist
    let got = await deliveredTo(sub, `${base}/b`);
    assert.deepEqual(got.map((p) => p.qos), [1], 'both subscriptions still there (QoS 1 wins)');
    sub.send({ cmd: 'puback', messageId: got[0].messageId });
    await unsubscribe(sub, [`${base}/b`], 2);
    got = await deliveredTo(sub, `${base}/b`);
    assert.deepEqual(got.map((p) => p.qos), [0], 'only the wildcard subscription is left');
    await unsubscribe(sub, [`${base}/+`], 3);
    assert.deepEqual(await deliveredTo(sub, `${base}/b`), []);
    bye(sub);
  });

  it('[MQTT-3.10.4-6] several filters in one UNSUBSCRIBE are all removed, with a single UNSUBACK', async () => {
    const sub = await online(port, 4);
    const base = `multiu/${uid('t')}`;
    await subscribe(sub, [
      { topic: `${base}/a`, qos: 0 },
      { topic: `${base}/b`, qos: 0 },
      { topic: `${base}/c`, qos: 0 },
    ]);
    await unsubscribe(sub, [`${base}/a`, `${base}/c`]);
    assert.deepEqual(await ping(sub), [], 'one UNSUBACK only');
    assert.deepEqual(await deliveredTo(sub, `${base}/a`), []);
    assert.deepEqual(await deliveredTo(sub, `${base}/c`), []);
    assert.equal((await deliveredTo(sub, `${base}/b`)).length, 1);
    bye(sub);
  });

  it('MQTT 5 [MQTT-3.11.3-1] [MQTT-3.11.3-2] UNSUBACK has a reason code per filter, in order: 0x00 removed, 0x11 no subscription existed', async () => {
    const c = await online(port, 5);
    const base = `rc11/${uid('t')}`;
    await subscribe(c, [
      { topic: `${base}/a`, qos: 0 },
      { topic: `${base}/c`, qos: 0 },
    ]);
    const ack = await unsubscribe(c, [`${base}/a`, `${base}/b`, `${base}/c`]);
    assert.deepEqual(ack.granted ?? ack.reasonCodes, [0x00, 0x11, 0x00]);
    bye(c);
  });

  it('[MQTT-3.10.4-2] [MQTT-3.10.4-3] after UNSUBSCRIBE no new messages are added, and QoS 1/2 deliveries already started complete', async () => {
    const sub = await online(port, 4);
    const topic = `inflight/${uid('t')}`;
    await subscribe(sub, topic, 2);
    const pub = await online(port, 4);
    await publish1(pub, topic, 'q1', 1);
    pub.send({ cmd: 'publish', topic, payload: 'q2', qos: 2, messageId: 2 });
    assert.equal((await pub.next()).cmd, 'pubrec');
    const [m1, m2] = await take(sub, 2);
    await unsubscribe(sub, [topic], 9);
    await publish1(pub, topic, 'after', 3);
    assert.deepEqual(await ping(sub), [], 'nothing new after the UNSUBACK');
    sub.send({ cmd: 'puback', messageId: m1.messageId });
    sub.send({ cmd: 'pubrec', messageId: m2.messageId });
    const rel = await sub.next();
    assert.equal(rel.cmd, 'pubrel', 'the started QoS 2 delivery goes on');
    assert.equal(rel.messageId, m2.messageId);
    sub.send({ cmd: 'pubcomp', messageId: m2.messageId });
    assert.deepEqual(await ping(sub), []);
    bye(sub);
    bye(pub);
  });
});
