import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, UnsupportedProtocolError } from '../../src/protocol/codec.js';
import { MqttError } from '../../src/protocol/errors.js';
import { PacketParser } from '../../src/protocol/parser.js';
import { validVector } from '../vectors/catalogue.js';
import { hex, pkt, str, u16, vbi } from '../vectors/build.js';

const code = (c: number) => (e: unknown) => e instanceof MqttError && e.reasonCode === c;

describe('PacketParser: maximum packet size', () => {
  it('refuses an oversized packet from its fixed header alone, before any body arrives (0x95)', () => {
    const parser = new PacketParser({ maxPacketSize: 1024, version: 4 });
    // Only the fixed header of a 100 MB PUBLISH: nothing of the body is sent, so nothing can be buffered.
    assert.throws(() => parser.push(Buffer.from([0x30, ...vbi(100_000_000)])), code(0x95));
  });

  it('counts the fixed header: a packet of exactly maxPacketSize passes, one byte more fails', () => {
    const p = pkt(0x30, str('t'), Buffer.alloc(10)); // 2 + 3 + 10 = 15 bytes
    assert.equal(p.length, 15);
    assert.equal(new PacketParser({ maxPacketSize: 15, version: 4 }).push(p).length, 1);
    assert.throws(() => new PacketParser({ maxPacketSize: 14, version: 4 }).push(p), code(0x95));
  });

  it('applies to CONNECT too, before the version is known', () => {
    const connect = validVector('connect v5 every connect and will property').bytes;
    assert.throws(() => new PacketParser({ maxPacketSize: connect.length - 1 }).push(connect), code(0x95));
  });

  it('reads maxPacketSize at each packet, so it can be lowered after CONNECT', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 5 });
    const pub = pkt(0x30, str('t'), 0, Buffer.alloc(100));
    assert.equal(parser.push(pub).length, 1);
    parser.maxPacketSize = 50;
    assert.throws(() => parser.push(pub), code(0x95));
  });
});

describe('PacketParser: framing', () => {
  it('rejects a fifth Remaining Length byte even when it arrives alone', () => {
    const parser = new PacketParser({ maxPacketSize: 1 << 30, version: 4 });
    assert.deepEqual(parser.push(hex('30 ff ff')), []);
    assert.deepEqual(parser.push(hex('ff')), []);
    assert.throws(() => parser.push(hex('ff')), code(0x81));
  });

  it('decodes many packets from one chunk, in order', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 4 });
    const chunk = Buffer.concat([hex('c0 00'), pkt(0x30, str('a'), 1), hex('40 02 00 05'), hex('e0 00')]);
    assert.deepEqual(parser.push(chunk).map((p) => p.type), ['pingreq', 'publish', 'puback', 'disconnect']);
  });

  it('returns nothing for an empty chunk and keeps state across it', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 4 });
    assert.deepEqual(parser.push(hex('40')), []);
    assert.deepEqual(parser.push(Buffer.alloc(0)), []);
    assert.deepEqual(parser.push(hex('02 00')), []);
    assert.deepEqual(parser.push(Buffer.alloc(0)), []);
    assert.deepEqual(parser.push(hex('09')), [{ type: 'puback', packetId: 9 }]);
  });

  it('reassembles a 1 MB PUBLISH delivered in 1,000-byte chunks', () => {
    const payload = Buffer.alloc(1 << 20, 0x5a);
    const bytes = encode({ type: 'publish', topic: 'big', payload, qos: 1, retain: false, dup: false, packetId: 3 }, 4);
    const parser = new PacketParser({ maxPacketSize: 2 << 20, version: 4 });
    const got = [];
    for (let i = 0; i < bytes.length; i += 1000) got.push(...parser.push(bytes.subarray(i, i + 1000)));
    assert.equal(got.length, 1);
    const p = got[0];
    assert.equal(p.type, 'publish');
    if (p.type === 'publish') assert.ok(p.payload.equals(payload));
  });
});

describe('PacketParser: zero copy', () => {
  it('a packet inside one chunk decodes to views of that chunk', () => {
    const chunk = Buffer.concat([hex('c0 00'), pkt(0x30, str('t'), Buffer.from('payload'))]);
    const [, p] = new PacketParser({ maxPacketSize: 1000, version: 4 }).push(chunk);
    assert.ok(p.type === 'publish');
    assert.equal(p.payload.toString(), 'payload');
    // A view shares memory with the chunk: writing to the chunk shows through.
    chunk[chunk.length - 1] = 0x21;
    assert.equal(p.payload.toString(), 'payloa!');
  });

  it('a packet spanning chunks is copied into its own buffer', () => {
    const bytes = pkt(0x30, str('t'), Buffer.from('payload'));
    const parser = new PacketParser({ maxPacketSize: 1000, version: 4 });
    const a = Buffer.from(bytes.subarray(0, 6));
    const b = Buffer.from(bytes.subarray(6));
    assert.deepEqual(parser.push(a), []);
    const [p] = parser.push(b);
    assert.ok(p.type === 'publish');
    a.fill(0x21);
    b.fill(0x21);
    assert.equal(p.payload.toString(), 'payload');
  });
});

