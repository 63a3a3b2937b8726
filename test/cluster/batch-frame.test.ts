// The binary frame that carries one turn's messages to one node (src/cluster/batch-frame.ts):
// round trips of any batch, the boundary sizes of payloads and topics, and frames cut short or
// corrupted, which must be refused with a FrameError (the link counts those; it never throws).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { StoredMessage } from '../../src/store/ports.js';
import { decodeFrame, encodeFrame, FrameError, FrameWriter, type DecodedFrame, type FrameEntry } from '../../src/cluster/batch-frame.js';

const nodeId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });

const message: fc.Arbitrary<StoredMessage> = fc.record(
  {
    id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }),
    topic: text(40),
    payload: fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: fc.boolean(),
    createdAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    expiresAt: fc.integer({ min: -(2 ** 40), max: Number.MAX_SAFE_INTEGER }),
    publisherId: text(24),
    properties: fc.record(
      {
        payloadFormatIndicator: fc.constantFrom(0, 1),
        messageExpiryInterval: fc.integer({ min: 0, max: 0xffffffff }),
        contentType: text(12),
        responseTopic: text(12),
        correlationData: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
        userProperties: fc.array(fc.tuple(text(8), text(8)), { minLength: 1, maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['id', 'topic', 'payload', 'qos', 'retain', 'createdAt'] },
);

const entry: fc.Arbitrary<FrameEntry> = fc.record({ message, shared: fc.tuple(text(10), text(20)).map(([g, f]) => `${g}\0${f}`) }, { requiredKeys: ['message'] });

/** What a decoder should give back: an empty properties object travels as no properties (as in a PUBLISH). */
function expected(e: FrameEntry): FrameEntry {
  // (fast-check's records have no prototype; the decoder's objects do.)
  const m = { ...e.message };
  if (m.properties) m.properties = { ...m.properties };
  if (m.properties && Object.keys(m.properties).length === 0) delete m.properties;
  return e.shared === undefined ? { message: m } : { message: m, shared: e.shared };
}

const frame = (origin: string, entries: FrameEntry[]): Buffer => encodeFrame(origin, entries);

/** A decoded frame's messages and shared keys as entries. */
const entriesOf = (out: DecodedFrame): FrameEntry[] => out.messages.map((message, i) => (out.shared?.[i] === undefined ? { message } : { message, shared: out.shared[i] }));

/** Decodes, and says whether it was refused as a FrameError; any other throw fails the test. */
function refused(data: Buffer): boolean {
  try {
    decodeFrame(data);
    return false;
  } catch (err) {
    if (err instanceof FrameError) return true;
    throw err;
  }
}

describe('batch frame', () => {
  it('gives back every batch it encoded: origin, order, every field', () => {
    fc.assert(
      fc.property(nodeId, fc.array(entry, { maxLength: 8 }), (origin, entries) => {
        const data = frame(origin, entries);
        const out = decodeFrame(data);
        assert.equal(out.origin, origin);
        assert.deepEqual(entriesOf(out), entries.map(expected));
      }),
      { numRuns: 300 },
    );
  });

  it('carries payloads and topics of 0, 1, 65,535 and 65,536 bytes', () => {
    for (const n of [0, 1, 65_535, 65_536]) {
      const m: StoredMessage = { id: 'b', topic: 't'.repeat(n), payload: Buffer.alloc(n, 7), qos: 1, retain: false, createdAt: 1 };
      const p: StoredMessage = { ...m, topic: 'x', payload: Buffer.alloc(n, 9) };
      const out = entriesOf(decodeFrame(frame('n', [{ message: m }, { message: p, shared: 'g\0x' }])));
      assert.equal(out[0].message.topic.length, n, `topic of ${n}`);
      assert.equal(out[0].message.payload.length, n, `payload of ${n}`);
      assert.deepEqual(out[1], { message: p, shared: 'g\0x' });
    }
  });

  it('copies each payload when asked, so a queued message does not hold the frame (or bytes the NATS client reuses)', () => {
    const m: StoredMessage = { id: 'c', topic: 't', payload: Buffer.from('abc'), qos: 0, retain: false, createdAt: 1 };
    const data = frame('n', [{ message: m }]);
    const copied = decodeFrame(data, true).messages[0].payload;
    const viewed = decodeFrame(data).messages[0].payload;
    data.fill(0);
    assert.equal(copied.toString(), 'abc');
    assert.equal(viewed.toString(), '\0\0\0');
  });

  it('copies an encoded entry into other frames byte for byte, and refuses an entry past its limit', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), fc.integer({ min: 40, max: 600 }), (entries, max) => {
        // Each entry into a writer limited to `max` bytes (the next frame when full, from the same
        // writer) and copied into an unlimited one: together the limited frames carry what the copy
        // does, in order (a finished frame is a copy: later writes leave it alone).
        const frames: Buffer[] = [];
        const copy = new FrameWriter('c');
        const w = new FrameWriter('n', max);
        const sent: FrameEntry[] = [];
        for (const e of entries) {
          if (!w.append(e.message, e.shared)) {
            if (w.entries === 0) {
              assert.ok(w.size <= max);
              continue; // larger than any frame may be: refused, nothing written
            }
            frames.push(w.finish());
            if (!w.append(e.message, e.shared)) continue;
          }
          assert.ok(copy.appendEncoded(w.lastEntry()));
          sent.push(e);
        }
        frames.push(w.finish());
        for (const f of frames) assert.ok(f.length <= max, `frame of ${f.length} within ${max}`);
        assert.deepEqual(frames.flatMap((f) => entriesOf(decodeFrame(f))), sent.map(expected));
        assert.deepEqual(entriesOf(decodeFrame(copy.finish())), sent.map(expected));
      }),
      { numRuns: 200 },
    );
  });

  it('carries the handed-on mark of a shared entry, and refuses it on an entry without a shared key', () => {
    const m: StoredMessage = { id: 'h', topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, createdAt: 1 };
    const w = new FrameWriter('n');
    w.append(m, 'g\0t', true);
    w.append(m, 'g\0t');
    w.append(m);
    const out = decodeFrame(w.finish());
    assert.deepEqual([0, 1, 2].map((i) => out.handedOn?.[i] === true), [true, false, false]);
    assert.deepEqual(out.shared?.slice(0, 2), ['g\0t', 'g\0t']);
    assert.equal(decodeFrame(encodeFrame('n', [{ message: m, shared: 'g\0t' }])).handedOn, undefined, 'no array when nothing was handed on');
    const plain = Buffer.from(encodeFrame('n', [{ message: m }]));
    plain[3 + 1 + 4] |= 0x80;
    assert.ok(refused(plain));
  });

  it('refuses every frame cut short, and one with bytes after its last entry', () => {
    fc.assert(
      fc.property(nodeId, fc.array(entry, { minLength: 1, maxLength: 4 }), fc.nat(), (origin, entries, cut) => {
        const data = frame(origin, entries);
        assert.ok(refused(data.subarray(0, cut % data.length)), `cut at ${cut % data.length} of ${data.length}`);
        assert.ok(refused(Buffer.concat([data, Buffer.from([0])])));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses or reads a corrupted frame, never throwing anything but a FrameError', () => {
    fc.assert(
      fc.property(nodeId, fc.array(entry, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (origin, entries, at, xor) => {
        const data = Buffer.from(frame(origin, entries));
        data[at % data.length] ^= xor;
        refused(data);
      }),
      { numRuns: 500 },
    );
    // Counts and lengths that claim more than the frame holds are refused before any work.
    const big = Buffer.from(frame('n', []));
    big.writeUInt32BE(0xffffffff, 3 + 1);
    assert.ok(refused(big));
    const long = frame('n', [{ message: { id: 'i', topic: 't', payload: Buffer.from('p'), qos: 0, retain: false, createdAt: 0 } }]);
    long.writeUInt32BE(0xfffffff0, 3 + 1 + 4 + 1 + 8);
    assert.ok(refused(long));
    assert.ok(refused(Buffer.alloc(0)));
    assert.ok(refused(Buffer.from('not a frame')));
  });

  it('refuses an entry with QoS 3, a reserved flag, or a string that is not UTF-8', () => {
    const base = (): Buffer => Buffer.from(frame('n', [{ message: { id: 'i', topic: 't', payload: Buffer.from('p'), qos: 0, retain: false, createdAt: 0 } }]));
    const flags = 3 + 1 + 4;
    const qos3 = base();
    qos3[flags] |= 3;
    assert.ok(refused(qos3));
    const reserved = base();
    reserved[flags] |= 0x80;
    assert.ok(refused(reserved));
    const utf8 = base();
    utf8[flags + 1 + 8 + 4] = 0xff; // the id's only byte
    assert.ok(refused(utf8));
  });
});
