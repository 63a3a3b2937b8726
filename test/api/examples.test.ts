// Every example in examples/ run against real clients: each is imported as an application would
// import it (`starling-mqtt` resolved to this package through its exports map) and started on
// OS-chosen ports; one is also run as its own process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/paths.js';
import { connackCode, connectClient, connectWithInbox, endClient } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';

interface Running {
  url: string;
  mqttUrl?: string;
  close(): Promise<void>;
}
type Example = { start(options: Record<string, unknown>): Promise<Running> };

const example = (name: string): Promise<Example> => import(pathToFileURL(join(repoRoot, 'examples', name)).href) as Promise<Example>;

describe('examples', () => {
  it('express-app.mjs: Express routes and MQTT over WebSocket on one port', async () => {
    const app = await (await example('express-app.mjs')).start({ port: 0 });
    try {
      const { client, inbox } = await connectWithInbox(app.mqttUrl!, { clientId: 'browser-1', protocolVersion: 5 });
      await client.subscribeAsync('rooms/lobby', { qos: 1 });
      const posted = await fetch(`${app.url}/api/rooms/lobby/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'hi' }) });
      assert.equal(posted.status, 202);
      const [m] = await inbox.waitFor(1);
      assert.deepEqual(JSON.parse(m.payload.toString()), { text: 'hi' });
      assert.deepEqual(await (await fetch(`${app.url}/api/clients`)).json(), ['browser-1']);
      await endClient(client);
    } finally {
      await app.close();
    }
  });

  it('fastify-app.mjs: Fastify routes and MQTT over WebSocket on one port', async () => {
    const app = await (await example('fastify-app.mjs')).start({ port: 0 });
    try {
      const put = await fetch(`${app.url}/api/state/lamp`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ on: true }) });
      assert.equal(put.status, 204);
      // Retained: a client that comes later gets the state.
      const { client, inbox } = await connectWithInbox(app.mqttUrl!, { clientId: 'panel-1' });
      await client.subscribeAsync('state/#', { qos: 1 });
      const [m] = await inbox.waitFor(1);
      assert.equal(m.topic, 'state/lamp');
      assert.equal(m.packet.retain, true);
      assert.deepEqual(await (await fetch(`${app.url}/api/retained`)).json(), [{ topic: 'state/lamp', payload: '{"on":true}' }]);
      await endClient(client);
    } finally {
      await app.close();
    }
  });

  it('custom-auth.mjs: the app\'s user table decides who connects, and users publish below their own topics', async () => {
    const app = await (await example('custom-auth.mjs')).start({ port: 0 });
    try {
      assert.equal(await connackCode(app.url, { clientId: 'x1', username: 'alice', password: 'wrong', protocolVersion: 5 }), 0x86);
      assert.equal(await connackCode(app.url, { clientId: 'x2', username: 'nobody', password: 'x', protocolVersion: 5 }), 0x86);
      assert.equal(await connackCode(app.url, { clientId: 'x3', username: 'bob', password: 'builder', protocolVersion: 5 }), 0x8a);
      const alice = await connectClient(app.url, { clientId: 'alice-1', username: 'alice', password: 'wonderland', protocolVersion: 5 });
      await alice.publishAsync('users/alice/status', 'online', { qos: 1 });
      await assert.rejects(alice.publishAsync('users/bob/status', 'spoofed', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87);
      await endClient(alice);
    } finally {
      await app.close();
    }
  });

  it('republish-rule.mjs: a server-side rule republishes each reading converted', async () => {
    const app = await (await example('republish-rule.mjs')).start({ port: 0 });
    try {
      const { client, inbox } = await connectWithInbox(app.url, { clientId: 'dash', protocolVersion: 5 });
      await client.subscribeAsync('sensors/+/fahrenheit', { qos: 1 });
      await client.publishAsync('sensors/kitchen/celsius', '21.5', { qos: 1 });
      await client.publishAsync('sensors/kitchen/celsius', 'not a number', { qos: 1 });
      await client.publishAsync('sensors/attic/celsius', '-40', { qos: 1 });
      const got = await inbox.waitFor(2);
      assert.deepEqual(got.map((m) => [m.topic, m.payload.toString()]), [['sensors/kitchen/fahrenheit', '70.7'], ['sensors/attic/fahrenheit', '-40']]);
      assert.deepEqual({ ...got[0].packet.properties?.userProperties }, { 'converted-from': 'sensors/kitchen/celsius' });
      await endClient(client);
    } finally {
      await app.close();
    }
  });

  it('an example runs as its own program and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'examples', 'republish-rule.mjs')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => /MQTT at mqtt:\/\/127\.0\.0\.1:\d+/.test(out) || child.exitCode !== null, 'the example to print its URL', 20_000);
      const url = /MQTT at (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      assert.ok(url, out);
      const { client, inbox } = await connectWithInbox(url, { clientId: 'proc' });
      await client.subscribeAsync('sensors/+/fahrenheit');
      await client.publishAsync('sensors/x/celsius', '100');
      assert.equal((await inbox.waitFor(1))[0].payload.toString(), '212');
      await endClient(client);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 0, out);
  });
});
