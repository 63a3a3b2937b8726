// NatsStore against real nats-server processes: the shared store contract (a fresh prefix, so fresh
// buckets, per case), plus what only the JetStream store has — awkward strings as KV keys, batches
// interrupted between the journal and the buckets (or between journal parts), batches larger than
// a NATS message, a second writer on the same prefix, damaged values, a SIGKILLed writer, and a
// 3-server cluster with replicas: 3 losing a server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { killAfterAcks } from './kill-child.js';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { canonical, storeContract } from './contract.js';
import { NatsStore, type NatsStoreOptions } from '../../src/store/nats/nats-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { BUCKETS, messageKey, queueKey, storeNames, token } from '../../src/store/nats/keys.js';
import { encodeEntry, encodeMessage } from '../../src/store/nats/codec.js';
import type { QueueEntry, StoredMessage, StoreOp, StoreSnapshot } from '../../src/store/ports.js';
import { compiledRoot } from '../helpers/paths.js';
import { isWellFormedString } from '../../src/protocol/utf8.js';
import { natsServerBinary, startNatsCluster, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

let server: NatsServerHandle | undefined;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server?.stop();
});
const url = (): string => {
  if (!server) throw new Error('nats-server did not start (see the before hook)');
  return server.url;
};

let counter = 0;
const freshPrefix = (): string => `t${process.pid}_${++counter}`;

it('nats-server is installed (these tests need a real server; they fail, never skip, without one)', () => {
  assert.ok(natsServerBinary().length > 0);
});

storeContract('NatsStore', async () => {
  const prefix = freshPrefix();
  const make = () => new NatsStore({ servers: url(), prefix });
  let store = make();
  return {
    store,
    reopen: async () => {
      await store.close();
      store = make();
      return store;
    },
    cleanup: async () => {
      await store.destroy();
    },
  };
});

// ---- helpers --------------------------------------------------------------------------------

const msg = (id: string, over: Partial<StoredMessage> = {}): StoredMessage => ({
  id,
  topic: `t/${id}`,
  payload: Buffer.from(`body of ${id}`),
  qos: 1,
  retain: false,
  createdAt: 1_700_000_000_000,
  ...over,
});
const entry = (seq: number, messageId: string, over: Partial<QueueEntry> = {}): QueueEntry => ({ seq, messageId, qos: 1, retain: false, state: 'queued', ...over });
const putSession = (clientId: string): StoreOp => ({ op: 'session.put', session: { clientId, protocolVersion: 5, expiryInterval: 3600 } });

/** What the reference store holds after the given batches. */
async function expected(...batches: StoreOp[][]) {
  const m = new MemoryStore();
  await m.open();
  for (const b of batches) await m.apply(b);
  return canonical(await m.open());
}

/** Opens a fresh NatsStore on `prefix`, returns its canonical state and closes it. */
async function readBack(prefix: string, servers: string | string[] = url()) {
  const s = new NatsStore({ servers, prefix });
  try {
    return canonical(await s.open());
  } finally {
    await s.close();
  }
}

