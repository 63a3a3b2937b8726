// The library's hooks (src/api/hooks.ts) against MQTT.js: authenticate, authorizePublish,
// authorizeSubscribe, the publish interceptor and the notifications; a hook that throws, rejects or
// times out refuses only its operation (0x83) and is logged; unset hooks leave the paths untouched.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBroker, type Broker, type Hooks, type Message } from '../../src/index.js';
import { brokerHooks } from '../../src/api/hooks.js';
import { allowAll } from '../../src/hooks/hooks.js';
import { connackCode, connectClient, connectWithInbox, endClient, recordPackets, sleep, subackCodes } from '../helpers/mqttjs.js';
import { captureLog } from '../auth/helpers.js';
import { silentLog } from '../helpers/channel.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const pubackCode = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 0;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
};

async function start(hooks: Hooks, extra: Record<string, unknown> = {}): Promise<{ broker: Broker; url: string; lines: () => Array<Record<string, unknown>> }> {
  const cap = captureLog();
  const broker = await createBroker({ persistence: 'memory', sysIntervalSec: 0, mqttListeners: ['mqtt://127.0.0.1:0'], logger: cap.log, hooks, ...extra });
  const [l] = await broker.listen();
  return { broker, url: `mqtt://127.0.0.1:${l.port}`, lines: cap.lines };
}

describe('authenticate hook', () => {
  const users = new Map([
    ['alice', { password: 'wonderland', banned: false }],
    ['mallory', { password: 'x', banned: true }],
  ]);
  let b: Awaited<ReturnType<typeof start>>;
  before(async () => {
    b = await start(
      {
        async authenticate(client, { username, password }) {
          if (username === 'explode') throw new Error('user table unreachable');
          if (username === 'slow') return new Promise<boolean>(() => {});
          await sleep(5);
          const u = users.get(username ?? '');
          if (!u || password?.toString() !== u.password) return false;
          if (u.banned) return { reasonCode: 0x8a };
          return client.clientId.length > 0;
        },
      },
      { hookTimeoutMs: 300 },
    );
  });
  after(() => b.broker.close());

  it('allows, refuses with 0x86 (3.1.1: 4), or with the hook\'s own reason code', async () => {
    assert.equal(await connackCode(b.url, { clientId: 'a1', username: 'alice', password: 'wonderland', protocolVersion: 5 }), 0);
    assert.equal(await connackCode(b.url, { clientId: 'a2', username: 'alice', password: 'nope', protocolVersion: 5 }), 0x86);
    assert.equal(await connackCode(b.url, { clientId: 'a3', username: 'alice', password: 'nope', protocolVersion: 4 }), 4);
    assert.equal(await connackCode(b.url, { clientId: 'a4', username: 'mallory', password: 'x', protocolVersion: 5 }), 0x8a);
  });

  it('a hook that throws or does not answer in hookTimeoutMs refuses that client with 0x83, is logged, and the broker goes on', async () => {
    assert.equal(await connackCode(b.url, { clientId: 'e1', username: 'explode', password: 'x', protocolVersion: 5 }), 0x83);
    assert.equal(await connackCode(b.url, { clientId: 'e2', username: 'slow', password: 'x', protocolVersion: 5 }), 0x83);
    assert.equal(await connackCode(b.url, { clientId: 'e3', username: 'alice', password: 'wonderland', protocolVersion: 5 }), 0);
    const failures = b.lines().filter((l) => l.hook === 'authenticate');
    assert.equal(failures.length, 2);
    assert.match(String((failures[1].err as { message?: string }).message), /no answer within 300 ms/);
  });
});

