// PacketIdAllocator: identifiers 1..65535 in rotation, never one still in use, undefined when all are.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PacketIdAllocator } from '../../src/session/packet-ids.js';
import { MAX_PACKET_ID } from '../../src/protocol/constants.js';

const none: ReadonlyMap<number, unknown> = new Map();

/** Every identifier in use except `free`. */
function allBut(...free: number[]): Map<number, true> {
  const m = new Map<number, true>();
  for (let id = 1; id <= MAX_PACKET_ID; id++) if (!free.includes(id)) m.set(id, true);
  return m;
}

describe('session: packet identifiers', () => {
  it('[MQTT-2.3.1-4] hands out 1, 2, 3… and never 0 (MQTT 5 [MQTT-2.2.1-4])', () => {
    const ids = new PacketIdAllocator();
    assert.deepEqual([ids.allocate(none), ids.allocate(none), ids.allocate(none)], [1, 2, 3]);
  });

  it('[MQTT-2.3.1-4] wraps from 65535 to 1, skipping 0 (MQTT 5 [MQTT-2.2.1-4])', () => {
    const ids = new PacketIdAllocator();
    let last: number | undefined;
    for (let i = 0; i < MAX_PACKET_ID; i++) last = ids.allocate(none);
    assert.equal(last, MAX_PACKET_ID);
    assert.equal(ids.allocate(none), 1);
  });

  it('resumeAfter continues past the given identifier, wrapping at 65535', () => {
    const ids = new PacketIdAllocator();
    ids.resumeAfter(MAX_PACKET_ID - 1);
    assert.equal(ids.allocate(none), MAX_PACKET_ID);
    ids.resumeAfter(MAX_PACKET_ID);
    assert.equal(ids.allocate(none), 1);
  });

  it('[MQTT-2.3.1-4] skips identifiers still in use, across the wrap too (MQTT 5 [MQTT-2.2.1-4])', () => {
    const ids = new PacketIdAllocator();
    assert.equal(ids.allocate(new Map([[1, true], [2, true], [4, true]])), 3);
    ids.resumeAfter(MAX_PACKET_ID - 2);
    const inUse = new Map([[MAX_PACKET_ID - 1, true], [MAX_PACKET_ID, true], [1, true]]);
    assert.equal(ids.allocate(inUse), 2);
  });

  it('finds the one free identifier wherever the rotation stands', () => {
    for (const free of [1, 30_000, MAX_PACKET_ID]) {
      const ids = new PacketIdAllocator();
      ids.resumeAfter(free); // the rotation starts just past it, so it is found last
      assert.equal(ids.allocate(allBut(free)), free);
    }
  });

  it('returns undefined when all 65535 identifiers are in use, and the freed one once one completes', () => {
    const ids = new PacketIdAllocator();
    const inUse = allBut();
    assert.equal(ids.allocate(inUse), undefined);
    assert.equal(ids.allocate(inUse), undefined, 'still exhausted: nothing was freed');
    inUse.delete(40_000);
    assert.equal(ids.allocate(inUse), 40_000);
    inUse.set(40_000, true);
    assert.equal(ids.allocate(inUse), undefined);
  });

  it('[MQTT-2.3.1-4] a random run of allocations and completions never hands out an identifier in use', () => {
    const step = fc.oneof(fc.constant<'alloc'>('alloc'), fc.nat({ max: 20 }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_PACKET_ID }), fc.array(step, { maxLength: 200 }), (start, steps) => {
        const ids = new PacketIdAllocator();
        ids.resumeAfter(start);
        const inUse = new Map<number, true>();
        for (const s of steps) {
          if (s === 'alloc') {
            const id = ids.allocate(inUse);
            assert.ok(id !== undefined && id >= 1 && id <= MAX_PACKET_ID, `identifier ${id} out of range`);
            assert.ok(!inUse.has(id), `identifier ${id} handed out while in use`);
            inUse.set(id, true);
          } else {
            // Complete the s-th exchange in flight (if there are that many).
            const id = [...inUse.keys()][s];
            if (id !== undefined) inUse.delete(id);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
