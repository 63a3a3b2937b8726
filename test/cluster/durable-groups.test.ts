// The filter check a node makes before it hands a shared-group message back to JetStream
// (durable-groups.ts): a topic its group's filter does not match is acknowledged and dropped, one it
// matches but cannot deliver (no local member any more) goes back for another node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { groupConsumerName } from '../../src/cluster/nats/durable-groups.js';
import { covers as filterMatches } from '../../src/topics/cover.js';

describe('durable shared groups: filter matching', () => {
  it('matches as MQTT does: + one level, # the rest and the parent level (4.7.1.2)', () => {
    assert.ok(filterMatches('a/b', 'a/b'));
    assert.ok(!filterMatches('a/b', 'a/c'));
    assert.ok(filterMatches('a/+', 'a/b'));
    assert.ok(!filterMatches('a/+', 'a/b/c'));
    assert.ok(!filterMatches('a/+', 'a'));
    assert.ok(filterMatches('a/#', 'a'));
    assert.ok(filterMatches('a/#', 'a/b/c'));
    assert.ok(filterMatches('#', 'x/y'));
    assert.ok(filterMatches('+/+', '/'), 'empty levels are levels');
    assert.ok(!filterMatches('a/b/c', 'a/b'));
  });

  it('leading wildcards do not match $ topics [MQTT-4.7.2-1]', () => {
    assert.ok(!filterMatches('#', '$SYS/x'));
    assert.ok(!filterMatches('+/x', '$SYS/x'));
    assert.ok(filterMatches('$SYS/#', '$SYS/x'));
  });

  it('names one consumer per (group, filter), a valid consumer name', () => {
    const a = groupConsumerName('g\0a/#');
    assert.match(a, /^group_[0-9a-f]{32}$/);
    assert.notEqual(a, groupConsumerName('g\0a/+'));
    assert.notEqual(a, groupConsumerName('h\0a/#'));
  });
});
