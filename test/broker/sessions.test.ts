// Sessions: the client registry and the session lifecycle without a channel. Takeover of a client id
// [MQTT-3.1.4-2], resume or clean start [MQTT-3.1.2-4, MQTT-3.1.2-6, MQTT-3.2.2-2], wills on an
// abnormal end and not on DISCONNECT 0x00 [MQTT-3.1.2-8, MQTT-3.1.2-10], what a session may keep
// when the ACL changes, and subscriptions stored before SUBACK.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import type { WillRecord } from '../../src/store/ports.js';
import { brokerParts, FakeClient, connectRequest, message, online, sqlitePath, sqliteStore, subscription, type BrokerParts } from '../helpers/broker-parts.js';

const identity = (clientId: string): ClientInfo => ({ clientId, remoteAddress: '127.0.0.1', listener: { url: 'mqtt://127.0.0.1:0', scheme: 'mqtt', host: '127.0.0.1', port: 0 } });
const will = (p: BrokerParts, topic: string): WillRecord => ({ message: message(p.ids, topic, 'gone', { qos: 0 }), delayInterval: 0 });

describe('Sessions', () => {
  it('a second connection with the same client id takes the first over [MQTT-3.1.4-2]', async () => {
    const p = await brokerParts();
    const first = await online(p, 'dup', { clean: false, expiryInterval: 60 });
    const second = await online(p, 'dup', { clean: false, expiryInterval: 60 });
    assert.deepEqual(first.client.takeovers, [undefined], 'the old connection is told, as a local takeover');
    assert.equal(p.sessions.client('dup'), second.client);
    assert.equal(second.sessionPresent, true);
    assert.equal(second.session, first.session, 'the same session, resumed');
    // The old connection's close afterwards changes nothing: it no longer owns the id.
    p.sessions.disconnected(first.client, 'takenOver');
    assert.equal(p.sessions.client('dup'), second.client);
    assert.equal(p.sessions.clientsReader.size, 1);
    await p.close();
  });

  it('tells a cluster link a session ended when it leaves this node, not when a new session of the same id replaces it here', async () => {
    const p = await brokerParts();
    const ended: string[] = [];
    p.sessions.attachCluster({ claim: () => undefined, sessionEnded: (clientId) => void ended.push(clientId) });
    // A session that ends with its connection: told.
    const gone = await online(p, 'gone');
    p.sessions.disconnected(gone.client, 'normal');
    assert.deepEqual(ended, ['gone']);
    // A non-persistent session replaced by a Clean Start 0 connection with a Session Expiry: the id
    // still lives here (the workers hub's record of it must stay).
    await online(p, 'kept', { clean: true, expiryInterval: 0 });
    const resumed = await online(p, 'kept', { clean: false, expiryInterval: 3600 });
    assert.equal(resumed.sessionPresent, false);
    assert.deepEqual(ended, ['gone'], 'replaced here: not told');
    // Clean Start replacing a persistent session: not told either.
    await online(p, 'kept', { clean: true, expiryInterval: 3600 });
    assert.deepEqual(ended, ['gone']);
    await p.close();
  });

  it('a connection taken over while its CONNECT was being stored is refused with 0x8E', async () => {
    const p = await brokerParts();
    const slow = new FakeClient('race');
    const pending = p.sessions.connect(slow, connectRequest('race', { clean: false, expiryInterval: 60 }));
    await online(p, 'race');
    await assert.rejects(pending, (err: { reasonCode?: number }) => err.reasonCode === ReasonCode.SessionTakenOver);
    await p.close();
  });

  it('resumes a persistent session with Session Present 1 and starts a new one on Clean Start (SQLite, stored)', async () => {
    const path = sqlitePath();
    const p = await brokerParts({ store: sqliteStore(path) });
    const a = await online(p, 'keep', { clean: false, expiryInterval: 3600 });
    await p.sessions.subscribe(a.session, [subscription('k/#')]);
    p.sessions.disconnected(a.client, 'normal');
    const b = await online(p, 'keep', { clean: false, expiryInterval: 3600 });
    assert.equal(b.sessionPresent, true);
    assert.deepEqual([...b.session.subscriptions.keys()], ['k/#']);
    const c = await online(p, 'keep', { clean: true, expiryInterval: 3600 });
    assert.equal(c.sessionPresent, false);
    assert.equal(c.session.subscriptions.size, 0, 'Clean Start discards the old session [MQTT-3.1.2-4]');
    await p.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    assert.deepEqual(snap.sessions.map((s) => [s.session.clientId, s.subscriptions.length]), [['keep', 0]]);
  });

  it('a session that ends with its connection is not resumed [MQTT-3.1.2-6]', async () => {
    const p = await brokerParts();
    const a = await online(p, 'short');
    p.sessions.disconnected(a.client, 'abnormal');
    assert.equal(p.sessions.get('short'), undefined);
    const b = await online(p, 'short', { clean: false, expiryInterval: 60 });
    assert.equal(b.sessionPresent, false);
    await p.close();
  });

  it('routes the will on an abnormal end, not after DISCONNECT 0x00', async () => {
    const p = await brokerParts();
    const watcher = await online(p, 'watcher');
    await p.sessions.subscribe(watcher.session, [subscription('will/#', 0)]);
    const normal = await online(p, 'normal', { will: will(p, 'will/normal') });
    p.sessions.disconnected(normal.client, 'normal');
    const lost = await online(p, 'lost', { will: will(p, 'will/lost') });
    p.sessions.disconnected(lost.client, 'abnormal');
    assert.deepEqual(watcher.outlet.written.map((w) => w.topic), ['will/lost']);
    assert.equal(p.stats.willsPublished, 1);
    await p.close();
  });

  it('after an ACL reload, drops the subscriptions and queued messages the owner may no longer have', async () => {
    let allowed = true;
    const p = await brokerParts({
      hooks: {
        authorizeSubscribe: (_c, filter) => (allowed || !filter.startsWith('secret/') ? ReasonCode.Success : ReasonCode.NotAuthorized),
        authorizeRead: (_c, topic) => (allowed || !topic.startsWith('secret/') ? ReasonCode.Success : ReasonCode.NotAuthorized),
      },
    });
    const a = await online(p, 'reader', { clean: false, expiryInterval: 60, identity: identity('reader') });
    await p.sessions.subscribe(a.session, [subscription('secret/#'), subscription('open/#')]);
    p.sessions.disconnected(a.client, 'normal');
    await p.pipeline.route(message(p.ids, 'secret/x', 'no'));
    await p.pipeline.route(message(p.ids, 'open/x', 'yes'));
    allowed = false;
    p.sessions.reauthorizeAll();
    assert.deepEqual([...a.session.subscriptions.keys()], ['open/#']);
    assert.deepEqual(a.session.allEntries().map((o) => o.message.topic), ['open/x']);
    assert.equal(p.stats.drops.notAuthorized, 1);
    await p.close();
  });

  it('subscribe says which filters were new; unsubscribe which existed', async () => {
    const p = await brokerParts();
    const { session } = await online(p, 'subs');
    assert.deepEqual(await p.sessions.subscribe(session, [subscription('a'), subscription('b')]), [true, true]);
    assert.deepEqual(await p.sessions.subscribe(session, [subscription('a', 0)]), [false]);
    assert.deepEqual(await p.sessions.unsubscribe(session, ['a', 'c']), [true, false]);
    assert.equal(p.pipeline.route(message(p.ids, 'a', 'x', { qos: 0 })), 0, 'no longer routed to it');
    await p.close();
  });
});
