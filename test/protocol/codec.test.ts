// encode/decode behaviour beyond the catalogue: what each version leaves out, what cannot be encoded,
// and the dispatch table itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { codecs, decode, encode } from '../../src/protocol/codec.js';
import { PacketTypeCode } from '../../src/protocol/constants.js';
import { MqttError } from '../../src/protocol/errors.js';
import type { Packet, PublishPacket } from '../../src/protocol/packets.js';
import { connackCodeForV3, ReasonCode } from '../../src/protocol/reason-codes.js';
import { hex, pkt, str } from '../vectors/build.js';
import { splitPacket } from '../vectors/frame.js';

const hexOf = (p: Packet, v: 3 | 4 | 5) => encode(p, v).toString('hex');
const sub = { filter: 'a/b', qos: 1 as const, noLocal: true, retainAsPublished: true, retainHandling: 2 as const };

describe('codec table', () => {
  it('has one codec per packet type', () => {
    assert.deepEqual(Object.keys(codecs).sort(), Object.keys(PacketTypeCode).sort());
  });
});

describe('encode for 3.x leaves out what only MQTT 5 has', () => {
  it('acks drop reason code and properties', () => {
    for (const [type, first] of [['puback', '40'], ['pubrec', '50'], ['pubrel', '62'], ['pubcomp', '70']] as const) {
      const p = { type, packetId: 1, reasonCode: 0x87, properties: { reasonString: 'no' } } as Packet;
      assert.equal(hexOf(p, 4), `${first}020001`);
      assert.equal(hexOf(p, 3), `${first}020001`);
    }
  });
  it('PUBLISH drops properties', () => {
    const p: PublishPacket = { type: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { messageExpiryInterval: 5 } };
    assert.equal(hexOf(p, 4), '300400017478');
  });
  it('SUBSCRIBE drops properties and the MQTT 5 subscription options', () => {
    const p: Packet = { type: 'subscribe', packetId: 1, subscriptions: [sub], properties: { subscriptionIdentifiers: [3] } };
    assert.equal(hexOf(p, 4), hex('82 08 00 01 00 03 61 2f 62 01').toString('hex'));
  });
  it('SUBACK drops properties and writes every failure as 0x80 (3.9.3)', () => {
    const p: Packet = { type: 'suback', packetId: 1, reasonCodes: [0, 2, 0x87, 0xa2], properties: { reasonString: 'x' } };
    assert.equal(hexOf(p, 4), '9006000100028080');
  });
  it('UNSUBACK drops reason codes and properties', () => {
    assert.equal(hexOf({ type: 'unsuback', packetId: 9, reasonCodes: [0x11], properties: { reasonString: 'x' } }, 4), 'b0020009');
  });
  it('DISCONNECT drops reason code and properties', () => {
    assert.equal(hexOf({ type: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'x' } }, 4), 'e000');
  });
  it('CONNACK writes the given 3.x return code and drops properties; the caller maps MQTT 5 codes', () => {
    const p: Packet = { type: 'connack', sessionPresent: false, reasonCode: connackCodeForV3(ReasonCode.NotAuthorized), properties: { reasonString: 'x' } };
    assert.equal(hexOf(p, 4), '20020005');
  });
  it('CONNACK for 3.1 has no Session Present flag', () => {
    assert.equal(hexOf({ type: 'connack', sessionPresent: true, reasonCode: 0 }, 3), '20020000');
  });
  it('CONNECT drops connect and will properties', () => {
    const p: Packet = {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 1, clientId: 'c', properties: { sessionExpiryInterval: 9 },
      will: { topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false, properties: { willDelayInterval: 3 } },
    };
    assert.equal(hexOf(p, 4), pkt(0x10, str('MQTT'), 4, 0x06, 0, 1, str('c'), str('w'), 0, 0).toString('hex'));
  });
});

