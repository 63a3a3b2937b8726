// The console reached the other ways a deployment offers, in headless Chromium against a real
// Starling server: over MQTT 3.1.1 (its own publish comes back into its log and topic tree), served
// and connected over ws+ssl:// with the development certificate the broker makes on first start, and
// with the admin API opened by an admin user (HTTP Basic against the password file) instead of the
// token. console.test.ts and console-mqtt5.test.ts cover the rest.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { passwordLine } from '../../src/auth/password-file.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';

declare const document: any;
declare const localStorage: any;
declare const sessionStorage: any;

const ALICE = { user: 'alice', password: 'alice-console-pass-7d41' };
const BOB = { user: 'bob', password: 'bob-console-pass-22e0' };
/** Cheap scrypt parameters: the test checks who gets in, not how hard guessing is. */
const FAST = { N: 1024, r: 8, p: 1 };

/** Chromium trusts exactly this certificate (by its public key), as a user who added it would. */
function spkiHash(certFile: string): string {
  const key = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(key).digest('base64');
}

describe('web console over MQTT 3.1.1, over wss:// and as an admin user, in Chromium', { timeout: 120_000 }, () => {
  let dir: string;
  let t: TestServer;
  let browser: Browser;
  let page: Page;
  let httpUrl: string;
  let wsUrl: string;
  const pageErrors: string[] = [];

  /** One client as the admin API sees it, asked from Node with alice's credentials. */
  const adminView = async (clientId: string): Promise<{ protocolVersion: number; transport: string }> => {
    const auth = `Basic ${Buffer.from(`${ALICE.user}:${ALICE.password}`).toString('base64')}`;
    const r = await fetch(new URL(`api/v1/clients/${clientId}`, httpUrl), { headers: { Authorization: auth }, signal: AbortSignal.timeout(5000) });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as { protocolVersion: number; transport: string };
  };

  const connectAs = async (url: string, clientId: string, protocol: '4' | '5'): Promise<void> => {
    await page.getByRole('link', { name: 'Connect' }).click();
    await page.getByLabel('Broker URL').fill(url);
    await page.getByLabel('Client ID').fill(clientId);
    await page.getByLabel('Protocol').selectOption(protocol);
    await page.getByRole('button', { name: /^(Connect|Reconnect)$/ }).click();
    await page.getByRole('status').filter({ hasText: `Connected to ${url} as ${clientId}` }).waitFor();
  };

  before(async () => {
    preconditions();
    dir = mkdtempSync(join(tmpdir(), 'starling-console-access-'));
    const passwd = join(dir, 'passwd');
    const lines = await Promise.all([ALICE, BOB].map((u) => passwordLine(u.user, u.password, { scram: false, scrypt: FAST })));
    writeFileSync(passwd, lines.join('\n') + '\n', { mode: 0o600 });
    // No certificate configured: the ws+ssl:// listener gets the development one, made in dataDir/certs.
    t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0,ws+ssl://127.0.0.1:0', dataDir: dir, mqttPasswordFile: passwd, httpAdminUsers: ALICE.user });
    httpUrl = `http://127.0.0.1:${t.port('ws')}/`;
    wsUrl = `ws://127.0.0.1:${t.port('ws')}/mqtt`;
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spkiHash(join(dir, 'certs', 'server.crt'))}`]);
    page = await watchedPage(browser, pageErrors);
  });

  after(async () => {
    await browser?.close();
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('connects over MQTT 3.1.1, and what it publishes comes back into its own log and topic tree', async () => {
    await page.goto(httpUrl);
    await connectAs(wsUrl, 'console-311', '4');
    assert.equal((await adminView('console-311')).protocolVersion, 4, 'the broker holds a 3.1.1 connection');

    await page.getByRole('link', { name: 'Subscribe' }).click();
    await page.getByLabel('Topic filter').fill('self/#');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await page.locator('#page-subscribe tr', { hasText: 'self/#' }).waitFor();

    await page.getByRole('link', { name: 'Publish' }).click();
    await page.getByLabel('Topic', { exact: true }).fill('self/echo');
    await page.getByLabel('Payload format').selectOption('text');
    await page.getByLabel('Payload', { exact: true }).fill('42.5');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Published 4 bytes to self/echo' }).waitFor();

    await page.getByRole('link', { name: 'Messages' }).click();
    const item = page.getByRole('list', { name: 'Received messages, newest first' }).locator('li', { hasText: 'self/echo' });
    await item.waitFor();
    assert.match(await item.innerText(), /42\.5/);
    await page.getByRole('link', { name: 'Topics' }).click();
    await page.locator('.tree-row[data-topic="self"] .tree-toggle').click();
    await page.waitForFunction(() => document.querySelector('.tree-row[data-topic="self/echo"] .tree-value')?.textContent === '42.5');
  });

  it('is served over ws+ssl:// with the development certificate and connects to wss:// by default', async () => {
    const httpsUrl = `https://127.0.0.1:${t.port('ws+ssl')}/`;
    const wssUrl = `wss://127.0.0.1:${t.port('ws+ssl')}/mqtt`;
    const res = await page.goto(httpsUrl);
    assert.equal(res?.status(), 200);
    await page.waitForFunction((url) => document.querySelector('input[name=url]')?.value === url, wssUrl);
    await page.getByLabel('Client ID').fill('console-wss');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Connected to ${wssUrl} as console-wss` }).waitFor();
    assert.equal((await adminView('console-wss')).transport, 'wss');
  });

  it('lists clients and kicks one as an admin user, keeping the password out of storage', async () => {
    const victim = await connectClient(wsUrl, { clientId: 'node-victim-basic', protocolVersion: 4 });
    const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()));
    const authHeaders: Array<Promise<string>> = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/')) authHeaders.push(r.allHeaders().then((h) => `${new URL(r.url()).origin} ${h.authorization ?? ''}`));
    });
    try {
      await page.goto(`${httpUrl}#/admin`);
      await page.getByLabel('Sign in with').selectOption('user');
      assert.equal(await page.getByLabel('Admin token').isVisible(), false, 'the token field gives way to user and password');
      const load = async (who: { user: string; password: string }): Promise<void> => {
        await page.getByLabel('Admin user', { exact: true }).fill(who.user);
        await page.getByLabel('Admin password').fill(who.password);
        await page.getByRole('button', { name: 'Load' }).click();
      };

      await load({ user: ALICE.user, password: 'wrong' });
      await page.getByRole('alert').filter({ hasText: 'the user name or password was refused' }).waitFor();
      await load(BOB);
      await page.getByRole('alert').filter({ hasText: 'is not an admin user' }).waitFor();
      assert.equal(await page.locator('tr[data-client-id]').count(), 0, 'no client information for a refused user');

      await load(ALICE);
      await page.locator('tr[data-client-id="node-victim-basic"]').waitFor();
      const basic = `Basic ${Buffer.from(`${ALICE.user}:${ALICE.password}`).toString('base64')}`;
      assert.ok((await Promise.all(authHeaders)).includes(`${new URL(httpUrl).origin} ${basic}`), 'Basic credentials went to the page\'s own origin');
      const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
      assert.doesNotMatch(stored, new RegExp(ALICE.password), 'the password is in no storage');

      await page.getByRole('button', { name: 'Disconnect client node-victim-basic' }).click();
      await page.getByRole('button', { name: 'Confirm: disconnect client node-victim-basic' }).click();
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('victim not disconnected in 5 s')), 5000))]);
      await page.getByRole('alert').filter({ hasText: 'Disconnected node-victim-basic.' }).waitFor();

      // Held in memory only: a reload forgets it.
      await page.reload();
      await page.locator('table.clients', { hasText: 'Enter the admin token, or an admin user and password' }).waitFor();
      assert.equal(await page.getByLabel('Admin password').inputValue(), '');
    } finally {
      await endClient(victim, true);
    }
  });

  it('raised no script errors and no CSP violations', () => {
    // Chromium logs the two refusals the admin-user test asks for; anything else is a fault.
    const refused = /^console: Failed to load resource: the server responded with a status of (401 \(Unauthorized\)|403 \(Forbidden\))$/;
    assert.deepEqual(pageErrors.filter((e) => !refused.test(e)), []);
  });
});
