// What one client can make the broker hold, and send it, is bounded (issue 12, items 2 and 3; issue
// 13's unmapped topic alias): packets fitted to the client's Maximum Packet Size or not sent, and
// a CONNACK that cannot fit closes at once; Topic Alias Maximum both ways, checked before an alias
// is stored; User Properties per packet; the connection's memory budget. Raw packets
// (mqtt-packet) over real sockets; each offender gets the spec's reason code and a healthy client
// is untouched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import { connectClient, endClient, subackCodes } from '../helpers/mqttjs.js';
import { limitHits } from '../helpers/metrics.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { healthyClient } from '../helpers/healthy.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';

/** The whole packet's size as sent: fixed header (1 + length bytes) and remaining length. */
function wireSize(p: WirePacket): number {
  const rl = p.length as number;
  return 1 + (rl < 128 ? 1 : rl < 16_384 ? 2 : rl < 2_097_152 ? 3 : 4) + rl;
}

/** Reads to the close (bounded); returns the last packet. */
async function lastBeforeClose(w: WireClient, timeoutMs = 10_000): Promise<WirePacket | undefined> {
  let last: WirePacket | undefined;
  for (let i = 0; i < 20; i++) {
    const p = await w.nextOrClose(timeoutMs);
    if (!p) return last;
    last = p;
  }
  throw new Error('the connection was not closed');
}

describe('packets fitted to the client\'s Maximum Packet Size [MQTT-3.1.2-24], [MQTT-3.1.2-25]', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  // The slimmest success CONNACK here: fixed header 2, flags and code 2, properties length 1,
  // Maximum Packet Size 5, Receive Maximum 3 (32 is not the default), Topic Alias Maximum 3.
  const SLIMMEST = 16;

  for (const max of [1, SLIMMEST - 1, SLIMMEST, 20, 65_535, 65_536]) {
    it(`a client announcing Maximum Packet Size ${max} ${max < SLIMMEST ? 'is closed at once, without a CONNACK it could not read' : 'gets a CONNACK that fits, and is served'}`, async () => {
      const hitsBefore = await limitHits(t, 'connackTooLarge');
      const w = await WireClient.open(t.port(), 5);
      try {
        w.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: `mps-${max}`, properties: { maximumPacketSize: max } });
        const connack = await w.nextOrClose(10_000);
        if (max < SLIMMEST) {
          assert.equal(connack, undefined, 'no CONNACK larger than the client allows');
          assert.equal(await w.waitClosed(10_000), true, 'and no hanging connection either');
          assert.equal((await limitHits(t, 'connackTooLarge')) - hitsBefore, 1);
          return;
        }
        assert.equal(connack?.cmd, 'connack');
        assert.equal(connack?.reasonCode, 0);
        assert.ok(wireSize(connack!) <= max, `CONNACK of ${wireSize(connack!)} bytes for a maximum of ${max}`);
        if (max >= 65_535) assert.equal(connack?.properties?.sharedSubscriptionAvailable, true, 'nothing left out when it fits');
        w.send({ cmd: 'pingreq' });
        assert.equal((await w.next(5000)).cmd, 'pingresp');
      } finally {
        w.end();
      }
    });
  }

  it('a refusing CONNACK leaves out its Reason String to fit, and still arrives [MQTT-3.2.2-19]', async () => {
    const w = await WireClient.open(t.port(), 5);
    try {
      w.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: 'mps-refused', properties: { maximumPacketSize: 20, authenticationMethod: 'x'.repeat(65_000) } });
      const connack = await lastBeforeClose(w);
      assert.equal(connack?.cmd, 'connack');
      assert.equal(connack?.reasonCode, ReasonCode.BadAuthenticationMethod);
      assert.equal(connack?.properties?.reasonString, undefined);
      assert.ok(wireSize(connack!) <= 20);
    } finally {
      w.end();
    }
  });
});