/** Messages held by each of the store's streams, read with a plain NATS client. */
async function streamCounts(prefix: string): Promise<Record<string, number>> {
  const nc = await connect({ servers: url(), timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    const names = storeNames(prefix);
    const out: Record<string, number> = {};
    for (const b of BUCKETS) out[b] = (await jsm.streams.info(names.stream[b])).state.messages;
    out.journal = (await jsm.streams.info(names.journalStream)).state.messages;
    return out;
  } finally {
    await nc.close();
  }
}

async function withStore<T>(opts: Partial<NatsStoreOptions> & { prefix: string }, body: (s: NatsStore) => Promise<T>): Promise<T> {
  const s = new NatsStore({ servers: url(), ...opts });
  await s.open();
  try {
    return await body(s);
  } finally {
    await s.close();
  }
}

const destroy = async (prefix: string) => new NatsStore({ servers: url(), prefix }).destroy();

// ---- keys -----------------------------------------------------------------------------------

const awkward = [
  'plain',
  'a.b.c',
  '.',
  '..',
  '*',
  '>',
  'a/+/#',
  '#',
  '+',
  '$SYS/x',
  '$share/g/a/b',
  ' ',
  'with space',
  'ünïcödé/日本/🐦',
  '/',
  '//',
  'a//b/',
  '=',
  '-_',
  'tab\tnewline\n',
  'nul\u0000byte',
  'x'.repeat(90),
  'y'.repeat(91),
  'long/'.repeat(1000),
  '\ud800', // a lone surrogate: not valid UTF-8, still a distinct JS string
  '\udc00',
];


describe('NatsStore keys', () => {
  it('turns any string into one valid, distinct KV key token', () => {
    const tokens = awkward.map(token);
    for (const t of tokens) {
      assert.match(t, /^[-_=a-zA-Z0-9]+$/, `token ${t} uses only KV key characters and no dot`);
      assert.ok(t.length <= 121, `token ${t.slice(0, 20)}… is short (${t.length})`);
    }
    assert.equal(new Set(tokens).size, tokens.length, 'no two strings share a token');
    assert.equal(token(''), 'b', 'the empty string has a non-empty token');
  });

  it('stores and reads back sessions, subscriptions, queues, messages and retained topics under awkward names', async () => {
    const prefix = freshPrefix();
    const ops: StoreOp[] = [];
    awkward.forEach((id, i) => {
      ops.push(putSession(id));
      ops.push({ op: 'subscription.put', clientId: id, subscription: { filter: awkward[(i + 3) % awkward.length], qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 0 } });
      // A message's id and topic must be well-formed text (validate.ts: every store stores them so
      // that they come back unchanged); a lone surrogate stays a client id and a filter here.
      const text = isWellFormedString(id) ? id : `lone-surrogate-${i}`;
      ops.push({ op: 'message.put', message: msg(`m:${text}`, { topic: text }) });
      ops.push({ op: 'queue.put', clientId: id, entry: entry(i, `m:${text}`) });
      ops.push({ op: 'inbound.put', clientId: id, packetId: i + 1 });
      ops.push({ op: 'retained.put', message: msg(`r:${text}`, { topic: text, retain: true }) });
    });
    ops.push({ op: 'retained.put', message: msg('r:empty', { topic: '', retain: true }) });
    try {
      await withStore({ prefix }, (s) => s.apply(ops));
      const want = await expected(ops);
      assert.equal(want.sessions.length, awkward.length);
      assert.deepEqual(await readBack(prefix), want, 'everything reads back under its own name');
      const counts = await streamCounts(prefix);
      assert.equal(counts.sessions, awkward.length, 'one key per session');
      assert.equal(counts.retained, awkward.length + 1, 'one key per retained topic');

      // Deleting through the awkward names leaves no key and no delete marker behind.
      const deletes: StoreOp[] = awkward.map((id) => ({ op: 'session.delete', clientId: id }) as StoreOp);
      for (const [i, id] of [...awkward, ''].entries()) deletes.push({ op: 'retained.delete', topic: isWellFormedString(id) ? id : `lone-surrogate-${i}` });
      await withStore({ prefix }, (s) => s.apply(deletes));
      assert.deepEqual(await readBack(prefix), { sessions: [], messages: [], retained: [] });
      const after = await streamCounts(prefix);
      for (const b of BUCKETS) assert.equal(after[b], 0, `bucket ${b} is empty`);
    } finally {
      await destroy(prefix);
    }
  });
});

// ---- crashes and atomicity -------------------------------------------------------------------

const first: StoreOp[] = [putSession('a'), putSession('b'), { op: 'message.put', message: msg('m1') }, { op: 'queue.put', clientId: 'a', entry: entry(1, 'm1') }, { op: 'retained.put', message: msg('r1', { topic: 'r/1' }) }];
const second: StoreOp[] = [
  { op: 'session.delete', clientId: 'a' },
  { op: 'message.put', message: msg('m2', { payload: Buffer.alloc(3000, 7) }) },
  { op: 'queue.put', clientId: 'b', entry: entry(1, 'm2') },
  { op: 'queue.put', clientId: 'b', entry: entry(2, 'm2', { state: 'inflight', packetId: 4 }) },
  { op: 'subscription.put', clientId: 'b', subscription: { filter: 'x/#', qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 1 } },
  { op: 'inbound.put', clientId: 'b', packetId: 9 },
  { op: 'retained.delete', topic: 'r/1' },
  { op: 'retained.put', message: msg('r2', { topic: 'r/2', payload: Buffer.alloc(2000, 1) }) },
  putSession('c'),
];

describe('NatsStore atomicity across crashes', () => {
  it('replays a committed batch whose key writes were cut short by a crash', async () => {
    const prefix = freshPrefix();
    try {
      let crashAt = Infinity;
      let made = 0;
      const hooks = {
        beforeKeyWrite: (i: number) => {
          if (i >= crashAt) throw new Error('simulated crash between key writes');
          made++;
        },
      };
      await withStore({ prefix, hooks, concurrency: 1 }, async (s) => {
        await s.apply(first);
        crashAt = 3;
        made = 0;
        // The journal entry is acknowledged before the first key write: the batch is committed.
        await s.apply(second);
      });
      assert.equal(made, 3, 'the crash came after three of the key writes');
      const counts = await streamCounts(prefix);
      assert.ok(counts.journal >= 1, 'the committed entry is still in the journal');
      // Key writes go in the order the batch touched them: session a removed, entry a/1 removed,
      // entry b/1 written; session c and message m2 (which b/1 points at) not yet.
      assert.equal(counts.sessions, 1, 'the buckets hold a half-applied batch: a removed, c not yet written');
      assert.equal(counts.queue, 1, 'entry b/1 is written...');
      assert.equal(counts.messages, 1, '...but its message m2 is not (m1 is not removed yet either)');

      assert.deepEqual(await readBack(prefix), await expected(first, second), 'open() replays the entry: the whole batch is there');
      assert.equal((await streamCounts(prefix)).journal, 0, 'and the journal is purged once applied');
    } finally {
      await destroy(prefix);
    }
  });

  it('drops a batch whose journal entry was cut short between parts, and keeps working', async () => {
    const prefix = freshPrefix();
    try {
      let failPart = 0;
      let partsSeen = 0;
      const hooks = {
        beforeJournalPart: (part: number, parts: number) => {
          partsSeen = parts;
          if (part === failPart) throw new Error('simulated crash between journal parts');
        },
      };
      const third: StoreOp[] = [{ op: 'inbound.put', clientId: 'b', packetId: 1 }];
      await withStore({ prefix, hooks, journalPartBytes: 512 }, async (s) => {
        await s.apply(first);
        failPart = 2;
        await assert.rejects(s.apply(second), /simulated crash/);
        assert.ok(partsSeen >= 3, `the entry was split into parts (${partsSeen})`);
        assert.equal((await streamCounts(prefix)).sessions, 2, 'nothing of it reached the buckets');
        // A store opened now sees that the batch never happened (and purges the stray part).
        assert.deepEqual(await readBack(prefix), await expected(first));
        assert.equal((await streamCounts(prefix)).journal, 0);
        // That store may have taken over, so the interrupted one refuses to go on by itself...
        failPart = 0;
        await assert.rejects(s.apply(third), /another store has written to or opened this prefix/);
        // ...until it is opened again.
        await s.open();
        await s.apply(third);
      });
      assert.deepEqual(await readBack(prefix), await expected(first, third));
    } finally {
      await destroy(prefix);
    }
  });

  it('resynchronises after a failed journal write and applies the next batch', async () => {
    const prefix = freshPrefix();
    try {
      let fail = false;
      const hooks = {
        beforeJournalPart: () => {
          if (fail) throw new Error('simulated lost connection');
        },
      };
      await withStore({ prefix, hooks }, async (s) => {
        await s.apply(first);
        fail = true;
        await assert.rejects(s.apply(second), /simulated lost connection/);
        fail = false;
        await s.apply([putSession('z')]);
        assert.deepEqual(canonical(await s.open()), await expected(first, [putSession('z')]));
      });
    } finally {
      await destroy(prefix);
    }
  });

  it('keeps every acknowledged batch when the writing process is killed with SIGKILL', async () => {
    const prefix = freshPrefix();
    const storeModule = path.join(compiledRoot, 'src/store/nats/nats-store.js');
    // The child acknowledges each batch on stdout only after apply() resolved, like a PUBACK.
    const child = `
      const { NatsStore } = await import(${JSON.stringify(storeModule)});
      const store = new NatsStore({ servers: ${JSON.stringify(url())}, prefix: ${JSON.stringify(prefix)}, purgeEvery: 7 });
      await store.open();
      await store.apply([{ op: 'session.put', session: { clientId: 'c', protocolVersion: 5, expiryInterval: 60 } }]);
      for (let i = 1; i <= 100000; i++) {
        await store.apply([
          { op: 'inbound.put', clientId: 'c', packetId: (i % 65535) + 1 },
          { op: 'message.put', message: { id: 'm' + i, topic: 't', payload: Buffer.alloc(100, i & 0xff), qos: 1, retain: false, createdAt: i } },
          { op: 'queue.put', clientId: 'c', entry: { seq: i, messageId: 'm' + i, qos: 1, retain: false, state: 'queued' } },
          { op: 'retained.put', message: { id: 'r' + i, topic: 't/' + i, payload: Buffer.alloc(100, i & 0xff), qos: 1, retain: true, createdAt: i } },
        ]);
        process.stdout.write(i + '\\n');
      }
    `;
    const lastAcked = await killAfterAcks(child, 100);
    try {
      const snap = await readBack(prefix);
      const topics = new Set(snap.retained.map((m) => m.topic));
      for (let i = 1; i <= lastAcked; i++) assert.ok(topics.has(`t/${i}`), `acknowledged batch ${i} survived the kill`);
      const queue = snap.sessions[0].queue;
      for (let i = 1; i <= lastAcked; i++) assert.equal(queue[i - 1]?.seq, i, `queue entry ${i} survived`);
      assert.equal(snap.messages.length, queue.length, 'each surviving entry has its message, and no other message is left');
      assert.ok(topics.size === lastAcked || topics.size === lastAcked + 1, 'at most the one unacknowledged batch in flight also landed, whole');
      assert.equal(queue.length, topics.size, 'that batch, if it landed, landed whole');
    } finally {
      await destroy(prefix);
    }
  });
});

// ---- limits, damage, second writer ---------------------------------------------------------

describe('NatsStore limits and damage', () => {
  it('writes a batch larger than one NATS message through a multi-part journal entry', async () => {
    const prefix = freshPrefix();
    const big: StoreOp[] = [putSession('c')];
    for (let i = 0; i < 12; i++) {
      big.push({ op: 'message.put', message: msg(`b${i}`, { payload: Buffer.alloc(200_000, i) }) });
      big.push({ op: 'queue.put', clientId: 'c', entry: entry(i, `b${i}`) });
    }
    for (let i = 0; i < 3000; i++) big.push({ op: 'retained.put', message: msg(`r${i}`, { topic: `many/${i}` }) });
    try {
      let parts = 0;
      await withStore({ prefix, hooks: { beforeJournalPart: (_p, n) => void (parts = n) } }, (s) => s.apply(big));
      assert.ok(parts >= 3, `2.4 MB went out in ${parts} parts of at most max_payload`);
      assert.deepEqual(await readBack(prefix), await expected(big));
    } finally {
      await destroy(prefix);
    }
  });

  it('rejects a message too large for a NATS value as an invalid op, changing nothing', async () => {
    const prefix = freshPrefix();
    try {
      await withStore({ prefix }, async (s) => {
        await s.apply(first);
        const huge: StoreOp[] = [{ op: 'message.put', message: msg('huge', { payload: Buffer.alloc(2 * 1024 * 1024) }) }, { op: 'queue.put', clientId: 'b', entry: entry(1, 'huge') }];
        await assert.rejects(s.apply(huge), /invalid store op #0 \(message\.put\).*max_payload/);
        assert.deepEqual(canonical(await s.open()), await expected(first));
      });
    } finally {
      await destroy(prefix);
    }
  });

  it('refuses to open a store with a damaged value, naming the bucket and key', async () => {
    const prefix = freshPrefix();
    try {
      await withStore({ prefix }, (s) => s.apply(first));
      const nc = await connect({ servers: url(), timeout: 5000 });
      try {
        await jetstream(nc).publish(`$KV.${prefix}_sessions.${token('a')}`, Buffer.from('{"clientId":"a","protocolVersion":9}'));
      } finally {
        await nc.close();
      }
      const s = new NatsStore({ servers: url(), prefix });
      await assert.rejects(s.open(), (e: Error) => /corrupt: bucket sessions, key b[A-Za-z0-9_-]+: session.protocolVersion/.test(e.message));
      await s.close();
    } finally {
      await destroy(prefix);
    }
  });

  it('removes a message body no queue entry points at, and refuses an entry whose session is missing', async () => {
    const prefix = freshPrefix();
    try {
      await withStore({ prefix }, (s) => s.apply(first));
      const nc = await connect({ servers: url(), timeout: 5000 });
      try {
        const js = jetstream(nc);
        await js.publish(`$KV.${prefix}_messages.${messageKey('stray')}`, encodeMessage(msg('stray')));
        assert.equal((await streamCounts(prefix)).messages, 2);
        assert.deepEqual(await readBack(prefix), await expected(first), 'the stray body is not in the snapshot');
        assert.equal((await streamCounts(prefix)).messages, 1, 'and is gone from the bucket');
        await js.publish(`$KV.${prefix}_queue.${queueKey('ghost', 1)}`, encodeEntry('ghost', entry(1, 'm1')));
      } finally {
        await nc.close();
      }
      const s = new NatsStore({ servers: url(), prefix });
      await assert.rejects(s.open(), /corrupt: a queue record of client "ghost", which has no session/);
      await s.close();
    } finally {
      await destroy(prefix);
    }
  });

  it('fences off the first of two stores on one prefix once the second has written', async () => {
    const prefix = freshPrefix();
    try {
      await withStore({ prefix }, async (a) => {
        await a.apply(first);
        await withStore({ prefix }, async (b) => {
          await b.apply([putSession('from-b')]);
          await assert.rejects(a.apply([putSession('from-a')]), /another store has written to this prefix/);
          await assert.rejects(a.apply([putSession('from-a')]), /another store has written/, 'and stays fenced');
        });
      });
      assert.deepEqual(await readBack(prefix), await expected(first, [putSession('from-b')]));
    } finally {
      await destroy(prefix);
    }
  });

  it('fences off a store that lost a write if another store wrote meanwhile', async () => {
    const prefix = freshPrefix();
    try {
      let fail = false;
      const hooks = {
        beforeJournalPart: () => {
          if (fail) throw new Error('simulated lost connection');
        },
      };
      await withStore({ prefix, hooks }, async (a) => {
        await a.apply(first);
        fail = true;
        await assert.rejects(a.apply([putSession('lost')]), /simulated lost connection/);
        fail = false;
        await withStore({ prefix }, (b) => b.apply([putSession('from-b')]));
        await assert.rejects(a.apply([putSession('from-a')]), /another store has written to or opened this prefix since this one lost a write/);
        await a.open(); // an explicit open() takes over
        await a.apply([putSession('from-a')]);
      });
      assert.deepEqual(await readBack(prefix), await expected(first, [putSession('from-b')], [putSession('from-a')]));
    } finally {
      await destroy(prefix);
    }
  });

  it('fails open() with the server address when no server answers', async () => {
    const s = new NatsStore({ servers: 'nats://127.0.0.1:1', prefix: freshPrefix(), timeoutMs: 1000 });
    await assert.rejects(s.open(), (e: Error) => e.name === 'StoreError' && e.message.includes('nats://127.0.0.1:1'));
    await s.close();
  });

  it('rejects a prefix that cannot name a bucket', () => {
    assert.throws(() => new NatsStore({ servers: url(), prefix: 'a.b' }), /prefix/);
    assert.throws(() => new NatsStore({ servers: url(), prefix: '' }), /prefix/);
  });
});

// ---- cluster ---------------------------------------------------------------------------------

describe('NatsStore on a 3-server cluster', () => {
  it('keeps data readable and writable with replicas: 3 after one server is killed', { timeout: 120_000 }, async () => {
    const cluster = await startNatsCluster(3);
    const prefix = freshPrefix();
    try {
      const a = new NatsStore({ servers: cluster.urls, prefix, replicas: 3 });
      await a.open();
      await a.apply(first);
      await a.apply(second);
      await a.close();

      const nc = await connect({ servers: cluster.urls, timeout: 5000 });
      try {
        const si = await (await jetstreamManager(nc)).streams.info(storeNames(prefix).stream.sessions);
        assert.equal(si.config.num_replicas, 3);
        assert.equal(si.cluster?.replicas?.length, 2, 'the bucket has two replicas besides its leader');
      } finally {
        await nc.close();
      }

      cluster.servers[0].kill();
      await cluster.servers[0].exited();
      const rest = cluster.urls.slice(1);
      // Stream leaders on the lost server are re-elected within seconds; retry open() meanwhile.
      const b = new NatsStore({ servers: rest, prefix, timeoutMs: 3000 });
      let snap: StoreSnapshot | undefined;
      let lastErr: unknown;
      const deadline = Date.now() + 60_000;
      while (!snap && Date.now() < deadline) {
        try {
          snap = await b.open();
        } catch (err) {
          lastErr = err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      assert.ok(snap, `open() on the two remaining servers: ${String(lastErr)} ${String((lastErr as Error)?.cause instanceof Error ? ((lastErr as Error).cause as Error).stack : '')}`);
      assert.deepEqual(canonical(snap), await expected(first, second), 'every batch is still there');
      await b.apply([putSession('after-loss')]);
      assert.deepEqual(canonical(await b.open()), await expected(first, second, [putSession('after-loss')]), 'and the store still takes writes');
      await b.close();
    } finally {
      await cluster.stop();
    }
  });
});
