// The properties table checked against the spec's table (MQTT 5 section 2.2.2.2), written out again
// here by hand, and every property tried in every context: accepted where allowed, 0x82 elsewhere.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '../../src/protocol/codec.js';
import { MqttError } from '../../src/protocol/errors.js';
import type { Packet, Properties } from '../../src/protocol/packets.js';
import { PROPERTY_TABLE, propertyAllowed, propertyById, type PropertyContext } from '../../src/protocol/properties.js';
import { bin, bytes, pkt, props, str, u16, u32, vbi } from '../vectors/build.js';
import { splitPacket } from '../vectors/frame.js';

type T = 'byte' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';
const ALL: PropertyContext[] = ['connect', 'connack', 'publish', 'will', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'disconnect', 'auth'];
const ACKS: PropertyContext[] = ['puback', 'pubrec', 'pubrel', 'pubcomp'];

/** [id, key, type, contexts] from the spec's property table. */
const SPEC: [number, keyof Properties, T, PropertyContext[]][] = [
  [0x01, 'payloadFormatIndicator', 'byte', ['publish', 'will']],
  [0x02, 'messageExpiryInterval', 'u32', ['publish', 'will']],
  [0x03, 'contentType', 'utf8', ['publish', 'will']],
  [0x08, 'responseTopic', 'utf8', ['publish', 'will']],
  [0x09, 'correlationData', 'binary', ['publish', 'will']],
  [0x0b, 'subscriptionIdentifiers', 'varint', ['publish', 'subscribe']],
  [0x11, 'sessionExpiryInterval', 'u32', ['connect', 'connack', 'disconnect']],
  [0x12, 'assignedClientIdentifier', 'utf8', ['connack']],
  [0x13, 'serverKeepAlive', 'u16', ['connack']],
  [0x15, 'authenticationMethod', 'utf8', ['connect', 'connack', 'auth']],
  [0x16, 'authenticationData', 'binary', ['connect', 'connack', 'auth']],
  [0x17, 'requestProblemInformation', 'byte', ['connect']],
  [0x18, 'willDelayInterval', 'u32', ['will']],
  [0x19, 'requestResponseInformation', 'byte', ['connect']],
  [0x1a, 'responseInformation', 'utf8', ['connack']],
  [0x1c, 'serverReference', 'utf8', ['connack', 'disconnect']],
  [0x1f, 'reasonString', 'utf8', ['connack', ...ACKS, 'suback', 'unsuback', 'disconnect', 'auth']],
  [0x21, 'receiveMaximum', 'u16', ['connect', 'connack']],
  [0x22, 'topicAliasMaximum', 'u16', ['connect', 'connack']],
  [0x23, 'topicAlias', 'u16', ['publish']],
  [0x24, 'maximumQoS', 'byte', ['connack']],
  [0x25, 'retainAvailable', 'byte', ['connack']],
  [0x26, 'userProperties', 'pair', ALL],
  [0x27, 'maximumPacketSize', 'u32', ['connect', 'connack']],
  [0x28, 'wildcardSubscriptionAvailable', 'byte', ['connack']],
  [0x29, 'subscriptionIdentifiersAvailable', 'byte', ['connack']],
  [0x2a, 'sharedSubscriptionAvailable', 'byte', ['connack']],
];

/** A packet of `ctx` whose (only) property block is `block`. */
function packetWith(ctx: PropertyContext, block: number[]): Buffer {
  const MQTT = str('MQTT');
  switch (ctx) {
    case 'connect': return pkt(0x10, MQTT, 5, 0x02, u16(60), block, str('c'));
    case 'will': return pkt(0x10, MQTT, 5, 0x06, u16(60), props(), str('c'), block, str('w'), bin());
    case 'connack': return pkt(0x20, 0, 0, block);
    case 'publish': return pkt(0x30, str('t'), block);
    case 'puback': return pkt(0x40, u16(1), 0, block);
    case 'pubrec': return pkt(0x50, u16(1), 0, block);
    case 'pubrel': return pkt(0x62, u16(1), 0, block);
    case 'pubcomp': return pkt(0x70, u16(1), 0, block);
    case 'subscribe': return pkt(0x82, u16(1), block, str('a'), 0);
    case 'suback': return pkt(0x90, u16(1), block, 0);
    case 'unsubscribe': return pkt(0xa2, u16(1), block, str('a'));
    case 'unsuback': return pkt(0xb0, u16(1), block, 0);
    case 'disconnect': return pkt(0xe0, 0, block);
    case 'auth': return pkt(0xf0, 0x18, block);
    default: throw new Error(`${ctx} carries no properties`);
  }
}

const SAMPLE: Record<T, [number[], unknown]> = {
  byte: [[1], 1],
  u16: [u16(1), 1],
  u32: [u32(1), 1],
  varint: [vbi(1), [1]],
  utf8: [str('x'), 'x'],
  binary: [bin(1), Buffer.from([1])],
  pair: [[...str('k'), ...str('v')], [['k', 'v']]],
};

function propsOf(p: Packet, ctx: PropertyContext): Properties | undefined {
  if (ctx === 'will') return p.type === 'connect' ? p.will?.properties : undefined;
  return 'properties' in p ? p.properties : undefined;
}