describe('authorize hooks and the publish interceptor', () => {
  let b: Awaited<ReturnType<typeof start>>;
  before(async () => {
    b = await start({
      authorizePublish: async (client, m) => {
        if (m.topic === 'boom') throw new Error('policy service down');
        if (m.topic.startsWith('private/')) return { reasonCode: 0x87, reasonString: `${client.clientId} may not write private topics` };
        return m.payload.toString() !== 'forbidden words';
      },
      authorizeSubscribe: (_client, sub) => {
        if (sub.filter === 'secret/#') return false;
        if (sub.filter.startsWith('cheap/')) return { qos: 0 };
        // A promise-like from another library is waited for like a Promise.
        if (sub.filter === 'thenable/x') return { then: (resolve: (v: { qos: 1 }) => void) => resolve({ qos: 1 }) } as unknown as Promise<{ qos: 1 }>;
        return true;
      },
      interceptPublish: async (_client, m) => {
        if (m.topic === 'drop/me') return null;
        if (m.topic === 'bad/rule') return { ...m, topic: 'not/+/valid' };
        if (m.topic === 'shout') return { ...m, payload: Buffer.from(m.payload.toString().toUpperCase()) };
        return undefined;
      },
    });
  });
  after(() => b.broker.close());

  it('authorizePublish refuses per message with its reason code and string; a failing hook refuses that publish only (0x83)', async () => {
    const c = await connectClient(b.url, { clientId: 'pub1', protocolVersion: 5 });
    const packets = recordPackets(c);
    assert.equal(await pubackCode(c.publishAsync('open/t', 'fine', { qos: 1 })), 0);
    assert.equal(await pubackCode(c.publishAsync('open/t', 'forbidden words', { qos: 1 })), 0x87);
    assert.equal(await pubackCode(c.publishAsync('private/t', 'x', { qos: 2 })), 0x87);
    const refusal = packets.find((p) => p.cmd === 'pubrec' && p.reasonCode === 0x87);
    assert.equal(refusal?.properties?.reasonString, 'pub1 may not write private topics');
    assert.equal(await pubackCode(c.publishAsync('boom', 'x', { qos: 1 })), 0x83);
    assert.ok(c.connected, 'the connection stays');
    assert.equal(await pubackCode(c.publishAsync('open/t', 'still fine', { qos: 1 })), 0);
    await endClient(c);
  });

  it('authorizeSubscribe refuses or grants a lower QoS per filter', async () => {
    const c = await connectClient(b.url, { clientId: 'sub1', protocolVersion: 5 });
    assert.deepEqual(await subackCodes(c, ['open/#', 'secret/#', 'cheap/x']), [0, 0x87, 0]);
    const c2 = await connectClient(b.url, { clientId: 'sub2', protocolVersion: 5 });
    const granted = await c2.subscribeAsync({ 'cheap/y': { qos: 2 }, 'open/y': { qos: 2 }, 'thenable/x': { qos: 2 } });
    assert.deepEqual(granted.map((g) => [g.topic, g.qos]), [['cheap/y', 0], ['open/y', 2], ['thenable/x', 1]]);
    await endClient(c);
    await endClient(c2);
  });

  it('the interceptor changes or drops a message before routing; an invalid answer refuses the publish with 0x83', async () => {
    const { client: sub, inbox } = await connectWithInbox(b.url, { clientId: 'isub', protocolVersion: 5 });
    await sub.subscribeAsync(['shout', 'drop/me', 'bad/rule', 'plain'], { qos: 1 });
    const pub = await connectClient(b.url, { clientId: 'ipub', protocolVersion: 5 });
    assert.equal(await pubackCode(pub.publishAsync('shout', 'hello', { qos: 1 })), 0);
    assert.equal(await pubackCode(pub.publishAsync('drop/me', 'gone', { qos: 1 })), 0, 'accepted from the publisher');
    assert.equal(await pubackCode(pub.publishAsync('bad/rule', 'x', { qos: 1 })), 0x83);
    assert.equal(await pubackCode(pub.publishAsync('plain', 'as is', { qos: 1 })), 0);
    const got = await inbox.waitFor(2);
    assert.deepEqual(got.map((m) => [m.topic, m.payload.toString()]), [['shout', 'HELLO'], ['plain', 'as is']]);
    await sleep(50);
    assert.equal(inbox.messages.length, 2);
    await endClient(sub);
    await endClient(pub);
  });
});

