// Random and mutated bytes fed to PacketParser may only ever produce packets or a MqttError: never
// another error type, never a hang. Whatever does decode must re-encode to the same packet.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, encode } from '../../src/protocol/codec.js';
import type { ProtocolVersion } from '../../src/protocol/constants.js';
import { MqttError } from '../../src/protocol/errors.js';
import { PacketParser } from '../../src/protocol/parser.js';
import type { Packet } from '../../src/protocol/packets.js';
import { validVectors } from '../vectors/catalogue.js';
import { splitPacket } from '../vectors/frame.js';

const version = fc.constantFrom<ProtocolVersion | undefined>(undefined, 3, 4, 5);

/** Feeds the pieces; returns packets, or the MqttError. Any other throw fails the property. */
function feed(v: ProtocolVersion | undefined, pieces: Buffer[]): { packets: Packet[]; error?: MqttError; version: ProtocolVersion | undefined } {
  const parser = new PacketParser({ maxPacketSize: 4096, version: v });
  const packets: Packet[] = [];
  for (const piece of pieces) {
    try {
      packets.push(...parser.push(piece));
    } catch (err) {
      assert.ok(err instanceof MqttError, `non-MqttError thrown: ${String(err)}`);
      assert.ok(Number.isInteger(err.reasonCode) && err.reasonCode >= 0x80 && err.reasonCode <= 0xff);
      return { packets: [...packets, ...parser.decodedBeforeError], error: err, version: parser.version };
    }
  }
  return { packets, version: parser.version };
}

/** Each decoded packet must re-encode (in the version it was decoded with) to an equal packet. */
function reencodes(packets: Packet[], v: ProtocolVersion | undefined): void {
  let current = v;
  for (const p of packets) {
    const ver = p.type === 'connect' ? p.protocolVersion : current;
    if (p.type === 'connect' && current === undefined) current = p.protocolVersion;
    assert.ok(ver !== undefined);
    const { first, body } = splitPacket(encode(p, ver));
    assert.deepStrictEqual(decode(first, body, p.type === 'connect' ? undefined : ver), p);
  }
}

const chunked = (b: Uint8Array, cuts: number[]): Buffer[] => {
  const buf = Buffer.from(b);
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
};

describe('fuzz: PacketParser only ever throws MqttError', () => {
  it('on random bytes', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(version, fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 4 }), (v, b, c) => {
        const r = feed(v, chunked(b, c));
        reencodes(r.packets, v);
      }),
      { numRuns: 3000 },
    );
  });

  it('on random bodies behind a well-formed fixed header', { timeout: 60_000 }, () => {
    // A right Remaining Length gets random bytes past the framer into every packet decoder.
    fc.assert(
      fc.property(version, fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 120 }), (v, first, body) => {
        const len = body.length < 128 ? [body.length] : [(body.length & 0x7f) | 0x80, body.length >> 7];
        const r = feed(v, [Buffer.from([first, ...len, ...body])]);
        reencodes(r.packets, v);
      }),
      { numRuns: 5000 },
    );
  });

  it('on mutated catalogue vectors (flipped, overwritten, dropped and inserted bytes)', { timeout: 60_000 }, () => {
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('flip', 'set', 'drop', 'insert'),
      value: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: validVectors.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 3 }), (i, muts, c) => {
        const vec = validVectors[i];
        const b = [...vec.bytes];
        for (const m of muts) {
          const at = m.at % (b.length + 1);
          if (m.kind === 'flip' && at < b.length) b[at] ^= 1 << (m.value & 7);
          else if (m.kind === 'set' && at < b.length) b[at] = m.value;
          else if (m.kind === 'drop' && at < b.length) b.splice(at, 1);
          else b.splice(at, 0, m.value);
        }
        const v = vec.packet.type === 'connect' ? undefined : vec.version;
        const r = feed(v, chunked(Uint8Array.from(b), c));
        reencodes(r.packets, v);
      }),
      { numRuns: 5000 },
    );
  });
});