describe('encode refuses what cannot be represented', () => {
  const pub = (over: Partial<PublishPacket>): PublishPacket => ({ type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, ...over });
  const cases: [string, Packet, 3 | 4 | 5][] = [
    ['AUTH in 3.1.1', { type: 'auth', reasonCode: 0x18 }, 4],
    ['AUTH in 3.1', { type: 'auth', reasonCode: 0 }, 3],
    ['QoS 1 PUBLISH without packet id', pub({ qos: 1 }), 4],
    ['QoS 2 PUBLISH with packet id 0', pub({ qos: 2, packetId: 0 }), 5],
    ['packet id 65536', { type: 'puback', packetId: 65_536 }, 4],
    ['QoS 3', pub({ qos: 3 as 0 }), 4],
    ['topic over 65,535 bytes', pub({ topic: 'x'.repeat(65_536) }), 4],
    ['SUBSCRIBE with no filters', { type: 'subscribe', packetId: 1, subscriptions: [] }, 4],
    ['UNSUBSCRIBE with no filters', { type: 'unsubscribe', packetId: 1, filters: [] }, 5],
    ['MQTT 5 UNSUBACK without reason codes', { type: 'unsuback', packetId: 1 }, 5],
    ['SUBACK without reason codes', { type: 'suback', packetId: 1, reasonCodes: [] }, 5],
    ['reason code over 255', { type: 'disconnect', reasonCode: 256 }, 5],
    ['keep alive over 65,535', { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 70_000, clientId: '' }, 4],
    ['CONNECT version differs from the encoding version', { type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: '' }, 4],
    ['retain handling 3', { type: 'subscribe', packetId: 1, subscriptions: [{ ...sub, retainHandling: 3 as 0 }] }, 5],
    ['will QoS 3', { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: '', will: { topic: 't', payload: Buffer.alloc(0), qos: 3 as 0, retain: false } }, 4],
  ];
  for (const [what, p, v] of cases) {
    it(what, () => assert.throws(() => encode(p, v), MqttError));
  }

  it('a packet over the largest Remaining Length throws 0x95', () => {
    // Only the length is read before the size check, so a stand-in avoids allocating 256 MB.
    const huge = { length: 268_435_456 } as unknown as Buffer;
    assert.throws(() => encode(pub({ payload: huge }), 4), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x95);
  });
});

describe('decode', () => {
  it('CONNECT decodes by its own level whatever version is passed', () => {
    const { first, body } = splitPacket(pkt(0x10, str('MQTT'), 5, 0x02, 0, 0, 0, str('c')));
    for (const v of [undefined, 3, 4, 5] as const) assert.equal((decode(first, body, v) as { protocolVersion: number }).protocolVersion, 5);
  });

  it('keeps the PUBLISH payload, correlation data and password as views of the body', () => {
    const pubBytes = encode({ type: 'publish', topic: 't', payload: Buffer.from('abc'), qos: 0, retain: false, dup: false, properties: { correlationData: Buffer.from('id') } }, 5);
    const p = splitPacket(pubBytes);
    const pub = decode(p.first, p.body, 5);
    assert.ok(pub.type === 'publish');
    assert.equal(pub.payload.buffer, pubBytes.buffer);
    assert.equal(pub.properties?.correlationData?.buffer, pubBytes.buffer);
    const conBytes = encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'c', username: 'u', password: Buffer.from('pw') }, 4);
    const c = splitPacket(conBytes);
    const con = decode(c.first, c.body, undefined);
    assert.ok(con.type === 'connect');
    assert.equal(con.password?.buffer, conBytes.buffer);
  });

  it('a 3.1 receiver ignores the flag bits 3.1 never reserved', () => {
    // PINGREQ with flags, DUP on QoS 0, CONNECT flag bit 0, SUBSCRIBE upper option bits.
    const d = (b: Buffer, v: 3 | undefined) => {
      const { first, body } = splitPacket(b);
      return decode(first, body, v);
    };
    assert.deepEqual(d(hex('c2 00'), 3), { type: 'pingreq' });
    assert.equal((d(pkt(0x38, str('t')), 3) as PublishPacket).dup, true);
    assert.equal(d(pkt(0x10, str('MQIsdp'), 3, 0x03, 0, 0, str('c')), undefined).type, 'connect');
    assert.equal(d(pkt(0x82, 0, 1, str('a'), 0xfd), 3).type, 'subscribe');
  });

  it('a 3.1.1 receiver enforces them', () => {
    const { first, body } = splitPacket(pkt(0x82, 0, 1, str('a'), 0x05));
    assert.throws(() => decode(first, body, 4), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x81);
  });
});
