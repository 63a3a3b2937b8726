// MQTT topics → NATS subjects (the retain space) and the link's other subjects. NATS reference: a
// matcher written below from the NATS subject rules (`*` one token, `>` one or more trailing tokens).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkNodeId,
  checkPrefix,
  clusterSubjects,
  escapeLevel,
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


// Levels chosen to collide with NATS syntax and the escaping itself.
const level = fc.oneof(
  fc.constantFrom('a', 'b', '', '.', '*', '>', '%', '%25', '%2E', ' ', 'a b', 'a.b', 'é', '😀', '\t', 'x>y', '$x'),
  fc.string({ maxLength: 4 }),
);
const noWild = level.filter((l) => !l.includes('+') && !l.includes('#'));
const topicArb = fc.array(noWild, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));

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

describe('cluster subjects: spaces and long subjects', () => {
  it('puts long topics on the bare root, which the listeners of the space receive too', () => {
    const space = new SubjectSpace('p.retain', 24);
    fc.assert(
      fc.property(topicArb, (topic) => {
        const subject = space.topic(topic);
        assert.ok(subject.length <= 24 || subject === 'p.retain');
        assert.ok(space.all().some((p) => natsMatch(p, subject)));
      }),
      { numRuns: 3000 },
    );
    assert.equal(space.topic('aaaaaaaaaaaaaaaaaaaaaaaa'), 'p.retain');
    assert.deepEqual(space.all(), ['p.retain', 'p.retain.>']);
  });

  it('names every subject under the prefix', () => {
    const s = clusterSubjects('acme.mqtt');
    assert.equal(s.retain.topic('a/b'), 'acme.mqtt.retain.a.b');
    assert.ok(s.claim('client one').startsWith('acme.mqtt.claim.'));
    assert.ok(validToken(s.claim('x'.repeat(70_000)).slice('acme.mqtt.claim.'.length)));
    assert.ok(s.claim('x'.repeat(70_000)).length < 100);
    assert.equal(s.node('n1'), 'acme.mqtt.node.n1');
    assert.equal(s.inbox('n1'), 'acme.mqtt.in.n1');
    assert.equal(s.interest.changes('n1'), 'acme.mqtt.int.n1');
    assert.ok(natsMatch(s.interest.allChanges, s.interest.changes('n1')));
    // The retain space's `>` reaches nothing else.
    for (const other of [s.inbox('n1'), s.node('n1'), s.interest.changes('n1'), s.claim('c')]) assert.equal(natsMatch(s.retain.all()[1], other), false);
  });

  it('refuses prefixes and node ids that are not NATS tokens', () => {
    checkPrefix('starling');
    checkPrefix('a.b-c_d');
    for (const bad of ['', 'a..b', 'a.*', 'a b', '.a', 'a.']) assert.throws(() => checkPrefix(bad), /prefix/);
    checkNodeId('node-1_A');
    for (const bad of ['', 'a.b', 'a*', 'x'.repeat(65)]) assert.throws(() => checkNodeId(bad), /node id/);
  });
});