describe('PacketParser: protocol version', () => {
  it('only CONNECT decodes before a version is known [MQTT-3.1.0-1]', () => {
    assert.throws(() => new PacketParser({ maxPacketSize: 1000 }).push(hex('c0 00')), code(0x82));
  });

  it('takes the version from CONNECT and decodes what follows with it', () => {
    const parser = new PacketParser({ maxPacketSize: 1000 });
    assert.equal(parser.version, undefined);
    const [c] = parser.push(validVector('connect v5 minimal').bytes);
    assert.equal(c.type, 'connect');
    assert.equal(parser.version, 5);
    // A v5 PUBACK with a reason code only decodes as MQTT 5.
    assert.deepEqual(parser.push(hex('40 03 00 01 10')), [{ type: 'puback', packetId: 1, reasonCode: 0x10 }]);
  });

  it('CONNECT and the packets after it may share a chunk', () => {
    const parser = new PacketParser({ maxPacketSize: 1000 });
    const chunk = Buffer.concat([validVector('connect v3.1 minimal').bytes, hex('62 02 00 01')]);
    assert.deepEqual(parser.push(chunk).map((p) => p.type), ['connect', 'pubrel']);
    assert.equal(parser.version, 3);
  });

  it('a second CONNECT does not change the version (the channel rejects it [MQTT-3.1.0-2])', () => {
    const parser = new PacketParser({ maxPacketSize: 1000 });
    parser.push(validVector('connect v4 minimal, empty client id').bytes);
    const [again] = parser.push(validVector('connect v5 minimal').bytes);
    assert.equal(again.type, 'connect');
    assert.equal(parser.version, 4);
  });

  it('a client-side parser given a version decodes server packets', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 5 });
    assert.deepEqual(parser.push(hex('20 03 01 00 00')), [{ type: 'connack', sessionPresent: true, reasonCode: 0 }]);
  });

  it('an unsupported level reports the level and the version to answer in [MQTT-3.1.2-2]', () => {
    const cases: [Buffer, string, number, number][] = [
      [pkt(0x10, str('MQTT'), 6, 2, u16(60), str('c')), 'MQTT', 6, 5],
      [pkt(0x10, str('MQTT'), 3, 2, u16(60), str('c')), 'MQTT', 3, 3],
      [pkt(0x10, str('MQTT'), 2, 2, u16(60), str('c')), 'MQTT', 2, 4],
      [pkt(0x10, str('MQIsdp'), 4), 'MQIsdp', 4, 4],
      [pkt(0x10, str('MQTT'), 0x84, 2, u16(60), str('c')), 'MQTT', 0x84, 5],
    ];
    for (const [bytes, name, level, answer] of cases) {
      assert.throws(
        () => new PacketParser({ maxPacketSize: 1000 }).push(bytes),
        (e: unknown) => {
          assert.ok(e instanceof UnsupportedProtocolError);
          assert.equal(e.reasonCode, 0x84);
          assert.equal(e.protocolName, name);
          assert.equal(e.protocolLevel, level);
          assert.equal(e.answerVersion, answer);
          return true;
        },
      );
    }
  });
});

describe('PacketParser: plain PUBACKs read in place', () => {
  // The parser reads a 2-byte PUBACK itself (a drain's every acknowledgement); it must give exactly
  // what the codec gives, and leave everything else (id 0, other flags, longer forms) to the codec.
  for (const version of [3, 4, 5] as const) {
    it(`MQTT ${version === 3 ? '3.1' : version === 4 ? '3.1.1' : '5'}: the same packets as the codec, in order, around other packets`, () => {
      const parser = new PacketParser({ maxPacketSize: 1000, version });
      const chunk = hex('40 02 00 07 40 02 ff fe 62 02 00 09 40 02 01 00');
      const expected = [0x0007, 0xfffe, 0x0100].map((id) => decode(0x40, Buffer.from(u16(id)), version));
      const packets = parser.push(chunk);
      assert.deepEqual(packets.map((p) => p.type), ['puback', 'puback', 'pubrel', 'puback']);
      assert.deepEqual([packets[0], packets[1], packets[3]], expected);
      if (version === 5) assert.deepEqual(packets[0], { type: 'puback', packetId: 7, reasonCode: 0 });
      else assert.deepEqual(packets[0], { type: 'puback', packetId: 7 });
    });
  }

  it('a PUBACK with packet identifier 0 is still refused as the codec refuses it [MQTT-2.3.1-1]', () => {
    assert.throws(() => new PacketParser({ maxPacketSize: 1000, version: 4 }).push(hex('40 02 00 00')), code(0x82));
  });

  it('a PUBACK with reserved flags set still goes to the codec (malformed in 3.1.1 [MQTT-2.2.2-1])', () => {
    assert.throws(() => new PacketParser({ maxPacketSize: 1000, version: 4 }).push(hex('42 02 00 01')), code(0x81));
  });

  it('a PUBACK split across chunks decodes as one', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 4 });
    assert.deepEqual(parser.push(hex('40 02 00')), []);
    assert.deepEqual(parser.push(hex('05')), [{ type: 'puback', packetId: 5 }]);
  });
});

describe('PacketParser: after an error', () => {
  it('every later push throws the same error', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 4 });
    let first: unknown;
    try {
      parser.push(hex('c1 00'));
    } catch (e) {
      first = e;
    }
    assert.ok(first instanceof MqttError);
    assert.throws(() => parser.push(hex('c0 00')), (e: unknown) => e === first);
    assert.throws(() => parser.push(Buffer.alloc(0)), (e: unknown) => e === first);
  });

  it('keeps the packets decoded before the bad one in decodedBeforeError', () => {
    const parser = new PacketParser({ maxPacketSize: 1000, version: 4 });
    assert.throws(() => parser.push(Buffer.concat([hex('c0 00'), hex('e0 00'), hex('f0 00')])), MqttError);
    assert.deepEqual(parser.decodedBeforeError, [{ type: 'pingreq' }, { type: 'disconnect' }]);
  });
});
