// /metrics and $SYS read from a real broker after known traffic from MQTT.js clients over mqtt://
// and ws://: every counter is checked against what the clients actually sent, to the byte, with
// packet sizes computed by mqtt-packet rather than written out by hand.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { http, parsePrometheus, sampleValue, type PromText } from './helpers.js';

/** Bytes of a QoS 0 PUBLISH without properties, as a client of this version sends it. */
const publishSize = (topic: string, payload: string, protocolVersion: 4 | 5): number =>
  mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, { protocolVersion }).length;

/** Polls `read` until `ok` holds; on timeout fails with the last value read. */
async function until<T>(read: () => Promise<T> | T, ok: (v: T) => boolean, label: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 25));
    last = await read();
  }
  return last;
}

describe('/metrics scraped from a real broker after known traffic', () => {
  let t: TestServer;
  let dataDir = '';
  let pub: MqttClient;
  let sub: MqttClient;
  let inbox: Inbox;

  const scrape = async (): Promise<PromText> => {
    const r = await http(t.port('ws'), '/metrics');
    assert.equal(r.status, 200);
    return parsePrometheus(r.text);
  };
  const counters = (p: PromText) => ({
    messagesReceived: sampleValue(p, 'starling_messages_received_total'),
    messagesSent: sampleValue(p, 'starling_messages_sent_total'),
    publishReceived: sampleValue(p, 'starling_publish_received_total'),
    publishSent: sampleValue(p, 'starling_publish_sent_total'),
    bytesReceived: sampleValue(p, 'starling_bytes_received_total'),
    bytesSent: sampleValue(p, 'starling_bytes_sent_total'),
    storeWrites: sampleValue(p, 'starling_store_write_seconds_count'),
  });
  const delta = (a: ReturnType<typeof counters>, b: ReturnType<typeof counters>) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof typeof a]])) as ReturnType<typeof counters>;

  before(async () => {
    // No $SYS: its messages would go to nobody, but keep the counters to client traffic only.
    // SQLite: with persistence=memory nothing is written to a store (it keeps nothing), so there
    // would be no store writes to observe.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'starling-traffic-'));
    t = await startTestServer({ mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0', sysIntervalSec: '0', persistence: 'sqlite', dataDir });
    pub = await connectClient(t.url('mqtt'), { clientId: 'metrics-pub', protocolVersion: 4, keepalive: 0 });
    // A persistent session (expiry > 0): its QoS 1 messages are written to the store.
    sub = await connectClient(t.url('ws'), { clientId: 'metrics-sub', protocolVersion: 5, keepalive: 0, clean: false, properties: { sessionExpiryInterval: 600 } });
    inbox = new Inbox(sub);
    await sub.subscribeAsync('m/#', { qos: 1 });
  });

  after(async () => {
    if (pub) await endClient(pub, true);
    if (sub) await endClient(sub, true);
    await t?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts connections by listener and protocol', async () => {
    const p = await scrape();
    const [tcp, ws] = t.server.listeners;
    assert.equal(sampleValue(p, 'starling_connections', { listener: tcp.url, protocol: '3.1.1' }), 1);
    assert.equal(sampleValue(p, 'starling_connections', { listener: ws.url, protocol: '5.0' }), 1);
    assert.equal(p.samples.filter((s) => s.name === 'starling_connections').reduce((n, s) => n + s.value, 0), 2);
  });

  it('counts QoS 0 messages and their bytes in (mqtt://, 3.1.1) and out (ws://, 5.0) exactly', async () => {
    const N = 25;
    const payload = 'payload-12';
    const before = counters(await scrape());
    for (let i = 0; i < N; i++) await pub.publishAsync('m/q0', payload, { qos: 0 });
    await inbox.waitFor(N);
    const want = {
      messagesReceived: N,
      messagesSent: N,
      publishReceived: N,
      publishSent: N,
      bytesReceived: N * publishSize('m/q0', payload, 4),
      bytesSent: N * publishSize('m/q0', payload, 5),
    };
    const got = await until(async () => delta(before, counters(await scrape())), (d) => d.publishSent === N, 'the deliveries to be counted');
    const { storeWrites, ...traffic } = got;
    assert.deepEqual(traffic, want);
    assert.equal(storeWrites, 0, 'QoS 0 never touches the store');
  });

  it('observes store writes for QoS 1 messages to a persistent session', async () => {
    const M = 4;
    const before = counters(await scrape());
    inbox.messages.length = 0;
    // Each publish waits for its PUBACK, which waits for the write: at least one batch per message.
    for (let i = 0; i < M; i++) await pub.publishAsync('m/q1', `durable-${i}`, { qos: 1 });
    await inbox.waitFor(M);
    const got = await until(async () => delta(before, counters(await scrape())), (d) => d.storeWrites >= M, `${M} store writes`);
    assert.equal(got.publishReceived, M);
    assert.equal(got.publishSent, M);
    const p = await scrape();
    assert.ok(sampleValue(p, 'starling_store_write_seconds_sum') > 0, 'write time is measured');
    const inf = sampleValue(p, 'starling_store_write_seconds_bucket', { le: '+Inf' });
    assert.equal(inf, sampleValue(p, 'starling_store_write_seconds_count'));
  });
});

