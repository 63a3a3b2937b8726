// StoreWrites: a batch's entries are sendable only once the batch is durable; a failed batch drops
// what it stored first and frees the rest; writes nobody waits for are logged, not thrown; close
// waits for what is under way. Real SQLite, read back after a reopen.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageIds } from '../../src/session/message.js';
import { Session } from '../../src/session/session.js';
import { writing } from '../../src/session/outgoing.js';
import type { StoreOp } from '../../src/store/ports.js';
import { StoreWrites, WriteBatch } from '../../src/broker/writes.js';
import { entryOps, sessionRecord } from '../../src/broker/persistence.js';
import { FailingStore } from '../helpers/failing-store.js';
import { HeldStore } from '../helpers/held-store.js';
import { silentLog } from '../helpers/channel.js';
import { waitUntil } from '../helpers/wait.js';
import { RecordingOutlet, message, sqlitePath, sqliteStore } from '../helpers/broker-parts.js';
import { fillWindow } from '../helpers/session-window.js';

const limits = { maxQueuedMessages: 10, maxQueuedBytes: 1 << 20, overflow: 'dropOldest' as const };

/** An online persistent session with one entry queued and taken into its window, unwritten. */
function sessionWithEntry(ids: MessageIds): { s: Session; outlet: RecordingOutlet; batch: WriteBatch } {
  const s = new Session('w', 5, 60);
  const outlet = new RecordingOutlet();
  s.outlet = outlet;
  const r = s.enqueue({ message: message(ids, 'w/t', 'one'), qos: 1, retain: false }, limits, 'dropOldest');
  assert.equal(r.outcome, 'queued');
  const batch = new WriteBatch();
  batch.ops.push({ op: 'session.put', session: sessionRecord(s) });
  if (r.outcome === 'queued') {
    writing(r.entry);
    batch.ops.push(...entryOps(s, r.entry, true));
    batch.entries.push(r.entry);
    batch.fresh.push(r.entry);
  }
  batch.sessions.add(s);
  fillWindow(s, Date.now());
  return { s, outlet, batch };
}

describe('StoreWrites', () => {
  it('sends a batch’s entries only once it is durable, and the store holds them after a reopen (SQLite)', async () => {
    const path = sqlitePath();
    const ids = new MessageIds();
    const writes = new StoreWrites(sqliteStore(path), silentLog);
    await writes.open();
    const { s, outlet, batch } = sessionWithEntry(ids);
    s.sendUnsent();
    assert.equal(outlet.written.length, 0, 'nothing goes out before the batch is written');
    await writes.commit(batch);
    assert.deepEqual(outlet.written.map((w) => w.topic), ['w/t']);
    await writes.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    assert.equal(snap.sessions[0]?.queue.length, 1, 'the entry is stored');
    assert.equal(snap.messages.size, 1, 'with its message body');
  });

  it('a failed batch drops the entries it stored first, and the session is not left waiting', async () => {
    const store = new FailingStore();
    store.failWhen = () => true;
    const writes = new StoreWrites(store, silentLog);
    await writes.open();
    const { s, outlet, batch } = sessionWithEntry(new MessageIds());
    await assert.rejects(writes.commit(batch), /write refused/);
    assert.equal(s.allEntries().length, 0, 'the fresh entry is gone: its publisher was not acknowledged');
    assert.deepEqual(outlet.written, []);
    await writes.close();
  });

  it('the commits of one synchronous run join one store write and one promise; a write between them keeps its place', async () => {
    const store = new HeldStore();
    const writes = new StoreWrites(store, silentLog);
    await writes.open();
    const put = (clientId: string): WriteBatch => {
      const b = new WriteBatch();
      b.ops.push({ op: 'session.put', session: { clientId, protocolVersion: 5, expiryInterval: 60 } });
      return b;
    };
    const a = writes.commit(put('a'));
    const b = writes.commit(put('b'));
    assert.equal(a, b, 'one promise for both');
    writes.persistLater([{ op: 'session.put', session: { clientId: 'between', protocolVersion: 5, expiryInterval: 60 } }]);
    const c = writes.commit(put('c'));
    await Promise.all([a, c]);
    const names = store.applied.flat().map((o) => (o.op === 'session.put' ? o.session.clientId : o.op));
    assert.deepEqual(names, ['a', 'b', 'between', 'c'], 'in the order they were made');
    assert.equal(store.applied.length, 1, 'one apply for the run');
    await writes.close();
  });

  it('a write awaited or in the background in the middle of a run joins its commit, in order, and never hands it over early', async () => {
    const store = new HeldStore();
    const writes = new StoreWrites(store, silentLog);
    await writes.open();
    const put = (clientId: string): StoreOp => ({ op: 'session.put', session: { clientId, protocolVersion: 5, expiryInterval: 60 } });
    const j = writes.joining();
    j.batch.ops.push(put('route-1'));
    // A hook or a closing session writes in the middle of a message's route.
    const persisted = writes.persist([put('persist')]);
    writes.persistInBackground([put('background')]);
    assert.equal(writes.joining(), j, 'the route keeps adding to the commit still to be written');
    j.batch.ops.push(put('route-2'));
    await Promise.all([persisted, j.written(1)]);
    await writes.close();
    const names = store.applied.flat().map((o) => (o.op === 'session.put' ? o.session.clientId : o.op));
    assert.deepEqual(names, ['route-1', 'persist', 'background', 'route-2'], 'in the order they were made');
    assert.equal(store.applied.length, 1, 'one apply for the run');
  });

  it('persistLater logs a failure instead of throwing it', async () => {
    const store = new FailingStore();
    store.failWhen = () => true;
    const errors: string[] = [];
    const writes = new StoreWrites(store, { error: (_o: object, msg: string) => errors.push(msg) } as never);
    await writes.open();
    writes.persistLater([{ op: 'session.delete', clientId: 'x' }]);
    await waitUntil(() => errors.length > 0, 'the failure is logged');
    await writes.close();
    assert.equal(store.failures, 1);
    assert.deepEqual(errors, ['store write failed']);
  });

  it('close waits for writes under way (SQLite, read back after a reopen)', async () => {
    const path = sqlitePath();
    const writes = new StoreWrites(sqliteStore(path), silentLog);
    await writes.open();
    writes.persistInBackground([{ op: 'session.put', session: { clientId: 'later', protocolVersion: 5, expiryInterval: 60 } }]);
    await writes.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    assert.deepEqual(snap.sessions.map((x) => x.session.clientId), ['later']);
  });
});

