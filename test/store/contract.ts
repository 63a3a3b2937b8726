// The contract every Store implementation must pass (memory, SQLite, and later NATS JetStream).
// It lives under src/ so any store's test file can run it:
//
//   storeContract('SqliteStore', async () => ({ store, reopen, cleanup }));
//
// makeStore() returns a fresh, empty, not yet opened store. reopen() closes the store it handed out
// last and returns a new, not yet opened instance over the same data (for a non-durable store, over
// nothing). cleanup() closes whatever is open and removes what the store left behind.
//
// Besides ports.ts, the suite relies on these shared rules (validate.ts spells out "invalid"):
// - open() may be called again while open and returns the current state (the suite reads state so);
// - a batch with an invalid op rejects with an Error whose message contains "invalid store op"
//   and leaves the store exactly as it was;
// - every queue entry, whatever its state, keeps its message; a message is dropped at the end of
//   the batch that leaves no entry pointing at it;
// - a message.put for an id already stored keeps the stored body (messages are immutable);
// - Buffers (payloads, binary properties) are immutable: nothing writes into one once it is part of
//   a message, so a store may keep the Buffer it was given rather than a copy (the memory store does,
//   so a payload is held once); records (objects, arrays) are the store's own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { QueueEntry, SessionRecord, StoredMessage, Store, StoreOp, StoreSnapshot } from '../../src/store/ports.js';

