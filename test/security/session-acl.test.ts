// A session is found by client id alone, so what it holds (subscriptions, queued messages) must be
// re-authorized against whoever resumes it, and against the rules of now when the ACL is reloaded.
// Real server with the SQLite store (removals must survive a restart), MQTT.js clients.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { runPasswd } from '../../src/cli/passwd.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { endClient, Inbox, sleep, subackCodes, whenConnected } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

async function addUser(file: string, user: string, password: string): Promise<void> {
  const stdin = new PassThrough();
  stdin.end(`${password}\n`);
  assert.equal(await runPasswd(['--password-stdin', file, user], { stdin, stdout: new PassThrough(), stderr: new PassThrough() }), 0);
}

const ACL = ['user alice', 'topic readwrite alice/#', 'topic read news/#', 'user bob', 'topic readwrite bob/#', 'topic write alice/#', 'topic write news/#', ''];
/** The same file without alice's read access to news/#. */
const ACL_REVOKED = ACL.filter((l) => l !== 'topic read news/#');

describe('security: sessions re-authorized when they change hands or the ACL changes', () => {
  let dir: string;
  let passwords: string;
  let aclFile: string;
  let t: TestServer;
  const open: MqttClient[] = [];

  const start = async (): Promise<TestServer> =>
    startTestServer({
      persistence: 'sqlite',
      dataDir: join(dir, 'data'),
      mqttAuthenticationEnabled: 'true',
      mqttPasswordFile: passwords,
      mqttAuthorizationEnabled: 'true',
      mqttAclFile: aclFile,
    });
  let lastConnack: IConnackPacket | undefined;
  /** Each client's messages from before its CONNACK on: what a resumed session sends comes at once. */
  const inboxes = new WeakMap<MqttClient, Inbox>();
  const inboxOf = (c: MqttClient): Inbox => inboxes.get(c)!;
  const as = async (user: 'alice' | 'bob', clientId: string, extra: Record<string, unknown> = {}): Promise<MqttClient> => {
    const c = mqtt.connect(t.url(), { clientId, username: user, password: `${user}-pw`, clean: false, reconnectPeriod: 0, ...extra });
    c.once('connect', (connack) => (lastConnack = connack));
    inboxes.set(c, new Inbox(c));
    open.push(await whenConnected(c, t.url(), 5000));
    return c;
  };
  const session = (clientId: string) => t.server.broker.sessions.get(clientId);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-session-acl-'));
    passwords = join(dir, 'passwd');
    await addUser(passwords, 'alice', 'alice-pw');
    await addUser(passwords, 'bob', 'bob-pw');
    aclFile = join(dir, 'acl');
    writeFileSync(aclFile, ACL.join('\n'));
    t = await start();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await endClient(c, true);
    writeFileSync(aclFile, ACL.join('\n'));
    // The next test starts under the original rules: wait for the reload to apply.
    const probe = { clientId: 'probe', username: 'alice', remoteAddress: '127.0.0.1' } as ClientInfo;
    await waitUntil(() => t.server.broker.hooks.authorizeSubscribe(probe, 'news/#') === 0, 'the original ACL to apply', 8000);
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('another user resuming the client id gets neither the subscriptions nor the queued messages [MQTT-3.1.2-4]', async () => {
    const alice = await as('alice', 'dev');
    // QoS 1, so that a message published while alice is away waits in the session.
    assert.deepEqual((await alice.subscribeAsync('alice/#', { qos: 1 })).map((g) => g.qos), [1]);
    await endClient(open.pop()!);
    const pub = await as('bob', 'bob-pub', { clean: true });
    await pub.publishAsync('alice/secret', 'for alice only', { qos: 1 });
    assert.equal(session('dev')?.queuedCount, 1, 'the message waits in alice\'s session');

    const bob = await as('bob', 'dev');
    const inbox = inboxOf(bob);
    assert.equal(lastConnack?.sessionPresent, true, 'the session was resumed (Session Present 1), not replaced');
    await pub.publishAsync('alice/secret', 'still for alice only', { qos: 1 });
    // A round trip on bob's own topic: everything routed before it has been delivered by then.
    await bob.subscribeAsync('bob/ping', { qos: 1 });
    await pub.publishAsync('bob/ping', 'ping', { qos: 1 });
    const got = await inbox.waitFor(1);
    assert.deepEqual(got.map((m) => m.topic), ['bob/ping'], 'nothing of alice\'s reached bob');
    await sleep(100);
    assert.deepEqual(inbox.messages.map((m) => m.topic), ['bob/ping']);
    assert.deepEqual([...session('dev')!.subscriptions.keys()], ['bob/ping'], 'the stale alice/# subscription is gone');
    assert.equal(session('dev')!.queuedCount + session('dev')!.inflight.size, 0, 'the queued message was dropped');

    // The removal was written: after a restart the stored session has no alice/# either.
    for (const c of open.splice(0)) await endClient(c, true);
    await t.close();
    t = await start();
    assert.deepEqual([...(session('dev')?.subscriptions.keys() ?? [])], ['bob/ping']);
    assert.equal(session('dev')!.queuedCount + session('dev')!.inflight.size, 0);
  });

  it('keeps what the resuming client may still have (same user, same rules)', async () => {
    const alice = await as('alice', 'keep');
    await alice.subscribeAsync('alice/#', { qos: 1 });
    await endClient(open.pop()!);
    const pub = await as('bob', 'bob-pub-keep', { clean: true });
    await pub.publishAsync('alice/kept', 'queued', { qos: 1 });
    const back = await as('alice', 'keep');
    const inbox = inboxOf(back);
    const [m] = await inbox.waitFor(1);
    assert.equal(m.topic, 'alice/kept');
    assert.deepEqual([...session('keep')!.subscriptions.keys()], ['alice/#']);
  });

  it('an ACL reload revokes the subscriptions of a connected client', async () => {
    const alice = await as('alice', 'online', { clean: true });
    const inbox = inboxOf(alice);
    assert.deepEqual(await subackCodes(alice, ['news/#', 'alice/#']), [0, 0]);
    const pub = await as('bob', 'bob-pub-online', { clean: true });
    await pub.publishAsync('news/before', 'x', { qos: 1 });
    await inbox.waitFor(1);

    writeFileSync(aclFile, ACL_REVOKED.join('\n'));
    await waitUntil(() => !session('online')?.subscriptions.has('news/#'), 'the reload to revoke news/#', 8000);
    assert.ok(session('online')!.subscriptions.has('alice/#'), 'what is still allowed stays');
    await pub.publishAsync('news/after', 'must not arrive', { qos: 1 });
    await pub.publishAsync('alice/after', 'arrives', { qos: 1 });
    await inbox.waitFor(2);
    await sleep(100);
    assert.deepEqual(inbox.messages.map((m) => m.topic), ['news/before', 'alice/after']);
  });

  it('an ACL reload revokes the subscriptions and queued messages of an offline persistent session', async () => {
    const alice = await as('alice', 'offline', { protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    assert.deepEqual((await alice.subscribeAsync('news/#', { qos: 1 })).map((g) => g.qos), [1]);
    await endClient(open.pop()!);
    const pub = await as('bob', 'bob-pub-offline', { clean: true });
    await pub.publishAsync('news/queued', 'queued before the reload', { qos: 1 });
    assert.equal(session('offline')?.queuedCount, 1);

    writeFileSync(aclFile, ACL_REVOKED.join('\n'));
    await waitUntil(() => session('offline')?.subscriptions.size === 0, 'the reload to revoke news/#', 8000);
    assert.equal(session('offline')!.queuedCount, 0, 'the queued message went with it');
    await pub.publishAsync('news/later', 'after the reload', { qos: 1 });
    assert.equal(session('offline')!.queuedCount, 0, 'nothing is queued for it any more');

    const back = await as('alice', 'offline', { protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(lastConnack?.sessionPresent, true);
    const inbox = inboxOf(back);
    await back.subscribeAsync('alice/ping', { qos: 1 });
    await pub.publishAsync('alice/ping', 'ping', { qos: 1 });
    await inbox.waitFor(1);
    assert.deepEqual(inbox.messages.map((m) => m.topic), ['alice/ping']);
  });

  it('the ACL memo of a client is released when its connection ends, and again after an offline session is re-checked', async () => {
    const hooks = t.server.broker.hooks;
    const configured = hooks.release;
    assert.equal(typeof configured, 'function', 'the configured ACL releases what it memoised');
    const released: string[] = [];
    hooks.release = (client) => {
      released.push(client.clientId);
      configured!(client);
    };
    try {
      const alice = await as('alice', 'memo-dev', { protocolVersion: 5, properties: { sessionExpiryInterval: 600 } });
      await alice.subscribeAsync('alice/#', { qos: 1 });
      await alice.publishAsync('alice/a', 'a', { qos: 1 });
      await endClient(open.splice(open.indexOf(alice), 1)[0]);
      await waitUntil(() => released.includes('memo-dev'), 'the connection end to release the memo', 5000);
      released.length = 0;
      // The reload re-checks the offline session with its owner's identity, then releases what that compiled.
      writeFileSync(aclFile, ACL_REVOKED.join('\n'));
      await waitUntil(() => released.includes('memo-dev'), 'the re-check of the offline session to release the memo', 8000);
      assert.ok(session('memo-dev')?.subscriptions.has('alice/#'), 'what the rules still allow is kept');
    } finally {
      hooks.release = configured;
    }
  });
});
