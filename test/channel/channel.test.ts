// Channel behaviour driven by calling functions: no sockets, the real broker and memory store.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Channel } from '../../src/channel/channel.js';
import type { Packet, PublishPacket } from '../../src/protocol/packets.js';
import { connectPacket, makeBroker, openChannel, RecorderIO, settle } from '../helpers/channel.js';

const pub = (topic: string, payload: string, extra: Partial<PublishPacket> = {}): PublishPacket => ({
  type: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 0,
  retain: false,
  dup: false,
  ...extra,
});

const sub = (packetId: number, filter: string, qos: 0 | 1 | 2 = 0): Packet => ({
  type: 'subscribe',
  packetId,
  subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
});

describe('channel: CONNECT', () => {
  it('accepts a CONNECT and starts the keepalive watchdog [MQTT-3.2.0-1]', async () => {
    const broker = await makeBroker();
    const { io, connack } = await openChannel(broker, connectPacket('a', { keepalive: 30 }));
    assert.deepEqual(connack, { type: 'connack', sessionPresent: false, reasonCode: 0 });
    assert.equal(io.keepalive, 30);
    await broker.close();
  });

  it('closes on a packet before CONNECT [MQTT-3.1.0-1]', async () => {
    const broker = await makeBroker();
    const io = new RecorderIO();
    const ch = new Channel(broker, io);
    ch.receive({ type: 'pingreq' });
    assert.equal(io.closed, true);
    assert.equal(io.packets.length, 0);
    await broker.close();
  });

  it('closes on a second CONNECT [MQTT-3.1.0-2]', async () => {
    const broker = await makeBroker();
    const { ch, io } = await openChannel(broker, connectPacket('a'));
    ch.receive(connectPacket('a'));
    await settle();
    assert.equal(io.closed, true);
    await broker.close();
  });

  it('rejects an empty client id without clean session with return code 2 [MQTT-3.1.3-8]', async () => {
    const broker = await makeBroker();
    const { io, connack } = await openChannel(broker, connectPacket('', { clean: false }));
    assert.deepEqual(connack, { type: 'connack', sessionPresent: false, reasonCode: 2 });
    assert.equal(io.closed, true);
    await broker.close();
  });

  it('assigns an id to an empty client id with clean session [MQTT-3.1.3-6]', async () => {
    const broker = await makeBroker();
    const { ch, connack } = await openChannel(broker, connectPacket(''));
    assert.equal((connack as { reasonCode: number }).reasonCode, 0);
    assert.match(ch.clientId, /^starling-/);
    await broker.close();
  });

  it('MQTT 3.1 refuses client ids longer than 23 characters with return code 2', async () => {
    const broker = await makeBroker();
    const { connack } = await openChannel(
      broker,
      connectPacket('x'.repeat(24), { protocolVersion: 3, protocolName: 'MQIsdp' }),
    );
    assert.equal((connack as { reasonCode: number }).reasonCode, 2);
    await broker.close();
  });

  it('takes over an existing connection with the same client id [MQTT-3.1.4-2]', async () => {
    const broker = await makeBroker();
    const first = await openChannel(broker, connectPacket('same'));
    const second = await openChannel(broker, connectPacket('same'));
    assert.equal(first.io.closed, true);
    assert.equal(second.io.closed, false);
    assert.equal(broker.clients.get('same'), second.ch);
    await broker.close();
  });
});