describe('StoreWrites: joining', () => {
  it('routes join the run’s commit directly: one store write, and one promise per value however many messages', async () => {
    const store = new HeldStore();
    const writes = new StoreWrites(store, silentLog);
    await writes.open();
    const j = writes.joining();
    assert.equal(writes.joining(), j, 'the same commit for the whole synchronous run');
    j.batch.ops.push({ op: 'session.put', session: { clientId: 'r1', protocolVersion: 5, expiryInterval: 60 } });
    const one = j.written(1);
    j.batch.ops.push({ op: 'session.put', session: { clientId: 'r2', protocolVersion: 5, expiryInterval: 60 } });
    assert.equal(j.written(1), one, 'a second message routed to one session shares the promise');
    const none = j.written(0);
    assert.notEqual(none, one);
    writes.persistLater([{ op: 'queue.delete', clientId: 'r1', seq: 1 }]);
    assert.deepEqual(await Promise.all([one, none]), [1, 0]);
    assert.equal(store.applied.length, 1, 'one apply for the run, persistLater included');
    assert.deepEqual(store.applied[0].map((o) => o.op), ['session.put', 'session.put', 'queue.delete']);
    await writes.close();
  });

  it('a joined write that failed rejects its waiters and logs for its persistLater ops', async () => {
    const store = new FailingStore();
    store.failWhen = () => true;
    const errors: string[] = [];
    const writes = new StoreWrites(store, { error: (_o: object, msg: string) => errors.push(msg) } as never);
    await writes.open();
    const j = writes.joining();
    j.batch.ops.push({ op: 'session.put', session: { clientId: 'f', protocolVersion: 5, expiryInterval: 60 } });
    writes.persistLater([{ op: 'session.delete', clientId: 'g' }]);
    await assert.rejects(j.written(1), /write refused/);
    await waitUntil(() => errors.length > 0, 'the failure is logged');
    assert.deepEqual(errors, ['store write failed']);
    await writes.close();
  });

  it('a joined commit nothing was added to writes nothing', async () => {
    const store = new HeldStore();
    const writes = new StoreWrites(store, silentLog);
    await writes.open();
    const j = writes.joining();
    assert.equal(await j.written(0), 0);
    assert.equal(store.applied.length, 0);
    await writes.close();
  });
});
