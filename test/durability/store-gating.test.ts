// "An acknowledgement is never sent for something not yet durable": with a store whose apply() is
// held, PUBACK, PUBREC, PUBCOMP and SUBACK to a persistent session wait until it resolves. And
// QoS 0 traffic and clean sessions never reach the store at all.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { HeldStore } from '../helpers/held-store.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';

/** Reads `n` packets and returns them keyed by command (each command at most once). */
async function packets(c: WireClient, n: number): Promise<Map<string, WirePacket>> {
  const out = new Map<string, WirePacket>();
  for (let i = 0; i < n; i++) {
    const p = await c.next();
    out.set(p.cmd, p);
  }
  return out;
}

describe('durability: acknowledgements wait for the store', () => {
  const store = new HeldStore();
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ sysIntervalSec: '0' }, { store });
  });
  after(async () => {
    store.hold = false;
    store.release();
    await t.close();
  });

  it('SUBACK, PUBACK, PUBREC and PUBCOMP to a persistent session go out only once apply() resolves', async () => {
    const { client: c, connack } = await WireClient.connect(t.port(), { clientId: 'gate', clean: false });
    assert.equal(connack.returnCode, 0);
    store.hold = true;
    const gated = async (what: string, op: string, expect: number): Promise<Map<string, WirePacket>> => {
      const calls = store.applied.length;
      await c.expectSilence(300);
      assert.ok(store.applied.length > calls, `${what}: the store was asked`);
      assert.ok(store.applied.slice(calls).flat().some((o) => o.op === op), `${what}: ${op} was written`);
      assert.ok(store.release() > 0, `${what}: something waited for the store`);
      return packets(c, expect);
    };

    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'gate/#', qos: 2 }] });
    const sub = await gated('SUBSCRIBE', 'subscription.put', 1);
    assert.deepEqual(sub.get('suback')?.granted, [2]);

    // The session's own subscription matches, so the message is queued for it (a persistent queue entry).
    c.send({ cmd: 'publish', topic: 'gate/1', payload: Buffer.from('q1'), qos: 1, messageId: 2 });
    const q1 = await gated('QoS 1 PUBLISH', 'queue.put', 2);
    assert.equal(q1.get('puback')?.messageId, 2);
    assert.equal(q1.get('publish')?.payload.toString(), 'q1', 'the delivery, too, waited for the store');
    c.send({ cmd: 'puback', messageId: q1.get('publish')!.messageId });

    c.send({ cmd: 'publish', topic: 'gate/2', payload: Buffer.from('q2'), qos: 2, messageId: 3 });
    const q2 = await gated('QoS 2 PUBLISH', 'inbound.put', 2);
    assert.equal(q2.get('pubrec')?.messageId, 3);

    c.send({ cmd: 'pubrel', messageId: 3 });
    const rel = await gated('PUBREL', 'inbound.delete', 1);
    assert.equal(rel.get('pubcomp')?.messageId, 3);

    store.hold = false;
    store.release();
    c.end();
  });

  it('a stored QoS 1 entry goes out from memory as the window opens, without waiting for a write; QoS 2 waits for its in-flight state [MQTT-4.3.3-2]', async () => {
    // Receive Maximum 1: each delivery is taken into the window only when the one before it ends.
    const { client: sub } = await WireClient.connect(t.port(), { clientId: 'gate-drain', clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 1 } }, 5);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'drain/#', qos: 2 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    const { client: pub } = await WireClient.connect(t.port(), { clientId: 'gate-drain-pub', clean: true });
    const publish = async (topic: string, qos: 1 | 2, messageId: number): Promise<void> => {
      pub.send({ cmd: 'publish', topic, payload: Buffer.from(topic), qos, messageId });
      if (qos === 1) return assert.equal((await pub.next()).cmd, 'puback');
      assert.equal((await pub.next()).cmd, 'pubrec');
      pub.send({ cmd: 'pubrel', messageId });
      assert.equal((await pub.next()).cmd, 'pubcomp');
    };

    await publish('drain/1', 1, 1);
    await publish('drain/2', 1, 2);
    const first = await sub.next();
    assert.equal(first.payload.toString(), 'drain/1');
    store.hold = true;
    const calls = store.applied.length;
    sub.send({ cmd: 'puback', messageId: first.messageId });
    const second = await sub.next();
    assert.equal(second.payload.toString(), 'drain/2', 'sent while the store is held');
    await sub.expectSilence(100);
    assert.ok(store.applied.slice(calls).flat().some((o) => o.op === 'queue.delete'), 'the acknowledged entry is retired behind it');
    assert.ok(!store.applied.slice(calls).flat().some((o) => o.op === 'queue.put'), 'no state write for a QoS 1 delivery');
    store.hold = false;
    store.release();
    sub.send({ cmd: 'puback', messageId: second.messageId });

    await publish('drain/3', 2, 3);
    await publish('drain/4', 2, 4);
    const third = await sub.next();
    assert.equal(third.payload.toString(), 'drain/3');
    sub.send({ cmd: 'pubrec', messageId: third.messageId });
    assert.equal((await sub.next()).cmd, 'pubrel');
    store.hold = true;
    sub.send({ cmd: 'pubcomp', messageId: third.messageId });
    await sub.expectSilence(300);
    assert.ok(store.release() > 0, 'the QoS 2 delivery waited for its in-flight state to be written');
    const fourth = await sub.next();
    assert.equal(fourth.payload.toString(), 'drain/4');
    store.hold = false;
    store.release();
    sub.end();
    pub.end();
  });

  it('QoS 0 traffic, PINGREQ and clean sessions never call apply()', async () => {
    const { client: p } = await WireClient.connect(t.port(), { clientId: 'gate-q0', clean: false });
    p.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q0/#', qos: 0 }] });
    assert.equal((await p.next()).cmd, 'suback');
    const { client: c } = await WireClient.connect(t.port(), { clientId: 'gate-clean', clean: true });
    await new Promise((r) => setImmediate(r)); // let the batcher apply what came before
    const calls = store.applied.length;

    // QoS 0 to and from a persistent session.
    p.send({ cmd: 'publish', topic: 'q0/a', payload: Buffer.from('zero'), qos: 0 });
    assert.equal((await p.next()).cmd, 'publish');
    p.send({ cmd: 'pingreq' });
    assert.equal((await p.next()).cmd, 'pingresp');

    // A clean session: QoS 1 and 2 both ways, subscriptions, unsubscriptions.
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'clean/#', qos: 2 }] });
    assert.equal((await c.next()).cmd, 'suback');
    c.send({ cmd: 'publish', topic: 'clean/1', payload: Buffer.from('one'), qos: 1, messageId: 2 });
    const one = await packets(c, 2);
    assert.ok(one.has('puback') && one.has('publish'));
    c.send({ cmd: 'puback', messageId: one.get('publish')!.messageId });
    c.send({ cmd: 'publish', topic: 'clean/2', payload: Buffer.from('two'), qos: 2, messageId: 3 });
    const two = await packets(c, 2);
    assert.ok(two.has('pubrec') && two.has('publish'));
    c.send({ cmd: 'pubrel', messageId: 3 });
    c.send({ cmd: 'pubrec', messageId: two.get('publish')!.messageId });
    const done = await packets(c, 2);
    assert.ok(done.has('pubcomp') && done.has('pubrel'));
    c.send({ cmd: 'pubcomp', messageId: two.get('publish')!.messageId });
    c.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['clean/#'] });
    assert.equal((await c.next()).cmd, 'unsuback');
    c.send({ cmd: 'disconnect' });
    assert.ok(await c.waitClosed());

    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(store.applied.slice(calls), [], 'no store writes');
    p.end();
  });
});
