// The admin API's publish and delete meet exactly the topic rules and limits an MQTT PUBLISH meets
// (one check: src/channel/topic-rules.ts). Each case is put to both: MQTT over a raw socket (packets
// by mqtt-packet) or MQTT.js, and the admin API over HTTP, which answers 400 naming the rule.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { WireClient } from '../helpers/wire.js';
import { http } from './helpers.js';

const TOKEN = 'topic-rules-token-0123456789';
const auth = { Authorization: `Bearer ${TOKEN}` };

describe('admin API: the topic rules of an MQTT PUBLISH', () => {
  let t: TestServer;
  const publish = (body: unknown) =>
    http(t.port('ws'), '/api/v1/publish', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const del = (topic: string) => http(t.port('ws'), `/api/v1/retained?topic=${encodeURIComponent(topic)}`, { method: 'DELETE', headers: auth });

  before(async () => {
    t = await startTestServer({ httpAdminToken: TOKEN, maxTopicLevels: '5', mqttMessageMaxLength: '8192', sysIntervalSec: '0' });
  });
  after(() => t.close());

  it('refuses a topic over 65,535 bytes in UTF-8 (rule encodedLength), in ASCII and in characters under maxTopicLength; nothing is retained and # subscribers are served', async () => {
    const before = t.server.broker.retained.size;
    for (const topic of ['a'.repeat(65_536), 'é'.repeat(40_000)]) {
      const r = await publish({ topic, payload: 'x', retain: true });
      assert.equal(r.status, 400);
      assert.equal(r.json().rule, 'encodedLength');
      assert.ok(r.text.length < 500, 'the answer does not quote the topic');
    }
    assert.equal(t.server.broker.retained.size, before);
    // A legitimate retained message next to it still reaches a new subscriber to #.
    assert.equal((await publish({ topic: 'ok/one', payload: 'v', retain: true })).status, 200);
    const s = await connectClient(t.url(), { clientId: 'hash-sub' });
    const inbox = new Inbox(s);
    await s.subscribeAsync('#');
    await inbox.waitFor(1);
    assert.ok(s.connected, 'the # subscriber stays connected');
    await endClient(s);
  });

  it('refuses wildcard topics: MQTT closes the connection with 0x90 [MQTT-3.3.2-2]; the admin API answers 400 rule wildcard', async () => {
    for (const topic of ['a/+', 'a/#', '#', '+']) {
      const { client } = await WireClient.connect(t.port(), { clientId: `wild-${topic.length}` }, 5);
      client.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 1, retain: true });
      const answer = await client.nextOrClose(5000);
      assert.ok(answer === undefined || (answer.cmd === 'disconnect' && answer.reasonCode === 0x90), `MQTT refuses ${topic}`);
      client.end();
      const r = await publish({ topic, payload: 'x', retain: true });
      assert.equal(r.status, 400, topic);
      assert.equal(r.json().rule, 'wildcard', topic);
      const d = await del(topic);
      assert.equal(d.status, 400, `DELETE ${topic}`);
      assert.equal(d.json().rule, 'wildcard');
    }
  });

  it('refuses the empty topic: MQTT 3.1.1 closes the connection [MQTT-4.7.3-1]; the admin API answers 400 rule empty, for publish and delete', async () => {
    const { client } = await WireClient.connect(t.port(), { clientId: 'empty-topic' }, 4);
    client.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: true });
    assert.equal(await client.waitClosed(5000), true);
    const r = await publish({ topic: '', payload: 'x' });
    assert.equal(r.status, 400);
    assert.equal(r.json().rule, 'empty');
    const d = await del('');
    assert.equal(d.status, 400);
    assert.equal(d.json().rule, 'empty');
  });

  it('refuses to publish to or clear $SYS topics, which are the broker\'s own: 400 rule sysTopic', async () => {
    for (const topic of ['$SYS', '$SYS/broker/version']) {
      const r = await publish({ topic, payload: 'forged', retain: true });
      assert.equal(r.status, 400, `publish ${topic}`);
      assert.equal(r.json().rule, 'sysTopic');
      const d = await del(topic);
      assert.equal(d.status, 400, `DELETE ${topic}`);
      assert.equal(d.json().rule, 'sysTopic');
    }
    // Topics that only begin like it are ordinary.
    const ok = await publish({ topic: '$SYSTEM/x', payload: 'fine', retain: true });
    assert.equal(ok.status, 200);
  });

  it('refuses U+0000 and lone surrogates, which no MQTT string can carry [MQTT-1.5.4-1, MQTT-1.5.4-2]', async () => {
    for (const [topic, rule] of [['a\u0000b', 'nullCharacter'], ['a/\ud800', 'malformedUtf8'], ['a/\udc00b', 'malformedUtf8']] as const) {
      const r = await publish({ topic, payload: 'x' });
      assert.equal(r.status, 400, JSON.stringify(topic));
      assert.equal(r.json().rule, rule);
    }
    // A proper surrogate pair is fine.
    assert.equal((await publish({ topic: 'emoji/😀', payload: 'x' })).status, 200);
  });

  it('applies the configured limits: maxTopicLevels refuses a PUBLISH with PUBACK 0x90 and the admin API with 400 rule maxTopicLevels', async () => {
    const deep = 'a/b/c/d/e/f';
    const { client } = await WireClient.connect(t.port(), { clientId: 'deep-topic' }, 5);
    client.send({ cmd: 'publish', topic: deep, payload: Buffer.from('x'), qos: 1, messageId: 7, retain: true });
    const ack = await client.next(5000);
    assert.equal(ack.cmd, 'puback');
    assert.equal(ack.reasonCode, 0x90);
    client.end();
    const r = await publish({ topic: deep, payload: 'x', retain: true });
    assert.equal(r.status, 400);
    assert.equal(r.json().rule, 'maxTopicLevels');
    assert.equal((await del(deep)).json().rule, 'maxTopicLevels');
    assert.equal(t.server.broker.retained.get(deep), undefined);
  });

  it('applies mqttMessageMaxLength: MQTT closes with DISCONNECT 0x95 [MQTT-3.2.2-15]; the admin API answers 400 rule mqttMessageMaxLength', async () => {
    const payload = 'p'.repeat(9000);
    const { client } = await WireClient.connect(t.port(), { clientId: 'big-publish' }, 5);
    client.send({ cmd: 'publish', topic: 'big/one', payload: Buffer.from(payload), qos: 1, messageId: 3 });
    const answer = await client.nextOrClose(5000);
    assert.ok(answer === undefined || (answer.cmd === 'disconnect' && answer.reasonCode === 0x95), 'MQTT refuses the packet');
    client.end();
    const r = await publish({ topic: 'big/one', payload, qos: 1 });
    assert.equal(r.status, 400);
    assert.equal(r.json().rule, 'mqttMessageMaxLength');
    assert.equal((await publish({ topic: 'big/one', payload: payload.slice(0, 8000), qos: 1 })).status, 200, 'one that fits is published');
  });

  it('still deletes what is legitimately retained: published over MQTT or the admin API, long or non-ASCII topics', async () => {
    const topics = ['legit/température/€', `legit/${'k'.repeat(4000)}`, 'legit/a/b/c'];
    const p = await connectClient(t.url(), { clientId: 'legit-pub' });
    for (const topic of topics.slice(0, 2)) await p.publishAsync(topic, 'v', { qos: 1, retain: true });
    await endClient(p);
    assert.equal((await publish({ topic: topics[2], payload: 'v', retain: true })).status, 200);
    for (const topic of topics) {
      assert.ok(t.server.broker.retained.get(topic), `retained: ${topic.slice(0, 30)}`);
      const d = await del(topic);
      assert.equal(d.status, 200, topic.slice(0, 30));
      assert.deepEqual(d.json(), { topic, deleted: true });
      assert.equal(t.server.broker.retained.get(topic), undefined);
    }
    await sleep(50);
    assert.equal((await del(topics[0])).status, 404, 'gone once deleted');
  });
});
