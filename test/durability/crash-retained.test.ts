// Crash tests for retained messages: a real broker process on SQLite is killed with SIGKILL while
// retained values stream in, and started again on the same data directory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { crashBroker, stream } from './helpers.js';

const TOPICS = 20;

describe('durability: retained messages across SIGKILL', () => {
  it('every acknowledged retained value survives: a new subscriber sees the last acknowledged one per topic, or a later one', async () => {
    const run = await crashBroker();
    let broker = run.broker;
    const { url } = run;
    const pub = await connectClient(url, { clientId: 'rs-pub' });
    const total = 3000;
    let killed = false;
    // Value n goes to topic rs/(n mod 20): each topic is overwritten again and again.
    const acked = await stream(
      pub,
      (seq) => `rs/${seq % TOPICS}`,
      1,
      total,
      (n) => {
        if (!killed && n >= 1000) {
          killed = true;
          broker.child.kill('SIGKILL');
        }
      },
      true,
    );
    pub.end(true);
    await broker.kill();
    assert.ok(killed && acked.size < total, 'the broker was killed mid-stream');
    const lastAcked = new Map<string, number>();
    for (const seq of acked) {
      const topic = `rs/${seq % TOPICS}`;
      lastAcked.set(topic, Math.max(lastAcked.get(topic) ?? -1, seq));
    }
    assert.equal(lastAcked.size, TOPICS, 'every topic had an acknowledged value before the kill');

    broker = await run.restart();
    try {
      const sub = await connectClient(url, { clientId: 'rs-sub' });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('rs/#', { qos: 1 });
      const got = await inbox.waitFor(TOPICS, 10_000);
      await sleep(100);
      assert.equal(inbox.messages.length, TOPICS, 'one retained message per topic');
      for (const m of got) {
        const value = Number(m.payload.toString());
        const last = lastAcked.get(m.topic)!;
        assert.equal(value % TOPICS, Number(m.topic.slice(3)), `${m.topic} holds a value published to it`);
        assert.ok(value >= last, `${m.topic}: retained ${value}, last acknowledged ${last}`);
      }
      await endClient(sub);
    } finally {
      await broker.kill('SIGTERM');
    }
  });

  it('keeps a retained message with its expiry, counted down across the restart; one that expired is gone [MQTT-3.3.2-5, MQTT-3.3.2-6]', async () => {
    const run = await crashBroker();
    let broker = run.broker;
    const { url } = run;
    const pub = await connectClient(url, { clientId: 'rx-pub', protocolVersion: 5 });
    await pub.publishAsync('rx/long', 'sixty', { qos: 1, retain: true, properties: { messageExpiryInterval: 60 } });
    await pub.publishAsync('rx/short', 'one', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    pub.end(true);
    // Long enough for rx/short to expire and for rx/long to lose a whole second.
    await sleep(1500);
    await broker.kill();
    broker = await run.restart();
    try {
      const sub = await connectClient(url, { clientId: 'rx-sub', protocolVersion: 5 });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('rx/#', { qos: 1 });
      const [m] = await inbox.waitFor(1, 5000);
      await sleep(200);
      assert.deepEqual(inbox.messages.map((x) => x.topic), ['rx/long'], 'the expired retained message is not delivered');
      const left = m.packet.properties?.messageExpiryInterval;
      assert.ok(left !== undefined && left <= 59 && left > 40, `remaining expiry ${left} s, counted down from 60`);
      await endClient(sub);
    } finally {
      await broker.kill('SIGTERM');
    }
  });
});
