import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegister } from 'prom-client';
import { createMetrics, timedStore } from '../../src/observe/metrics.js';
import { createHttpHandler } from '../../src/observe/http.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Broker } from '../../src/broker/broker.js';
import type { MetricsSource } from '../../src/observe/ports.js';
import { FakeBroker, FakeConnections, fakeSession, http, parsePrometheus, sampleValue, serve } from './helpers.js';

type Assert<T extends true> = T;
export type BrokerIsMetricsSource = Assert<Broker extends MetricsSource ? true : false>;

function fixture() {
  const b = new FakeBroker();
  const c = new FakeConnections();
  const source: MetricsSource = Object.assign(b, { connectedClients: () => c.connectedClients() });
  return { b, c, source };
}

describe('metrics', () => {
  it('exposes broker counters, gauges and drops by reason in valid text format', async () => {
    const { b, c, source } = fixture();
    Object.assign(b.stats, { connectionsRefused: 6, slowConsumersDisconnected: 7, messagesReceived: 11, messagesSent: 3, publishReceived: 10, publishSent: 12, bytesReceived: 2048, bytesSent: 4096, connectionsTotal: 5, authFailures: 2, willsPublished: 1 });
    b.stats.drops.queueFull = 4;
    b.stats.drops.tooLarge = 1;
    b.sessions.set('a', fakeSession('a', { filters: ['a/#', 'b'], queued: 5, inflight: 2 }));
    b.sessions.set('b', fakeSession('b', { online: false, filters: ['c'], queued: 1 }));
    b.retained.map.set('t', { id: '1', topic: 't', payload: Buffer.from('x'), qos: 0, retain: true, createdAt: 0 });
    const base = { address: '127.0.0.1', connectedAt: 0 };
    c.clients = [
      { ...base, clientId: 'x', protocolVersion: 5, transport: 'ws', listener: 'ws://0.0.0.0:8083', listenerUrl: 'ws://127.0.0.1:8083/mqtt' },
      { ...base, clientId: 'y', protocolVersion: 5, transport: 'ws', listener: 'ws://0.0.0.0:8083', listenerUrl: 'ws://127.0.0.1:8083/mqtt' },
      { ...base, clientId: 'z', protocolVersion: 4, transport: 'tcp', listener: 'mqtt://0.0.0.0:1883', listenerUrl: 'mqtt://127.0.0.1:1883' },
    ];
    const m = createMetrics(source, { defaultMetrics: false });
    const p = parsePrometheus(await m.render());

    assert.equal(sampleValue(p, 'starling_connections', { listener: 'ws://0.0.0.0:8083', protocol: '5.0' }), 2);
    assert.equal(sampleValue(p, 'starling_connections', { listener: 'mqtt://0.0.0.0:1883', protocol: '3.1.1' }), 1);
    assert.equal(sampleValue(p, 'starling_sessions', { state: 'online' }), 1);
    assert.equal(sampleValue(p, 'starling_sessions', { state: 'offline' }), 1);
    assert.equal(sampleValue(p, 'starling_subscriptions'), 3);
    assert.equal(sampleValue(p, 'starling_queued_messages'), 6);
    assert.equal(sampleValue(p, 'starling_inflight_messages'), 2);
    assert.equal(sampleValue(p, 'starling_retained_messages'), 1);
    assert.equal(sampleValue(p, 'starling_retained_bytes'), 2, 'topic t + payload x');
    assert.equal(sampleValue(p, 'starling_messages_received_total'), 11);
    assert.equal(sampleValue(p, 'starling_messages_sent_total'), 3);
    assert.equal(sampleValue(p, 'starling_publish_received_total'), 10);
    assert.equal(sampleValue(p, 'starling_publish_sent_total'), 12);
    assert.equal(sampleValue(p, 'starling_bytes_received_total'), 2048);
    assert.equal(sampleValue(p, 'starling_bytes_sent_total'), 4096);
    assert.equal(sampleValue(p, 'starling_connections_accepted_total'), 5);
    assert.equal(sampleValue(p, 'starling_auth_failures_total'), 2);
    assert.equal(sampleValue(p, 'starling_wills_published_total'), 1);
    assert.equal(sampleValue(p, 'starling_connections_refused_total'), 6);
    assert.equal(sampleValue(p, 'starling_slow_consumers_disconnected_total'), 7);
    assert.equal(sampleValue(p, 'starling_messages_dropped_total', { reason: 'queueFull' }), 4);
    assert.equal(sampleValue(p, 'starling_messages_dropped_total', { reason: 'tooLarge' }), 1);
    assert.equal(sampleValue(p, 'starling_messages_dropped_total', { reason: 'expired' }), 0);
    assert.equal(p.types.get('starling_messages_received_total'), 'counter');
    // Mosquitto's meaning: every packet, not application messages (those are publish_*_total).
    assert.match(p.help.get('starling_messages_received_total') ?? '', /^MQTT packets of any type received/);
    assert.match(p.help.get('starling_messages_sent_total') ?? '', /^MQTT packets of any type sent/);
    assert.equal(p.types.get('starling_connections'), 'gauge');
    assert.equal(p.types.get('starling_store_write_seconds'), 'histogram');
    assert.equal(p.types.get('starling_store_open_seconds'), 'histogram');
    for (const s of p.samples) {
      const family = s.name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(p.types.has(s.name) || p.types.has(family), `${s.name} has a TYPE line`);
    }
  });

  it('follows the broker between scrapes', async () => {
    const { b, c, source } = fixture();
    const m = createMetrics(source, { defaultMetrics: false });
    b.stats.publishReceived = 1;
    c.clients = [{ clientId: 'x', address: 'a', protocolVersion: 4, transport: 'tcp', listener: 'l', listenerUrl: 'l', connectedAt: 0 }];
    let p = parsePrometheus(await m.render());
    assert.equal(sampleValue(p, 'starling_publish_received_total'), 1);
    assert.equal(sampleValue(p, 'starling_connections', { listener: 'l' }), 1);
    b.stats.publishReceived = 7;
    c.clients = [];
    await new Promise((r) => setTimeout(r, 120)); // past the per-scrape session cache
    p = parsePrometheus(await m.render());
    assert.equal(sampleValue(p, 'starling_publish_received_total'), 7);
    assert.equal(p.samples.filter((s) => s.name === 'starling_connections').length, 0, 'gone listeners leave no stale series');
  });

  it('records store write latency in a histogram', async () => {
    const { source } = fixture();
    const m = createMetrics(source, { defaultMetrics: false, storeBuckets: [0.001, 0.01, 0.1] });
    m.observeStoreWrite(0.0005);
    m.observeStoreWrite(0.005);
    m.observeStoreWrite(0.5);
    const p = parsePrometheus(await m.render());
    assert.equal(sampleValue(p, 'starling_store_write_seconds_bucket', { le: '0.001' }), 1);
    assert.equal(sampleValue(p, 'starling_store_write_seconds_bucket', { le: '0.01' }), 2);
    assert.equal(sampleValue(p, 'starling_store_write_seconds_bucket', { le: '0.1' }), 2);
    assert.equal(sampleValue(p, 'starling_store_write_seconds_bucket', { le: '+Inf' }), 3);
    assert.equal(sampleValue(p, 'starling_store_write_seconds_count'), 3);
    assert.ok(Math.abs(sampleValue(p, 'starling_store_write_seconds_sum') - 0.5055) < 1e-9);
  });

  it('timedStore times open and every apply, failed ones too, and passes everything through', async () => {
    const seen: number[] = [];
    const opens: number[] = [];
    const inner = new MemoryStore();
    const store = timedStore(inner, (s) => seen.push(s), (s) => opens.push(s));
    assert.equal(store.durable, inner.durable);
    await store.open();
    assert.equal(opens.length, 1, 'open is timed apart from writes');
    assert.equal(seen.length, 0);
    await store.apply([{ op: 'retained.put', message: { id: '1', topic: 't', payload: Buffer.from('v'), qos: 0, retain: true, createdAt: 0 } }]);
    assert.equal(seen.length, 1);
    assert.ok(seen[0] >= 0 && seen[0] < 5);
    const failing = timedStore({ ...inner, durable: false, open: () => inner.open(), close: () => inner.close(), apply: () => Promise.reject(new Error('disk full')) }, (s) => seen.push(s));
    await assert.rejects(failing.apply([]), /disk full/);
    assert.equal(seen.length, 2);
    await store.close();
  });

  it('uses its own registry: two brokers do not mix and the global registry stays empty', async () => {
    const one = fixture();
    const two = fixture();
    one.b.stats.bytesSent = 1;
    two.b.stats.bytesSent = 2;
    const m1 = createMetrics(one.source, { defaultMetrics: false });
    const m2 = createMetrics(two.source, { defaultMetrics: false });
    assert.notEqual(m1.registry, m2.registry);
    assert.equal(sampleValue(parsePrometheus(await m1.render()), 'starling_bytes_sent_total'), 1);
    assert.equal(sampleValue(parsePrometheus(await m2.render()), 'starling_bytes_sent_total'), 2);
    assert.equal(globalRegister.getSingleMetric('starling_bytes_sent_total'), undefined);
  });

  it('includes process metrics with event-loop lag on the broker registry', async () => {
    const { source } = fixture();
    const m = createMetrics(source);
    const p = parsePrometheus(await m.render());
    assert.equal(p.types.get('nodejs_eventloop_lag_seconds'), 'gauge');
    assert.ok(sampleValue(p, 'nodejs_eventloop_lag_seconds') >= 0);
    assert.ok(sampleValue(p, 'process_resident_memory_bytes') > 0);
  });

  it('is served at /metrics with the exposition content type', async () => {
    const { b, source } = fixture();
    b.stats.publishSent = 42;
    const m = createMetrics(source, { defaultMetrics: false });
    const s = await serve(createHttpHandler({ consoleDir: null, mqttBundle: null, metrics: m }));
    try {
      const r = await http(s.port, '/metrics');
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.equal(sampleValue(parsePrometheus(r.text), 'starling_publish_sent_total'), 42);
      const post = await http(s.port, '/metrics', { method: 'POST' });
      assert.equal(post.status, 405);
    } finally {
      await s.close();
    }
  });

  it('/metrics falls through when no metrics are configured', async () => {
    const s = await serve(createHttpHandler({ consoleDir: null, mqttBundle: null }));
    try {
      const r = await http(s.port, '/metrics');
      assert.equal(r.status, 404);
      assert.equal(r.text, 'fell through');
    } finally {
      await s.close();
    }
  });
});