describe('channel: publish and subscribe', () => {
  it('routes QoS 0 to a subscriber and answers SUBACK with the granted QoS [MQTT-3.9.3-1]', async () => {
    const broker = await makeBroker();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 'a/+', 2));
    assert.deepEqual(await s.io.waitFor(1), [{ type: 'suback', packetId: 1, reasonCodes: [2] }]);
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('a/b', 'hi'));
    const [m] = await s.io.waitFor(1);
    assert.equal(m.type, 'publish');
    assert.equal((m as PublishPacket).topic, 'a/b');
    assert.equal((m as PublishPacket).payload.toString(), 'hi');
    await broker.close();
  });

  it('delivers once at the highest QoS of overlapping subscriptions [MQTT-3.3.5-1]', async () => {
    const broker = await makeBroker();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 'a/#', 0));
    s.ch.receive(sub(2, 'a/+', 1));
    await s.io.waitFor(2);
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('a/b', 'x', { qos: 1, packetId: 7 }));
    assert.deepEqual(await p.io.waitFor(1), [{ type: 'puback', packetId: 7 }]);
    const got = await s.io.waitFor(1);
    assert.equal(got.length, 1);
    assert.equal((got[0] as PublishPacket).qos, 1);
    await settle();
    assert.equal(s.io.packets.length, 0);
    await broker.close();
  });

  it('downgrades to the granted QoS [MQTT-3.8.4-6]', async () => {
    const broker = await makeBroker();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 't', 0));
    await s.io.waitFor(1);
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('t', 'x', { qos: 2, packetId: 3 }));
    const [m] = await s.io.waitFor(1);
    assert.equal((m as PublishPacket).qos, 0);
    assert.equal((m as PublishPacket).packetId, undefined);
    await broker.close();
  });

  it('QoS 2 inbound is routed once even when the PUBLISH is resent [MQTT-4.3.3-10]', async () => {
    const broker = await makeBroker();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 't', 2));
    await s.io.waitFor(1);
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('t', 'once', { qos: 2, packetId: 9 }));
    p.ch.receive(pub('t', 'once', { qos: 2, packetId: 9, dup: true }));
    assert.deepEqual(await p.io.waitFor(2), [
      { type: 'pubrec', packetId: 9 },
      { type: 'pubrec', packetId: 9 },
    ]);
    p.ch.receive({ type: 'pubrel', packetId: 9 });
    assert.deepEqual(await p.io.waitFor(1), [{ type: 'pubcomp', packetId: 9 }]);
    const got = await s.io.waitFor(1);
    assert.equal(got.length, 1);
    await settle();
    assert.equal(s.io.packets.length, 0, 'the resend was not routed a second time');
    await broker.close();
  });

  it('completes the outbound QoS 2 exchange PUBLISH → PUBREC → PUBREL → PUBCOMP [MQTT-4.3.3-1]', async () => {
    const broker = await makeBroker();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 't', 2));
    await s.io.waitFor(1);
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('t', 'q2', { qos: 2, packetId: 1 }));
    const [m] = (await s.io.waitFor(1)) as PublishPacket[];
    assert.equal(m.qos, 2);
    s.ch.receive({ type: 'pubrec', packetId: m.packetId! });
    assert.deepEqual(await s.io.waitFor(1), [{ type: 'pubrel', packetId: m.packetId }]);
    s.ch.receive({ type: 'pubcomp', packetId: m.packetId! });
    await settle();
    assert.equal(s.ch.session!.inflight.size, 0);
    await broker.close();
  });

  it('sends retained messages on subscribe with RETAIN set, and an empty payload clears them [MQTT-3.3.1-6, MQTT-3.3.1-10]', async () => {
    const broker = await makeBroker();
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('r/1', 'kept', { retain: true }));
    p.ch.receive(pub('r/2', 'gone', { retain: true }));
    p.ch.receive(pub('r/2', '', { retain: true }));
    await settle();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 'r/#', 1));
    const got = await s.io.waitFor(2);
    assert.equal(got[0].type, 'suback');
    const m = got[1] as PublishPacket;
    assert.equal(m.topic, 'r/1');
    assert.equal(m.retain, true);
    await settle();
    assert.equal(s.io.packets.length, 0);
    await broker.close();
  });

  it('queues QoS 1 for an offline persistent session and resumes it [MQTT-3.1.2-4, MQTT-3.2.2-2]', async () => {
    const broker = await makeBroker();
    const first = await openChannel(broker, connectPacket('durable', { clean: false }));
    first.ch.receive(sub(1, 'q', 1));
    await first.io.waitFor(1);
    first.ch.receive({ type: 'disconnect' });
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('q', 'while away', { qos: 1, packetId: 2 }));
    await p.io.waitFor(1);
    const again = await openChannel(broker, connectPacket('durable', { clean: false }));
    assert.deepEqual(again.connack, { type: 'connack', sessionPresent: true, reasonCode: 0 });
    const [m] = (await again.io.waitFor(1)) as PublishPacket[];
    assert.equal(m.payload.toString(), 'while away');
    assert.equal(m.qos, 1);
    await broker.close();
  });

  it('resends unacknowledged QoS 1 with DUP on session resume [MQTT-4.4.0-1, MQTT-3.3.1-1]', async () => {
    const broker = await makeBroker();
    const first = await openChannel(broker, connectPacket('r', { clean: false }));
    first.ch.receive(sub(1, 'q', 1));
    await first.io.waitFor(1);
    const p = await openChannel(broker, connectPacket('p'));
    p.ch.receive(pub('q', 'm', { qos: 1, packetId: 2 }));
    const [m1] = (await first.io.waitFor(1)) as PublishPacket[];
    assert.equal(m1.dup, false);
    first.ch.transportClosed();
    const again = await openChannel(broker, connectPacket('r', { clean: false }));
    const [m2] = (await again.io.waitFor(1)) as PublishPacket[];
    assert.equal(m2.dup, true);
    assert.equal(m2.packetId, m1.packetId);
    await broker.close();
  });

  it('publishes the will on an abnormal close but not after DISCONNECT [MQTT-3.1.2-8, MQTT-3.1.2-10]', async () => {
    const broker = await makeBroker();
    const s = await openChannel(broker, connectPacket('s'));
    s.ch.receive(sub(1, 'will/#', 0));
    await s.io.waitFor(1);
    const will = { topic: 'will/x', payload: Buffer.from('bye'), qos: 0 as const, retain: false };
    const a = await openChannel(broker, connectPacket('a', { will }));
    a.ch.receive({ type: 'disconnect' });
    const b = await openChannel(broker, connectPacket('b', { will: { ...will, topic: 'will/b' } }));
    b.ch.transportClosed();
    const [m] = (await s.io.waitFor(1)) as PublishPacket[];
    assert.equal(m.topic, 'will/b');
    await settle();
    assert.equal(s.io.packets.length, 0, 'no will after a normal DISCONNECT');
    await broker.close();
  });

  it('counts a will\'s Message Expiry Interval from when the will is published, not from CONNECT [MQTT-3.3.2-5]', async () => {
    let clock = 1_000_000;
    const broker = await makeBroker({ now: () => clock });
    const s = await openChannel(broker, connectPacket('s', { protocolVersion: 5 }));
    s.ch.receive(sub(1, 'will/#', 1));
    await s.io.waitFor(1);
    const will = { topic: 'will/late', payload: Buffer.from('still fresh'), qos: 1 as const, retain: false, properties: { messageExpiryInterval: 5 } };
    const a = await openChannel(broker, connectPacket('a', { protocolVersion: 5, will }));
    clock += 60_000; // connected for a minute, far longer than the will's expiry
    a.ch.transportClosed();
    const [m] = (await s.io.waitFor(1)) as PublishPacket[];
    assert.equal(m.payload.toString(), 'still fresh');
    assert.equal(m.properties?.messageExpiryInterval, 5);
    await broker.close();
  });
});
