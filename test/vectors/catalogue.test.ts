// Every catalogue vector four ways: parse (bytes → packet), generate (packet → exact bytes), mirror
// (decode ∘ encode = identity) and split at every byte boundary through PacketParser. Every invalid
// vector must raise a MqttError carrying its reason code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, UnsupportedProtocolError } from '../../src/protocol/codec.js';
import { MqttError } from '../../src/protocol/errors.js';
import { PacketParser } from '../../src/protocol/parser.js';
import type { Packet } from '../../src/protocol/packets.js';
import { invalidVectors, validVectors, type ValidVector } from './catalogue.js';
import { splitPacket } from './frame.js';

const MAX = 1 << 20;

/** A server has seen no CONNECT when the CONNECT arrives, so CONNECT vectors decode with no version. */
const decodeVersion = (vec: ValidVector) => (vec.packet.type === 'connect' ? undefined : vec.version);

function roundTrip(p: Packet, vec: ValidVector): Packet {
  const { first, body } = splitPacket(encode(p, vec.version));
  return decode(first, body, decodeVersion(vec));
}

describe('catalogue: valid vectors', () => {
  it('covers every packet type in every version it exists in (3.1, 3.1.1, 5.0)', () => {
    const seen = new Set(validVectors.map((v) => `${v.packet.type}/${v.version}`));
    const types = ['connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback',
      'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect'];
    for (const t of types) for (const ver of [3, 4, 5]) assert.ok(seen.has(`${t}/${ver}`), `missing ${t} v${ver}`);
    assert.ok(seen.has('auth/5'));
    const names = validVectors.map((v) => v.name);
    assert.equal(new Set(names).size, names.length, 'vector names are unique');
  });

  for (const vec of validVectors) {
    describe(vec.name + (vec.spec ? ` [${vec.spec}]` : ''), () => {
      it('parse: bytes decode to the expected packet', () => {
        const { first, body } = splitPacket(vec.bytes);
        assert.deepStrictEqual(decode(first, body, decodeVersion(vec)), vec.packet);
      });

      it(vec.encodesAs ? 'generate: the packet encodes to the expected other legal form' : 'generate: the packet encodes to exactly these bytes', () => {
        assert.equal(encode(vec.packet, vec.version).toString('hex'), (vec.encodesAs ?? vec.bytes).toString('hex'));
      });

      it('mirror: decode(encode(packet)) is the packet', () => {
        assert.deepStrictEqual(roundTrip(vec.packet, vec), vec.packet);
      });

      it('split: every byte boundary through PacketParser gives the packet once', () => {
        const n = vec.bytes.length;
        for (let cut = 0; cut <= n; cut++) {
          const parser = new PacketParser({ maxPacketSize: MAX, version: decodeVersion(vec) });
          const got = [...parser.push(vec.bytes.subarray(0, cut)), ...parser.push(vec.bytes.subarray(cut))];
          assert.deepStrictEqual(got, [vec.packet], `cut at ${cut}`);
        }
        // And one byte at a time, then twice in one chunk.
        const parser = new PacketParser({ maxPacketSize: MAX, version: decodeVersion(vec) });
        const got: Packet[] = [];
        for (let i = 0; i < n; i++) got.push(...parser.push(vec.bytes.subarray(i, i + 1)));
        assert.deepStrictEqual(got, [vec.packet]);
        if (vec.packet.type !== 'connect') {
          assert.deepStrictEqual(parser.push(Buffer.concat([vec.bytes, vec.bytes])), [vec.packet, vec.packet]);
        }
      });
    });
  }
});

describe('catalogue: invalid vectors', () => {
  it('names are unique', () => {
    const names = invalidVectors.map((v) => v.name);
    assert.equal(new Set(names).size, names.length);
  });

  for (const vec of invalidVectors) {
    const code = `0x${vec.reasonCode.toString(16)}`;
    it(`${vec.name} → ${code}${vec.spec ? ` [${vec.spec}]` : ''}`, () => {
      const parser = new PacketParser({ maxPacketSize: MAX, version: vec.version });
      assert.throws(
        () => parser.push(vec.bytes),
        (err: unknown) => {
          assert.ok(err instanceof MqttError, `expected MqttError, got ${String(err)}`);
          assert.equal(`0x${err.reasonCode.toString(16)}`, code, err.message);
          if (vec.reasonCode === 0x84) assert.ok(err instanceof UnsupportedProtocolError);
          return true;
        },
      );
      // The parser stays failed: the connection is closed after a bad packet.
      assert.throws(() => parser.push(Buffer.from([0xc0, 0x00])), MqttError);
    });
  }
});
