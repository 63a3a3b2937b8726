// The broker-wide session budgets with a real broker, real sockets and MQTT.js: maxSessions refuses
// a CONNECT that would add a session (CONNACK 0x97 for MQTT 5, 0x03 for 3.1.1 [MQTT-3.2.2-7,
// MQTT-3.2.2-5]) while resumption still works; maxQueuedBytesTotal drops QoS 1 messages for an
// offline session (counted as queueBudget in /metrics and $SYS) and holds the publisher of an online
// one until the total has room; and after a restart with SQLite the counts are read back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connackCode, connectClient, connectWithInbox, endClient, sleep, subackCodes, whenConnected } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';
import { scrape, limitHits } from '../helpers/metrics.js';
import { sampleValue } from '../observe/helpers.js';
import { captureLog } from '../transport/helpers.js';
import { WireClient } from '../helpers/wire.js';

/** Leaves a persistent session behind: connects, subscribes at QoS 1 to `filter` if given, disconnects. */
async function leaveSession(t: TestServer, clientId: string, protocolVersion: 4 | 5, filter?: string): Promise<void> {
  const c = await connectClient(t.url(), { clientId, protocolVersion, clean: false, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) });
  if (filter) await c.subscribeAsync(filter, { qos: 1 });
  await endClient(c);
}

