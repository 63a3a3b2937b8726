// What travels between nodes: messages as headers + payload, claims, heartbeats; membership and the
// start-up reconciliation of retained messages (pure parts, no NATS server).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { headers } from '@nats-io/transport-node';
import type { StoredMessage } from '../../src/store/ports.js';
import { decodeClaim, decodeHeartbeat, decodeMessage, encodeClaim, encodeHeartbeat, H, messageHeaders, WIRE_VERSION, wireOf, type Heartbeat } from '../../src/cluster/nats/wire.js';
import { Membership } from '../../src/cluster/nats/members.js';
import { retainedBucketName } from '../../src/cluster/nats/retained.js';
import { reconcile, type LocalRetained } from '../../src/cluster/retained-copy.js';

/** Headers as they arrive: encoded by the NATS client, as a fresh object. */
function roundTrip(m: StoredMessage, origin = 'n1'): { origin: string; message: StoredMessage } {
  const sent = messageHeaders(m, origin);
  const copy = headers();
  for (const [k, vs] of sent) for (const v of vs) copy.append(k, v);
  return decodeMessage(copy, new Uint8Array(m.payload));
}

const full: StoredMessage = {
  id: 'abc-1',
  topic: 'a/b c/é/😀/./*/>/%/',
  payload: Buffer.from([0, 1, 2, 255]),
  qos: 2,
  retain: true,
  properties: {
    payloadFormatIndicator: 1,
    contentType: 'text/plain; charset=utf-8',
    responseTopic: 'reply/to',
    correlationData: Buffer.from([9, 8, 7]),
    userProperties: [
      ['z', '1'],
      ['a', '2\r\nx'],
      ['z', '3'],
    ],
  },
  createdAt: 1_700_000_000_123,
  expiresAt: 1_700_000_060_123,
  publisherId: 'pub lisher\n1',
};

