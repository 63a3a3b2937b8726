// MQTT topic/filter → NATS subject mapping: a subject match must agree with MQTT matching, so the NATS
// servers pre-filter exactly. MQTT reference: TopicTrie; NATS reference: a matcher written below from
// the NATS subject rules (`*` one token, `>` one or more trailing tokens).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TopicTrie } from '../../src/topics/trie.js';
import {
  checkNodeId,
  checkPrefix,
  clusterSubjects,
  escapeLevel,
  filterPatterns,
  queueName,
  SubjectSpace,
  topicTokens,
  unescapeLevel,
} from '../../src/cluster/nats/subjects.js';

/** NATS subject matching, from the NATS documentation's rules. */
function natsMatch(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** A token NATS accepts as a literal: not empty, no whitespace or control bytes, no `.`, `*`, `>`. */
const validToken = (t: string): boolean => /^[\x21-\x7e]+$/.test(t) && !/[.*>]/.test(t);

function mqttMatch(filter: string, topic: string): boolean {
  const trie = new TopicTrie<number>();
  trie.add(filter, 1);
  let hit = false;
  trie.match(topic, () => (hit = true));
  return hit;
}

// Levels chosen to collide with NATS syntax and the escaping itself.
const level = fc.oneof(
  fc.constantFrom('a', 'b', '', '.', '*', '>', '%', '%25', '%2E', ' ', 'a b', 'a.b', 'é', '😀', '\t', 'x>y', '$x'),
  fc.string({ maxLength: 4 }),
);
const noWild = level.filter((l) => !l.includes('+') && !l.includes('#'));
const topicArb = fc.array(noWild, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
const plainTopic = topicArb.filter((t) => !t.startsWith('$'));
const filterArb = fc
  .tuple(fc.array(fc.oneof(noWild, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .chain((f) => fc.constantFrom(f, '#', '+'));
/** Filters built from a topic, so that many of them match it. */
const related = plainTopic.chain((t) => {
  const levels = t.split('/');
  return fc
    .tuple(fc.array(fc.boolean(), { minLength: levels.length, maxLength: levels.length }), fc.integer({ min: 0, max: levels.length }), fc.boolean())
    .map(([plus, cut, hash]) => {
      const f = levels.map((l, i) => (plus[i] ? '+' : l));
      return { topic: t, filter: hash ? [...f.slice(0, cut), '#'].join('/') : f.join('/') };
    });
});

describe('cluster subjects: level escaping', () => {
  it('maps each level to one valid NATS token, and back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
        const t = escapeLevel(s);
        assert.ok(validToken(t), `token ${JSON.stringify(t)} of ${JSON.stringify(s)}`);
        assert.equal(unescapeLevel(t), s);
      }),
      { numRuns: 2000 },
    );
  });

  it('is injective: different levels never share a token', () => {
    fc.assert(
      fc.property(level, level, (a, b) => {
        fc.pre(a !== b);
        assert.notEqual(escapeLevel(a), escapeLevel(b));
      }),
    );
  });

  it('escapes the empty level, NATS syntax, % and whitespace', () => {
    assert.equal(escapeLevel(''), '%');
    assert.equal(escapeLevel('%'), '%25');
    assert.equal(escapeLevel('a.b'), 'a%2Eb');
    assert.equal(escapeLevel('*'), '%2A');
    assert.equal(escapeLevel('>'), '%3E');
    assert.equal(escapeLevel('a b'), 'a%20b');
    assert.equal(escapeLevel('é'), '%C3%A9');
    assert.equal(escapeLevel('$SYS'), '$SYS');
    assert.equal(topicTokens('/'), '%.%');
    assert.equal(topicTokens('a//b'), 'a.%.b');
  });
});

describe('cluster subjects: filters', () => {
  it('maps + to * and # to > plus its parent level', () => {
    assert.deepEqual(filterPatterns('a/b'), ['a.b']);
    assert.deepEqual(filterPatterns('a/+/c'), ['a.*.c']);
    assert.deepEqual(filterPatterns('a/#'), ['a', 'a.>']);
    assert.deepEqual(filterPatterns('#'), ['>']);
    assert.deepEqual(filterPatterns('+/#'), ['*', '*.>']);
    assert.deepEqual(filterPatterns('a.b/+'), ['a%2Eb.*']);
    assert.deepEqual(filterPatterns('/'), ['%.%']);
  });

  it('agrees with MQTT matching for random topics and filters (no $ topics)', () => {
    fc.assert(
      fc.property(plainTopic, filterArb, (topic, filter) => {
        const nats = filterPatterns(filter).some((p) => natsMatch(p, topicTokens(topic)));
        assert.equal(nats, mqttMatch(filter, topic), `${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with MQTT matching for filters made from the topic (mostly matches)', () => {
    let matched = 0;
    fc.assert(
      fc.property(related, ({ topic, filter }) => {
        const mqtt = mqttMatch(filter, topic);
        if (mqtt) matched++;
        assert.equal(filterPatterns(filter).some((p) => natsMatch(p, topicTokens(topic))), mqtt);
      }),
      { numRuns: 2000 },
    );
    assert.ok(matched > 500, `enough positive cases (${matched})`);
  });

  it('only pre-filters $ topics: never misses one MQTT matches [MQTT-4.7.2-1]', () => {
    fc.assert(
      fc.property(topicArb.map((t) => '$' + t), filterArb, (topic, filter) => {
        if (mqttMatch(filter, topic)) assert.ok(filterPatterns(filter).some((p) => natsMatch(p, topicTokens(topic))));
      }),
    );
    // A leading wildcard does match at the NATS level; the receiving node's trie drops it.
    assert.ok(natsMatch(filterPatterns('+/x')[0], topicTokens('$SYS/x')));
    assert.equal(mqttMatch('+/x', '$SYS/x'), false);
  });
});

describe('cluster subjects: spaces and long subjects', () => {
  it('puts long topics on the bare root, which every filter that could match them listens to', () => {
    const space = new SubjectSpace('p.msg', 24);
    fc.assert(
      fc.property(fc.oneof(related, fc.tuple(topicArb, filterArb).map(([topic, filter]) => ({ topic, filter }))), ({ topic, filter }) => {
        const subject = space.topic(topic);
        assert.ok(subject.length <= 24 || subject === 'p.msg');
        const hit = space.filter(filter).some((p) => natsMatch(p, subject));
        if (mqttMatch(filter, topic)) assert.ok(hit, `${filter} must receive ${topic} (${subject})`);
      }),
      { numRuns: 3000 },
    );
    assert.equal(space.topic('aaaaaaaaaaaaaaaaaaaaaaaa'), 'p.msg');
    assert.deepEqual(space.filter('a/b'), ['p.msg.a.b']);
    assert.deepEqual(space.filter('a/#'), ['p.msg.a', 'p.msg.a.>', 'p.msg']);
    assert.deepEqual(space.filter('bbbbbbbbbbbbbbbbbbbbbbbbb'), ['p.msg']);
    assert.deepEqual(space.all(), ['p.msg', 'p.msg.>']);
  });

  it('names every subject under the prefix, in separate spaces', () => {
    const s = clusterSubjects('acme.mqtt');
    assert.equal(s.msg.topic('a/b'), 'acme.mqtt.msg.a.b');
    assert.equal(s.share.topic('a/b'), 'acme.mqtt.share.a.b');
    assert.equal(s.retain.topic('a/b'), 'acme.mqtt.retain.a.b');
    assert.deepEqual(s.msg.filter('#'), ['acme.mqtt.msg.>', 'acme.mqtt.msg']);
    assert.ok(s.claim('client one').startsWith('acme.mqtt.claim.'));
    assert.ok(validToken(s.claim('x'.repeat(70_000)).slice('acme.mqtt.claim.'.length)));
    assert.ok(s.claim('x'.repeat(70_000)).length < 100);
    assert.equal(s.node('n1'), 'acme.mqtt.node.n1');
    // The plain space's `>` must not reach the share or retain spaces.
    assert.equal(natsMatch(s.msg.filter('#')[0], s.share.topic('a')), false);
  });

  it('gives each (group, filter) its own bounded queue name', () => {
    const names = new Set([queueName('g', 'a/b'), queueName('g', 'a/+'), queueName('h', 'a/b'), queueName('g\0a', 'b'), queueName('g', 'x'.repeat(5000))]);
    assert.equal(names.size, 5);
    for (const n of names) assert.ok(validToken(n) && n.length <= 130, n);
  });

  it('refuses prefixes and node ids that are not NATS tokens', () => {
    checkPrefix('starling');
    checkPrefix('a.b-c_d');
    for (const bad of ['', 'a..b', 'a.*', 'a b', '.a', 'a.']) assert.throws(() => checkPrefix(bad), /prefix/);
    checkNodeId('node-1_A');
    for (const bad of ['', 'a.b', 'a*', 'x'.repeat(65)]) assert.throws(() => checkNodeId(bad), /node id/);
  });
});
