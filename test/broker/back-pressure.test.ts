// queueOverflowPolicy with a real broker, real sockets and MQTT.js: an online QoS 1 subscriber that
// stops reading (its socket paused) behind a publisher with 2,000 messages in flight. backPressure
// (the default) holds the publisher and loses nothing it acknowledged; dropOldest drops, counts
// and logs once; a publisher to another topic is not held; a hold is bounded by
// backPressureTimeoutSec, after which the stuck subscriber's oldest messages are dropped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, connectWithInbox, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';
import { captureLog } from '../transport/helpers.js';
import { scrape } from '../helpers/metrics.js';
import { sampleValue } from '../observe/helpers.js';

const COUNT = 2000;

/** A subscriber of `topic` at QoS 1 whose socket is paused: it reads nothing, so it sends no PUBACK. */
async function pausedSubscriber(t: TestServer, clientId: string, topic: string): Promise<{ client: MqttClient; inbox: Inbox }> {
  const { client, inbox } = await connectWithInbox(t.url(), { clientId, protocolVersion: 4 });
  await client.subscribeAsync(topic, { qos: 1 });
  client.stream.pause();
  return { client, inbox };
}

/** Publishes COUNT QoS 1 messages without waiting between them; counts the PUBACKs as they come. */
function flood(client: MqttClient, topic: string): { acked: () => number; all: Promise<unknown> } {
  let acked = 0;
  const all = Promise.all(
    Array.from({ length: COUNT }, (_, i) =>
      client.publishAsync(topic, String(i), { qos: 1 }).then(() => {
        acked++;
      }),
    ),
  );
  return { acked: () => acked, all };
}

const totalDrops = (t: TestServer): number => Object.values(t.server.broker.stats.drops).reduce((a, b) => a + b, 0);