describe('properties table', () => {
  it('matches the spec table: identifiers, names, types and contexts', () => {
    assert.equal(PROPERTY_TABLE.length, SPEC.length);
    for (const [id, key, type, ctxs] of SPEC) {
      const d = propertyById(id);
      assert.ok(d, `0x${id.toString(16)} defined`);
      assert.equal(d.key, key);
      assert.equal(d.type, type);
      assert.deepEqual([...d.allowedIn].sort(), [...ctxs].sort(), key);
      for (const c of ALL) assert.equal(propertyAllowed(key, c), ctxs.includes(c), `${key} in ${c}`);
    }
    for (let id = 0; id < 256; id++) if (!SPEC.some((s) => s[0] === id)) assert.equal(propertyById(id), undefined);
  });

  for (const [id, key, type, ctxs] of SPEC) {
    it(`0x${id.toString(16).padStart(2, '0')} ${key}: decodes where allowed, malformed elsewhere (2.2.2.2)`, () => {
      const [raw, value] = SAMPLE[type];
      // Authentication Data needs an Authentication Method beside it (3.1.2.11.10).
      const extra = key === 'authenticationData' ? [0x15, ...str('m')] : [];
      for (const ctx of ALL) {
        const b = packetWith(ctx, props(id, raw, extra));
        const { first, body } = splitPacket(b);
        const version = ctx === 'connect' || ctx === 'will' ? undefined : 5;
        if (ctxs.includes(ctx)) {
          const p = decode(first, body, version);
          assert.deepEqual(propsOf(p, ctx)?.[key], value, `${key} in ${ctx}`);
          // And back: our encoder writes the same bytes.
          assert.equal(encode(p, 5).toString('hex'), b.toString('hex'), `${key} in ${ctx} re-encoded`);
        } else {
          assert.throws(() => decode(first, body, version), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x81, `${key} in ${ctx}`);
        }
      }
    });
  }

  it('user property may repeat everywhere, keeping order and duplicates [MQTT-3.3.2-18]', () => {
    const pair = (k: string, val: string) => [0x26, ...str(k), ...str(val)];
    const b = packetWith('puback', props(pair('a', '1'), pair('b', '2'), pair('a', '1')));
    const { first, body } = splitPacket(b);
    assert.deepEqual(propsOf(decode(first, body, 5), 'puback')?.userProperties, [['a', '1'], ['b', '2'], ['a', '1']]);
  });

  it('subscription identifier repeats in PUBLISH only', () => {
    const pub = splitPacket(packetWith('publish', props(0x0b, 1, 0x0b, 2)));
    assert.deepEqual(propsOf(decode(pub.first, pub.body, 5), 'publish')?.subscriptionIdentifiers, [1, 2]);
    const sub = splitPacket(packetWith('subscribe', props(0x0b, 1, 0x0b, 2)));
    assert.throws(() => decode(sub.first, sub.body, 5), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x82);
  });

  it('no single-valued property may repeat', () => {
    for (const [id, key, type, ctxs] of SPEC) {
      if (type === 'pair' || type === 'varint') continue;
      const [raw] = SAMPLE[type];
      const extra = key === 'authenticationData' ? [0x15, ...str('m')] : [];
      const { first, body } = splitPacket(packetWith(ctxs[0], props(id, raw, id, raw, extra)));
      const version = ctxs[0] === 'connect' || ctxs[0] === 'will' ? undefined : 5;
      assert.throws(() => decode(first, body, version), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x82, key);
    }
  });

  it('flag properties accept 0 and 1 only; Maximum QoS 0 and 1 only', () => {
    for (const [id, key, type, ctxs] of SPEC) {
      if (type !== 'byte') continue;
      for (const val of [0, 1, 2, 255]) {
        const { first, body } = splitPacket(packetWith(ctxs[0], props(id, val)));
        const version = ctxs[0] === 'connect' || ctxs[0] === 'will' ? undefined : 5;
        if (val <= 1) assert.equal(propsOf(decode(first, body, version), ctxs[0])?.[key], val);
        else assert.throws(() => decode(first, body, version), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x82, `${key}=${val}`);
      }
    }
  });

  it('encode refuses a property the packet may not carry, or a value its type cannot hold', () => {
    const bad: [Packet, string][] = [
      [{ type: 'puback', packetId: 1, reasonCode: 0, properties: { topicAlias: 1 } }, 'topic alias in puback'],
      [{ type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { receiveMaximum: 70_000 } }, 'receive max in publish'],
      [{ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 70_000 } }, 'u16 overflow'],
      [{ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { sessionExpiryInterval: -1 } }, 'negative u32'],
      [{ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 1.5 } }, 'non-integer'],
      [{ type: 'subscribe', packetId: 1, properties: { subscriptionIdentifiers: [1, 2] }, subscriptions: [{ filter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 'two sub ids in subscribe'],
      [{ type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { subscriptionIdentifiers: [268_435_456] } }, 'sub id overflow'],
      [{ type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { bogus: 1 } as Properties }, 'unknown key'],
    ];
    for (const [p, what] of bad) assert.throws(() => encode(p, 5), MqttError, what);
  });

  it('encode skips properties whose value is undefined', () => {
    const p: Packet = { type: 'puback', packetId: 1, reasonCode: 0, properties: { reasonString: undefined } };
    assert.equal(encode(p, 5).toString('hex'), '40020001');
  });

  it('an empty property block decodes to no properties at all', () => {
    const { first, body } = splitPacket(bytes(0x30, 4, ...str('t'), 0));
    assert.equal('properties' in decode(first, body, 5), false);
  });
});
