// BrokerClusterSide: what another node may ask of this one, between two brokers' collaborators and
// no link. A persistent session moves with its queue and is resent with DUP on the new node
// [MQTT-4.4.0-1]; a session that ends with its connection does not move [MQTT-3.1.2-6]; a takeover
// from elsewhere closes the local connection [MQTT-3.1.4-2]; a stale copy is forgotten without a will.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WriteBatch } from '../../src/broker/writes.js';
import { brokerParts, message, online, sqlitePath, sqliteStore, subscription } from '../helpers/broker-parts.js';

describe('BrokerClusterSide', () => {
  it('moves a persistent session, queue and in-flight entries included, from one node to another (SQLite)', async () => {
    const pathA = sqlitePath();
    const a = await brokerParts({ store: sqliteStore(pathA) });
    const b = await brokerParts({ store: sqliteStore(sqlitePath()) });
    const here = await online(a, 'mover', { clean: false, expiryInterval: 3600 }, 1);
    await a.sessions.subscribe(here.session, [subscription('m/#')]);
    for (const t of ['m/1', 'm/2']) await a.pipeline.route(message(a.ids, t, t));
    assert.deepEqual(here.outlet.written.map((w) => w.topic), ['m/1'], 'one in flight, one queued');
    const moved = await a.cluster.releaseSession('mover', true);
    assert.ok(moved);
    assert.deepEqual(here.client.takeovers, [undefined], 'the local connection is closed as a takeover');
    assert.equal(a.sessions.get('mover'), undefined);
    assert.equal(b.cluster.importSession(moved), true);
    const there = await online(b, 'mover', { clean: false, expiryInterval: 3600 }, 1);
    assert.equal(there.sessionPresent, true);
    assert.deepEqual(there.outlet.written.map((w) => [w.topic, w.dup]), [['m/1', true]]);
    assert.equal(b.pipeline.route(message(b.ids, 'm/3', 'x', { qos: 0 })), 1, 'its subscriptions came with it');
    await a.close();
    await b.close();
    const reopened = sqliteStore(pathA);
    const snap = await reopened.open();
    await reopened.close();
    assert.equal(snap.sessions.length, 0, 'the old node’s store no longer has it');
  });

  it('a session that ends with its connection does not move; its will is routed where it ended', async () => {
    const a = await brokerParts();
    const watcher = await online(a, 'watcher');
    await a.sessions.subscribe(watcher.session, [subscription('w/#', 0)]);
    const willed = await online(a, 'brief', { will: { message: message(a.ids, 'w/brief', 'bye', { qos: 0 }), delayInterval: 30 } });
    assert.equal(await a.cluster.releaseSession('brief', true), undefined);
    assert.deepEqual(watcher.outlet.written.map((w) => w.topic), ['w/brief']);
    assert.equal(willed.client.takeovers.length, 1);
    await a.close();
  });

  it('does not import over a connected client; replaces an offline copy', async () => {
    const a = await brokerParts();
    const b = await brokerParts();
    const src = await online(a, 'twice', { clean: false, expiryInterval: 60 });
    const batch = new WriteBatch();
    a.queues.enqueue(src.session, { message: message(a.ids, 'x', 'y'), qos: 1, retain: false }, Date.now(), { batch, withMessage: true });
    await a.writes.commit(batch);
    const moved = await a.cluster.releaseSession('twice', true);
    assert.ok(moved);
    const local = await online(b, 'twice', { clean: false, expiryInterval: 60 });
    assert.equal(b.cluster.importSession(moved), false, 'a client is connected here with that id');
    assert.equal(b.sessions.get('twice'), local.session);
    b.sessions.disconnected(local.client, 'normal');
    assert.equal(b.cluster.importSession(moved), true);
    assert.notEqual(b.sessions.get('twice'), local.session);
    assert.equal(b.sessions.get('twice')?.allEntries().length, 1);
    await a.close();
    await b.close();
  });

  it('takeOver closes the local connection as taken elsewhere; forgetSession drops an offline copy without its will', async () => {
    const a = await brokerParts();
    const watcher = await online(a, 'watcher');
    await a.sessions.subscribe(watcher.session, [subscription('f/#', 0)]);
    const c = await online(a, 'elsewhere', { clean: false, expiryInterval: 60 });
    a.cluster.takeOver('elsewhere');
    assert.deepEqual(c.client.takeovers, [true]);
    a.cluster.forgetSession('watcher');
    assert.ok(a.sessions.get('watcher'), 'a connected session is not forgotten');
    const stale = await online(a, 'stale', { clean: false, expiryInterval: 60, will: { message: message(a.ids, 'f/stale', 'no', { qos: 0 }), delayInterval: 30 } });
    a.sessions.disconnected(stale.client, 'abnormal');
    a.cluster.forgetSession('stale');
    assert.equal(a.sessions.get('stale'), undefined);
    assert.deepEqual(watcher.outlet.written, [], 'no will for a copy another node took over');
    await a.close();
  });
});
