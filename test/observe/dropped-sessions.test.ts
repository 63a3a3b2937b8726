// Messages lost because their session ended are counted: a session ended by Clean Start, by its
// Session Expiry Interval, or with its connection takes what it still owed its client with it, and
// /metrics and $SYS say so as `sessionEnded` drops (before 2026-12-08 such losses were counted
// nowhere). A real broker, MQTT.js clients, /metrics scraped over HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { http, parsePrometheus, sampleValue } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';
import { WireClient } from '../helpers/wire.js';

describe('messages lost with their session are counted', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ sysIntervalSec: '0' });
  });
  after(() => t.close());

  const dropped = async (): Promise<number> => {
    const reply = await http(t.port('ws'), '/metrics');
    return sampleValue(parsePrometheus(reply.text), 'starling_messages_dropped_total', { reason: 'sessionEnded' }) ?? 0;
  };
  const sysDropped = (): number => t.server.broker.stats.drops.sessionEnded;

  /** A session of `clientId` left offline with `n` QoS 1 messages queued for it. */
  async function offlineWithQueued(clientId: string, n: number, options: Record<string, unknown>): Promise<void> {
    const sub = await connectClient(t.url(), { clientId, reconnectPeriod: 0, ...options });
    await sub.subscribeAsync(`owed/${clientId}`, { qos: 1 });
    await endClient(sub);
    const pub = await connectClient(t.url(), { reconnectPeriod: 0 });
    for (let i = 0; i < n; i++) await pub.publishAsync(`owed/${clientId}`, `m${i}`, { qos: 1 });
    await endClient(pub);
    await waitUntil(() => t.server.broker.sessions.get(clientId)?.queuedCount === n, `${n} queued for ${clientId}`);
  }

  it('3.1.1: a kept session ended by a Clean Session 1 CONNECT counts its 3 queued messages', async () => {
    const before = await dropped();
    await offlineWithQueued('ends-clean', 3, { clean: false, protocolVersion: 4 });
    const again = await connectClient(t.url(), { clientId: 'ends-clean', clean: true, protocolVersion: 4, reconnectPeriod: 0 });
    await endClient(again);
    assert.equal((await dropped()) - before, 3);
  });

  it('MQTT 5: a session whose Session Expiry Interval ran out counts its 2 queued messages', async () => {
    const before = await dropped();
    await offlineWithQueued('ends-expiry', 2, { clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 1 } });
    await waitUntil(() => t.server.broker.sessions.get('ends-expiry') === undefined, 'the session expired', 5000);
    assert.equal((await dropped()) - before, 2);
    assert.equal(sysDropped(), await dropped(), 'the broker count that $SYS publishes as publish/messages/dropped/sessionEnded reads the same');
  });

  it('a session ending with its connection counts what it still owed, not a QoS 2 delivery whose PUBREC came [MQTT-4.3.3-1]', async () => {
    const before = await dropped();
    const { client: sub, connack } = await WireClient.connect(t.port(), { clientId: 'ends-qos2', clean: true });
    assert.equal(connack.returnCode, 0);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'owed/q2', qos: 2 }] });
    assert.equal((await sub.next()).cmd, 'suback');
    const pub = await connectClient(t.url(), { reconnectPeriod: 0 });
    await pub.publishAsync('owed/q2', 'first', { qos: 2 });
    const first = await sub.next();
    assert.equal(first.cmd, 'publish');
    // PUBREC: the message has reached the client; the broker's PUBREL then waits for a PUBCOMP.
    sub.send({ cmd: 'pubrec', messageId: first.messageId });
    assert.equal((await sub.next()).cmd, 'pubrel');
    // A second one the client never acknowledges.
    await pub.publishAsync('owed/q2', 'second', { qos: 2 });
    assert.equal((await sub.next()).cmd, 'publish');
    await endClient(pub);
    sub.send({ cmd: 'disconnect' });
    assert.ok(await sub.waitClosed(5000));
    await waitUntil(() => t.server.broker.sessions.get('ends-qos2') === undefined, 'the session ended');
    assert.equal((await dropped()) - before, 1, 'the unacknowledged one is lost; the one awaiting PUBCOMP had arrived');
  });

  it('a session resumed elsewhere or kept offline counts nothing', async () => {
    const before = await dropped();
    await offlineWithQueued('kept', 2, { clean: false, protocolVersion: 4 });
    const back = await connectClient(t.url(), { clientId: 'kept', clean: false, protocolVersion: 4, reconnectPeriod: 0 });
    await waitUntil(() => t.server.broker.sessions.get('kept')?.queuedCount === 0 && t.server.broker.sessions.get('kept')?.inflight.size === 0, 'the queue delivered');
    await endClient(back);
    assert.equal((await dropped()) - before, 0);
  });
});