describe('$SYS checked against known traffic on a real broker', () => {
  let t: TestServer;
  let watcher: MqttClient;
  let pub: MqttClient;
  /** Latest value of each $SYS/broker/... topic, and how many ticks (uptime messages) were seen. */
  const sys = new Map<string, string>();
  let ticks = 0;

  const num = (key: string): number => Number(sys.get(key));
  const nextTick = async (): Promise<void> => {
    const at = ticks;
    await until(() => ticks, (n) => n > at, 'a $SYS tick');
  };

  before(async () => {
    t = await startTestServer({ mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0', sysIntervalSec: '1' });
    pub = await connectClient(t.url('ws'), { clientId: 'sys-pub', protocolVersion: 5, keepalive: 0 });
    watcher = await connectClient(t.url('mqtt'), { clientId: 'sys-watch', protocolVersion: 4, keepalive: 0 });
    watcher.on('message', (topic, payload) => {
      const key = topic.replace(/^\$SYS\/broker\//, '');
      sys.set(key, payload.toString());
      // uptime comes last in every tick: the values before it belong to the same reading.
      if (key === 'uptime') ticks++;
    });
    await watcher.subscribeAsync('$SYS/broker/#', { qos: 0 });
  });

  after(async () => {
    if (pub) await endClient(pub, true);
    if (watcher) await endClient(watcher, true);
    await t?.close();
  });

  it('publish/messages/received, messages/received and bytes/received move by exactly the traffic sent', async () => {
    // A tick after both clients settled is the baseline (the watcher sends nothing from here on).
    await nextTick();
    await nextTick();
    const base = { publish: num('publish/messages/received'), messages: num('messages/received'), bytes: num('bytes/received') };
    assert.ok(base.messages >= 2, 'both CONNECTs and the SUBSCRIBE are already counted');

    const N = 17;
    const payload = 'sys-payload';
    for (let i = 0; i < N; i++) await pub.publishAsync('sys/count', payload, { qos: 0 });
    const size = publishSize('sys/count', payload, 5);
    await until(() => num('publish/messages/received'), (v) => v === base.publish + N, `publish/messages/received = ${base.publish + N}`);
    // The values of one tick arrive together; wait for that tick to finish.
    await nextTick();
    assert.equal(num('publish/messages/received') - base.publish, N);
    assert.equal(num('messages/received') - base.messages, N, 'no other packet arrived from a client');
    assert.equal(num('bytes/received') - base.bytes, N * size);
    assert.equal(num('clients/connected'), 2);
  });
});
