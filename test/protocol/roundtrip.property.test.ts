// Property-based round trips: every arbitrary packet of every type, in 3.1, 3.1.1 and 5.0, survives
// encode → PacketParser (cut into random chunks) → decode unchanged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode } from '../../src/protocol/codec.js';
import { PacketParser } from '../../src/protocol/parser.js';
import type { Packet } from '../../src/protocol/packets.js';
import { decodeVersion, packetArbitraries, VERSION_NAMES } from './arbitraries.js';

const RUNS = 150;

/** Cuts `b` at the given fractions and pushes the pieces, collecting the packets. */
function pushInPieces(parser: PacketParser, b: Buffer, cuts: number[]): Packet[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * b.length)))].sort((x, y) => x - y);
  const out: Packet[] = [];
  let prev = 0;
  for (const p of [...points, b.length]) {
    out.push(...parser.push(b.subarray(prev, p)));
    prev = p;
  }
  return out;
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 });

for (const v of [3, 4, 5] as const) {
  describe(`round trip, MQTT ${VERSION_NAMES[v]}`, () => {
    for (const [type, arb] of Object.entries(packetArbitraries(v))) {
      it(`${type}: decode(encode(p)) = p, whatever the chunking`, { timeout: 60_000 }, () => {
        fc.assert(
          fc.property(arb, cuts, (p, c) => {
            const bytes = encode(p, v);
            const parser = new PacketParser({ maxPacketSize: 1 << 20, version: decodeVersion(p, v) });
            assert.deepStrictEqual(pushInPieces(parser, bytes, c), [p]);
            if (p.type === 'connect') assert.equal(parser.version, v);
          }),
          { numRuns: RUNS },
        );
      });
    }

    it('a stream of many packets decodes in order', { timeout: 60_000 }, () => {
      const arbs = Object.entries(packetArbitraries(v)).filter(([t]) => t !== 'connect').map(([, a]) => a);
      fc.assert(
        fc.property(fc.array(fc.oneof(...arbs), { minLength: 1, maxLength: 8 }), cuts, (packets, c) => {
          const stream = Buffer.concat(packets.map((p) => encode(p, v)));
          const parser = new PacketParser({ maxPacketSize: 1 << 20, version: v });
          assert.deepStrictEqual(pushInPieces(parser, stream, c), packets);
        }),
        { numRuns: RUNS },
      );
    });
  });
}
