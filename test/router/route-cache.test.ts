// SubscriptionIndex keeps the entries matching each topic in a route cache. Whatever the order of
// subscribes, unsubscribes and publishes, a match must equal a fresh computation from the spec's
// rules: a reference matcher over the live subscriptions (fast-check drives the sequences).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SubscriptionIndex } from '../../src/router/subscriptions.js';
import { Session } from '../../src/session/session.js';
import type { SubscriptionRecord } from '../../src/store/ports.js';

/** Straight from the spec text [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1]. */
function refMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (t[0]!.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const level = fc.constantFrom('a', 'b', '$s');
const topicArb = fc.array(level, { minLength: 1, maxLength: 3 }).map((l) => l.join('/'));
const filterArb = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '+', '$s'), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
const op = fc.oneof(
  fc.record({ kind: fc.constant('sub' as const), client: fc.integer({ min: 0, max: 3 }), filter: filterArb, qos: fc.constantFrom(0, 1, 2) }),
  fc.record({ kind: fc.constant('unsub' as const), client: fc.integer({ min: 0, max: 3 }), filter: filterArb }),
  fc.record({ kind: fc.constant('pub' as const), topic: topicArb }),
);

const record = (filter: string, qos: number): SubscriptionRecord => ({ filter, qos: qos as 0 | 1 | 2, noLocal: false, retainAsPublished: false, retainHandling: 0 });

describe('SubscriptionIndex route cache', () => {
  // A cache of 2 topics is evicting all the time; the default one never is, in these sequences.
  for (const routeCacheMax of [undefined, 2]) {
    it(`matches like the reference matcher after any sequence of subscribes and unsubscribes (cache ${routeCacheMax ?? 'default'})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          const index = new SubscriptionIndex({ routeCacheMax });
          const sessions = [0, 1, 2, 3].map((i) => new Session(`c${i}`, 4, 0));
          const live = new Map<string, number>(); // `client|filter` -> qos
          for (const o of ops) {
            if (o.kind === 'sub') {
              index.add(sessions[o.client]!, record(o.filter, o.qos));
              live.set(`${o.client}|${o.filter}`, o.qos);
            } else if (o.kind === 'unsub') {
              index.remove(sessions[o.client]!, o.filter);
              live.delete(`${o.client}|${o.filter}`);
            } else {
              // Twice: the second match comes from the cache.
              for (let round = 0; round < 2; round++) {
                const got = index.match(o.topic, undefined).map((d) => `${d.session.clientId}:${d.qos}`).sort();
                const want = new Map<string, number>();
                for (const [key, qos] of live) {
                  const [client, filter] = key.split('|') as [string, string];
                  // Overlapping subscriptions: one delivery at the highest QoS [MQTT-3.3.5-1].
                  if (refMatches(filter, o.topic)) want.set(client, Math.max(want.get(client) ?? 0, qos));
                }
                assert.deepEqual(got, [...want].map(([c, q]) => `c${c}:${q}`).sort(), `topic ${o.topic}, round ${round}`);
              }
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  it('when full, drops its oldest half and keeps the topics cached since', () => {
    const index = new SubscriptionIndex({ routeCacheMax: 8 });
    const s = new Session('s', 4, 0);
    index.add(s, record('t/+', 0));
    for (let i = 0; i < 8; i++) index.match(`t/${i}`, undefined);
    assert.equal(index.cachedRoutes, 8);
    index.match('t/8', undefined); // a miss on a full cache: t/0..t/3 go
    assert.equal(index.cachedRoutes, 5);
    for (let i = 4; i <= 8; i++) assert.equal(index.match(`t/${i}`, undefined).length, 1);
    assert.equal(index.cachedRoutes, 5, 't/4..t/8 were still cached: no new entries');
    assert.equal(index.match('t/0', undefined).length, 1);
    assert.equal(index.cachedRoutes, 6, 't/0 was evicted and is cached again');
  });

  it('caches topics of at most 1,024 characters: a publisher choosing long topics makes it hold nothing (boundaries 1,024 / 1,025 / 65,535)', () => {
    const index = new SubscriptionIndex();
    const s = new Session('s', 4, 0);
    index.add(s, record('t/#', 0));
    const topic = (length: number, i: number): string => `t/${i}/`.padEnd(length, 'x');
    for (let i = 0; i < 100; i++) {
      assert.equal(index.match(topic(1025, i), undefined).length, 1);
      assert.equal(index.match(topic(65_535, i), undefined).length, 1);
    }
    assert.equal(index.cachedRoutes, 0, 'no long topic was cached');
    assert.equal(index.match(topic(1024, 0), undefined).length, 1);
    assert.equal(index.cachedRoutes, 1, 'a topic of exactly 1,024 characters is');
  });

  it('folds overlapping and shared matches into one delivery per session, and reuses nothing between matches', () => {
    const index = new SubscriptionIndex();
    const a = new Session('a', 5, 0);
    const b = new Session('b', 5, 0);
    index.add(a, { ...record('x/+', 0), subscriptionId: 1 });
    index.add(a, { ...record('x/#', 2), subscriptionId: 2, retainAsPublished: true });
    index.add(b, record('x/y', 1));
    index.add(b, record('$share/g/x/y', 0));
    const first = index.match('x/y', undefined);
    const second = index.match('x/y', undefined);
    assert.notEqual(first, second);
    for (const got of [first, second]) {
      assert.deepEqual(
        got.map((d) => ({ id: d.session.clientId, qos: d.qos, rap: d.retainAsPublished, ids: d.subscriptionIds && [...d.subscriptionIds].sort() })).sort((p, q) => p.id.localeCompare(q.id)),
        [
          { id: 'a', qos: 2, rap: true, ids: [1, 2] },
          { id: 'b', qos: 1, rap: false, ids: undefined },
        ],
      );
    }
    assert.notEqual(first[0], second[0], 'each match builds its own deliveries');
  });

  it('keeps a shared group round-robin across cached matches', () => {
    const index = new SubscriptionIndex();
    const members = [0, 1, 2].map((i) => new Session(`m${i}`, 5, 0));
    for (const s of members) index.add(s, record('$share/g/t/+', 1));
    const picked = Array.from({ length: 6 }, () => index.match('t/x', undefined)[0]!.session.clientId);
    assert.deepEqual(picked, ['m0', 'm1', 'm2', 'm0', 'm1', 'm2']);
  });
});
