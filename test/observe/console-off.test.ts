// httpConsoleEnabled=false on a real server: the WebSocket port answers / with its plain endpoint
// page and has no /console.json, while what is not the console stays (MQTT.js's bundle for the
// quickstart page, /metrics, health checks, MQTT over WebSocket itself).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { http } from './helpers.js';

describe('httpConsoleEnabled=false on a real server', () => {
  let t: TestServer;
  let port: number;

  before(async () => {
    t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', httpConsoleEnabled: 'false', sysIntervalSec: '0' });
    port = t.port('ws');
  });
  after(() => t?.close());

  it('answers / with the plain endpoint page, not the console', async () => {
    const r = await http(port, '/');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(r.text, /MQTT-over-WebSocket endpoint of the Starling MQTT broker/);
    assert.ok(r.text.includes(`ws://127.0.0.1:${port}/mqtt`), 'names the URL to give an MQTT client');
    assert.doesNotMatch(r.text, /Starling console|<script/);
    assert.equal(r.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'");
  });

  it('has no /console.json and none of the console\'s files', async () => {
    assert.equal((await http(port, '/console.json')).status, 404);
    assert.equal((await http(port, '/favicon.svg')).status, 404);
  });

  it('still serves MQTT.js at /mqtt.min.js, /metrics and the health checks', async () => {
    const bundle = await http(port, '/mqtt.min.js');
    assert.equal(bundle.status, 200, 'the quickstart page loads MQTT.js from the broker');
    assert.match(String(bundle.headers['content-type']), /^text\/javascript/);
    assert.equal((await http(port, '/metrics')).status, 200);
    assert.equal((await http(port, '/healthz')).text, 'ok\n');
    assert.equal((await http(port, '/readyz')).status, 200);
  });

  it('still speaks MQTT over WebSocket on the same port', async () => {
    const c = await connectClient(t.url('ws'), { clientId: 'console-off', protocolVersion: 5 });
    await endClient(c);
  });
});
