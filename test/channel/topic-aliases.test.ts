// OutboundAliases: server-to-client topic aliases, including undoing an alias whose PUBLISH was
// dropped (too large for the client) without ever giving one number to two topics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OutboundAliases } from '../../src/channel/topic-aliases.js';

/** The client's view: what each alias resolves to, fed only with what was actually sent. */
class ClientTable {
  readonly byAlias = new Map<number, string>();
  receive(topic: string, r: { alias: number; withTopic: boolean }): string | undefined {
    if (r.withTopic) this.byAlias.set(r.alias, topic);
    return this.byAlias.get(r.alias);
  }
}

describe('channel: outbound topic aliases', () => {
  it('MQTT 5: hands out 1..max, then takes over the least recently used [MQTT-3.3.2-8] [MQTT-3.3.2-11]', () => {
    const a = new OutboundAliases(2);
    assert.deepEqual(a.lookup('A'), { alias: 1, withTopic: true });
    assert.deepEqual(a.lookup('B'), { alias: 2, withTopic: true });
    assert.deepEqual(a.lookup('A'), { alias: 1, withTopic: false });
    assert.deepEqual(a.lookup('C'), { alias: 2, withTopic: true }, 'B was least recently used');
  });

  it('MQTT 5: a dropped takeover gives the alias back to its old topic, and no number is held twice [MQTT-3.1.2-25] [MQTT-3.3.2-11]', () => {
    const a = new OutboundAliases(2);
    const client = new ClientTable();
    assert.equal(client.receive('A', a.lookup('A')), 'A');
    assert.equal(client.receive('B', a.lookup('B')), 'B');
    // X takes over alias 1 (A's) but its PUBLISH is dropped: the client still maps 1 → A.
    assert.deepEqual(a.lookup('X'), { alias: 1, withTopic: true });
    a.forget('X');
    assert.deepEqual(a.lookup('A'), { alias: 1, withTopic: false }, 'A keeps alias 1');
    assert.equal(client.receive('B', a.lookup('B')), 'B', 'B still resolves');
    const y = a.lookup('Y');
    assert.equal(client.receive('Y', y), 'Y');
    assert.ok(y.alias === 1 || y.alias === 2);
    for (const t of ['A', 'B', 'Y']) {
      const r = a.lookup(t);
      assert.equal(client.receive(t, r), t, `${t} resolves to itself`);
    }
  });

  it('a dropped fresh alias becomes free again and is reused before any takeover', () => {
    const a = new OutboundAliases(3);
    a.lookup('A');
    assert.deepEqual(a.lookup('X'), { alias: 2, withTopic: true });
    a.forget('X');
    assert.deepEqual(a.lookup('B'), { alias: 2, withTopic: true });
    assert.deepEqual(a.lookup('C'), { alias: 3, withTopic: true });
    assert.deepEqual(a.lookup('A'), { alias: 1, withTopic: false }, 'nothing was taken over');
  });

  it('many random drops never leave two topics on one alias, and every alias stays within 1..max', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const max of [1, 2, 3, 5]) {
      const a = new OutboundAliases(max);
      const client = new ClientTable();
      for (let i = 0; i < 2000; i++) {
        const topic = `t${rand(max + 3)}`;
        const r = a.lookup(topic);
        assert.ok(r.alias >= 1 && r.alias <= max);
        if (r.withTopic && rand(3) === 0) {
          a.forget(topic); // dropped: the client never sees it
          continue;
        }
        assert.equal(client.receive(topic, r), topic, `step ${i}, max ${max}: ${topic} resolves`);
      }
    }
  });
});
