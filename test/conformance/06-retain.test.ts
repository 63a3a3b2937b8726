// 06 Retained messages on the wire (section 3.3.1.3 of both specs, and 3.3.2.3.3 for expiry).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WireClient } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { bye, online, ping, publish1, sleep, subscribe, take, uid } from './helpers.js';

/** Publishes retained at QoS 0 and waits until the server has processed it. */
async function retain0(c: WireClient, topic: string, payload: string | Buffer): Promise<void> {
  c.send({ cmd: 'publish', topic, payload, qos: 0, retain: true });
  await ping(c);
}

/** What a brand-new subscription to `filter` is sent straight away. */
async function freshLook(port: number, filter: string, qos = 2, version: 4 | 5 = 4) {
  const c = await online(port, version);
  await subscribe(c, filter, qos);
  const got = await ping(c);
  for (const p of got) {
    if (p.qos === 1) c.send({ cmd: 'puback', messageId: p.messageId });
    if (p.qos === 2) c.send({ cmd: 'pubrec', messageId: p.messageId });
  }
  bye(c);
  return got;
}

describe('06 retained messages', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] a retained message is stored with its QoS and sent to new subscriptions with RETAIN 1', async () => {
    const topic = `r5/${uid('t')}`;
    const pub = await online(port, 4);
    await publish1(pub, topic, 'stored', 1, { retain: true });
    const q2 = await freshLook(port, topic, 2);
    assert.deepEqual(q2.map((p) => [p.payload.toString(), p.qos, p.retain]), [['stored', 1, true]], 'QoS 1 as stored, for a QoS 2 subscription');
    const q0 = await freshLook(port, topic, 0);
    assert.deepEqual(q0.map((p) => [p.payload.toString(), p.qos, p.retain]), [['stored', 0, true]], 'downgraded to the granted QoS 0');
    bye(pub);
  });

  it('[MQTT-3.3.1-7] a retained QoS 0 message replaces the one retained before it', async () => {
    const topic = `r7/${uid('t')}`;
    const pub = await online(port, 4);
    await publish1(pub, topic, 'old', 1, { retain: true });
    await retain0(pub, topic, 'new');
    const got = await freshLook(port, topic, 2);
    assert.deepEqual(got.map((p) => [p.payload.toString(), p.qos]), [['new', 0]]);
    bye(pub);
  });

  it('MQTT 5 [MQTT-3.3.1-5] a retained message replaces the existing one for its topic', async () => {
    const topic = `r5v5/${uid('t')}`;
    const pub = await online(port, 5);
    await publish1(pub, topic, 'first', 1, { retain: true });
    await publish1(pub, topic, 'second', 2, { retain: true });
    const got = await freshLook(port, topic, 1, 5);
    assert.deepEqual(got.map((p) => p.payload.toString()), ['second']);
    bye(pub);
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] [MQTT-3.3.1-9] an empty retained message goes to current subscribers as usual (RETAIN 0), clears the topic, and is not stored (MQTT 5 [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-12])', async () => {
    for (const version of [4, 5] as const) {
      const topic = `r10/${uid('t')}`;
      const pub = await online(port, version);
      await retain0(pub, topic, 'to be cleared');
      const live = await online(port, version);
      await subscribe(live, topic, 0);
      assert.equal((await take(live, 1))[0].retain, true, 'the retained message on subscribing');
      await retain0(pub, topic, Buffer.alloc(0));
      const [m] = await take(live, 1);
      assert.equal(m.payload.length, 0, 'the empty message is delivered');
      assert.equal(m.retain, false, 'with RETAIN 0 on an established subscription');
      assert.deepEqual(await freshLook(port, topic, 2, version), [], 'nothing retained any more');
      // An empty retained message on a topic that never had one is not stored either.
      const other = `r11/${uid('t')}`;
      await retain0(pub, other, Buffer.alloc(0));
      assert.deepEqual(await freshLook(port, other, 2, version), []);
      bye(live);
      bye(pub);
    }
  });

  it('[MQTT-3.3.1-12] a PUBLISH with RETAIN 0 neither stores nor replaces nor removes the retained message (MQTT 5 [MQTT-3.3.1-8])', async () => {
    for (const version of [4, 5] as const) {
      const topic = `r12/${uid('t')}`;
      const pub = await online(port, version);
      await retain0(pub, topic, 'kept');
      await publish1(pub, topic, 'not retained', 1);
      await publish1(pub, topic, '', 2);
      const got = await freshLook(port, topic, 2, version);
      assert.deepEqual(got.map((p) => p.payload.toString()), ['kept']);
      const never = `r12b/${uid('t')}`;
      await publish1(pub, never, 'plain', 3);
      assert.deepEqual(await freshLook(port, never, 2, version), [], 'a plain message is not stored');
      bye(pub);
    }
  });

  it('[MQTT-3.1.2-7] retained messages outlive the session that published them', async () => {
    const topic = `r127/${uid('t')}`;
    const clean = await online(port, 4, { clean: true });
    await retain0(clean, topic, 'from a clean session');
    clean.end(); // not even a DISCONNECT
    await clean.waitClosed();
    const persistentId = uid('persist');
    const durable = await online(port, 4, { clientId: persistentId, clean: false });
    await publish1(durable, `${topic}/2`, 'from a persistent session', 1, { retain: true });
    bye(durable);
    await durable.waitClosed();
    const wipe = await online(port, 4, { clientId: persistentId, clean: true }); // ends that session
    bye(wipe);
    const got = await freshLook(port, `${topic}/#`);
    assert.deepEqual(got.map((p) => p.payload.toString()).sort(), ['from a clean session', 'from a persistent session']);
  });

  it('[MQTT-3.3.1-6] a wildcard subscription gets every matching retained message once, and none that do not match', async () => {
    const base = `rw/${uid('t')}`;
    const pub = await online(port, 4);
    for (const [topic, payload] of [[`${base}/a`, 'a'], [`${base}/b/c`, 'bc'], [`${base}x/a`, 'no'], [`${base}/d`, 'd']]) {
      await retain0(pub, topic, payload);
    }
    const all = await freshLook(port, `${base}/#`);
    assert.deepEqual(all.map((p) => p.payload.toString()).sort(), ['a', 'bc', 'd']);
    assert.ok(all.every((p) => p.retain));
    const one = await freshLook(port, `${base}/+`);
    assert.deepEqual(one.map((p) => p.payload.toString()).sort(), ['a', 'd']);
    bye(pub);
  });

  it('[MQTT-4.7.2-1] a retained message on a $ topic is not sent to a subscription starting with a wildcard', async () => {
    const topic = `$ret-${uid('t')}/x`;
    const pub = await online(port, 4);
    await retain0(pub, topic, 'dollar');
    const hash = await freshLook(port, '#');
    assert.ok(!hash.some((p) => p.topic === topic), '"#" does not see it');
    const explicit = await freshLook(port, `${topic.split('/')[0]}/#`);
    assert.deepEqual(explicit.map((p) => p.topic), [topic]);
    bye(pub);
  });

  it('[MQTT-4.3.3-1] a retained QoS 2 message goes through the whole QoS 2 exchange to a new subscriber', async () => {
    const topic = `r2/${uid('t')}`;
    const pub = await online(port, 4);
    pub.send({ cmd: 'publish', topic, payload: 'two', qos: 2, messageId: 1, retain: true });
    assert.equal((await pub.next()).cmd, 'pubrec');
    pub.send({ cmd: 'pubrel', messageId: 1 });
    assert.equal((await pub.next()).cmd, 'pubcomp');
    const sub = await online(port, 4);
    await subscribe(sub, topic, 2);
    const [m] = await take(sub, 1);
    assert.equal(m.qos, 2);
    assert.equal(m.retain, true);
    sub.send({ cmd: 'pubrec', messageId: m.messageId });
    const rel = await sub.next();
    assert.equal(rel.cmd, 'pubrel');
    sub.send({ cmd: 'pubcomp', messageId: m.messageId });
    bye(sub);
    bye(pub);
  });

  it('MQTT 5 [MQTT-3.3.2-5] [MQTT-3.3.2-6] a retained message expires with its Message Expiry Interval, and is sent with the time left', async () => {
    const topic = `rexp/${uid('t')}`;
    const pub = await online(port, 5);
    await publish1(pub, `${topic}/short`, 'short', 1, { retain: true, properties: { messageExpiryInterval: 1 } });
    await publish1(pub, `${topic}/long`, 'long', 2, { retain: true, properties: { messageExpiryInterval: 60 } });
    await sleep(1300);
    const got = await freshLook(port, `${topic}/#`, 1, 5);
    assert.deepEqual(got.map((p) => p.payload.toString()), ['long']);
    const left = got[0].properties?.messageExpiryInterval as number;
    assert.ok(left >= 57 && left <= 59, `remaining expiry ${left}`);
    bye(pub);
  });
});
