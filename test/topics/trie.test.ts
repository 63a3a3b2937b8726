// TopicTrie: spec examples from MQTT section 4.7 and property tests against a brute-force matcher.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TopicTrie } from '../../src/topics/trie.js';

/** Reference matcher written straight from the spec text, independent of the trie. */
function refMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] a leading wildcard does not match a topic starting with `$`.
  if (t[0].startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // the rest, including no level at all
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function matches(trie: TopicTrie<string>, topic: string): string[] {
  const out: string[] = [];
  trie.match(topic, (v, key) => {
    assert.ok(v.startsWith(key + '|'), `callback key ${key} belongs to ${v}`);
    out.push(v);
  });
  return out.sort();
}

function covered(trie: TopicTrie<string>, filter: string): string[] {
  const out: string[] = [];
  trie.matchFilter(filter, (v, key) => {
    assert.ok(v.startsWith(key + '|'), `callback key ${key} belongs to ${v}`);
    out.push(v);
  });
  return out.sort();
}

const nameLevel = fc.constantFrom('a', 'b', '', '$', '$x', 'a b');
const topicArb = fc.array(nameLevel, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
const filterArb = fc
  .tuple(fc.array(fc.oneof(nameLevel, fc.constant('+')), { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));

describe('TopicTrie spec examples [MQTT-4.7]', () => {
  const cases: Array<[filter: string, topic: string, expected: boolean]> = [
    // 4.7.1.2 multi-level wildcard
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['#', '/', true],
    // 4.7.1.3 single-level wildcard
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player2', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+', 'sport', true],
    ['+/tennis/#', 'sport/tennis/player1/ranking', true],
    // 4.7.2 topics beginning with $ [MQTT-4.7.2-1]
    ['#', '$SYS/monitor/Clients', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['+', '$SYS', false],
    ['a/+', 'a/$b', true],
    ['a/#', 'a/$b', true],
    // 4.7.3 names are case sensitive, may hold spaces, and a leading '/' makes a distinct level
    ['ACCOUNTS', 'Accounts', false],
    ['Accounts payable', 'Accounts payable', true],
    ['/finance', 'finance', false],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
    ['a/b', 'a//b', false],
  ];
  for (const [filter, topic, expected] of cases) {
    it(`"${filter}" ${expected ? 'matches' : 'does not match'} "${topic}"`, () => {
      assert.equal(refMatches(filter, topic), expected, 'reference matcher agrees with the spec');
      const subs = new TopicTrie<string>();
      subs.add(filter, `${filter}|x`);
      assert.deepEqual(matches(subs, topic), expected ? [`${filter}|x`] : []);
      const names = new TopicTrie<string>();
      names.add(topic, `${topic}|x`);
      assert.deepEqual(covered(names, filter), expected ? [`${topic}|x`] : []);
    });
  }
});

describe('TopicTrie basics', () => {
  it('keeps several values per key, identity-compared, and get returns exactly that key', () => {
    const t = new TopicTrie<object>();
    const a = { n: 1 };
    const b = { n: 1 };
    t.add('x/+', a);
    t.add('x/+', b);
    t.add('x/+', a); // already there: no change
    t.add('x/y', a);
    assert.equal(t.size, 3);
    assert.deepEqual(t.get('x/+'), [a, b]);
    assert.equal(t.get('x/+')[0], a);
    assert.deepEqual(t.get('x'), []);
    assert.deepEqual(t.get('x/z'), []);
    assert.equal(t.remove('x/+', { n: 1 }), false, 'an equal but different object is not removed');
    assert.equal(t.remove('x/+', a), true);
    assert.equal(t.remove('x/+', a), false);
    assert.equal(t.remove('nope', a), false);
    assert.deepEqual(t.get('x/+'), [b]);
    assert.equal(t.size, 2);
  });

  it('passes the stored key to the callback', () => {
    const t = new TopicTrie<number>();
    t.add('a/#', 1);
    t.add('a/+/c', 2);
    const seen: Array<[number, string]> = [];
    t.match('a/b/c', (v, k) => seen.push([v, k]));
    assert.deepEqual(seen.sort(), [
      [1, 'a/#'],
      [2, 'a/+/c'],
    ]);
  });

  it('prunes empty nodes on remove so the tree returns to empty', () => {
    const t = new TopicTrie<number>();
    t.add('a/b/c', 1);
    t.add('a/b', 2);
    t.add('a/+/#', 3);
    t.add('$SYS/x', 4);
    t.add('//', 5);
    assert.equal(t.countNodes(), 10);
    t.remove('a/b/c', 1);
    assert.equal(t.countNodes(), 9, 'only the leaf c goes; a/b still holds a value');
    t.remove('a/+/#', 3);
    assert.equal(t.countNodes(), 7);
    t.remove('a/b', 2);
    t.remove('$SYS/x', 4);
    t.remove('//', 5);
    assert.equal(t.countNodes(), 0);
    assert.equal(t.size, 0);
  });

  it('a lone child or value becomes a map or set at the second and a lone one again after: matches, order and pruning hold', () => {
    const t = new TopicTrie<string | undefined>();
    const at = (topic: string): Array<string | undefined> => {
      const got: Array<string | undefined> = [];
      t.match(topic, (v) => got.push(v));
      return got;
    };
    t.add('d/1/c', 'x');
    assert.deepEqual(at('d/1/c'), ['x']);
    assert.deepEqual(at('d/1/cc'), [], 'a lone level is compared whole, not as a prefix');
    assert.deepEqual(at('d/1'), []);
    t.add('d/1/c', 'y');
    t.add('d/1/c', 'x');
    assert.deepEqual(t.get('d/1/c'), ['x', 'y'], 'insertion order; a value added twice is kept once');
    t.remove('d/1/c', 'x');
    t.add('d/1/c', 'z');
    assert.deepEqual(t.get('d/1/c'), ['y', 'z']);
    // undefined is a value like any other.
    t.add('d/2/c', undefined);
    assert.deepEqual(at('d/2/c'), [undefined]);
    assert.equal(t.remove('d/2/c', 'y'), false);
    assert.equal(t.remove('d/2/c', undefined), true);
    assert.deepEqual(at('d/2/c'), []);
    // Siblings: d has children 1, 3 and $x, then 1 alone again.
    t.add('d/3/c', 'w');
    t.add('d/$x', 'v');
    assert.deepEqual(at('d/3/c'), ['w']);
    assert.deepEqual(at('d/$x'), ['v']);
    t.remove('d/3/c', 'w');
    t.remove('d/$x', 'v');
    assert.deepEqual(at('d/1/c'), ['y', 'z']);
    assert.deepEqual(at('d/3/c'), []);
    t.add('+/+/c', 'p');
    assert.deepEqual(at('d/1/c').sort(), ['p', 'y', 'z']);
    const covered: Array<string | undefined> = [];
    t.matchFilter('d/#', (v) => covered.push(v));
    assert.deepEqual(covered, ['y', 'z']);
    for (const v of ['y', 'z']) t.remove('d/1/c', v);
    t.remove('+/+/c', 'p');
    assert.equal(t.countNodes(), 0);
    assert.equal(t.size, 0);
  });

  it('handles a 40,000-level topic without recursion limits', () => {
    const deep = '/'.repeat(39_999);
    const t = new TopicTrie<number>();
    t.add(deep, 1);
    t.add('+/'.repeat(39_999) + '+', 2);
    t.add('#', 3);
    const got: number[] = [];
    t.match(deep, (v) => got.push(v));
    assert.deepEqual(got.sort(), [1, 2, 3]);
    const names: number[] = [];
    t.matchFilter('#', (v) => names.push(v));
    assert.deepEqual(names.sort(), [1, 2, 3], 'stored keys read as names, including the wildcard ones');
    assert.equal(t.remove(deep, 1), true);
    assert.equal(t.remove('+/'.repeat(39_999) + '+', 2), true);
    assert.equal(t.countNodes(), 1);
  });
});

describe('TopicTrie properties (fast-check against the reference matcher)', () => {
  it('match finds exactly the stored filters that match the topic', () => {
    fc.assert(
      fc.property(fc.uniqueArray(filterArb, { maxLength: 25 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (filters, topics) => {
        const t = new TopicTrie<string>();
        for (const f of filters) {
          t.add(f, `${f}|1`);
          t.add(f, `${f}|2`);
        }
        assert.equal(t.size, filters.length * 2);
        for (const topic of topics) {
          const expected = filters.filter((f) => refMatches(f, topic)).flatMap((f) => [`${f}|1`, `${f}|2`]).sort();
          assert.deepEqual(matches(t, topic), expected, `topic ${JSON.stringify(topic)}`);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('matchFilter finds exactly the stored topic names the filter matches', () => {
    fc.assert(
      fc.property(fc.uniqueArray(topicArb, { maxLength: 25 }), fc.array(filterArb, { minLength: 1, maxLength: 10 }), (topics, filters) => {
        const t = new TopicTrie<string>();
        for (const topic of topics) t.add(topic, `${topic}|1`);
        for (const f of filters) {
          const expected = topics.filter((topic) => refMatches(f, topic)).map((topic) => `${topic}|1`).sort();
          assert.deepEqual(covered(t, f), expected, `filter ${JSON.stringify(f)}`);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('add/remove stay consistent with a map model and removal prunes to an empty tree', () => {
    const keyArb = fc.oneof(topicArb, filterArb);
    const opArb = fc.tuple(fc.boolean(), keyArb, fc.integer({ min: 0, max: 2 }));
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(topicArb, { maxLength: 5 }), (ops, probes) => {
        const t = new TopicTrie<number>();
        const model = new Map<string, Set<number>>();
        for (const [isAdd, key, v] of ops) {
          const set = model.get(key) ?? new Set<number>();
          if (isAdd) {
            t.add(key, v);
            set.add(v);
            model.set(key, set);
          } else {
            assert.equal(t.remove(key, v), set.delete(v));
            if (set.size === 0) model.delete(key);
          }
        }
        let total = 0;
        for (const [key, set] of model) {
          total += set.size;
          assert.deepEqual([...t.get(key)].sort(), [...set].sort());
        }
        assert.equal(t.size, total);
        for (const topic of probes) {
          if (topic.includes('+') || topic.includes('#')) continue;
          const expected: string[] = [];
          for (const [key, set] of model) if (refMatches(key, topic)) for (const v of set) expected.push(`${key}|${v}`);
          const got: string[] = [];
          t.match(topic, (v, key) => got.push(`${key}|${v}`));
          assert.deepEqual(got.sort(), expected.sort());
        }
        for (const [key, set] of model) for (const v of set) assert.equal(t.remove(key, v), true);
        assert.equal(t.size, 0);
        assert.equal(t.countNodes(), 0, 'every node pruned');
      }),
      { numRuns: 400 },
    );
  });
});
