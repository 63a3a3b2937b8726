// The store latency histograms on /metrics of a real broker with SQLite: the start-up read
// (starling_store_open_seconds) is observed exactly once per start, also after a restart that
// reads back a persistent session, while writes keep going to starling_store_write_seconds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';
import { http, parsePrometheus, sampleValue, type PromText } from './helpers.js';

describe('store latency metrics on a real broker', () => {
  let dir: string;
  let t: TestServer | undefined;
  const start = async (): Promise<TestServer> =>
    (t = await startTestServer({ mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0', persistence: 'sqlite', dataDir: dir, sysIntervalSec: '0' }));
  const scrape = async (s: TestServer): Promise<PromText> => {
    const r = await http(s.port('ws'), '/metrics');
    assert.equal(r.status, 200);
    return parsePrometheus(r.text);
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-store-metrics-'));
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('observes the start-up read once per start, and writes separately', async () => {
    const first = await start();
    let p = await scrape(first);
    assert.equal(p.types.get('starling_store_open_seconds'), 'histogram');
    assert.equal(sampleValue(p, 'starling_store_open_seconds_count'), 1);
    assert.equal(sampleValue(p, 'starling_store_open_seconds_bucket', { le: '+Inf' }), 1);
    assert.ok(sampleValue(p, 'starling_store_open_seconds_sum') > 0, 'the read is timed');

    // A persistent session with a subscription is written, then read back by the next start.
    const c = await connectClient(first.url('mqtt'), { clientId: 'kept', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    await c.subscribeAsync('kept/#', { qos: 1 });
    await endClient(c);
    const deadline = Date.now() + 5000;
    while (sampleValue((p = await scrape(first)), 'starling_store_write_seconds_count') < 1) {
      if (Date.now() > deadline) throw new Error('no store write observed in 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(sampleValue(p, 'starling_store_open_seconds_count'), 1, 'writes do not count as opens');
    await first.close();
    t = undefined;

    const second = await start();
    await waitUntil(() => second.server.broker.sessions.get('kept')?.subscriptions.has('kept/#') === true, 'the session read back');
    p = await scrape(second);
    assert.equal(sampleValue(p, 'starling_store_open_seconds_count'), 1);
    assert.ok(sampleValue(p, 'starling_store_open_seconds_sum') > 0);
  });
});
