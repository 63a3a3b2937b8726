import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoadAverage } from '../../src/observe/load-average.js';
import { SysTree, startSysPublisher, SYS_PREFIX } from '../../src/observe/sys-topics.js';
import type { Broker } from '../../src/broker/broker.js';
import type { SysSource, BrokerView } from '../../src/observe/ports.js';
import { makeBroker, openChannel, connectPacket, settle } from '../helpers/channel.js';
import { FakeBroker, fakeSession } from './helpers.js';

// Compile-time: the real Broker is a SysSource without any adapter code.
type Assert<T extends true> = T;
export type BrokerIsSysSource = Assert<Broker extends SysSource ? true : false>;
export type BrokerIsBrokerView = Assert<Broker extends BrokerView ? true : false>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LoadAverage', () => {
  it('first reading is only a baseline', () => {
    const l = new LoadAverage();
    l.sample(500, 0);
    assert.equal(l.get('1min'), 0);
  });

  it('moves towards the per-minute rate by 1 - e^(-dt/window)', () => {
    const l = new LoadAverage();
    l.sample(0, 0);
    l.sample(600, 60); // 600 per minute for one minute
    assert.ok(Math.abs(l.get('1min') - 600 * (1 - Math.exp(-1))) < 1e-9);
    assert.ok(Math.abs(l.get('5min') - 600 * (1 - Math.exp(-60 / 300))) < 1e-9);
    assert.ok(Math.abs(l.get('15min') - 600 * (1 - Math.exp(-60 / 900))) < 1e-9);
  });

  it('converges to a steady rate and decays when traffic stops', () => {
    const l = new LoadAverage();
    let n = 0;
    l.sample(n, 0);
    for (let i = 0; i < 200; i++) l.sample((n += 100), 10); // 600/min
    assert.ok(Math.abs(l.get('1min') - 600) < 0.01, `1min ${l.get('1min')}`);
    // After 2000 s the 15-minute average has covered 1 - e^(-2000/900) of the way.
    assert.ok(Math.abs(l.get('15min') - 600 * (1 - Math.exp(-2000 / 900))) < 1e-6, `15min ${l.get('15min')}`);
    for (let i = 0; i < 120; i++) l.sample(n, 10); // 20 minutes idle: 600·e^-20
    assert.ok(l.get('1min') < 0.01);
  });

  it('a counter that goes backwards counts as no traffic', () => {
    const l = new LoadAverage();
    l.sample(100, 0);
    l.sample(10, 10);
    assert.equal(l.get('1min'), 0);
  });
});