/** Connects and returns the CONNACK's Session Present with the client. */
async function connackOf(t: TestServer, options: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const client = mqtt.connect(t.url(), { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const connack = new Promise<boolean>((resolve) => client.once('connect', (p) => resolve(p.sessionPresent)));
  await whenConnected(client, t.url(), 5000);
  return { client, sessionPresent: await connack };
}

describe('maxSessions over real sockets', () => {
  it('refuses a new session with 0x97 (MQTT 5) and 0x03 (3.1.1), lets a kept session resume, logs at warn once a minute', async () => {
    const { log, lines } = captureLog();
    const t = await startTestServer({ maxSessions: '2', sysIntervalSec: '0' }, {}, log);
    try {
      await leaveSession(t, 'kept-4', 4);
      await leaveSession(t, 'kept-5', 5);
      await waitUntil(() => t.server.broker.clients.size === 0, 'both offline');
      assert.equal(t.server.broker.sessions.size, 2, 'two offline sessions kept');
      // A new client id would be a third session.
      assert.equal(await connackCode(t.url(), { clientId: 'new-5', protocolVersion: 5 }), 0x97);
      assert.equal(await connackCode(t.url(), { clientId: 'new-4', protocolVersion: 4 }), 3);
      assert.equal(await connackCode(t.url(), { clientId: 'new-4c', protocolVersion: 4, clean: true }), 3, 'a clean session is a session too');
      assert.equal(t.server.broker.sessions.size, 2, 'nothing was created');
      // The kept sessions resume (Session Present 1), and a connected one can be taken over.
      const resumed = await connackOf(t, { clientId: 'kept-5', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(resumed.sessionPresent, true, 'kept-5 resumed');
      const resumed4 = await connackOf(t, { clientId: 'kept-4', protocolVersion: 4, clean: false });
      assert.equal(resumed4.sessionPresent, true, 'kept-4 resumed');
      const takeover = await connectClient(t.url(), { clientId: 'kept-5', protocolVersion: 5, clean: true });
      assert.equal(takeover.connected, true, 'a takeover is never refused');
      const p = await scrape(t);
      assert.equal(sampleValue(p, 'starling_limit_hits_total', { limit: 'maxSessions' }), 3);
      assert.equal(sampleValue(p, 'starling_sessions', { state: 'online' }) + sampleValue(p, 'starling_sessions', { state: 'offline' }), 2);
      const warned = lines.filter((l) => l.msg.startsWith('maxSessions reached'));
      assert.equal(warned.length, 1, 'one warn line for three refusals within a minute');
      await Promise.all([endClient(resumed.client, true), endClient(resumed4.client, true), endClient(takeover, true)]);
    } finally {
      await t.close();
    }
  });
});

describe('maxQueuedBytesTotal over real sockets', () => {
  it('drops QoS 1 messages for an offline session once the total is full (queueBudget in /metrics and $SYS), logged once', async () => {
    const { log, lines } = captureLog();
    // 100-byte payloads on a 5-byte topic: 105 bytes each; the budget takes 10.
    const t = await startTestServer({ maxQueuedBytesTotal: '1050', sysIntervalSec: '1' }, {}, log);
    try {
      await leaveSession(t, 'sleeper', 5, 'q/#');
      const pub = await connectClient(t.url(), { clientId: 'q-pub', protocolVersion: 5 });
      for (let i = 0; i < 25; i++) await pub.publishAsync('q/abc', Buffer.alloc(100, i), { qos: 1 });
      const session = t.server.broker.sessions.get('sleeper')!;
      assert.equal(session.queuedCount, 10, 'ten fit in the budget');
      const p = await scrape(t);
      assert.equal(sampleValue(p, 'starling_messages_dropped_total', { reason: 'queueBudget' }), 15);
      assert.equal(sampleValue(p, 'starling_queued_bytes'), 1050);
      assert.equal(lines.filter((l) => l.msg.startsWith('queue full') && (l as { reason?: string }).reason === 'queueBudget').length, 1, 'the first drop for the session logged, once');
      // $SYS says the same.
      const { client: sys, inbox } = await connectWithInbox(t.url(), { clientId: 'q-sys' });
      await sys.subscribeAsync(['$SYS/broker/messages/queued/bytes', '$SYS/broker/publish/messages/dropped/queueBudget']);
      await waitUntil(() => new Set(inbox.messages.map((m) => m.topic)).size === 2, '$SYS topics', 10_000);
      const value = (topic: string): string => inbox.messages.filter((m) => m.topic === topic).at(-1)!.payload.toString();
      assert.equal(value('$SYS/broker/messages/queued/bytes'), '1050');
      assert.equal(value('$SYS/broker/publish/messages/dropped/queueBudget'), '15');
      // The sleeper comes back: it is sent what was kept, and the budget empties as it acknowledges.
      const { client: back, inbox: backInbox } = await connectWithInbox(t.url(), { clientId: 'sleeper', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      await backInbox.waitFor(10, 10_000);
      await waitUntil(() => t.server.broker.queuedBytes() === 0, 'the budget to empty', 10_000);
      await Promise.all([endClient(pub), endClient(sys), endClient(back)]);
    } finally {
      await t.close();
    }
  });

  it('holds the publisher to an online session (backPressure) while the total is full, and acknowledges it once there is room', async () => {
    const t = await startTestServer({ maxQueuedBytesTotal: '1050', backPressureTimeoutSec: '120', sysIntervalSec: '0' });
    try {
      // An offline session fills the budget.
      await leaveSession(t, 'hog', 5, 'fill/#');
      const pub = await connectClient(t.url(), { clientId: 'f-pub', protocolVersion: 5 });
      for (let i = 0; i < 10; i++) await pub.publishAsync('fill/', Buffer.alloc(100, i), { qos: 1 });
      assert.equal(t.server.broker.queuedBytes(), 1050);
      // An online subscriber reading another topic: its publisher is held, nothing is dropped.
      const { client: reader, inbox } = await connectWithInbox(t.url(), { clientId: 'reader', protocolVersion: 5 });
      await reader.subscribeAsync('live/#', { qos: 1 });
      // It reads no more (its socket paused), so its message stays in flight, over the budget.
      reader.stream.pause();
      let acked = false;
      const held = pub.publishAsync('live/x', 'hello', { qos: 1 }).then(() => (acked = true));
      await waitUntil(() => t.server.broker.queuedBytes() > 1050, 'the message taken beyond the budget', 10_000);
      await sleep(300);
      assert.equal(acked, false, 'PUBACK held while the total is over the budget');
      assert.equal(t.server.broker.stats.drops.queueBudget, 0, 'nothing dropped for an online session');
      // The offline session resumes and acknowledges its ten: room again, the publisher goes on.
      const { client: hog, inbox: hogInbox } = await connectWithInbox(t.url(), { clientId: 'hog', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      await hogInbox.waitFor(10, 10_000);
      await held;
      assert.equal(acked, true);
      reader.stream.resume();
      await inbox.waitFor(1, 10_000);
      await Promise.all([endClient(pub), endClient(reader), endClient(hog)]);
    } finally {
      await t.close();
    }
  });
});

describe('session budgets after a restart with SQLite', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-session-budgets-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the sessions and their queued bytes back: the counts match and maxSessions still holds', async () => {
    const config = { persistence: 'sqlite', dataDir: dir, maxSessions: '4', maxQueuedBytesTotal: '100000', sysIntervalSec: '0' };
    let t = await startTestServer(config);
    let before: { sessions: number; bytes: number };
    try {
      await leaveSession(t, 'r1', 5, 'r/#');
      await leaveSession(t, 'r2', 4, 'r/#');
      await leaveSession(t, 'r3', 5);
      const pub = await connectClient(t.url(), { clientId: 'r-pub', protocolVersion: 5, clean: true });
      assert.equal(await connackCode(t.url(), { clientId: 'r4', protocolVersion: 5 }), 0x97, 'r-pub is the fourth: r4 would be a fifth');
      for (let i = 0; i < 7; i++) await pub.publishAsync('r/t', Buffer.alloc(50 + i, i), { qos: 1 });
      await endClient(pub);
      await waitUntil(() => t.server.broker.sessions.size === 3, 'the clean session gone');
      before = { sessions: t.server.broker.sessions.size, bytes: t.server.broker.queuedBytes() };
      assert.equal(before.bytes, 2 * Array.from({ length: 7 }, (_, i) => 3 + 50 + i).reduce((a, b) => a + b, 0), 'two sessions hold seven messages each');
    } finally {
      await t.close();
    }
    t = await startTestServer(config);
    try {
      assert.equal(t.server.broker.sessions.size, before.sessions, 'sessions read back');
      assert.equal(t.server.broker.queuedBytes(), before.bytes, 'queued bytes read back');
      const p = await scrape(t);
      assert.equal(sampleValue(p, 'starling_queued_bytes'), before.bytes);
      // Three read back and one connected make four: a fifth is refused.
      const fourth = await connectClient(t.url(), { clientId: 'r-pub2', protocolVersion: 5 });
      assert.equal(await connackCode(t.url(), { clientId: 'r5', protocolVersion: 4 }), 3, 'the restored sessions count against maxSessions');
      await endClient(fourth);
      assert.equal(await limitHits(t, 'maxSessions'), 1);
      // Resumed and acknowledged, the restored entries leave the total.
      const { client, inbox } = await connectWithInbox(t.url(), { clientId: 'r1', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      await inbox.waitFor(7, 10_000);
      await waitUntil(() => t.server.broker.queuedBytes() === before.bytes / 2, 'r1\'s entries gone from the total', 10_000);
      await endClient(client);
    } finally {
      await t.close();
    }
  });
});

describe('maxSessionBytesTotal over real sockets', () => {
  it('refuses a filter, a will or a new client id that would take all sessions past it (0x97 / 0x80 / 0x03), keeps what is held, and has room again once filters go', async () => {
    const { log, lines } = captureLog();
    // 3,100 bytes: 'owner' (5) + three 1,000-character filters fit; a fourth does not.
    const t = await startTestServer({ maxSessionBytesTotal: '3100', sysIntervalSec: '0' }, {}, log);
    const filter = (i: number): string => `f${i}/`.padEnd(1000, 'x');
    try {
      const owner = await connectClient(t.url(), { clientId: 'owner', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      const granted = await owner.subscribeAsync([filter(1), filter(2), filter(3)], { qos: 1 });
      assert.deepEqual(granted.map((g) => g.qos), [1, 1, 1]);
      assert.equal(t.server.broker.sessionStateBytes(), 5 + 3000);
      // 3,005 held: a 95-character filter fits exactly, one more character does not.
      const [exact] = await owner.subscribeAsync(filter(4).slice(0, 95), { qos: 0 });
      assert.equal(exact.qos, 0, 'a filter that brings the total to exactly the budget is granted');
      assert.deepEqual(await subackCodes(owner, ['g']), [0x97], 'MQTT 5: Quota exceeded');
      // Subscribing again to a filter already held adds nothing, so it is granted.
      const [again] = await owner.subscribeAsync(filter(1), { qos: 0 });
      assert.equal(again.qos, 0);
      await endClient(owner);
      // Offline, the session keeps what it holds, and it still counts.
      assert.equal(t.server.broker.sessionStateBytes(), 3100);
      // A new session (its client id) does not fit: MQTT 5 0x97, 3.1.1 return code 3.
      assert.equal(await connackCode(t.url(), { clientId: 'n5', protocolVersion: 5 }), 0x97);
      assert.equal(await connackCode(t.url(), { clientId: 'n4', protocolVersion: 4 }), 3);
      // The owner resumes (its client id is held already) and lets two filters go.
      const back = await connectClient(t.url(), { clientId: 'owner', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      await back.unsubscribeAsync([filter(1), filter(2)]);
      assert.equal(t.server.broker.sessionStateBytes(), 1100);
      // Room again: a 3.1.1 client whose will and id fit gets in; its filter past the budget gets 0x80.
      const will = { topic: 'w', payload: Buffer.alloc(900), qos: 0 as const, retain: false };
      const old = await connectClient(t.url(), { clientId: 'old', protocolVersion: 4, will });
      assert.equal(t.server.broker.sessionStateBytes(), 1100 + 3 + 901);
      assert.deepEqual(await subackCodes(old, [filter(9).padEnd(1200, 'y')]), [0x80], 'MQTT 3.1.1 has one failure code (2,004 held + 1,200 > 3,100)');
      // A will that does not fit refuses the CONNECT before anything is taken over.
      assert.equal(await connackCode(t.url(), { clientId: 'willing', protocolVersion: 5, will: { topic: 'w', payload: Buffer.alloc(2000), qos: 0, retain: false } }), 0x97);
      await Promise.all([endClient(back, true), endClient(old, true)]);
      const p = await scrape(t);
      assert.equal(sampleValue(p, 'starling_limit_hits_total', { limit: 'maxSessionBytesTotal' }), 5);
      assert.equal(sampleValue(p, 'starling_session_state_bytes'), t.server.broker.sessionStateBytes());
      const warned = lines.filter((l) => l.msg.startsWith('maxSessionBytesTotal reached'));
      assert.equal(warned.length, 1, 'one warn line for the refused CONNECTs within a minute');
    } finally {
      await t.close();
    }
  });
});

describe('maxSessionBytesTotal: inbound QoS 2 ids awaiting PUBREL', () => {
  it('counts each id (20 bytes) and refuses the QoS 2 PUBLISH past the budget with PUBREC 0x97, taking it again once a PUBREL frees room', async () => {
    // Client id 'q2' (2) and five ids (100) fill 102 bytes exactly.
    const t = await startTestServer({ maxSessionBytesTotal: '102', sysIntervalSec: '0' });
    try {
      const { client: w, connack } = await WireClient.connect(t.port(), { clientId: 'q2', protocolVersion: 5 }, 5);
      assert.equal(connack.reasonCode, 0);
      const publish = (id: number): void => w.send({ cmd: 'publish', topic: 'q/2', payload: Buffer.from('x'), qos: 2, messageId: id, properties: {} });
      for (let id = 1; id <= 5; id++) {
        publish(id);
        const rec = await w.next(5000);
        assert.equal(rec.cmd, 'pubrec');
        assert.ok((rec.reasonCode ?? 0) < 0x80, `id ${id} is held (0x10 No matching subscribers is a success)`);
      }
      assert.equal(t.server.broker.sessionStateBytes(), 102);
      publish(6);
      const refused = await w.next(5000);
      assert.equal(refused.cmd, 'pubrec');
      assert.equal(refused.reasonCode, 0x97, 'past the budget: Quota exceeded, nothing held');
      assert.equal(t.server.broker.sessionStateBytes(), 102);
      // PUBREL for id 1: its room comes back, and id 6 is taken.
      w.send({ cmd: 'pubrel', messageId: 1, properties: {} });
      assert.equal((await w.next(5000)).cmd, 'pubcomp');
      assert.equal(t.server.broker.sessionStateBytes(), 82);
      publish(6);
      const taken = await w.next(5000);
      assert.ok((taken.reasonCode ?? 0) < 0x80);
      assert.equal(t.server.broker.stats.limits.maxSessionBytesTotal, 1);
      w.end();
    } finally {
      await t.close();
    }
  });
});