describe('topic aliases: bounded both ways, stored only once the topic is accepted', () => {
  let t: TestServer;
  let healthy: Awaited<ReturnType<typeof healthyClient>>;
  before(async () => {
    t = await startTestServer(
      { maxTopicLength: '64', maxOutgoingTopicAliases: '2' },
      { hooks: { authorizePublish: (_i, topic) => (topic.startsWith('denied/') ? ReasonCode.NotAuthorized : ReasonCode.Success) } },
    );
    healthy = await healthyClient(t);
  });
  after(async () => {
    await endClient(healthy.client, true);
    await t.close();
  });

  const publish = (topic: string, alias: number, qos = 0, messageId = 1) => ({
    cmd: 'publish',
    topic,
    payload: Buffer.from('x'),
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { messageId } : {}),
    properties: { topicAlias: alias },
  });

  it('CONNACK grants mqttTopicAliasMaximum (10 by default), and alias 1 and 10 work', async () => {
    const { client: w, connack } = await WireClient.connect(t.port(), {}, 5);
    assert.equal(connack.properties?.topicAliasMaximum, 10);
    for (const alias of [1, 10]) {
      w.send(publish(`a/${alias}`, alias, 1, alias));
      assert.equal((await w.next(5000)).reasonCode ?? 0, ReasonCode.NoMatchingSubscribers);
      w.send(publish('', alias, 1, alias + 100));
      assert.equal((await w.next(5000)).reasonCode ?? 0, ReasonCode.NoMatchingSubscribers, 'the alias resolves');
    }
    w.end();
    await healthy.check();
  });

  for (const alias of [0, 11, 65_535]) {
    it(`a Topic Alias of ${alias} (0, or above the maximum) gets DISCONNECT 0x94 Topic Alias invalid, and is counted`, async () => {
      const before = await limitHits(t, 'topicAliasMaximum');
      const { client: w } = await WireClient.connect(t.port(), {}, 5);
      // mqtt-packet refuses to write alias 0; the bytes are the same as alias 1's but for it.
      if (alias === 0) {
        w.sendRaw([0x30, 8, 0, 1, 0x61, 3, 0x23, 0, 0, 0x78]);
      } else w.send(publish('t', alias));
      const last = await lastBeforeClose(w);
      assert.equal(last?.cmd, 'disconnect');
      assert.equal(last?.reasonCode, ReasonCode.TopicAliasInvalid);
      // Alias 0 is refused by the decoder already (the property's range); above the maximum, by the limit.
      assert.equal((await limitHits(t, 'topicAliasMaximum')) - before, alias === 0 ? 0 : 1);
      w.end();
      await healthy.check();
    });
  }

  it('an empty topic with an alias that has no mapping yet is a Protocol Error: DISCONNECT 0x82, not 0x94 (3.3.4)', async () => {
    const { client: w } = await WireClient.connect(t.port(), {}, 5);
    w.send(publish('', 3));
    const last = await lastBeforeClose(w);
    assert.equal(last?.reasonCode, ReasonCode.ProtocolError);
    w.end();
  });

  for (const [why, topic, code] of [
    ['over maxTopicLength', `long/${'x'.repeat(100)}`, ReasonCode.TopicNameInvalid],
    ['refused by authorization', 'denied/x', ReasonCode.NotAuthorized],
  ] as const) {
    it(`a topic ${why} is refused (PUBACK 0x${code.toString(16)}) and its alias is not stored: using it is 0x82`, async () => {
      const clientId = `alias-refused-${code}`;
      const { client: w } = await WireClient.connect(t.port(), { clientId }, 5);
      w.send(publish(topic, 2, 1, 1));
      const ack = await w.next(5000);
      assert.equal(ack.cmd, 'puback');
      assert.equal(ack.reasonCode, code);
      const conn = [...t.server.connections].find((c) => c.channel.clientId === clientId)!;
      assert.equal(conn.channel.inboundAliases.size, 0, 'nothing held for the refused topic');
      w.send(publish('', 2, 1, 2));
      assert.equal((await lastBeforeClose(w))?.reasonCode, ReasonCode.ProtocolError);
      w.end();
    });
  }

  it('towards a subscriber, no more than maxOutgoingTopicAliases aliases are used, whatever the client allows', async () => {
    const { client: sub } = await WireClient.connect(t.port(), { properties: { topicAliasMaximum: 1000 } }, 5);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'out/#', qos: 0 }] });
    assert.equal((await sub.next(5000)).cmd, 'suback');
    const pub = await connectClient(t.url(), { clientId: 'alias-out-pub' });
    const aliases = new Set<number>();
    for (let i = 0; i < 6; i++) {
      await pub.publishAsync(`out/${i}`, 'x', { qos: 1 });
      const p = await sub.next(5000);
      assert.equal(p.cmd, 'publish');
      aliases.add(p.properties?.topicAlias as number);
    }
    assert.ok([...aliases].every((a) => a >= 1 && a <= 2), `aliases used: ${[...aliases]}`);
    sub.end();
    await endClient(pub);
  });
});