describe('queue overflow: slow QoS 1 subscriber behind a fast publisher', () => {
  it('backPressure (the default) holds the publisher, not an unrelated one, and loses no acknowledged message', async () => {
    // The timeout is raised only so that a loaded machine cannot turn the hold into drops.
    const { log, lines } = captureLog();
    const t = await startTestServer({ backPressureTimeoutSec: '120', sysIntervalSec: '0' }, {}, log);
    try {
      const { client: sub, inbox } = await pausedSubscriber(t, 'bp-slow', 'bp/slow');
      const pub = await connectClient(t.url(), { clientId: 'bp-pub', protocolVersion: 4 });
      const f = flood(pub, 'bp/slow');
      const session = t.server.broker.sessions.get('bp-slow')!;
      // 100 in flight (maxInflightMessages) and 1,000 queued (maxQueuedMessages), then the publisher waits.
      await waitUntil(() => session.queuedCount >= 1000, 'the queue to fill', 30_000);
      await sleep(300);
      assert.ok(f.acked() <= 1100, `PUBACKs held back: ${f.acked()} of ${COUNT}`);
      assert.ok(session.queuedCount <= 1001, `the queue goes over its limit by at most one message per held publisher (${session.queuedCount})`);

      // Meanwhile another publisher, to a topic whose subscriber reads, is acknowledged and delivered.
      const { client: other, inbox: otherInbox } = await connectWithInbox(t.url(), { clientId: 'bp-other-sub' });
      await other.subscribeAsync('bp/other', { qos: 1 });
      const pub2 = await connectClient(t.url(), { clientId: 'bp-pub2' });
      await pub2.publishAsync('bp/other', 'unrelated', { qos: 1 });
      await otherInbox.waitFor(1, 10_000);
      assert.ok(f.acked() <= 1100, 'the first publisher is still held');

      sub.stream.resume();
      await inbox.waitFor(COUNT, 60_000);
      await f.all;
      assert.deepEqual(
        inbox.messages.map((m) => Number(m.payload.toString())),
        Array.from({ length: COUNT }, (_, i) => i),
        'every message, once, in order',
      );
      assert.equal(totalDrops(t), 0, 'nothing dropped');
      assert.equal(lines.filter((l) => l.msg.startsWith('queue full')).length, 0, 'no drop logged');
      await Promise.all([endClient(sub), endClient(pub), endClient(other), endClient(pub2)]);
    } finally {
      await t.close();
    }
  });

  it('dropOldest acknowledges everything, drops the oldest queued, counts them as queueFull and logs once', async () => {
    const { log, lines } = captureLog();
    const t = await startTestServer({ queueOverflowPolicy: 'dropOldest', sysIntervalSec: '0' }, {}, log);
    try {
      const { client: sub, inbox } = await pausedSubscriber(t, 'do-slow', 'do/slow');
      const pub = await connectClient(t.url(), { clientId: 'do-pub', protocolVersion: 4 });
      const f = flood(pub, 'do/slow');
      await f.all;
      // 100 went out before the window filled; of the rest, the newest 1,000 are queued.
      const drops = t.server.broker.stats.drops;
      assert.equal(drops.queueFull, COUNT - 1100);
      sub.stream.resume();
      await inbox.waitFor(1100, 60_000);
      await sleep(200);
      const got = inbox.messages.map((m) => Number(m.payload.toString()));
      assert.deepEqual(got, [...Array.from({ length: 100 }, (_, i) => i), ...Array.from({ length: 1000 }, (_, i) => 1000 + i)]);
      assert.equal(got.length + drops.queueFull, COUNT, 'every message either delivered or counted');
      const logged = lines.filter((l) => l.msg.startsWith('queue full'));
      assert.equal(logged.length, 1, 'the first drop is logged, the next 899 are not');
      assert.equal(logged[0].level, 40, 'at warn');
      assert.equal(logged[0].clientId, 'do-slow');
      assert.equal(logged[0].reason, 'queueFull');
      // In /metrics, by reason, as an operator reads it.
      const metrics = await scrape(t);
      assert.equal(sampleValue(metrics, 'starling_messages_dropped_total', { reason: 'queueFull' }), COUNT - 1100);
      assert.equal(sampleValue(metrics, 'starling_messages_dropped_total', { reason: 'backPressureTimeout' }), 0);
      await Promise.all([endClient(sub), endClient(pub)]);
    } finally {
      await t.close();
    }
  });

  it('a hold lasts at most backPressureTimeoutSec: then the stuck subscriber drops its oldest (backPressureTimeout), logged once', async () => {
    const { log, lines } = captureLog();
    const t = await startTestServer({ backPressureTimeoutSec: '1', sysIntervalSec: '0' }, {}, log);
    try {
      const { client: sub } = await pausedSubscriber(t, 'to-slow', 'to/slow');
      const pub = await connectClient(t.url(), { clientId: 'to-pub', protocolVersion: 4 });
      const f = flood(pub, 'to/slow');
      // Released after about a second; every publish is then acknowledged although nothing is read.
      await Promise.race([f.all, sleep(60_000).then(() => assert.fail(`publisher still held: ${f.acked()} acknowledged`))]);
      const session = t.server.broker.sessions.get('to-slow')!;
      const drops = t.server.broker.stats.drops;
      assert.equal(drops.backPressureTimeout, COUNT - 1100, 'what did not fit is dropped, counted under its own reason');
      assert.equal(drops.queueFull + drops.queueRefused, 0);
      assert.equal(session.queuedCount, 1000, 'the queue is back within its limit');
      assert.equal(lines.filter((l) => l.msg.startsWith('queue full')).length, 1, 'logged once');
      await Promise.all([endClient(sub, true), endClient(pub)]);
    } finally {
      await t.close();
    }
  });

  it('a client publishing to its own full queue is not held by itself (its PUBACKs are behind the PUBLISH): it drops the oldest', async () => {
    const t = await startTestServer({ maxQueuedMessages: '10', maxInflightMessages: '5', backPressureTimeoutSec: '120', sysIntervalSec: '0' });
    try {
      const { client, inbox } = await connectWithInbox(t.url(), { clientId: 'self', protocolVersion: 4 });
      await client.subscribeAsync('self/t', { qos: 1 });
      const f = flood(client, 'self/t');
      await Promise.race([f.all, sleep(60_000).then(() => assert.fail(`held by its own queue: ${f.acked()} acknowledged`))]);
      const drops = t.server.broker.stats.drops;
      await waitUntil(() => inbox.messages.length + drops.queueFull === COUNT, 'every message delivered or counted', 30_000);
      assert.ok(drops.queueFull > 0, 'its own queue overflowed by dropping the oldest');
      assert.equal(drops.backPressureTimeout, 0);
      await endClient(client);
    } finally {
      await t.close();
    }
  });
});
