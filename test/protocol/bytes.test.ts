import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, decodeUtf8, stringSize, varintSize } from '../../src/protocol/bytes.js';
import { MqttError } from '../../src/protocol/errors.js';

const malformed = (e: unknown) => e instanceof MqttError && e.reasonCode === 0x81;

describe('Reader', () => {
  it('reads integers big-endian and stops at its end', () => {
    const r = new Reader(Buffer.from([1, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 9]), 0, 7);
    assert.equal(r.u8(), 1);
    assert.equal(r.u16(), 0x1234);
    assert.equal(r.u32(), 0xdeadbeef);
    assert.equal(r.left, 0);
    assert.throws(() => r.u8(), malformed);
  });

  it('reads every Variable Byte Integer boundary from section 1.5.5', () => {
    const cases: [number[], number][] = [
      [[0x00], 0], [[0x7f], 127], [[0x80, 0x01], 128], [[0xff, 0x7f], 16_383], [[0x80, 0x80, 0x01], 16_384],
      [[0xff, 0xff, 0x7f], 2_097_151], [[0x80, 0x80, 0x80, 0x01], 2_097_152], [[0xff, 0xff, 0xff, 0x7f], 268_435_455],
    ];
    for (const [b, n] of cases) {
      const r = new Reader(Buffer.from(b));
      assert.equal(r.varint(), n);
      assert.equal(r.left, 0);
      assert.equal(varintSize(n), b.length);
    }
  });

  it('rejects a five-byte or non-minimal Variable Byte Integer [MQTT-1.5.5-1]', () => {
    assert.throws(() => new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f])).varint(), malformed);
    assert.throws(() => new Reader(Buffer.from([0x80, 0x00])).varint(), malformed);
    assert.throws(() => new Reader(Buffer.from([0x81, 0x80, 0x00])).varint(), malformed);
    assert.throws(() => new Reader(Buffer.from([0x80])).varint(), malformed);
  });

  it('returns binary data and the rest as views, not copies', () => {
    const b = Buffer.from([0, 2, 7, 8, 9]);
    const r = new Reader(b);
    const bin = r.binary();
    assert.deepEqual([...bin], [7, 8]);
    assert.equal(bin.buffer, b.buffer);
    const rest = r.rest();
    assert.deepEqual([...rest], [9]);
    assert.equal(rest.buffer, b.buffer);
  });

  it('rejects fields running past the end', () => {
    assert.throws(() => new Reader(Buffer.from([0, 3, 0x61])).utf8(), malformed);
    assert.throws(() => new Reader(Buffer.from([0, 3, 1]), 0, 3).binary(), malformed);
    assert.throws(() => new Reader(Buffer.from([0])).u16(), malformed);
  });
});

describe('UTF-8 strings [MQTT-1.5.3-1] [MQTT-1.5.3-2]', () => {
  const dec = (...b: number[]) => decodeUtf8(Buffer.from(b), 0, b.length);
  it('decodes ASCII and multi-byte text', () => {
    assert.equal(dec(0x61, 0x2f, 0x62), 'a/b');
    assert.equal(dec(...Buffer.from('ü€😀')), 'ü€😀');
    assert.equal(dec(), '');
  });
  it('accepts U+FEFF and control characters other than U+0000 (a SHOULD NOT, not a MUST NOT)', () => {
    assert.equal(dec(0xef, 0xbb, 0xbf, 0x01), '\ufeff\u0001');
  });
  it('rejects U+0000 in ASCII and in multi-byte text', () => {
    assert.throws(() => dec(0x61, 0x00), malformed);
    assert.throws(() => dec(0xc3, 0xbc, 0x00), malformed);
  });
  it('rejects ill-formed sequences', () => {
    const bad = [
      [0xff], [0xc3], [0xc3, 0x28], [0xc0, 0x80], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80],
    ];
    for (const b of bad) assert.throws(() => dec(...b), malformed, Buffer.from(b).toString('hex'));
  });
});

describe('Writer and sizes', () => {
  it('writes a fixed header and refuses a remaining length over 268,435,455 with 0x95', () => {
    const w = Writer.packet(0x30, 3);
    w.utf8('a');
    assert.deepEqual([...w.finish()], [0x30, 3, 0, 1, 0x61]);
    assert.throws(() => Writer.packet(0x30, 268_435_456), (e: unknown) => e instanceof MqttError && e.reasonCode === 0x95);
  });
  it('writes an empty string at the very end of the buffer', () => {
    const w = Writer.packet(0x30, 2);
    w.utf8('');
    assert.deepEqual([...w.finish()], [0x30, 2, 0, 0]);
  });
  it('refuses a string longer than 65,535 bytes', () => {
    assert.equal(stringSize('x'.repeat(65_535)), 65_537);
    assert.throws(() => stringSize('x'.repeat(65_536)), malformed);
    assert.throws(() => stringSize('€'.repeat(21_846)), malformed);
  });
  it('notices an encoder that wrote too little', () => {
    const w = Writer.packet(0x30, 2);
    w.u8(0);
    assert.throws(() => w.finish(), MqttError);
  });
});
