// RetainedService: the one place a retained message is stored. Set and cleared [MQTT-3.3.1-10,
// MQTT-3.3.1-11], refused beyond its budgets (counted, and a refused replacement clears the old
// value), $SYS kept out of the store, the cluster's copy applied without delivery, and the copies a
// new subscription gets as Retain Handling says [MQTT-3.3.1-9, MQTT-3.3.1-10].
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoreOp } from '../../src/store/ports.js';
import { WriteBatch } from '../../src/broker/writes.js';
import { brokerParts, message, online, sqlitePath, sqliteStore, subscription } from '../helpers/broker-parts.js';

const ops = (b: WriteBatch | undefined): string[] => (b?.ops ?? []).map((o: StoreOp) => (o.op === 'retained.put' ? `put ${o.message.topic}` : o.op === 'retained.delete' ? `delete ${o.topic}` : o.op));

describe('RetainedService', () => {
  it('sets, replaces and clears with an empty payload, one store op each; $SYS is not stored', async () => {
    const p = await brokerParts();
    const r = p.retained;
    assert.deepEqual(ops(r.retain(message(p.ids, 'r/a', 'one', { retain: true }), undefined)), ['put r/a']);
    assert.deepEqual(ops(r.retain(message(p.ids, 'r/a', 'two', { retain: true }), undefined)), ['put r/a']);
    assert.equal(r.reader.get('r/a')?.payload.toString(), 'two');
    assert.deepEqual(ops(r.retain(message(p.ids, 'r/a', '', { retain: true }), undefined)), ['delete r/a']);
    assert.equal(r.reader.size, 0);
    assert.equal(r.retain(message(p.ids, 'r/none', '', { retain: true }), undefined), undefined, 'clearing nothing writes nothing');
    assert.equal(r.retain(message(p.ids, '$SYS/broker/x', '1', { retain: true }), undefined), undefined);
    assert.equal(r.reader.get('$SYS/broker/x')?.payload.toString(), '1', 'kept in memory only');
    const held = message(p.ids, 'r/b', 'b', { retain: true, publisherId: 'pub' });
    r.retain(held, undefined);
    assert.equal(r.reader.get('r/b')?.publisherId, undefined, 'the retained copy forgets its publisher (No Local does not apply to it)');
    await p.close();
  });

  it('refuses beyond maxRetainedMessages, counted; a refused replacement clears the old value', async () => {
    const p = await brokerParts({ maxRetainedMessages: 1 });
    const r = p.retained;
    r.retain(message(p.ids, 'cap/a', 'a', { retain: true }), undefined);
    assert.equal(r.admits(message(p.ids, 'cap/b', 'b', { retain: true })), false);
    assert.equal(p.stats.drops.retainedLimit, 1);
    assert.equal(p.stats.limits.maxRetainedMessages, 1);
    // The same topic replaced within the budget is fine.
    assert.equal(r.admits(message(p.ids, 'cap/a', 'a2', { retain: true })), true);
    assert.equal(r.admits(message(p.ids, '$SYS/broker/load', '1', { retain: true })), true, 'the broker’s own $SYS values always fit');
    await p.close();
  });

  it('applies the cluster’s copy to the index and the store without delivering it (SQLite, reopened)', async () => {
    const path = sqlitePath();
    const p = await brokerParts({ store: sqliteStore(path), maxRetainedMessages: 2 });
    const { outlet, session } = await online(p, 'watcher');
    await p.sessions.subscribe(session, [subscription('copy/#', 1)]);
    const local = p.retained.localCopy();
    for (const t of ['copy/a', 'copy/b', 'copy/c']) local.set(message(p.ids, t, t, { retain: true }));
    assert.deepEqual(local.list().map((m) => m.topic).sort(), ['copy/a', 'copy/b'], 'the same budget as a publish');
    assert.equal(p.stats.drops.retainedLimit, 1);
    local.delete('copy/a');
    assert.equal(local.get('copy/a'), undefined);
    assert.equal(outlet.written.length, 0, 'nothing was delivered');
    await p.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    assert.deepEqual(snap.retained.map((m) => m.topic), ['copy/b']);
  });

  it('sends a new subscription its retained messages as Retain Handling says; shared subscriptions get none', async () => {
    const p = await brokerParts();
    p.retained.retain(message(p.ids, 'rh/zero', '0', { retain: true, qos: 0 }), undefined);
    p.retained.retain(message(p.ids, 'rh/one', '1', { retain: true, qos: 1 }), undefined);
    const { session, outlet } = await online(p, 'rh');
    p.retained.deliverRetained(session, subscription('rh/+', 2, { retainHandling: 2 }), true);
    p.retained.deliverRetained(session, subscription('rh/+', 2, { retainHandling: 1 }), false);
    p.retained.deliverRetained(session, subscription('$share/g/rh/+', 2), true);
    assert.equal(outlet.written.length, 0);
    p.retained.deliverRetained(session, subscription('rh/+', 1, { retainHandling: 1 }), true);
    const got = outlet.written.map((w) => [w.topic, w.qos, w.retain, w.packetId !== undefined]).sort();
    assert.deepEqual(got, [['rh/one', 1, true, true], ['rh/zero', 0, true, false]], 'RETAIN set [MQTT-3.3.1-8], QoS the lower of the two');
    const [entry] = session.allEntries();
    assert.notEqual(entry?.message.id, p.retained.reader.get('rh/one')?.id, 'the queued copy is its own message');
    await p.close();
  });

  it('load drops stored retained messages whose topic no packet can carry, and sweeps the expired (SQLite)', async () => {
    const path = sqlitePath();
    const seed = sqliteStore(path);
    await seed.open();
    const now = Date.now();
    await seed.apply([
      { op: 'retained.put', message: { id: 'ok', topic: 'fine', payload: Buffer.from('x'), qos: 0, retain: true, createdAt: now } },
      { op: 'retained.put', message: { id: 'bad', topic: 'wild/+', payload: Buffer.from('x'), qos: 0, retain: true, createdAt: now } },
      { op: 'retained.put', message: { id: 'old', topic: 'gone', payload: Buffer.from('x'), qos: 0, retain: true, createdAt: now - 2000, expiresAt: now - 1000 } },
    ]);
    await seed.close();
    const p = await brokerParts({ store: sqliteStore(path) });
    p.retained.load(p.snapshot.retained);
    assert.deepEqual([...p.retained.reader.all()].map((m) => m.topic), ['fine']);
    await p.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    assert.deepEqual(snap.retained.map((m) => m.topic), ['fine']);
  });
});
