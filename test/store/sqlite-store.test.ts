// SqliteStore: the shared contract on real files, plus what only a file-backed store has —
// refusing damaged files, schema versions, one broker per file, and surviving SIGKILL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { canonical, storeContract } from './contract.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import type { StoreOp } from '../../src/store/ports.js';
import { loadConfig } from '../../src/config/load.js';
import { openStore } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { queueBatch } from './queue-batches.js';
import { killAfterAcks } from './kill-child.js';

let root = '';
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'starling-sqlite-'));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});
let counter = 0;
const freshPath = (): string => path.join(root, `s${++counter}`, 'store.db');

storeContract('SqliteStore', async () => {
  const file = freshPath();
  let store = new SqliteStore({ path: file });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new SqliteStore({ path: file });
      return store;
    },
    cleanup: async () => {
      await store.close();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    },
  };
});

const someOps: StoreOp[] = [
  { op: 'session.put', session: { clientId: 'c', protocolVersion: 5, expiryInterval: 60 } },
  { op: 'message.put', message: { id: 'm', topic: 'a', payload: Buffer.from('x'.repeat(5000)), qos: 1, retain: false, createdAt: 1 } },
  { op: 'queue.put', clientId: 'c', entry: { seq: 1, messageId: 'm', qos: 1, retain: false, state: 'queued' } },
];