describe('SysTree', () => {
  it('reports the Mosquitto $SYS layout from the broker view', () => {
    const b = new FakeBroker();
    b.clients.size = 2;
    b.sessions.set('a', fakeSession('a', { filters: ['x/#', 'y'], queued: 3, inflight: 2 }));
    b.sessions.set('b', fakeSession('b', { filters: ['z'], inflight: 1 }));
    b.sessions.set('c', fakeSession('c', { online: false, queued: 4 }));
    Object.assign(b.stats, { messagesReceived: 10, messagesSent: 7, publishReceived: 9, publishSent: 6, bytesReceived: 1234, bytesSent: 567 });
    b.stats.drops.queueFull = 2;
    b.stats.drops.expired = 1;
    Object.assign(b.stats, { limits: { maxRetainedBytes: 4, connectTimeout: 0 } });
    b.retained.map.set('r', { id: '1', topic: 'r', payload: Buffer.from('v'), qos: 0, retain: true, createdAt: 0 });
    const tree = new SysTree({ version: '9.9.9', heapUsed: () => 4096 });
    const v = tree.read(b, b.stats.startedAt + 125_400);
    assert.equal(v.get('version'), 'starling version 9.9.9');
    assert.equal(v.get('uptime'), '125 seconds');
    assert.equal(v.get('clients/connected'), '2');
    assert.equal(v.get('clients/total'), '3');
    assert.equal(v.get('clients/disconnected'), '1');
    assert.equal(v.get('clients/maximum'), '2');
    assert.equal(v.get('messages/received'), '10');
    assert.equal(v.get('messages/sent'), '7');
    assert.equal(v.get('messages/inflight'), '3');
    assert.equal(v.get('messages/queued'), '7');
    assert.equal(v.get('publish/messages/received'), '9');
    assert.equal(v.get('publish/messages/sent'), '6');
    assert.equal(v.get('publish/messages/dropped'), '3');
    assert.equal(v.get('publish/messages/dropped/queueFull'), '2', 'and each reason on its own');
    assert.equal(v.get('publish/messages/dropped/expired'), '1');
    assert.equal(v.has('publish/messages/dropped/tooLarge'), false, 'a reason appears with its first drop');
    assert.equal(v.get('bytes/received'), '1234');
    assert.equal(v.get('bytes/sent'), '567');
    assert.equal(v.get('subscriptions/count'), '3');
    // The client's one retained message (topic 'r', payload 'v': 2 bytes) and the tree itself, every
    // value of which is retained once published.
    assert.equal(v.get('retained messages/count'), String(1 + v.size));
    const treeBytes = [...v].reduce((n, [k, value]) => n + Buffer.byteLength(SYS_PREFIX + k) + Buffer.byteLength(value), 0);
    assert.equal(v.get('retained messages/bytes'), String(2 + treeBytes));
    assert.equal(v.get('limits/maxRetainedBytes'), '4');
    assert.equal(v.get('limits/connectTimeout'), '0');
    assert.equal(v.get('heap/current'), '4096');
    assert.equal(v.get('heap/maximum'), '4096');
    for (const name of ['messages/received', 'messages/sent', 'publish/received', 'publish/sent', 'publish/dropped', 'bytes/received', 'bytes/sent', 'connections']) {
      for (const w of ['1min', '5min', '15min']) assert.equal(v.get(`load/${name}/${w}`), '0.00', `load/${name}/${w}`);
    }
    assert.equal([...v.keys()].at(-1), 'uptime', 'uptime closes each sample');
  });

  it('retained messages/count and /bytes say what the index holds once the sample is published, its own values included', () => {
    const b = new FakeBroker();
    b.retained.map.set('r', { id: '1', topic: 'r', payload: Buffer.from('v'), qos: 0, retain: true, createdAt: 0 });
    const tree = new SysTree({ version: '1', heapUsed: () => 1 });
    let now = b.stats.startedAt;
    // The first sample adds the whole tree; later ones replace changed values (heap grows a digit,
    // a drop reason appears); around 10,000 bytes the figure's own digits change its total.
    for (const [heap, drops] of [[1, 0], [1, 0], [123_456, 0], [123_456, 5]]) {
      b.stats.drops.queueFull = drops;
      (tree as unknown as { heapUsed: () => number }).heapUsed = () => heap;
      now += 1000;
      const sample = tree.changes(b, now);
      for (const [topic, value] of sample) b.route({ id: topic, topic, payload: Buffer.from(value), qos: 0, retain: true, createdAt: now });
      const said = (key: string) => sample.find(([t]) => t === SYS_PREFIX + key)?.[1];
      const count = said('retained messages/count');
      const bytes = said('retained messages/bytes');
      if (count !== undefined) assert.equal(count, String(b.retained.size), `count after sample at ${now}`);
      if (bytes !== undefined) assert.equal(bytes, String(b.retained.bytes), `bytes after sample at ${now}`);
      assert.equal(tree.read(b, now).get('retained messages/count'), String(b.retained.size), 'nothing new to publish: the index as it is');
    }
    // Totals on both sides of 10,000, where the figure's own digits carry it over (x = base + digits(x)).
    const base = b.retained.bytes;
    let crossed = 0;
    for (let extra = -40; extra <= 40; extra++) {
      b.retained.map.set('big', { id: '2', topic: 'big', payload: Buffer.alloc(10_000 - base + extra), qos: 0, retain: true, createdAt: 0 });
      now += 1000;
      const sample = tree.changes(b, now);
      for (const [topic, value] of sample) b.route({ id: topic, topic, payload: Buffer.from(value), qos: 0, retain: true, createdAt: now });
      const said = sample.find(([t]) => t === `${SYS_PREFIX}retained messages/bytes`)?.[1];
      if (said === undefined) continue;
      assert.equal(said, String(b.retained.bytes), `bytes with ${extra} more`);
      if (b.retained.bytes >= 10_000) crossed++;
    }
    assert.ok(crossed > 0 && crossed < 81, 'totals on both sides of 10,000');
  });

  it('publishes only changed values, and uptime every time, last', () => {
    const b = new FakeBroker();
    const tree = new SysTree({ version: '1', heapUsed: () => 1, publishCounted: false });
    const first = tree.changes(b, b.stats.startedAt + 1000);
    assert.ok(first.length > 30, `first tick publishes the whole tree (${first.length})`);
    assert.ok(first.every(([t]) => t.startsWith(SYS_PREFIX)));
    const second = tree.changes(b, b.stats.startedAt + 2000);
    assert.deepEqual(second, [[SYS_PREFIX + 'uptime', '2 seconds']]);
    b.clients.size = 1;
    const third = tree.changes(b, b.stats.startedAt + 3000).map(([t]) => t);
    assert.deepEqual(third, [SYS_PREFIX + 'clients/connected', SYS_PREFIX + 'clients/total', SYS_PREFIX + 'clients/maximum', SYS_PREFIX + 'uptime']);
  });

  it('load averages follow traffic between ticks', () => {
    const b = new FakeBroker();
    const tree = new SysTree({ version: '1', heapUsed: () => 1, publishCounted: false });
    tree.read(b, b.stats.startedAt);
    b.stats.bytesReceived = 6000;
    const v = tree.read(b, b.stats.startedAt + 60_000);
    assert.equal(v.get('load/bytes/received/1min'), (6000 * (1 - Math.exp(-1))).toFixed(2));
  });

  it('does not count its own $SYS messages as received messages when the broker does', () => {
    const b = new FakeBroker();
    const tree = new SysTree({ version: '1', heapUsed: () => 1, publishCounted: true });
    const first = tree.changes(b, b.stats.startedAt + 1000);
    b.stats.messagesReceived += first.length; // what Broker.route does for each of them
    b.stats.messagesReceived += 5; // and five client messages
    const v = tree.read(b, b.stats.startedAt + 2000);
    assert.equal(v.get('messages/received'), '5');
  });
});

