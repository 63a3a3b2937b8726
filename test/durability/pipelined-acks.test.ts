// Pipelined QoS 1: the PUBLISHes of one read are routed while the first one's commit is under way,
// so they share one store batch, yet every PUBACK still waits for that batch and they go in the
// order the PUBLISHes came [MQTT-4.6.0-2]; any other packet waits for the PUBACKs owed before it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { HeldStore } from '../helpers/held-store.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';

/** Several packets in one write, so the broker reads them in one chunk. */
function oneWrite(c: WireClient, packets: Record<string, unknown>[]): void {
  c.sendRaw(Buffer.concat(packets.map((p) => mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: c.version }))));
}

async function read(c: WireClient, n: number): Promise<WirePacket[]> {
  const out: WirePacket[] = [];
  for (let i = 0; i < n; i++) out.push(await c.next(5000));
  return out;
}

const publish = (topic: string, messageId: number): Record<string, unknown> => ({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 1, messageId });

describe('durability: pipelined QoS 1 acknowledgements [MQTT-4.6.0-2]', () => {
  const store = new HeldStore();
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ sysIntervalSec: '0' }, { store });
    // A persistent subscriber, offline: every message to pipe/# is a queue entry in the store.
    const { client: sub } = await WireClient.connect(t.port(), { clientId: 'pipe-sub', clean: false });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'pipe/#', qos: 1 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    sub.send({ cmd: 'disconnect' });
    assert.ok(await sub.waitClosed());
  });
  after(async () => {
    store.hold = false;
    store.release();
    await t.close();
  });

  it('the QoS 1 PUBLISHes of one read share one store batch; no PUBACK before it is applied, then all in order, stored or not', async () => {
    const { client: pub } = await WireClient.connect(t.port(), { clientId: 'pipe-pub', clean: true });
    store.hold = true;
    const calls = store.applied.length;
    // Stored ones (pipe/…) with ones nobody subscribed to (none/…: acknowledged without a write) among them.
    const sent = Array.from({ length: 20 }, (_, i) => publish(i % 4 === 3 ? `none/${i}` : `pipe/${i}`, i + 1));
    oneWrite(pub, [...sent, { cmd: 'pingreq' }]);
    await pub.expectSilence(300);
    const applies = store.applied.slice(calls);
    assert.equal(applies.length, 1, 'one batch for the whole read');
    assert.equal(applies[0].filter((o) => o.op === 'queue.put').length, 15, 'every stored message in it');
    assert.equal(store.release(), 1);
    const got = await read(pub, 21);
    assert.deepEqual(
      got.map((p) => `${p.cmd}${p.messageId ?? ''}`),
      [...sent.map((p) => `puback${p.messageId as number}`), 'pingresp'],
      'PUBACKs in the order of the PUBLISHes, the PINGRESP after them',
    );
    store.hold = false;
    pub.end();
  });

  it('QoS 1 PUBLISHes answered at once wait too once 256 are open: a commit that does not end cannot grow the owed acknowledgements without bound', async () => {
    const { client: pub } = await WireClient.connect(t.port(), { clientId: 'pipe-flood', clean: true });
    store.hold = true;
    const stats = t.server.broker.stats;
    const before = stats.publishReceived;
    // One stored message whose commit is held, then 2,000 nobody subscribed to (each acknowledged
    // without a write, so each would only add an acknowledgement behind the held one).
    oneWrite(pub, [publish('pipe/held', 1)]);
    for (let w = 0; w < 20; w++) oneWrite(pub, Array.from({ length: 100 }, (_, i) => publish(`none/${w}/${i}`, 2 + w * 100 + i)));
    await pub.expectSilence(500);
    const handled = stats.publishReceived - before;
    store.hold = false;
    assert.equal(store.release(), 1);
    assert.ok(handled > 1 && handled <= 256, `handled while the commit was held: ${handled} (at most 256 open, the held one included)`);
    const got = await read(pub, 2001);
    assert.deepEqual(
      got.map((p) => p.messageId),
      Array.from({ length: 2001 }, (_, i) => i + 1),
      'every PUBACK, in order, once the commit is done',
    );
    pub.end();
  });

  it('MQTT 5: a client past our Receive Maximum is slowed down, not disconnected; every PUBACK comes, in order', async () => {
    const { client: pub, connack } = await WireClient.connect(t.port(), { clientId: 'pipe-pub5', clean: true }, 5);
    const max = connack.properties?.receiveMaximum as number;
    assert.ok(max >= 1 && max < 100, `Receive Maximum ${max}`);
    const sent = Array.from({ length: max + 10 }, (_, i) => publish(`pipe/v5/${i}`, i + 1));
    oneWrite(pub, sent);
    const got = await read(pub, sent.length);
    assert.deepEqual(
      got.map((p) => `${p.cmd}${p.messageId}`),
      sent.map((p) => `puback${p.messageId as number}`),
    );
    assert.ok(!pub.closed);
    pub.end();
  });
});
