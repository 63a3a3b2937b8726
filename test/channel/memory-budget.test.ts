// maxClientMemory counts the packets a connection has read while an earlier one waits for the store
// (the backlog): reading pauses at a quarter of the budget, and a client that still pushes past it
// is closed with DISCONNECT 0x97 Quota exceeded. Driven at the channel, where the backlog lives (the
// transport's pause would otherwise stop the bytes before they reach it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectPacket, makeBroker, openChannel, settle } from '../helpers/channel.js';
import { HeldStore } from '../helpers/held-store.js';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import type { Packet, PublishPacket } from '../../src/protocol/packets.js';

describe('maxClientMemory: the backlog behind a store write', () => {
  it('pauses reading at a quarter of the budget and closes with 0x97 past it, holding nothing after', async () => {
    const store = new HeldStore();
    const budget = 64 * 1024;
    const broker = await makeBroker({ store, maxClientMemory: budget });
    const { ch, io, connack } = await openChannel(
      broker,
      connectPacket('backlog', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } }),
    );
    assert.equal((connack as { reasonCode: number }).reasonCode, 0);
    store.hold = true;
    const publish = (id: number): PublishPacket => ({ type: 'publish', topic: 'b/x', payload: Buffer.alloc(10_000, 1), qos: 2, retain: false, dup: false, packetId: id });
    // The first QoS 2 PUBLISH of a persistent session waits for its store write; the rest queue behind it.
    ch.receive(publish(1));
    await settle();
    let pausedAt = 0;
    for (let id = 2; id <= 10 && ch.state !== 'closed'; id++) {
      ch.receive(publish(id));
      if (io.paused && pausedAt === 0) pausedAt = ch.memoryHeld;
    }
    assert.ok(pausedAt >= budget / 4 && pausedAt < budget, `reading paused at ${pausedAt} bytes`);
    assert.equal(ch.state, 'closed', 'past the budget the connection is closed');
    const last = io.packets.at(-1) as Packet & { reasonCode?: number };
    assert.equal(last.type, 'disconnect');
    assert.equal(last.reasonCode, ReasonCode.QuotaExceeded);
    assert.equal(broker.stats.limits.maxClientMemory, 1);
    assert.equal(ch.memoryHeld, 0, 'the backlog is let go');
    store.hold = false;
    store.release();
    await broker.close();
  });
});