describe('startSysPublisher', () => {
  it('publishes retained QoS 0 messages with broker ids and clock, at once and on the interval', async () => {
    const b = new FakeBroker();
    const p = startSysPublisher(b, 0.05, { version: '1.2.3' });
    try {
      const first = b.published.length;
      assert.ok(first > 30, 'the whole tree at start');
      for (const m of b.published) {
        assert.equal(m.qos, 0);
        assert.equal(m.retain, true);
        assert.equal(m.createdAt, b.clock);
        assert.match(m.id, /^id-\d+$/);
        assert.equal(m.publisherId, undefined);
      }
      assert.equal(new Set(b.published.map((m) => m.id)).size, first, 'ids are unique');
      assert.equal(b.retained.get(SYS_PREFIX + 'version')?.payload.toString(), 'starling version 1.2.3');
      const deadline = Date.now() + 3000;
      while (b.published.length === first && Date.now() < deadline) await sleep(20);
      assert.ok(b.published.length > first, 'a later tick published uptime');
      assert.equal(b.published.at(-1)!.topic, SYS_PREFIX + 'uptime');
    } finally {
      p.stop();
    }
    const after = b.published.length;
    await sleep(150);
    assert.equal(b.published.length, after, 'nothing after stop()');
  });

  it('an interval of 0 disables $SYS', () => {
    const b = new FakeBroker();
    const p = startSysPublisher(b, 0);
    p.stop();
    assert.equal(b.published.length, 0);
  });

  it('a failing broker view is logged, not thrown', () => {
    const b = new FakeBroker();
    const errors: string[] = [];
    b.route = () => {
      throw new Error('boom');
    };
    const p = startSysPublisher(b, 10, { log: { info() {}, warn() {}, error: (_o, msg) => errors.push(msg) } });
    p.stop();
    assert.deepEqual(errors, ['$SYS update failed']);
  });
});

describe('$SYS through the real broker', () => {
  it('is retained, reaches $SYS/# subscribers and not # subscribers [MQTT-4.7.2-1]', async () => {
    const broker = await makeBroker();
    const sys = await openChannel(broker, connectPacket('sys-watcher'));
    const all = await openChannel(broker, connectPacket('hash-watcher'));
    sys.ch.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ filter: '$SYS/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    all.ch.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ filter: '#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await sys.io.waitFor(1);
    await all.io.waitFor(1);
    const p = startSysPublisher(broker, 60, { version: 't', publishCounted: false });
    try {
      await settle();
      const got = sys.io.take().filter((x) => x.type === 'publish');
      const topics = got.map((x) => (x.type === 'publish' ? x.topic : ''));
      assert.ok(topics.includes('$SYS/broker/clients/connected'), 'the $SYS subscriber got the tree');
      assert.equal(topics.at(-1), '$SYS/broker/uptime');
      const connected = got.find((x) => x.type === 'publish' && x.topic === '$SYS/broker/clients/connected');
      assert.equal(connected?.type === 'publish' && connected.payload.toString(), '2');
      assert.deepEqual(all.io.take().filter((x) => x.type === 'publish'), [], 'a # subscription does not match $SYS topics');
      assert.equal(broker.retained.get('$SYS/broker/version')?.payload.toString(), 'starling version t');
      // $SYS messages are routed, but they are not packets received from a client.
      assert.ok(broker.stats.messagesRouted >= got.length, 'the broker routed them');
      assert.equal(broker.stats.messagesReceived, 0, 'and did not count them as received packets');
      const tree = new SysTree({ version: 't' });
      assert.equal(tree.read(broker, broker.now()).get('subscriptions/count'), '2');
    } finally {
      p.stop();
      await broker.close();
    }
  });
});
