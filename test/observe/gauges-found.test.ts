// The mismatches between what an operator sees and the truth that the model-based property
// (gauges.test.ts) found, or that reading the code behind it found, each as the smallest sequence
// that shows it: a real broker, MQTT.js, and the figure read as an operator reads it (/metrics,
// $SYS/broker/..., the admin API). Each was fixed in the broker; the fix's comment says why:
// - byte figures counted client ids, filters and queued topics in UTF-16 units, not bytes
//   (session/state-budget.ts textBytes, session/message.ts entryBytes);
// - a session that Clean Start ended came back at the next restart (broker/sessions.ts connect);
// - $SYS retained messages/count and /bytes left out the values their own sample published, so the
//   dashboard's "leave out $SYS" took the whole tree from the clients' count after a start
//   (observe/sys-topics.ts retainedAfter);
// - /metrics kept session totals for 100 ms across scrapes (observe/metrics.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, connectWithInbox, endClient, whenConnected } from '../helpers/mqttjs.js';
import { scrape } from '../helpers/metrics.js';
import { sampleValue } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';
import { admin, ADMIN_TOKEN, SysWatcher } from './gauges/views.js';
import { dataDir } from '../durability/helpers.js';

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A broker on SQLite in a fresh data directory: `first` runs on it, then `second` after a restart on the same directory. */
async function acrossRestart(flags: Record<string, string>, first: (t: TestServer) => Promise<void>, second: (t: TestServer) => Promise<void>): Promise<void> {
  const all = { ...flags, persistence: 'sqlite', dataDir: dataDir() };
  for (const run of [first, second]) {
    const t = await startTestServer(all);
    try {
      await run(t);
    } finally {
      await t.close();
    }
  }
}