describe('cluster wire: messages', () => {
  it('round-trips every field, Buffers and user properties in order', () => {
    const { origin, message } = roundTrip(full);
    assert.equal(origin, 'n1');
    assert.deepEqual(message, full);
    assert.ok(Buffer.isBuffer(message.properties?.correlationData));
  });

  it('round-trips random messages', () => {
    const msg = fc.record(
      {
        id: fc.string({ minLength: 1, maxLength: 20 }),
        // A topic name a client could publish to: the wire refuses any other.
        topic: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((t) => !/[+#\0]/.test(t)),
        payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
        retain: fc.boolean(),
        createdAt: fc.integer({ min: 0, max: 2 ** 45 }),
        expiresAt: fc.integer({ min: 0, max: 2 ** 45 }),
        publisherId: fc.string({ unit: 'grapheme', maxLength: 20 }),
        properties: fc.record(
          { contentType: fc.string({ maxLength: 10 }), userProperties: fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 4 }) },
          { requiredKeys: [], noNullPrototype: true },
        ),
      },
      { requiredKeys: ['id', 'topic', 'payload', 'qos', 'retain', 'createdAt'], noNullPrototype: true },
    );
    fc.assert(
      fc.property(msg, (m) => {
        assert.deepEqual(roundTrip(m as StoredMessage).message, m);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps header values to printable ASCII (no header injection)', () => {
    for (const [, vs] of messageHeaders(full, 'n1')) for (const v of vs) assert.match(v, /^[\x20-\x7e]*$/);
  });

  it('refuses malformed messages with a reason', () => {
    assert.throws(() => decodeMessage(undefined, new Uint8Array()), /no headers/);
    const h = messageHeaders(full, 'n1');
    h.set(H.format, '9');
    assert.throws(() => decodeMessage(h, new Uint8Array()), /wire format/);
    const q = messageHeaders(full, 'n1');
    q.set(H.qos, '3');
    assert.throws(() => decodeMessage(q, new Uint8Array()), /qos/);
    const c = messageHeaders(full, 'n1');
    c.set(H.created, 'soon');
    assert.throws(() => decodeMessage(c, new Uint8Array()), /integer/);
  });
});

describe('cluster wire: claims and heartbeats', () => {
  it('round-trips and checks them', () => {
    assert.deepEqual(decodeClaim(encodeClaim({ clientId: 'c 1', at: 5 })), { clientId: 'c 1', at: 5 });
    assert.throws(() => decodeClaim(Buffer.from('{"clientId":1}')), /malformed/);
    const hb = { node: 'n1', instance: 'i', intervalMs: 2000, startedAt: 1 };
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat(hb)), hb);
    assert.throws(() => decodeHeartbeat(Buffer.from('{"node":"n"}')), /malformed/);
    for (const wire of [0, 1.5, '2', -1]) {
      assert.throws(() => decodeHeartbeat(encodeHeartbeat({ ...hb, wire } as unknown as Heartbeat)), /malformed/, `wire ${String(wire)}`);
    }
    assert.equal(decodeHeartbeat(encodeHeartbeat({ ...hb, wire: 7 })).wire, 7);
  });
});

describe('cluster membership', () => {
  it('lists live nodes, drops silent ones after three of their periods, and those that leave', () => {
    const m = new Membership('b');
    assert.deepEqual(m.list(0), ['b']);
    assert.equal(m.seen({ node: 'a', instance: '1', intervalMs: 100, startedAt: 0 }, 0), 'joined');
    assert.equal(m.seen({ node: 'c', instance: '1', intervalMs: 1000, startedAt: 0 }, 0), 'joined');
    assert.equal(m.seen({ node: 'a', instance: '1', intervalMs: 100, startedAt: 0 }, 100), 'known');
    assert.deepEqual(m.list(300), ['a', 'b', 'c']);
    assert.deepEqual(m.list(401), ['b', 'c']);
    assert.deepEqual(m.list(401), ['b', 'c'], 'listing does not forget: the sweeper reports each lost node');
    assert.deepEqual(m.sweep(401), ['a'], 'the lost node is reported once');
    assert.deepEqual(m.sweep(402), []);
    assert.equal(m.seen({ node: 'a', instance: '2', intervalMs: 100, startedAt: 0 }, 500), 'joined');
    assert.equal(m.seen({ node: 'a', instance: '3', intervalMs: 100, startedAt: 0 }, 550), 'restarted');
    assert.equal(m.left('c'), true);
    assert.deepEqual(m.list(600), ['a', 'b']);
  });

  it('tells which live nodes speak another cluster protocol version (one without iv or wire is version 1)', () => {
    const m = new Membership('me');
    const at = (node: string, extra: Partial<Heartbeat>): void => void m.seen({ node, instance: '1', intervalMs: 100, startedAt: 0, ...extra }, 0);
    at('old', {});
    at('batches', { iv: 3 });
    at('now', { iv: 3, wire: WIRE_VERSION });
    at('next', { iv: 3, wire: WIRE_VERSION + 1 });
    assert.equal(wireOf({ node: 'x', instance: '1', intervalMs: 1, startedAt: 0, iv: 1 }), 2, 'a node with interest versions and no wire field speaks version 2');
    // This is version 3 (batch frames with back-references): a node of the first batch frames
    // (version 2, without the field) reads none of its frames.
    assert.equal(WIRE_VERSION, 3);
    assert.deepEqual(m.incompatible(0), ['batches', 'next', 'old']);
    assert.deepEqual(m.incompatible(1000), [], 'only live nodes');
  });
});

describe('cluster retained: start-up reconciliation', () => {
  const msg = (topic: string, id: string, extra: Partial<StoredMessage> = {}): StoredMessage => ({ id, topic, payload: Buffer.from(id), qos: 0, retain: true, createdAt: 1, ...extra });

  function local(initial: StoredMessage[]): LocalRetained & { map: Map<string, StoredMessage>; sets: number } {
    const map = new Map(initial.map((m) => [m.topic, m]));
    const l = {
      map,
      sets: 0,
      list: () => [...map.values()],
      get: (t: string) => map.get(t),
      set: (m: StoredMessage) => {
        l.sets++;
        map.set(m.topic, m);
      },
      delete: (t: string) => void map.delete(t),
    };
    return l;
  }

  it('takes the bucket as the truth: sets what differs, drops what it lacks, keeps newer live ones and $SYS', () => {
    const l = local([msg('same', 's1'), msg('old', 'o1'), msg('gone', 'g1'), msg('live', 'l2'), msg('$SYS/broker/uptime', 'u')]);
    const written: StoredMessage[] = [];
    const bucket = { created: false, write: (m: StoredMessage) => void written.push(m) };
    const stored = [msg('same', 's1'), msg('old', 'o2'), msg('new', 'n1'), msg('live', 'l1'), msg('expired', 'e1', { expiresAt: 5 })];
    const r = reconcile(l, bucket, stored, new Set(['live']), 10);
    assert.deepEqual(r, { set: 2, removed: 1, seeded: 0, purged: 1 });
    assert.deepEqual([...l.map.keys()].sort(), ['$SYS/broker/uptime', 'live', 'new', 'old', 'same']);
    assert.equal(l.map.get('old')?.id, 'o2');
    assert.equal(l.map.get('live')?.id, 'l2');
    assert.deepEqual(written.map((m) => [m.topic, m.payload.length]), [['expired', 0]], 'the expired value is cleared from the bucket [MQTT-3.3.2-5]');
  });

  it('seeds a bucket it just created with the local retained messages', () => {
    const l = local([msg('a', 'a1'), msg('$SYS/x', 'x')]);
    const written: StoredMessage[] = [];
    const r = reconcile(l, { created: true, write: (m) => void written.push(m) }, [], new Set(), 0);
    assert.deepEqual(r, { set: 0, removed: 0, seeded: 1, purged: 0 });
    assert.deepEqual(written.map((m) => m.topic), ['a']);
  });

  it('names the bucket after the prefix', () => {
    assert.equal(retainedBucketName('acme.mqtt'), 'acme_mqtt_cluster_retained');
  });
});
