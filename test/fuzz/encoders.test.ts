// The fuzzer's own raw encoder is checked against mqtt-packet: for every generated packet that
// mqtt-packet can express, both encodings parse (with mqtt-packet's parser) to the same packet.
// So what the raw encoder adds (violations) is the only difference between the two.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { encodeStep, toMqttPacket } from './encode.js';
import { connectPacket, legalPacket } from './grammar.js';
import type { FuzzStep } from './model.js';
import { rawEncode } from './raw-encoder.js';

function parse(bytes: Buffer, version: 4 | 5): Record<string, unknown>[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: Record<string, unknown>[] = [];
  parser.on('packet', (p) => out.push({ ...(p as unknown as Record<string, unknown>) }));
  parser.on('error', (e: Error) => out.push({ error: e.message }));
  parser.parse(bytes);
  return out;
}

describe('fuzzer encoders', () => {
  for (const version of [4, 5] as const) {
    it(`raw-encoder.ts and mqtt-packet encode every expressible MQTT ${version === 5 ? '5' : '3.1.1'} packet alike`, () => {
      let compared = 0;
      const step: fc.Arbitrary<FuzzStep> = fc.oneof(legalPacket(version), connectPacket(version).map((packet) => ({ packet })));
      fc.assert(
        fc.property(step, (s) => {
          const obj = toMqttPacket(s.packet, version);
          if (!obj) return;
          const ours = encodeStep(s, version);
          if (ours.encoder !== 'mqtt-packet') return; // mqtt-packet refused it after all
          compared++;
          assert.deepEqual(parse(rawEncode(s.packet, version), version), parse(ours.bytes, version));
        }),
        // MQTT 5 packets can hold 100,000 user properties: fewer runs keep this to a few seconds.
        { numRuns: version === 5 ? 30 : 150, seed: Number(process.env.FUZZ_SEED ?? 12) },
      );
      assert.ok(compared >= (version === 5 ? 10 : 50), `compared ${compared} packets`);
    });
  }
});
