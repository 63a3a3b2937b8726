// The console's MQTT 5 side in headless Chromium against a real Starling server: a will and a
// session expiry set on the Connect page, subscribe options (no local, retain handling), unsubscribe,
// publish properties and text/base64 payloads, each checked where it lands: in the broker's own
// session state or at a Node MQTT.js peer. console.test.ts covers the rest of the console.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';

declare const document: any;

const TOKEN = 'console-mqtt5-token-91c3';

describe('web console, MQTT 5 features, in Chromium', { timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let page: Page;
  let peer: MqttClient;
  let inbox: Inbox;
  let httpUrl: string;
  let wsUrl: string;
  const pageErrors: string[] = [];

  /** The console's connection as the broker holds it. */
  const session = (id: string) => t.server.broker.sessions.get(id);
  const logItem = (topic: string) => page.getByRole('list', { name: 'Received messages, newest first' }).locator('li', { hasText: topic });

  const connectAs = async (clientId: string, extra: (p: Page) => Promise<void> = async () => {}): Promise<void> => {
    await page.getByRole('link', { name: 'Connect' }).click();
    await page.getByLabel('Broker URL').fill(wsUrl);
    await page.getByLabel('Client ID').fill(clientId);
    await page.getByLabel('Protocol').selectOption('5');
    await extra(page);
    await page.getByRole('button', { name: /^(Connect|Reconnect)$/ }).click();
    await page.getByRole('status').filter({ hasText: `Connected to ${wsUrl} as ${clientId}` }).waitFor();
  };

  before(async () => {
    preconditions();
    t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', httpAdminToken: TOKEN });
    const port = t.port('ws');
    httpUrl = `http://127.0.0.1:${port}/`;
    wsUrl = `ws://127.0.0.1:${port}/mqtt`;
    browser = await launchChromium();
    page = await watchedPage(browser, pageErrors);
    peer = await connectClient(wsUrl, { clientId: 'node-mqtt5-peer', protocolVersion: 5 });
    inbox = new Inbox(peer);
    await peer.subscribeAsync(['will/#', 'from-console/#'], { qos: 1 });
    await page.goto(httpUrl);
  });

  after(async () => {
    if (peer) await endClient(peer, true);
    await browser?.close();
    await t?.close();
  });

  it('connects with a will and a session expiry; the will is published when the connection drops and the session outlives it', async () => {
    await connectAs('console-will', async (p) => {
      await p.getByLabel('Session expiry (seconds, MQTT 5)').fill('600');
      await p.getByLabel('Send a will message').check();
      await p.getByLabel('Will topic').fill('will/console');
      await p.getByLabel('Will payload').fill('console gone');
      await p.getByLabel('Will QoS').selectOption('1');
    });
    const s = session('console-will');
    assert.ok(s, 'the broker holds the session');
    assert.equal(s.expiryInterval, 600);
    assert.equal(s.will?.message.topic, 'will/console');

    // The admin API drops the connection without a DISCONNECT from the client: the will goes out.
    const kicked = await fetch(new URL('api/v1/clients/console-will/kick', httpUrl), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5000) });
    assert.equal(kicked.status, 200);
    const [will] = await inbox.waitFor(1);
    assert.equal(will.topic, 'will/console');
    assert.equal(will.payload.toString(), 'console gone');
    await page.getByRole('status').filter({ hasNotText: 'Connected to' }).waitFor();
    assert.equal(session('console-will')?.online, false, 'the session stays for its expiry interval');
    inbox.messages.length = 0;
  });

  it('subscribes with no local and retain handling, which the broker honours', async () => {
    await peer.publishAsync('opts/retained', 'old news', { qos: 1, retain: true });
    await connectAs('console-mqtt5', async (p) => {
      await p.getByLabel('Session expiry (seconds, MQTT 5)').fill('0');
      await p.getByLabel('Send a will message').uncheck();
    });
    await page.getByRole('link', { name: 'Subscribe' }).click();
    await page.getByLabel('Topic filter').fill('opts/#');
    await page.locator('#page-subscribe').getByLabel('QoS', { exact: true }).selectOption('1');
    await page.getByLabel('No local (MQTT 5)').check();
    await page.getByLabel('Retain handling (MQTT 5)').selectOption('2');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    const row = page.locator('#page-subscribe tr', { hasText: 'opts/#' });
    await row.waitFor();
    assert.match(await row.innerText(), /no local, retain handling 2/);
    const sub = session('console-mqtt5')?.subscriptions.get('opts/#');
    assert.equal(sub?.noLocal, true);
    assert.equal(sub?.retainHandling, 2);

    // The console's own publish is not sent back to it (no local); the peer's is.
    await page.getByRole('link', { name: 'Publish' }).click();
    await page.getByLabel('Topic', { exact: true }).fill('opts/own');
    await page.getByLabel('Payload', { exact: true }).fill('mine');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Published 4 bytes to opts/own' }).waitFor();
    await peer.publishAsync('opts/peer', 'theirs', { qos: 1 });
    await page.getByRole('link', { name: 'Messages' }).click();
    await logItem('opts/peer').waitFor();
    assert.equal(await logItem('opts/own').count(), 0, 'no local: own message not delivered');
    assert.equal(await logItem('opts/retained').count(), 0, 'retain handling 2: no retained message on subscribe');
  });

  it('unsubscribes: the broker drops the subscription and its messages stop', async () => {
    await page.getByRole('link', { name: 'Subscribe' }).click();
    await page.getByLabel('Topic filter').fill('other/#');
    await page.getByLabel('No local (MQTT 5)').uncheck();
    await page.getByLabel('Retain handling (MQTT 5)').selectOption('0');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await page.locator('#page-subscribe tr', { hasText: 'other/#' }).waitFor();

    await page.getByRole('button', { name: 'Unsubscribe from opts/#' }).click();
    await page.getByRole('alert').filter({ hasText: 'Unsubscribed from opts/#.' }).waitFor();
    await page.locator('#page-subscribe tr', { hasText: 'opts/#' }).waitFor({ state: 'detached' });
    assert.equal(session('console-mqtt5')?.subscriptions.has('opts/#'), false);

    await peer.publishAsync('opts/after', 'too late', { qos: 1 });
    await peer.publishAsync('other/after', 'still here', { qos: 1 });
    await page.getByRole('link', { name: 'Messages' }).click();
    await logItem('other/after').waitFor();
    await sleep(200);
    assert.equal(await logItem('opts/after').count(), 0, 'nothing from the removed subscription');
  });

  it('publishes MQTT 5 properties that a Node MQTT.js peer receives', async () => {
    await page.getByRole('link', { name: 'Publish' }).click();
    await page.getByLabel('Topic', { exact: true }).fill('from-console/props');
    await page.locator('#page-publish').getByLabel('QoS', { exact: true }).selectOption('1');
    await page.getByLabel('Payload format').selectOption('json');
    await page.getByLabel('Payload', { exact: true }).fill('{"t": 21.5}');
    await page.getByLabel('Content type').fill('application/json');
    await page.getByLabel('Payload is UTF-8 (format indicator)').check();
    await page.getByLabel('Message expiry (seconds)').fill('120');
    await page.getByLabel('Response topic').fill('replies/console');
    await page.getByLabel('Correlation data (text)').fill('corr-42');
    await page.getByLabel('User properties').fill('site=lab\nsite=roof\nby=console');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const [got] = await inbox.waitFor(1);
    assert.equal(got.topic, 'from-console/props');
    assert.equal(got.payload.toString(), '{"t": 21.5}');
    const p = got.packet.properties ?? {};
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.payloadFormatIndicator, true);
    assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval > 0 && p.messageExpiryInterval <= 120, `expiry ${p.messageExpiryInterval}`);
    assert.equal(p.responseTopic, 'replies/console');
    assert.equal(Buffer.from(p.correlationData ?? []).toString(), 'corr-42');
    assert.deepEqual({ ...p.userProperties }, { site: ['lab', 'roof'], by: 'console' });
    inbox.messages.length = 0;
  });

  it('publishes text and base64 payloads byte for byte, and refuses bad base64', async () => {
    // Properties from the previous publish would ride along; clear them.
    for (const label of ['Content type', 'Message expiry (seconds)', 'Response topic', 'Correlation data (text)', 'User properties']) await page.getByLabel(label).fill('');
    await page.getByLabel('Payload is UTF-8 (format indicator)').uncheck();
    await page.getByLabel('Topic', { exact: true }).fill('from-console/text');
    await page.getByLabel('Payload format').selectOption('text');
    await page.getByLabel('Payload', { exact: true }).fill('héllo wörld ✓');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const [text] = await inbox.waitFor(1);
    assert.equal(text.topic, 'from-console/text');
    assert.deepEqual(text.payload, Buffer.from('héllo wörld ✓', 'utf8'));

    await page.getByLabel('Topic', { exact: true }).fill('from-console/b64');
    await page.getByLabel('Payload format').selectOption('base64');
    await page.getByLabel('Payload', { exact: true }).fill('not base64!');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Cannot publish: not valid base64' }).waitFor();
    await page.getByLabel('Payload', { exact: true }).fill('AAEC/w==');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const [, bin] = await inbox.waitFor(2);
    assert.equal(bin.topic, 'from-console/b64');
    assert.deepEqual([...bin.payload], [0x00, 0x01, 0x02, 0xff]);
    assert.equal(inbox.messages.length, 2, 'the bad base64 was not sent');
  });

  it('raised no script errors', () => {
    assert.deepEqual(pageErrors, []);
  });
});