describe('hooks after the configuration', () => {
  it('a refusal by the configured ACL stands and the hook is not asked; what the ACL allows, the hook decides', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-acl-'));
    const acl = join(dir, 'acl');
    writeFileSync(acl, 'topic readwrite open/#\n');
    const asked: string[] = [];
    const b = await start(
      {
        authorizePublish: (_c, m) => {
          asked.push(m.topic);
          return m.topic !== 'open/closed-by-hook';
        },
      },
      { mqttAuthorizationEnabled: true, mqttAclFile: acl },
    );
    try {
      const c = await connectClient(b.url, { clientId: 'acl1', protocolVersion: 5 });
      assert.equal(await pubackCode(c.publishAsync('elsewhere/x', 'x', { qos: 1 })), 0x87);
      assert.equal(await pubackCode(c.publishAsync('open/closed-by-hook', 'x', { qos: 1 })), 0x87);
      assert.equal(await pubackCode(c.publishAsync('open/fine', 'x', { qos: 1 })), 0, 'allowed');
      assert.deepEqual(asked, ['open/closed-by-hook', 'open/fine']);
      await endClient(c);
    } finally {
      await b.broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('notifications', () => {
  it('tell connected, subscribed, delivered (QoS 0 written, QoS 1 acknowledged), unsubscribed, dropped and disconnected with the reason', async () => {
    const seen: string[] = [];
    const delivered: Array<[string, string, number]> = [];
    const dropped: string[] = [];
    const b = await start(
      {
        clientConnected: (c) => void seen.push(`connected ${c.clientId}`),
        clientDisconnected: (c, reason) => void seen.push(`disconnected ${c.clientId} ${reason}`),
        subscribed: (c, subs) => void seen.push(`subscribed ${c.clientId} ${subs.map((s) => `${s.filter}@${s.qos}`).join(',')}`),
        unsubscribed: (c, filters) => void seen.push(`unsubscribed ${c.clientId} ${filters.join(',')}`),
        messageDelivered: (clientId, m: Message) => void delivered.push([clientId, m.topic, m.qos]),
        messageDropped: async (d) => {
          dropped.push(`${d.reason} ${d.clientId ?? '-'} ${d.message?.topic ?? '-'}`);
          throw new Error('a failing notification is only logged');
        },
        interceptPublish: (_c, m) => (m.topic === 'n/drop' ? null : m),
      },
      { maxQueuedMessages: 1 },
    );
    try {
      const { client: sub, inbox } = await connectWithInbox(b.url, { clientId: 'nsub', protocolVersion: 5 });
      await sub.subscribeAsync({ 'n/0': { qos: 0 }, 'n/1': { qos: 1 } });
      await sub.subscribeAsync('n/drop');
      await b.broker.publish('n/0', 'zero');
      await b.broker.publish('n/1', 'one', { qos: 1 });
      await inbox.waitFor(2);
      await waitUntil(() => delivered.length === 2, 'two delivered notifications');
      assert.deepEqual(delivered.sort(), [['nsub', 'n/0', 0], ['nsub', 'n/1', 1]]);
      await sub.unsubscribeAsync('n/0');

      const pub = await connectClient(b.url, { clientId: 'npub', protocolVersion: 5 });
      await pub.publishAsync('n/drop', 'x', { qos: 1 });
      // An offline persistent session with room for one message: the second drops the first.
      const offline = await connectClient(b.url, { clientId: 'noff', protocolVersion: 4, clean: false });
      await offline.subscribeAsync('n/q', { qos: 1 });
      await endClient(offline);
      await pub.publishAsync('n/q', 'first', { qos: 1 });
      await pub.publishAsync('n/q', 'second', { qos: 1 });
      await endClient(pub);
      pub.end(true);
      sub.stream.destroy();
      await waitUntil(() => seen.includes('disconnected nsub abnormal'), 'the abnormal disconnect');
      await waitUntil(() => dropped.length === 2, 'two dropped notifications');
      assert.deepEqual(dropped.sort(), ['intercepted - n/drop', 'queueFull noff n/q']);
      assert.deepEqual(seen.filter((s) => s.includes('nsub')), [
        'connected nsub',
        'subscribed nsub n/0@0,n/1@1',
        'subscribed nsub n/drop@0',
        'unsubscribed nsub n/0',
        'disconnected nsub abnormal',
      ]);
      assert.ok(seen.includes('disconnected noff normal'));
      assert.ok(b.lines().some((l) => l.hook === 'messageDropped'), 'the failing notification was logged');
    } finally {
      await b.broker.close();
    }
  });
});

describe('hooks cost nothing where they are not set', () => {
  it('without hooks the broker keeps its own hook points and the connection itself as each session\'s outlet', async () => {
    const ctx = { log: silentLog, timeoutMs: 1000, now: Date.now, limits: { maxTopicLength: 100, maxTopicLevels: 10 } };
    const bare = await startTestServer({}, { hooks: brokerHooks({}, ctx) });
    const noted = await startTestServer({}, { hooks: brokerHooks({ messageDelivered: () => {} }, ctx) });
    try {
      const h = bare.server.broker.hooks;
      assert.equal(h.authorizePublish, allowAll.authorizePublish, 'the publish path asks the default allow-all, nothing wrapped');
      assert.equal(h.authorizeSubscribe, allowAll.authorizeSubscribe);
      assert.equal(h.interceptPublish, undefined);
      assert.equal(h.notify, undefined);
      const c1 = await connectClient(bare.url(), { clientId: 'plain' });
      const c2 = await connectClient(noted.url(), { clientId: 'noted' });
      await waitUntil(() => bare.server.broker.sessions.get('plain')?.online === true && noted.server.broker.sessions.get('noted')?.online === true, 'both online');
      assert.equal(bare.server.broker.sessions.get('plain')?.outlet?.constructor.name, 'Channel', 'QoS 0 fan-out writes to the connection directly');
      assert.notEqual(noted.server.broker.sessions.get('noted')?.outlet?.constructor.name, 'Channel', 'only a delivered/dropped hook puts an observer in between');
      await endClient(c1);
      await endClient(c2);
    } finally {
      await bare.close();
      await noted.close();
    }
  });
});
