// `starling backup` while a broker runs in its own process and keeps publishing retained and
// persistent (queued QoS 1) messages; `starling restore` refused while that broker holds the store;
// then a broker started on the restored copy has the data. Also what a downgrade prints: the
// database is newer than the code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cli } from './run.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, connectWithInbox, endClient } from '../helpers/mqttjs.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { describeRun, run } from '../helpers/cli-clients.js';
import { compiledRoot } from '../helpers/paths.js';

describe('starling backup / restore', () => {
  let dir: string;
  let broker: BrokerProcess | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-backup-'));
  });
  after(async () => {
    await broker?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const flags = (dataDir: string): Record<string, string> => ({ mqttListeners: 'mqtt://127.0.0.1:0', persistence: 'sqlite', dataDir });

  it('backs up a running broker that keeps writing, and a broker on the restored copy has the data', async () => {
    const live = join(dir, 'live');
    broker = await startBrokerProcess(flags(live));
    const url = `mqtt://127.0.0.1:${broker.port()}`;
    // A persistent session that is offline: QoS 1 messages for it are queued in the store.
    const offline = await connectClient(url, { clientId: 'keeper', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await offline.subscribeAsync('kept/#', { qos: 1 });
    await endClient(offline);
    const pub = await connectClient(url, { protocolVersion: 5 });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`kept/${i}`, `before ${i}`, { qos: 1, retain: true });
    // Keep the broker writing during the backup (bounded: stops when the backup is done or after 2000 messages).
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 2000; i++) await pub.publishAsync(`busy/${i % 20}`, `during ${i}`, { qos: 1, retain: true });
    })();
    const out = join(dir, 'backup.db');
    const b = await cli(['backup', '--data-dir', live, '--mqtt-listeners', 'mqtt://127.0.0.1:0', out]);
    writing = false;
    await writer;
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, new RegExp(`^backed up .*starling\\.db to .*backup\\.db \\(schema version ${SCHEMA_VERSION}: \\d+ sessions, \\d+ retained messages, \\d+ queued messages\\)\\n$`));
    assert.ok(Number(/(\d+) retained/.exec(b.out)![1]) >= 50, b.out);
    assert.ok(Number(/(\d+) queued/.exec(b.out)![1]) >= 50, b.out);

    // Restoring over the live store is refused while the broker holds it; nothing is changed.
    const refused = await cli(['restore', '--data-dir', live, out]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /starling restore: .*starling\.db is in use: stop the broker/);
    const again = await cli(['backup', '--data-dir', live, out]);
    assert.equal(again.code, 1);
    assert.match(again.err, /already exists/);
    await endClient(pub);
    await broker.kill();
    broker = undefined;

    // Restore into a fresh data directory and start a broker there.
    const restored = join(dir, 'restored');
    const r = await cli(['restore', '--data-dir', restored, out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^restored .*backup\.db to .*restored\/starling\.db \(schema version \d+/);
    broker = await startBrokerProcess(flags(restored));
    const url2 = `mqtt://127.0.0.1:${broker.port()}`;
    const { client: keeper, inbox } = await connectWithInbox(url2, { clientId: 'keeper', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    const queued = await inbox.waitFor(50, 15_000);
    assert.deepEqual(
      queued.slice(0, 50).map((m) => m.payload.toString()),
      Array.from({ length: 50 }, (_, i) => `before ${i}`),
    );
    await endClient(keeper);
    const { client: reader, inbox: retained } = await connectWithInbox(url2, { protocolVersion: 5 });
    await reader.subscribeAsync('kept/#');
    const got = await retained.waitFor(50, 15_000);
    assert.equal(new Set(got.map((m) => m.topic)).size, 50);
    await endClient(reader);
    await broker.kill();
    broker = undefined;
  });

  it('--help lists the flags that pick the database; every flag of start is still accepted', async () => {
    for (const command of ['backup', 'restore']) {
      const help = await cli([command, '--help']);
      assert.match(help.out, /--data-dir <value>/);
      assert.match(help.out, /--persistence <value>/);
      assert.doesNotMatch(help.out, /--mqtt-listeners/, `${command} --help lists broker flags that do not matter to it`);
      assert.match(help.out, /Every flag of `starling start` is accepted too/);
    }
    const withStartFlags = await cli(['backup', '--data-dir', join(dir, 'nothing'), '--mqtt-listeners', 'mqtt://127.0.0.1:0', '--max-connections', '5', join(dir, 'z.db')]);
    assert.equal(withStartFlags.code, 1);
    assert.match(withStartFlags.err, /no such store/, 'the start flags were accepted and the store looked for');
  });

  it('refuses a backup of a store that does not exist, and of persistence=memory', async () => {
    const none = await cli(['backup', '--data-dir', join(dir, 'nothing'), join(dir, 'x.db')]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no such store/);
    const memory = await cli(['backup', '--persistence', 'memory', join(dir, 'y.db')]);
    assert.equal(memory.code, 1);
    assert.match(memory.err, /persistence=memory: there is no SQLite store/);
  });

  it('a downgrade is refused: start on a database newer than the code says so and exits 1', async () => {
    const data = join(dir, 'newer');
    broker = await startBrokerProcess(flags(data));
    await broker.kill('SIGTERM');
    broker = undefined;
    const db = new Database(join(data, 'starling.db'));
    db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db.close();
    // The real command in its own process, as an operator runs it after installing an older version.
    const r = await run(process.execPath, [join(compiledRoot, 'test/helpers/run-cli.js'), 'start', '--data-dir', data, '--mqtt-listeners', 'mqtt://127.0.0.1:0', '--log-level', 'silent'], 30_000);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, new RegExp(`store .*starling\\.db: schema version ${SCHEMA_VERSION + 1} is newer than this Starling understands \\(${SCHEMA_VERSION}\\); upgrade Starling`));
    const restore = await cli(['restore', '--data-dir', join(dir, 'other'), join(data, 'starling.db')]);
    assert.equal(restore.code, 1);
    assert.match(restore.err, /is newer than this Starling understands/);
  });
});

