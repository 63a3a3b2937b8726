// The plain PUBACKs of one synchronous run are written as one Buffer (channel/puback-run.ts), in
// the order of the PUBLISHes [MQTT-4.6.0-2], before anything else the channel writes, and before
// the connection ends; whether answered at once or after a commit (pipelined).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Channel } from '../../src/channel/channel.js';
import { PUBACK_RUN_MAX, PubackRun } from '../../src/channel/puback-run.js';
import type { Packet, PublishPacket } from '../../src/protocol/packets.js';
import { encode } from '../../src/protocol/codec.js';
import { connectPacket, makeBroker, RecorderIO, settle } from '../helpers/channel.js';
import { HeldStore } from '../helpers/held-store.js';

/** A recorder that also keeps each write's bytes, to count writes. */
class WritesIO extends RecorderIO {
  readonly writes: Buffer[] = [];
  override write(bytes: Buffer): void {
    this.writes.push(bytes);
    super.write(bytes);
  }
}

const pub = (topic: string, packetId: number, qos: 0 | 1 = 1): PublishPacket => ({
  type: 'publish',
  topic,
  payload: Buffer.from(topic),
  qos,
  retain: false,
  dup: false,
  ...(qos > 0 ? { packetId } : {}),
});

async function open(broker: Awaited<ReturnType<typeof makeBroker>>, clientId: string, extra: Parameters<typeof connectPacket>[1] = {}) {
  const io = new WritesIO();
  const ch = new Channel(broker, io);
  io.version = () => ch.version;
  ch.receive(connectPacket(clientId, extra));
  await io.waitFor(1);
  io.writes.length = 0;
  return { ch, io };
}

const names = (ps: Packet[]): string[] => ps.map((p) => `${p.type}${'packetId' in p && p.packetId !== undefined ? p.packetId : ''}${'reasonCode' in p && p.reasonCode ? `:${p.reasonCode}` : ''}`);

describe('channel: PUBACKs of one run in one write', () => {
  it('encodes exactly what the codec encodes, in order (3.1.1 and MQTT 5, with and without a reason code)', () => {
    for (const version of [4, 5] as const) {
      const run = new PubackRun();
      const acks: Array<[number, number]> = [
        [1, 0],
        [65535, 0x10],
        [258, 0],
        [7, 0x10],
      ];
      for (const [id, code] of acks) run.add(id, code, PubackRun.size(code, version));
      assert.equal(run.length, 4);
      const expected = Buffer.concat(acks.map(([packetId, code]) => encode(version === 5 && code !== 0 ? { type: 'puback', packetId, reasonCode: code } : { type: 'puback', packetId }, version)));
      assert.deepEqual(run.take(), expected);
      assert.equal(run.length, 0);
      assert.equal(run.take().length, 0, 'empty after take');
    }
  });

  it('answers the QoS 1 PUBLISHes of one read with one write, in order, and a PINGREQ after them', async () => {
    const broker = await makeBroker();
    const { ch: subCh, io: subIo } = await open(broker, 'sub');
    subCh.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ filter: 'run/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await subIo.waitFor(1);
    const { ch, io } = await open(broker, 'pub');
    for (let i = 1; i <= 10; i++) ch.receive(pub(`run/${i}`, i));
    ch.receive({ type: 'pingreq' });
    await settle();
    const got = io.take();
    assert.deepEqual(names(got), [...Array.from({ length: 10 }, (_, i) => `puback${i + 1}`), 'pingresp']);
    assert.equal(io.writes.length, 2, 'one write for the ten PUBACKs, one for the PINGRESP');
    assert.equal(io.writes[0].length, 40);
    await broker.close();
  });

  it(`a run longer than PUBACK_RUN_MAX (${PUBACK_RUN_MAX}) is written as it fills, every PUBACK once and in order [MQTT-4.6.0-2]`, async () => {
    const broker = await makeBroker();
    const { ch, io } = await open(broker, 'long');
    const count = PUBACK_RUN_MAX * 2 + 3;
    for (let i = 1; i <= count; i++) ch.receive(pub(`nobody/${i}`, i));
    await settle();
    assert.deepEqual(
      io.writes.map((w) => w.length),
      [PUBACK_RUN_MAX * 4, PUBACK_RUN_MAX * 4, 3 * 4],
      'two full runs written as they filled, the rest at the end of the read',
    );
    assert.deepEqual(names(io.take()), Array.from({ length: count }, (_, i) => `puback${i + 1}`));
    await broker.close();
  });

  it('MQTT 5: No matching subscribers (0x10) in the run, 5 bytes each', async () => {
    const broker = await makeBroker();
    const { ch, io } = await open(broker, 'pub5', { protocolVersion: 5 });
    ch.receive(pub('nobody/1', 1));
    ch.receive(pub('nobody/2', 2));
    await settle();
    assert.deepEqual(names(io.take()), ['puback1:16', 'puback2:16']);
    assert.equal(io.writes.length, 1);
    assert.equal(io.writes[0].length, 10);

    assert.equal(ch.inboundQos1, 0, 'both acknowledged for flow control');
    await broker.close();
  });

  it('PUBACKs collected before a DISCONNECT are written before the connection closes', async () => {
    const broker = await makeBroker();
    const { ch, io } = await open(broker, 'bye');
    ch.receive(pub('x/1', 1));
    ch.receive(pub('x/2', 2));
    ch.receive({ type: 'disconnect' });
    assert.equal(io.closed, true);
    assert.deepEqual(names(io.take()), ['puback1', 'puback2']);
    await broker.close();
  });

  it('pipelined: PUBACKs after a commit wait for it, go in order with the ones answered at once, in one write', async () => {
    const store = new HeldStore();
    const broker = await makeBroker({ store });
    // A persistent subscriber, offline: its messages are committed before their PUBACK.
    const { ch: subCh, io: subIo } = await open(broker, 'durable', { clean: false });
    subCh.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ filter: 'kept/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await subIo.waitFor(1);
    await settle();
    subCh.receive({ type: 'disconnect' });
    await settle();
    const { ch, io } = await open(broker, 'pipe');
    store.hold = true;
    const topics = ['kept/1', 'none/2', 'kept/3', 'none/4', 'kept/5'];
    topics.forEach((t, i) => ch.receive(pub(t, i + 1)));
    await settle();
    assert.equal(io.take().length, 0, 'nothing before the commit');
    assert.equal(store.release(), 1, 'one commit for the run');
    await settle();
    assert.deepEqual(names(io.take()), ['puback1', 'puback2', 'puback3', 'puback4', 'puback5']);
    assert.equal(io.writes.length, 1, 'one write for the five');
    store.hold = false;
    await broker.close();
  });

  it('a delivery to the publisher itself keeps its place: PUBLISHes and PUBACKs in the order they were made', async () => {
    const broker = await makeBroker();
    const { ch, io } = await open(broker, 'self');
    ch.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ filter: 'me/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await io.waitFor(1);
    ch.receive(pub('me/1', 5));
    ch.receive(pub('me/2', 6));
    await settle();
    // Each PUBLISH is delivered while it is routed, its PUBACK once it was routed.
    assert.deepEqual(names(io.take()), ['publish', 'puback5', 'publish', 'puback6']);
    await broker.close();
  });
});