export interface StoreHarness {
  store: Store;
  reopen: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

const msg = (id: string, over: Partial<StoredMessage> = {}): StoredMessage => ({
  id,
  topic: `t/${id}`,
  payload: Buffer.from(`body of ${id}`),
  qos: 1,
  retain: false,
  createdAt: 1_700_000_000_000,
  ...over,
});
const sess = (clientId: string, over: Partial<SessionRecord> = {}): SessionRecord => ({ clientId, protocolVersion: 5, expiryInterval: 3600, ...over });
const entry = (seq: number, messageId: string, over: Partial<QueueEntry> = {}): QueueEntry => ({ seq, messageId, qos: 1, retain: false, state: 'queued', ...over });
const putSession = (clientId: string): StoreOp => ({ op: 'session.put', session: sess(clientId) });
const putMessage = (id: string): StoreOp => ({ op: 'message.put', message: msg(id) });
const putEntry = (clientId: string, e: QueueEntry): StoreOp => ({ op: 'queue.put', clientId, entry: e });

/** A snapshot in a canonical order, so implementations may return rows in any order ports.ts allows. */
export function canonical(s: StoreSnapshot) {
  const sessions = [...s.sessions]
    .sort((a, b) => (a.session.clientId < b.session.clientId ? -1 : 1))
    .map((x) => ({ ...x, subscriptions: [...x.subscriptions].sort((a, b) => (a.filter < b.filter ? -1 : 1)), inbound: [...x.inbound].sort((a, b) => a - b) }));
  const messages = [...s.messages.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  const retained = [...s.retained].sort((a, b) => (a.topic < b.topic ? -1 : 1));
  return { sessions, messages, retained };
}

export function storeContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  /** Runs `body` against a fresh opened store and always cleans up. */
  const withStore = (title: string, body: (h: StoreHarness & { state: () => Promise<ReturnType<typeof canonical>> }) => Promise<void>) =>
    it(title, async () => {
      const h = await makeStore();
      let current = h.store;
      try {
        assert.deepEqual(canonical(await current.open()), { sessions: [], messages: [], retained: [] }, 'a new store opens empty');
        const reopen = async () => (current = await h.reopen());
        await body({ store: current, reopen, cleanup: h.cleanup, state: async () => canonical(await current.open()) });
      } finally {
        await h.cleanup();
      }
    });

  describe(`Store contract: ${name}`, () => {
    withStore('session.put stores the record and replaces it without touching its children', async ({ store, state }) => {
      const will = { message: msg('w', { payload: Buffer.from([0, 1, 255]), properties: { contentType: 'x' } }), delayInterval: 30 };
      await store.apply([{ op: 'session.put', session: sess('c1', { protocolVersion: 4, expiryInterval: 0xffffffff, will }) }]);
      await store.apply([{ op: 'subscription.put', clientId: 'c1', subscription: { filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 } }]);
      let s = await state();
      assert.deepEqual(s.sessions[0].session, sess('c1', { protocolVersion: 4, expiryInterval: 0xffffffff, will }));
      await store.apply([{ op: 'session.put', session: sess('c1', { disconnectedAt: 1234 }) }]);
      s = await state();
      assert.deepEqual(s.sessions[0].session, sess('c1', { disconnectedAt: 1234 }), 'replaced, and the will is gone');
      assert.equal(s.sessions[0].subscriptions.length, 1, 'subscriptions kept across session.put');
    });

    withStore('session.delete cascades to subscriptions, queue, inbound ids and unshared messages', async ({ store, state }) => {
      await store.apply([
        putSession('a'),
        putSession('b'),
        putMessage('m1'),
        putMessage('m2'),
        { op: 'subscription.put', clientId: 'a', subscription: { filter: 'x', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionId: 7 } },
        putEntry('a', entry(1, 'm1')),
        putEntry('a', entry(2, 'm2')),
        putEntry('b', entry(1, 'm2')),
        { op: 'inbound.put', clientId: 'a', packetId: 10 },
      ]);
      await store.apply([{ op: 'session.delete', clientId: 'a' }]);
      const s = await state();
      assert.deepEqual(s.sessions.map((x) => x.session.clientId), ['b']);
      assert.deepEqual(s.messages.map(([id]) => id), ['m2'], 'm1 had no other entry; m2 is still queued for b');
      await store.apply([{ op: 'session.delete', clientId: 'nobody' }]);
      await store.apply([{ op: 'session.put', session: sess('a') }]);
      const again = (await state()).sessions.find((x) => x.session.clientId === 'a');
      assert.deepEqual(again, { session: sess('a'), subscriptions: [], queue: [], inbound: [] }, 'a re-created session starts bare');
    });

    withStore('subscription.put replaces by filter and subscription.delete removes it', async ({ store, state }) => {
      const sub = { filter: '$share/g/a/+', qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 1 as const };
      await store.apply([putSession('c'), { op: 'subscription.put', clientId: 'c', subscription: sub }, { op: 'subscription.put', clientId: 'c', subscription: { ...sub, filter: 'b' } }]);
      await store.apply([{ op: 'subscription.put', clientId: 'c', subscription: { ...sub, qos: 2, subscriptionId: 268_435_455 } }]);
      let subs = (await state()).sessions[0].subscriptions;
      assert.deepEqual(subs, [{ ...sub, qos: 2, subscriptionId: 268_435_455 }, { ...sub, filter: 'b' }]);
      await store.apply([{ op: 'subscription.delete', clientId: 'c', filter: 'b' }, { op: 'subscription.delete', clientId: 'c', filter: 'never' }]);
      subs = (await state()).sessions[0].subscriptions;
      assert.deepEqual(subs.map((x) => x.filter), ['$share/g/a/+']);
    });

    withStore('messages are reference-counted by queue entries and dropped with the last one', async ({ store, state }) => {
      await store.apply([putSession('a'), putSession('b'), putMessage('orphan')]);
      assert.deepEqual((await state()).messages, [], 'a message.put no entry refers to is dropped at the end of its batch');
      await store.apply([putMessage('m'), putEntry('a', entry(1, 'm')), putEntry('b', entry(1, 'm'))]);
      await store.apply([{ op: 'message.put', message: msg('m', { payload: Buffer.from('other') }) }, putEntry('a', entry(2, 'm'))]);
      let s = await state();
      assert.deepEqual(s.messages, [['m', msg('m')]], 'stored once; a second put keeps the first body');
      await store.apply([{ op: 'queue.delete', clientId: 'a', seq: 1 }, { op: 'queue.delete', clientId: 'a', seq: 2 }]);
      assert.equal((await state()).messages.length, 1, 'still queued for b');
      await store.apply([putEntry('b', entry(5, 'm'))]);
      await store.apply([{ op: 'queue.delete', clientId: 'b', seq: 1 }, { op: 'queue.delete', clientId: 'b', seq: 99 }]);
      assert.equal((await state()).messages.length, 1, 'b still has seq 5');
      await store.apply([putMessage('n'), putEntry('b', entry(5, 'n'))]);
      s = await state();
      assert.deepEqual(s.messages.map(([id]) => id), ['n'], 'replacing the entry released m');
      await store.apply([{ op: 'queue.delete', clientId: 'b', seq: 5 }, putEntry('b', entry(6, 'n'))]);
      assert.deepEqual((await state()).messages.map(([id]) => id), ['n'], 'a message losing and regaining a reference within one batch survives');
      await store.apply([{ op: 'queue.delete', clientId: 'b', seq: 6 }]);
      assert.deepEqual((await state()).messages, []);
    });

    withStore('the queue comes back ordered by seq and follows queued → inflight → released', async ({ store, state }) => {
      await store.apply([putSession('c'), putMessage('m1'), putMessage('m2'), putMessage('m3')]
        .concat([putEntry('c', entry(2 ** 40, 'm3')), putEntry('c', entry(1, 'm1')), putEntry('c', entry(30, 'm2', { subscriptionIds: [3, 1] }))]));
      const seqs = async () => (await state()).sessions[0].queue.map((e) => e.seq);
      assert.deepEqual(await seqs(), [1, 30, 2 ** 40]);
      const e1 = entry(1, 'm1', { qos: 2, retain: true });
      await store.apply([putEntry('c', e1)]);
      assert.deepEqual((await state()).sessions[0].queue[0], e1);
      await store.apply([putEntry('c', { ...e1, state: 'inflight', packetId: 65535 })]);
      assert.deepEqual((await state()).sessions[0].queue[0], { ...e1, state: 'inflight', packetId: 65535 });
      await store.apply([putEntry('c', { ...e1, state: 'released', packetId: 65535 })]);
      let q = (await state()).sessions[0].queue;
      assert.deepEqual(q[0], { ...e1, state: 'released', packetId: 65535 });
      assert.deepEqual(q[1], entry(30, 'm2', { subscriptionIds: [3, 1] }), 'subscription ids keep their order');
      assert.ok((await state()).messages.some(([id]) => id === 'm1'), 'a released entry still holds its message');
      await store.apply([{ op: 'queue.delete', clientId: 'c', seq: 1 }]);
      q = (await state()).sessions[0].queue;
      assert.deepEqual(q.map((e) => e.seq), [30, 2 ** 40]);
    });

    withStore('inbound packet ids are put idempotently and deleted', async ({ store, state }) => {
      await store.apply([putSession('c'), { op: 'inbound.put', clientId: 'c', packetId: 7 }, { op: 'inbound.put', clientId: 'c', packetId: 1 }, { op: 'inbound.put', clientId: 'c', packetId: 7 }]);
      assert.deepEqual((await state()).sessions[0].inbound, [1, 7]);
      await store.apply([{ op: 'inbound.delete', clientId: 'c', packetId: 7 }, { op: 'inbound.delete', clientId: 'c', packetId: 8 }, { op: 'inbound.delete', clientId: 'x', packetId: 1 }]);
      assert.deepEqual((await state()).sessions[0].inbound, [1]);
    });

    withStore('retained messages are put, replaced per topic and deleted', async ({ store, state }) => {
      await store.apply([{ op: 'retained.put', message: msg('r1', { topic: 'a/b', retain: true }) }, { op: 'retained.put', message: msg('r2', { topic: '$SYS/x', retain: true, qos: 0 }) }]);
      await store.apply([{ op: 'retained.put', message: msg('r3', { topic: 'a/b', retain: true, expiresAt: 99, publisherId: 'p' }) }]);
      let s = await state();
      assert.deepEqual(s.retained, [msg('r2', { topic: '$SYS/x', retain: true, qos: 0 }), msg('r3', { topic: 'a/b', retain: true, expiresAt: 99, publisherId: 'p' })]);
      assert.deepEqual(s.messages, [], 'retained messages are not queue messages');
      await store.apply([{ op: 'retained.delete', topic: 'a/b' }, { op: 'retained.delete', topic: 'none' }]);
      s = await state();
      assert.deepEqual(s.retained.map((m) => m.topic), ['$SYS/x']);
    });

    withStore('properties with Buffers and ordered user properties, and any payload, round-trip', async ({ store, state }) => {
      const properties = {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 60,
        contentType: 'application/octet-stream',
        responseTopic: 'reply/ü',
        correlationData: Buffer.from([0, 0xff, 0x7f, 0x80]),
        userProperties: [
          ['z', '1'],
          ['a', '2'],
          ['z', '3'],
        ] as Array<[string, string]>,
      };
      const all = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) all[i] = i;
      const m = msg('p', { topic: 'ünïcode/ /x', payload: all, properties, qos: 2, expiresAt: 1_800_000_000_000, publisherId: 'pub' });
      const empty = msg('e', { payload: Buffer.alloc(0) });
      await store.apply([putSession('c'), { op: 'message.put', message: m }, { op: 'message.put', message: empty }, putEntry('c', entry(1, 'p')), putEntry('c', entry(2, 'e'))]);
      await store.apply([{ op: 'retained.put', message: { ...m, retain: true } }]);
      const s = await state();
      const got = new Map(s.messages);
      assert.deepEqual(got.get('p'), m);
      assert.ok(Buffer.isBuffer(got.get('p')?.properties?.correlationData), 'correlation data comes back as a Buffer');
      assert.ok(Buffer.isBuffer(got.get('e')?.payload) && got.get('e')?.payload.length === 0, 'an empty payload comes back as an empty Buffer');
      assert.deepEqual(s.retained[0], { ...m, retain: true });
    });

    const invalidBatches: Array<[string, StoreOp[]]> = [
      ['a queue entry referencing an unknown message', [putSession('new'), putEntry('new', entry(1, 'missing'))]],
      ['a queue entry for a client with no session', [putMessage('m9'), putEntry('ghost', entry(1, 'm9'))]],
      ['a subscription for a client with no session', [putSession('new'), { op: 'subscription.put', clientId: 'ghost', subscription: { filter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 } }]],
      ['an inbound id for a session deleted earlier in the batch', [{ op: 'session.delete', clientId: 'keep' }, { op: 'inbound.put', clientId: 'keep', packetId: 3 }]],
      ['an inflight entry without a packet id', [putSession('new'), putMessage('m9'), putEntry('new', entry(1, 'm9', { state: 'inflight' }))]],
      ['a packet id out of range', [putSession('new'), { op: 'inbound.put', clientId: 'new', packetId: 65_536 }]],
      ['an unknown op', [putSession('new'), { op: 'bogus' } as unknown as StoreOp]],
      // Stored as UTF-8, a lone surrogate would come back as U+FFFD: the id would no longer name its message.
      ['a message id with a lone surrogate', [putMessage('m\uD800')]],
      ['a topic with a lone surrogate', [{ op: 'retained.put', message: msg('r2', { topic: 'r/\uDC00' }) }]],
      ['a publisher id with a lone surrogate', [{ op: 'message.put', message: msg('m8', { publisherId: '\uD800x' }) }]],
    ];
    for (const [what, batch] of invalidBatches) {
      withStore(`a batch with ${what} is rejected whole`, async ({ store, state }) => {
        await store.apply([putSession('keep'), putMessage('k'), putEntry('keep', entry(1, 'k')), { op: 'retained.put', message: msg('r', { topic: 'r' }) }]);
        const before = await state();
        const mixed: StoreOp[] = [{ op: 'retained.delete', topic: 'r' }, { op: 'queue.delete', clientId: 'keep', seq: 1 }, ...batch];
        await assert.rejects(store.apply(mixed), /invalid store op/);
        assert.deepEqual(await state(), before, 'nothing of the batch was applied');
        await store.apply([putSession('after')]);
        assert.equal((await state()).sessions.length, 2, 'the store still works after a rejected batch');
      });
    }

    withStore('a session deleted and put again in one batch takes new children', async ({ store, state }) => {
      await store.apply([putSession('c'), putMessage('m'), putEntry('c', entry(1, 'm'))]);
      await store.apply([{ op: 'session.delete', clientId: 'c' }, putSession('c'), putEntry('c', entry(4, 'm'))]);
      const s = await state();
      assert.deepEqual(s.sessions[0].queue, [entry(4, 'm')]);
      assert.deepEqual(s.messages.map(([id]) => id), ['m'], 'the message survives: re-referenced in the same batch');
    });

    withStore('later mutation of records passed in or read out does not change what is stored (Buffers are immutable, not copied)', async ({ store, state }) => {
      const m = msg('m', { properties: { userProperties: [['k', 'v']] } });
      const e = entry(1, 'm');
      const s = sess('c', { will: { message: msg('w'), delayInterval: 0 } });
      await store.apply([{ op: 'session.put', session: s }, { op: 'message.put', message: m }, putEntry('c', e)]);
      m.properties!.userProperties![0][1] = 'changed';
      e.state = 'inflight';
      s.will!.message.topic = 'changed';
      const snap = await store.open();
      snap.sessions[0].queue[0].seq = 77;
      snap.messages.get('m')!.topic = 'changed';
      const now = await state();
      assert.deepEqual(now.messages, [['m', msg('m', { properties: { userProperties: [['k', 'v']] } })]]);
      assert.deepEqual(now.sessions[0].queue, [entry(1, 'm')]);
      assert.equal(now.sessions[0].session.will?.message.topic, 't/w');
    });

    withStore('apply after close rejects', async ({ store, reopen }) => {
      await store.close();
      await assert.rejects(store.apply([putSession('c')]));
      await reopen(); // leave the harness something open to clean up
    });

    withStore('state after reopen: kept when durable, empty otherwise', async ({ store, reopen }) => {
      await store.apply([putSession('a'), putSession('b'), putMessage('m'), putEntry('a', entry(3, 'm', { state: 'inflight', packetId: 9 })), putEntry('b', entry(1, 'm'))]);
      await store.apply([
        { op: 'subscription.put', clientId: 'a', subscription: { filter: 'x/+', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 } },
        { op: 'inbound.put', clientId: 'b', packetId: 2 },
        { op: 'retained.put', message: msg('r', { topic: 'x/y', retain: true, properties: { correlationData: Buffer.from('c') } }) },
      ]);
      const before = canonical(await store.open());
      const next = await reopen();
      const after = canonical(await next.open());
      if (next.durable) assert.deepEqual(after, before);
      else assert.deepEqual(after, { sessions: [], messages: [], retained: [] });
      await next.apply([{ op: 'session.delete', clientId: 'a' }]);
      assert.equal(canonical(await next.open()).sessions.length, next.durable ? 1 : 0, 'a reopened store accepts writes');
    });
  });
}