describe('defaults that protect: Receive Maximum, subscriptions per client, User Properties', () => {
  let t: TestServer;
  let healthy: Awaited<ReturnType<typeof healthyClient>>;
  before(async () => {
    t = await startTestServer();
    healthy = await healthyClient(t);
  });
  after(async () => {
    await endClient(healthy.client, true);
    await t.close();
  });

  it('advertises Receive Maximum 32 by default (mqttReceiveMaximum)', async () => {
    const { client: w, connack } = await WireClient.connect(t.port(), {}, 5);
    assert.equal(connack.properties?.receiveMaximum, 32);
    w.end();
  });

  it('refuses the 1,001st subscription of one client by default (maxSubscriptionsPerClient): SUBACK 0x97', async () => {
    const c = await connectClient(t.url(), { protocolVersion: 5, clientId: 'many-subs' });
    const filters = Array.from({ length: 1001 }, (_, i) => `many/${i}`);
    const codes = await subackCodes(c, filters);
    assert.deepEqual(codes.slice(998), [0, 0, ReasonCode.QuotaExceeded]);
    await endClient(c);
  });

  const props = (n: number, valueBytes = 1) => Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(valueBytes)]);
  const asObject = (pairs: string[][]) => {
    // mqtt-packet takes User Properties as an object; an array value repeats the name.
    const o: Record<string, string | string[]> = {};
    for (const [k, v] of pairs) o[k] = v;
    return o;
  };

  for (const [name, userProperties, ok] of [
    ['32 User Properties (maxUserProperties)', asObject(props(32)), true],
    ['33 User Properties', asObject(props(33)), false],
    ['User Properties of 8,192 bytes (maxUserPropertyBytes)', { k: 'v'.repeat(8191) }, true],
    ['User Properties of 8,193 bytes', { k: 'v'.repeat(8192) }, false],
    ['one name repeated 40 times', { k: Array.from({ length: 40 }, () => 'v') }, false],
  ] as const) {
    it(`a PUBLISH with ${name} is ${ok ? 'accepted' : 'refused with DISCONNECT 0x97'}`, async () => {
      const before = await limitHits(t, 'maxUserProperties');
      const { client: w } = await WireClient.connect(t.port(), {}, 5);
      w.send({ cmd: 'publish', topic: 'up/x', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false, properties: { userProperties } });
      const answer = await w.next(5000);
      if (ok) {
        assert.equal(answer.cmd, 'puback');
        assert.equal((await limitHits(t, 'maxUserProperties')) - before, 0);
      } else {
        assert.equal(answer.cmd, 'disconnect');
        assert.equal(answer.reasonCode, ReasonCode.QuotaExceeded);
        assert.equal(await w.waitClosed(5000), true);
        assert.equal((await limitHits(t, 'maxUserProperties')) - before, 1);
      }
      w.end();
      await healthy.check();
    });
  }

  it('a CONNECT whose will carries 33 User Properties gets CONNACK 0x97', async () => {
    const w = await WireClient.open(t.port(), 5);
    w.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      clientId: 'will-props',
      will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false, properties: { userProperties: asObject(props(33)) } },
    });
    const connack = await lastBeforeClose(w);
    assert.equal(connack?.cmd, 'connack');
    assert.equal(connack?.reasonCode, ReasonCode.QuotaExceeded);
    w.end();
  });

  it('a CONNECT refused for its User Properties gets a CONNACK within the Maximum Packet Size it announced [MQTT-3.1.2-24]', async () => {
    const w = await WireClient.open(t.port(), 5);
    w.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      clientId: 'props-small',
      properties: { maximumPacketSize: 20, userProperties: asObject(props(33)) },
    });
    const connack = await lastBeforeClose(w);
    assert.equal(connack?.cmd, 'connack');
    assert.equal(connack?.reasonCode, ReasonCode.QuotaExceeded);
    // Fixed header (2 bytes for a remaining length below 128) plus the rest.
    assert.ok((connack as { length: number }).length + 2 <= 20, `CONNACK of ${(connack as { length: number }).length + 2} bytes`);
    assert.equal(connack?.properties?.reasonString, undefined, 'the Reason String was left out to fit');
    w.end();
  });
});

