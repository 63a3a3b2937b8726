// The one helper that bounds what the broker says (Reason Strings cut on a UTF-8 boundary, client
// strings quoted by a short prefix) and the fitting of packets to a client's Maximum Packet Size
// [MQTT-3.1.2-24], [MQTT-3.1.2-25], checked against mqtt-packet's decoding of the bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { capUtf8, quote, REASON_STRING_MAX_BYTES } from '../../src/protocol/reason-string.js';
import { fitPacket } from '../../src/channel/fit.js';
import type { Packet } from '../../src/protocol/packets.js';

function parse(bytes: Buffer): Record<string, any> {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let got: Record<string, any> | undefined;
  parser.on('packet', (p) => (got = p as Record<string, any>));
  parser.on('error', (err) => {
    throw err;
  });
  parser.parse(bytes);
  assert.ok(got, 'one whole packet');
  return got;
}

describe('capUtf8 and quote', () => {
  it('keeps strings within the cap, and cuts longer ones to at most the cap on a character boundary', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), fc.integer({ min: 0, max: 300 }), (s, max) => {
        const cut = capUtf8(s, max);
        assert.ok(Buffer.byteLength(cut) <= max);
        assert.ok(s.startsWith(cut), 'a prefix');
        if (Buffer.byteLength(s) <= max) assert.equal(cut, s);
        // No character was cut in two: the prefix re-encodes to the same bytes.
        assert.equal(Buffer.from(cut).toString('utf8'), cut);
        assert.ok(!cut.includes('\ufffd') || s.includes('\ufffd'));
      }),
      { numRuns: 300 },
    );
  });

  for (const n of [0, 1, 255, 256, 257, 65_535, 65_536]) {
    it(`a Reason String of ${n} bytes is sent as at most ${REASON_STRING_MAX_BYTES}`, () => {
      const s = '€'.repeat(Math.ceil(n / 3)).slice(0, n);
      const cut = capUtf8(s);
      assert.ok(Buffer.byteLength(cut) <= REASON_STRING_MAX_BYTES);
      if (Buffer.byteLength(s) <= REASON_STRING_MAX_BYTES) assert.equal(cut, s);
    });
  }

  it('quotes a long client string by a short prefix and its length, never splitting a surrogate pair', () => {
    assert.equal(quote('a/b'), '"a/b"');
    const q = quote('x'.repeat(65_500));
    assert.ok(q.length < 80, q);
    assert.match(q, /65500 characters/);
    const emoji = quote('😀'.repeat(100));
    assert.ok(!/[\ud800-\udbff]"/.test(emoji), 'no lone high surrogate before the ellipsis');
  });
});

describe('fitPacket', () => {
  const reasonString = 'r'.repeat(1000);
  const disconnect: Packet = { type: 'disconnect', reasonCode: 0x83, properties: { reasonString, userProperties: [['k', 'v']] } };

  it('caps the Reason String even when the packet fits', () => {
    const p = parse(fitPacket(disconnect, 5, Infinity)!);
    assert.equal(Buffer.byteLength(p.properties.reasonString), REASON_STRING_MAX_BYTES);
    assert.equal(p.properties.userProperties.k, 'v');
  });

  it('leaves out the Reason String and User Properties first, then sends the bare packet or nothing', () => {
    const bare = parse(fitPacket(disconnect, 5, 5)!);
    assert.equal(bare.reasonCode, 0x83);
    assert.equal(bare.properties, undefined);
    assert.equal(fitPacket(disconnect, 5, 2), undefined, 'not even the reason code fits');
  });

  it('leaves out CONNACK properties that only repeat their defaults, and keeps the rest', () => {
    const connack: Packet = {
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0,
      properties: { receiveMaximum: 65_535, topicAliasMaximum: 10, maximumPacketSize: 1 << 20, retainAvailable: 1, wildcardSubscriptionAvailable: 1, subscriptionIdentifiersAvailable: 1, sharedSubscriptionAvailable: 1, reasonString },
    };
    const full = fitPacket(connack, 5, Infinity)!;
    // Fixed header 2, flags and code 2, properties length 1, Topic Alias Maximum 3, Maximum Packet Size 5.
    const slim = fitPacket(connack, 5, 13)!;
    assert.ok(slim.length === 13 && slim.length < full.length);
    const p = parse(slim);
    assert.equal(p.properties.topicAliasMaximum, 10);
    assert.equal(p.properties.maximumPacketSize, 1 << 20);
    assert.equal(p.properties.receiveMaximum, undefined);
    assert.equal(p.properties.sharedSubscriptionAvailable, undefined);
    assert.equal(fitPacket(connack, 5, 12), undefined);
  });

  it('does not touch MQTT 3.1.1 packets, which have no properties', () => {
    const connack: Packet = { type: 'connack', sessionPresent: false, reasonCode: 0 };
    assert.equal(fitPacket(connack, 4, 4)!.length, 4);
    assert.equal(fitPacket(connack, 4, 3), undefined);
  });
});