describe('SqliteStore files', () => {
  it('refuses a file of garbage bytes, naming the file and the problem', async () => {
    const file = freshPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const garbage = Buffer.alloc(8192);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    fs.writeFileSync(file, garbage);
    const store = new SqliteStore({ path: file });
    await assert.rejects(store.open(), (err: Error) => {
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /not a SQLite database/);
      return true;
    });
    assert.deepEqual(fs.readFileSync(file), garbage, 'the file is left as it was');
  });

  it('refuses a store whose pages were damaged', async () => {
    const file = freshPath();
    const store = new SqliteStore({ path: file });
    await store.open();
    const many: StoreOp[] = [...someOps];
    for (let i = 2; i < 200; i++) many.push({ op: 'queue.put', clientId: 'c', entry: { seq: i, messageId: 'm', qos: 1, retain: false, state: 'queued' } });
    await store.apply(many);
    await store.close();
    const fd = fs.openSync(file, 'r+');
    const pageSize = 4096;
    const size = fs.fstatSync(fd).size;
    assert.ok(size >= 3 * pageSize, `file has pages to damage (${size} bytes)`);
    fs.writeSync(fd, Buffer.alloc(size - 2 * pageSize, 0x5a), 0, size - 2 * pageSize, 2 * pageSize);
    fs.closeSync(fd);
    await assert.rejects(new SqliteStore({ path: file }).open(), (err: Error) => {
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /corrupt|malformed/i);
      return true;
    });
  });

  it('refuses a path it cannot open as a file', async () => {
    const dir = path.join(root, 'a-directory');
    fs.mkdirSync(dir, { recursive: true });
    await assert.rejects(new SqliteStore({ path: dir }).open(), (err: Error) => err.message.includes(dir) && /cannot be opened/.test(err.message));
  });

  it('refuses a SQLite file that is not a Starling store, and a newer schema', async () => {
    const foreign = freshPath();
    fs.mkdirSync(path.dirname(foreign), { recursive: true });
    const db = new Database(foreign);
    db.exec('CREATE TABLE notes (x TEXT)');
    db.close();
    await assert.rejects(new SqliteStore({ path: foreign }).open(), (err: Error) => err.message.includes(foreign) && /not a Starling store/.test(err.message));

    const newer = freshPath();
    const s = new SqliteStore({ path: newer });
    await s.open();
    await s.close();
    const db2 = new Database(newer);
    assert.equal(db2.prepare('SELECT version FROM schema_version').pluck().get(), SCHEMA_VERSION, 'a new store records the current schema version');
    db2.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db2.close();
    await assert.rejects(new SqliteStore({ path: newer }).open(), (err: Error) => err.message.includes(newer) && /newer than this Starling/.test(err.message));
  });

  it('lets only one store hold the file at a time', async () => {
    const file = freshPath();
    const first = new SqliteStore({ path: file });
    await first.open();
    try {
      await assert.rejects(new SqliteStore({ path: file }).open(), (err: Error) => err.message.includes(file) && /in use by another process/.test(err.message));
    } finally {
      await first.close();
    }
    const second = new SqliteStore({ path: file });
    await second.open();
    await second.close();
  });

  it('commits with synchronous=NORMAL by default, FULL with persistenceSync=full', async () => {
    for (const [sync, expected] of [[undefined, 'normal'], ['normal', 'normal'], ['full', 'full']] as const) {
      const dataDir = path.dirname(freshPath());
      // Through the config, as `starling start` builds it: the key reaches the connection.
      const config = loadConfig({ env: {}, flags: { persistence: 'sqlite', dataDir, ...(sync ? { persistenceSync: sync } : {}) } });
      const store = openStore(config);
      assert.ok(store instanceof SqliteStore);
      await store.open();
      try {
        assert.equal(store.synchronousMode, expected, `persistenceSync=${sync ?? '(default)'}`);
        await store.apply(someOps);
      } finally {
        await store.close();
      }
    }
  });

  it('keeps every acknowledged batch when the process is killed with SIGKILL', async () => {
    const file = freshPath();
    const storeModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/store/sqlite/sqlite-store.js');
    // The child acknowledges each batch on stdout only after apply() resolved, like a PUBACK.
    const child = `
      const { SqliteStore } = await import(${JSON.stringify(storeModule)});
      const store = new SqliteStore({ path: ${JSON.stringify(file)} });
      await store.open();
      await store.apply([{ op: 'session.put', session: { clientId: 'c', protocolVersion: 5, expiryInterval: 60 } }]);
      for (let i = 1; i <= 100000; i++) {
        await store.apply([{ op: 'inbound.put', clientId: 'c', packetId: (i % 65535) + 1 }, { op: 'retained.put', message: { id: 'm' + i, topic: 't/' + i, payload: Buffer.alloc(100, i & 0xff), qos: 1, retain: true, createdAt: i } }]);
        process.stdout.write(i + '\\n');
      }
    `;
    const lastAcked = await killAfterAcks(child, 200, 30_000);
    assert.ok(lastAcked >= 200);
    const store = new SqliteStore({ path: file });
    try {
      const snap = await store.open();
      const topics = new Set(snap.retained.map((m) => m.topic));
      for (let i = 1; i <= lastAcked; i++) assert.ok(topics.has(`t/${i}`), `acknowledged batch ${i} survived the kill`);
      assert.equal(snap.sessions[0].session.clientId, 'c');
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged queue batch, packs being rewritten, when the process is killed with SIGKILL', async () => {
    const file = freshPath();
    const here = path.dirname(fileURLToPath(import.meta.url));
    const storeModule = path.resolve(here, '../../src/store/sqlite/sqlite-store.js');
    const batchModule = path.resolve(here, 'queue-batches.js');
    // packCompactMin 0: body and entry packs are rewritten as soon as they are sparse enough, so kills land in rewrites too.
    const child = `
      const { SqliteStore } = await import(${JSON.stringify(storeModule)});
      const { queueBatch } = await import(${JSON.stringify(batchModule)});
      const store = new SqliteStore({ path: ${JSON.stringify(file)}, packCompactMin: 0 });
      await store.open();
      for (let i = 0; i <= 100000; i++) {
        await store.apply(queueBatch(i));
        process.stdout.write(i + '\\n');
      }
    `;
    const lastAcked = await killAfterAcks(child, 1500);
    const store = new SqliteStore({ path: file });
    const memory = new MemoryStore();
    try {
      const snap = canonical(await store.open());
      await memory.open();
      for (let i = 0; i <= lastAcked; i++) await memory.apply(queueBatch(i));
      const afterAcked = canonical(await memory.open());
      if (JSON.stringify(snap) === JSON.stringify(afterAcked)) return;
      // The batch under way at the kill may have committed before its acknowledgement was written.
      await memory.apply(queueBatch(lastAcked + 1));
      assert.deepEqual(snap, canonical(await memory.open()), `the store holds batches 0..${lastAcked} (or one more), nothing else`);
    } finally {
      await store.close();
      await memory.close();
    }
  });
});