describe('maxClientMemory: the memory budget of one connection', () => {
  let t: TestServer;
  let healthy: Awaited<ReturnType<typeof healthyClient>>;
  before(async () => {
    t = await startTestServer({ mqttMessageMaxLength: '32768', maxClientMemory: '65536', mqttTopicAliasMaximum: '100' });
    healthy = await healthyClient(t);
  });
  after(async () => {
    await endClient(healthy.client, true);
    await t.close();
  });

  const big = (c: string) => `${c}/${'x'.repeat(15_000)}`;
  const aliasPublish = (topic: string, alias: number) => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });

  it('aliases within the budget are kept; the one that takes the connection over it gets DISCONNECT 0x97', async () => {
    const before = await limitHits(t, 'maxClientMemory');
    const { client: w } = await WireClient.connect(t.port(), { clientId: 'alias-hog' }, 5);
    // 15,002 characters held as about 30 KB each: two fit in 64 KiB, the third does not.
    w.send(aliasPublish(big('a'), 1));
    w.send(aliasPublish(big('b'), 2));
    w.send({ cmd: 'pingreq' });
    assert.equal((await w.next(5000)).cmd, 'pingresp');
    w.send(aliasPublish(big('c'), 3));
    const last = await lastBeforeClose(w);
    assert.equal(last?.cmd, 'disconnect');
    assert.equal(last?.reasonCode, ReasonCode.QuotaExceeded);
    assert.equal((await limitHits(t, 'maxClientMemory')) - before, 1);
    w.end();
    await healthy.check();
  });

  it('a packet received in part counts from its header on: with aliases held, a partial packet over the budget gets DISCONNECT 0x97', async () => {
    const { client: w } = await WireClient.connect(t.port(), { clientId: 'partial-hog' }, 5);
    w.send(aliasPublish(big('a'), 1));
    w.send(aliasPublish(big('b'), 2));
    w.send({ cmd: 'pingreq' });
    assert.equal((await w.next(5000)).cmd, 'pingresp');
    // The header of a 20,000-byte PUBLISH and a few bytes of it: 60 KB + 20 KB > 64 KiB.
    w.sendRaw([0x30, 0xa0, 0x9c, 0x01, 0, 1, 0x61]);
    const last = await lastBeforeClose(w);
    assert.equal(last?.reasonCode, ReasonCode.QuotaExceeded);
    w.end();
    await healthy.check();
  });
});

describe('mqttTopicAliasMaximum 0: no aliases from clients', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ mqttTopicAliasMaximum: '0' });
  });
  after(() => t.close());

  it('CONNACK carries no Topic Alias Maximum (absent means 0), and alias 1 gets DISCONNECT 0x94', async () => {
    const { client: w, connack } = await WireClient.connect(t.port(), {}, 5);
    assert.equal(connack.properties?.topicAliasMaximum, undefined);
    w.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } });
    assert.equal((await lastBeforeClose(w))?.reasonCode, ReasonCode.TopicAliasInvalid);
    w.end();
  });
});
