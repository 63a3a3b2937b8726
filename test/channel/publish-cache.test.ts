// Fan-out encodes once: every QoS 0 subscriber whose PUBLISH bytes would be identical is handed
// the same Buffer object (not an equal copy), and subscribers of another shape get their own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Channel } from '../../src/channel/channel.js';
import type { Packet } from '../../src/protocol/packets.js';
import type { ProtocolVersion } from '../../src/protocol/constants.js';
import { connectPacket, makeBroker, RecorderIO, settle } from '../helpers/channel.js';

/** A recorder that also keeps each written Buffer itself, to compare by identity. */
class BytesIO extends RecorderIO {
  readonly raw: Buffer[] = [];
  override write(bytes: Buffer): void {
    this.raw.push(bytes);
    super.write(bytes);
  }
}

async function client(broker: Awaited<ReturnType<typeof makeBroker>>, id: string, version: ProtocolVersion, subscriptionId?: number) {
  const io = new BytesIO();
  const ch = new Channel(broker, io);
  io.version = () => ch.version;
  ch.receive(connectPacket(id, { protocolVersion: version, protocolName: version === 3 ? 'MQIsdp' : 'MQTT' }));
  await io.waitFor(1);
  const subscribe: Packet = {
    type: 'subscribe',
    packetId: 1,
    subscriptions: [{ filter: 'fan/+', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    ...(subscriptionId === undefined ? {} : { properties: { subscriptionIdentifiers: [subscriptionId] } }),
  };
  ch.receive(subscribe);
  await io.waitFor(1);
  io.raw.length = 0;
  return { ch, io };
}

describe('publish cache: one encoding per shape in fan-out', () => {
  it('hands the same bytes object to every QoS 0 subscriber of one shape', async () => {
    const broker = await makeBroker();
    const v4a = await client(broker, 'v4a', 4);
    const v4b = await client(broker, 'v4b', 4);
    const v3 = await client(broker, 'v3', 3);
    const v5a = await client(broker, 'v5a', 5);
    const v5b = await client(broker, 'v5b', 5);
    const v5id = await client(broker, 'v5id', 5, 7);
    const pub = await client(broker, 'pub', 4);

    pub.ch.receive({ type: 'publish', topic: 'fan/x', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false });
    await settle();
    const [[a], [b], [c], [d], [e], [f]] = [v4a, v4b, v3, v5a, v5b, v5id].map((s) => s.io.raw);
    for (const bytes of [a, b, c, d, e, f]) assert.ok(bytes, 'every subscriber got the message');

    // 3.1 and 3.1.1 share the PUBLISH layout; 5.0 adds a property length.
    assert.equal(b, a, '3.1.1 subscribers share one Buffer');
    assert.equal(c, a, 'a 3.1 subscriber shares it too');
    assert.equal(e, d, '5.0 subscribers share their own Buffer');
    assert.notEqual(d, a);
    // A subscription identifier makes the bytes the subscriber's own.
    assert.notEqual(f, d);
    const [delivered] = v5id.io.take();
    assert.deepEqual((delivered as { properties?: unknown }).properties, { subscriptionIdentifiers: [7] });
    await broker.close();
  });

  it('does not reuse one message\'s bytes for the next', async () => {
    const broker = await makeBroker();
    const s1 = await client(broker, 's1', 4);
    const s2 = await client(broker, 's2', 4);
    const pub = await client(broker, 'pub', 4);
    for (const text of ['one', 'two']) pub.ch.receive({ type: 'publish', topic: 'fan/x', payload: Buffer.from(text), qos: 0, retain: false, dup: false });
    await settle();
    assert.equal(s1.io.raw.length, 2);
    assert.equal(s1.io.raw[0], s2.io.raw[0]);
    assert.equal(s1.io.raw[1], s2.io.raw[1]);
    assert.notEqual(s1.io.raw[0], s1.io.raw[1]);
    assert.deepEqual(
      s2.io.take().map((p) => (p as { payload: Buffer }).payload.toString()),
      ['one', 'two'],
    );
    await broker.close();
  });
});