describe('byte figures count UTF-8 bytes, as their names and docs/security.md say', () => {
  let t: TestServer;
  let sys: SysWatcher;
  before(async () => {
    t = await startTestServer({ sysIntervalSec: '0', mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0' });
    sys = await SysWatcher.start(t);
  });
  after(async () => {
    await sys.stop();
    await t.close();
  });

  it('starling_session_state_bytes and $SYS sessions/state/bytes: a client id and a filter outside ASCII', async () => {
    // Found as: connect çé v5 … — 'çé' is 2 UTF-16 units and 4 bytes; the figure said 2.
    const before = sampleValue(await scrape(t), 'starling_session_state_bytes');
    const c = await connectClient(t.url(), { clientId: 'çé', protocolVersion: 5 });
    await c.subscribeAsync('tö/+', { qos: 1 });
    const expected = before + utf8('çé') + utf8('tö/+');
    assert.equal(sampleValue(await scrape(t), 'starling_session_state_bytes'), expected, '/metrics');
    await sys.sample();
    assert.equal(sys.values()['sessions/state/bytes'], String(expected), '$SYS');
    await endClient(c);
    await waitUntil(() => t.server.broker.sessions.size === 1, 'the clean session gone');
    assert.equal(sampleValue(await scrape(t), 'starling_session_state_bytes'), before, 'all of it given back when the session ends');
  });

  it('starling_queued_bytes and $SYS messages/queued/bytes: a message queued on a topic outside ASCII', async () => {
    const sleeper = await connectClient(t.url(), { clientId: 'sleeper', protocolVersion: 4, clean: false });
    await sleeper.subscribeAsync('tö/#', { qos: 1 });
    await endClient(sleeper);
    const pub = await connectClient(t.url(), { clientId: 'pub', protocolVersion: 4 });
    await pub.publishAsync('tö/x', Buffer.alloc(10), { qos: 1 });
    const expected = utf8('tö/x') + 10;
    assert.equal(sampleValue(await scrape(t), 'starling_queued_bytes'), expected, '/metrics');
    await sys.sample();
    assert.equal(sys.values()['messages/queued/bytes'], String(expected), '$SYS');
    await endClient(pub);
    // Resumed and acknowledged, the entry leaves the total: what was added is what is taken away.
    const back = await connectClient(t.url(), { clientId: 'sleeper', protocolVersion: 4, clean: false });
    await waitUntil(() => t.server.broker.queuedBytes() === 0, 'the queue drained');
    await endClient(back);
  });
});

describe('a session ended by Clean Start stays ended across a restart (persistence=sqlite)', () => {
  it('starling_sessions, $SYS clients/total and the admin API do not count it again, and CONNACK says no session', async () => {
    // Found as: connect çé v3.1.1 resume … restart … connect çé v3.1.1 clean … restart: one session
    // more than the clients left behind, with the ended session's subscriptions.
    await acrossRestart(
      { sysIntervalSec: '0', httpAdminToken: ADMIN_TOKEN },
      async (t) => {
        const kept = await connectClient(t.url(), { clientId: 'ended', protocolVersion: 4, clean: false });
        await kept.subscribeAsync('a/#', { qos: 1 });
        await endClient(kept);
        // Clean Session 1 ends the kept session [MQTT-3.1.2-6]; this one ends with its connection.
        const clean = await connectClient(t.url(), { clientId: 'ended', protocolVersion: 4, clean: true });
        await endClient(clean);
        await waitUntil(() => t.server.broker.sessions.size === 0, 'no session left');
      },
      async (t) => {
        const p = await scrape(t);
        assert.equal(sampleValue(p, 'starling_sessions', { state: 'offline' }), 0, '/metrics: no offline session');
        assert.equal(sampleValue(p, 'starling_subscriptions'), 0, '/metrics: no subscription');
        const sys = await SysWatcher.start(t);
        assert.equal(sys.values()['clients/disconnected'], '0', '$SYS');
        await sys.stop();
        assert.equal((await admin(t, 'GET', '/api/v1/broker')).json.sessions, 0, 'admin API');
        const back = mqtt.connect(t.url(), { clientId: 'ended', protocolVersion: 4, clean: false, reconnectPeriod: 0 });
        const present = new Promise<boolean>((resolve) => back.once('connect', (c) => resolve(c.sessionPresent)));
        await whenConnected(back, t.url(), 5000);
        assert.equal(await present, false, 'Session Present 0: the session had ended [MQTT-3.2.2-2]');
        await endClient(back);
      },
    );
  });
});

describe('$SYS retained messages/count and /bytes count the tree the sample publishes', () => {
  it('the first sample after a start: equal to /metrics, and the dashboard\'s "leave out $SYS" leaves the clients\' retained messages', async () => {
    // Found as: the property's $SYS figures had to be modelled as the tree of the sample before;
    // the first sample after a start counted none of the tree (66 topics), and the console, which
    // subtracts the $SYS topics it holds, showed max(0, 1 - 66) = 0 retained messages for this one.
    await acrossRestart(
      { sysIntervalSec: '60' },
      async (t) => {
        const c = await connectClient(t.url(), { clientId: 'keeper' });
        await c.publishAsync('kept/topic', 'value', { qos: 1, retain: true });
        await endClient(c);
      },
      // Started again: the one sample of the next minute is taken at start, the retained message read back.
      async (t) => {
        const { client, inbox } = await connectWithInbox(t.url('ws'), { clientId: 'reader' });
        await client.subscribeAsync('$SYS/broker/#');
        await waitUntil(() => inbox.messages.some((m) => m.topic === '$SYS/broker/uptime'), 'the retained $SYS tree');
        const tree = new Map(inbox.messages.map((m) => [m.topic, m.payload.toString()]));
        const p = await scrape(t);
        assert.equal(tree.get('$SYS/broker/retained messages/count'), String(sampleValue(p, 'starling_retained_messages')), 'count as /metrics has it');
        assert.equal(tree.get('$SYS/broker/retained messages/bytes'), String(sampleValue(p, 'starling_retained_bytes')), 'bytes as /metrics has them');
        // What the console's dashboard shows (web/src/sys-feed.ts): the count less the $SYS topics it holds.
        assert.equal(Number(tree.get('$SYS/broker/retained messages/count')) - tree.size, 1, 'the clients\' one retained message');
        await endClient(client);
      },
    );
  });
});

describe('/metrics answers each scrape with the state at that scrape', () => {
  it('a scrape right after another (within 100 ms) shows a subscription made in between', async () => {
    // Found while reading metrics.ts for the property: session totals were kept for 100 ms across
    // scrapes, so a second scraper (or an operator's refresh) right after the first saw the state
    // before; the property's polling hid it. One SUBSCRIBE round trip is a few milliseconds.
    const t = await startTestServer({ sysIntervalSec: '0' });
    try {
      const c = await connectClient(t.url(), { clientId: 'quick', protocolVersion: 5 });
      const before = sampleValue(await scrape(t), 'starling_subscriptions');
      await c.subscribeAsync('quick/#', { qos: 1 });
      assert.equal(sampleValue(await scrape(t), 'starling_subscriptions'), before + 1, 'the second scrape sees the subscription');
      await endClient(c);
    } finally {
      await t.close();
    }
  });
});
