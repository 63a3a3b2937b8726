// The binary frame that carries one turn's messages to one node (src/cluster/batch-frame.ts):
// round trips of any batch, the boundary sizes of payloads and topics, and frames cut short or
// corrupted, which must be refused with a FrameError (the link counts those; it never throws).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { StoredMessage } from '../../src/store/ports.js';
import { decodeFrame, encodeFrame, FrameError, FrameWriter, type DecodedFrame, type FrameEntry } from '../../src/cluster/batch-frame.js';
import { MessageIds, outlivesTurn } from '../../src/session/message.js';

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

/**
 * Entries as a turn has them: messages in runs of a few topics, publishers and shared keys, with ids
 * that share a prefix (ASCII or not) with the one before, so strings refer back to earlier entries.
 */
const runs: fc.Arbitrary<FrameEntry[]> = fc
  .tuple(
    fc.array(entry, { minLength: 1, maxLength: 3 }),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), text(3)), { minLength: 1, maxLength: 12 }),
    fc.constantFrom('', 'a1b2c3d4e5f6-', 'é-', '😀', 'x'.repeat(300)),
  )
  .map(([pool, picks, prefix]) =>
    picks.map(([a, b, c, suffix]) => {
      const message: StoredMessage = { ...pool[a % pool.length].message, id: prefix + suffix || 'i' };
      const publisherId = pool[b % pool.length].message.publisherId;
      if (publisherId === undefined) delete message.publisherId;
      else message.publisherId = publisherId;
      const shared = pool[c % pool.length].shared;
      return shared === undefined ? { message } : { message, shared };
    }),
  );

/** The id the reading side gives each QoS 0 message in these tests. */
const HERE = 'given-here';
const decode = (data: Uint8Array, copy = false): DecodedFrame => decodeFrame(data, { next: () => HERE }, copy);

/** What a decoder should give back: an empty properties object travels as no properties (as in a PUBLISH). */
function expected(e: FrameEntry): FrameEntry {
  // (fast-check's records have no prototype; the decoder's objects do.)
  const m = { ...e.message };
  // The id of a message that does not outlive its turn (QoS 0, not retained) does not cross: the reader gives its own.
  if (!outlivesTurn(m)) m.id = HERE;
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
    decode(data);
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
        const out = decode(data);
        assert.equal(out.origin, origin);
        assert.deepEqual(entriesOf(out), entries.map(expected));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(nodeId, runs, (origin, entries) => {
        assert.deepEqual(entriesOf(decode(frame(origin, entries))), entries.map(expected));
      }),
      { numRuns: 300 },
    );
  });

  it('writes a run of one topic and publisher with its strings once, QoS 1/2 ids by what they add to the one before, and no QoS 0 id', () => {
    const ids = new MessageIds();
    const run: FrameEntry[] = Array.from({ length: 32 }, () => ({
      message: { id: ids.next(), topic: 'bench/pair/17', payload: Buffer.alloc(64), qos: 1, retain: false, createdAt: 1, publisherId: 'publisher-17' },
    }));
    const data = frame('n', run);
    const out = decode(data);
    assert.deepEqual(entriesOf(out), run.map(expected));
    // Each entry after the first: flags, createdAt, prefix length, a one- or two-character id suffix,
    // two back-references and the payload; no topic, publisher or id prefix again.
    const w = new FrameWriter('n');
    for (const e of run) w.append(e.message, e.shared, false, true);
    const standalone = w.finish();
    const perEntry = (data.length - standalone.length / 32) / 31;
    assert.ok(perEntry <= 1 + 8 + 1 + 4 + 2 + 4 + 4 + 4 + 64, `${perEntry} bytes per entry after the first`);
    assert.equal(standalone.length - data.length, 31 * (13 + 13 + 12), 'what standalone entries repeat: the id prefix, the topic, the publisher');
    // At QoS 0 no id at all: the first in full (prefix length, length, 14 characters) and each
    // other's prefix length, length and one character are not written.
    const qos0 = frame('n', run.map((e) => ({ message: { ...e.message, qos: 0 as const } })));
    assert.equal(data.length - qos0.length, 1 + 4 + 14 + 31 * (1 + 4 + 1));
    const given = decodeFrame(qos0, new MessageIds()).messages.map((m) => m.id);
    assert.equal(new Set(given).size, 32, 'the reader gives each QoS 0 message an id of its own');
    const retained = run.slice(0, 2).map((e) => ({ message: { ...e.message, qos: 0 as const, retain: true } }));
    assert.deepEqual(
      decodeFrame(frame('n', retained), new MessageIds()).messages.map((m) => m.id),
      retained.map((e) => e.message.id),
      'a retained QoS 0 message keeps its id (a worker reconciles its retained copy by id)',
    );
  });

  it('carries payloads and topics of 0, 1, 65,535 and 65,536 bytes', () => {
    for (const n of [0, 1, 65_535, 65_536]) {
      const m: StoredMessage = { id: 'b', topic: 't'.repeat(n), payload: Buffer.alloc(n, 7), qos: 1, retain: false, createdAt: 1 };
      const p: StoredMessage = { ...m, topic: 'x', payload: Buffer.alloc(n, 9) };
      const out = entriesOf(decode(frame('n', [{ message: m }, { message: p, shared: 'g\0x' }])));
      assert.equal(out[0].message.topic.length, n, `topic of ${n}`);
      assert.equal(out[0].message.payload.length, n, `payload of ${n}`);
      assert.deepEqual(out[1], { message: p, shared: 'g\0x' });
    }
  });

  it('copies the payload and correlation data of each message that may be queued when asked (QoS 1 or 2, or retained), so it does not hold the frame', () => {
    const m = (qos: 0 | 1 | 2, retain: boolean): StoredMessage => ({
      id: 'c',
      topic: 't',
      payload: Buffer.from('abc'),
      qos,
      retain,
      createdAt: 1,
      properties: { correlationData: Buffer.from('cd') },
    });
    const data = frame('n', [{ message: m(0, false) }, { message: m(1, false) }, { message: m(2, false) }, { message: m(0, true) }]);
    const copied = decode(data, true).messages;
    const viewed = decode(data).messages;
    data.fill(0);
    // A QoS 0 message is written out in the turn it arrives, as one from a local PUBLISH: views.
    assert.deepEqual(copied.map((x) => String(x.payload)), ['\0\0\0', 'abc', 'abc', 'abc']);
    assert.deepEqual(copied.map((x) => String(x.properties?.correlationData)), ['\0\0', 'cd', 'cd', 'cd'], 'correlation data as the payload');
    assert.deepEqual(viewed.map((x) => String(x.payload)), ['\0\0\0', '\0\0\0', '\0\0\0', '\0\0\0']);
  });

  it('copies an encoded entry into other frames byte for byte, and refuses an entry past its limit', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(entry, { minLength: 1, maxLength: 6 }), runs), fc.integer({ min: 40, max: 600 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (entries, max, standalone) => {
        // Each entry into a writer limited to `max` bytes (the next frame when full, from the same
        // writer), and into an unlimited one: copied when written standalone, otherwise appended
        // there too (with back-references to what was copied before it). Together the limited
        // frames carry what the other does, in order (a finished frame is a copy: later writes
        // leave it alone).
        const frames: Buffer[] = [];
        const copy = new FrameWriter('c');
        const w = new FrameWriter('n', max);
        const sent: FrameEntry[] = [];
        entries.forEach((e, i) => {
          const alone = standalone[i % standalone.length];
          if (!w.append(e.message, e.shared, false, alone)) {
            if (w.entries === 0) {
              assert.ok(w.size <= max);
              return; // larger than any frame may be: refused, nothing written
            }
            frames.push(w.finish());
            if (!w.append(e.message, e.shared, false, alone)) return;
          }
          assert.ok(alone ? copy.appendEncoded(w) : copy.append(e.message, e.shared));
          sent.push(e);
        });
        frames.push(w.finish());
        for (const f of frames) assert.ok(f.length <= max, `frame of ${f.length} within ${max}`);
        assert.deepEqual(frames.flatMap((f) => entriesOf(decode(f))), sent.map(expected));
        assert.deepEqual(entriesOf(decode(copy.finish())), sent.map(expected));
      }),
      { numRuns: 200 },
    );
  });

  it('copies only an entry written standalone into another frame (one with back-references would point at the wrong entries there)', () => {
    const m: StoredMessage = { id: 'a', topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, createdAt: 1 };
    const w = new FrameWriter('n');
    w.append(m);
    assert.throws(() => new FrameWriter('c').appendEncoded(w), /not written standalone/);
    // Nor one that went with a finished frame: the writer holds no entry to copy any more.
    const alone = new FrameWriter('n');
    alone.append(m, undefined, false, true);
    alone.finish();
    assert.throws(() => new FrameWriter('c').appendEncoded(alone), /not written standalone/);
  });

  it('carries the handed-on mark of a shared entry, and refuses it on an entry without a shared key', () => {
    const m: StoredMessage = { id: 'h', topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, createdAt: 1 };
    const w = new FrameWriter('n');
    w.append(m, 'g\0t', true);
    w.append(m, 'g\0t');
    w.append(m);
    const out = decode(w.finish());
    assert.deepEqual([0, 1, 2].map((i) => out.handedOn?.[i] === true), [true, false, false]);
    assert.deepEqual(out.shared?.slice(0, 2), ['g\0t', 'g\0t']);
    assert.equal(decode(encodeFrame('n', [{ message: m, shared: 'g\0t' }])).handedOn, undefined, 'no array when nothing was handed on');
    const plain = Buffer.from(encodeFrame('n', [{ message: m }]));
    plain[3 + 1 + 4] |= 0x80;
    assert.ok(refused(plain));
  });

  it('refuses every frame cut short, and one with bytes after its last entry', () => {
    fc.assert(
      fc.property(nodeId, fc.oneof(fc.array(entry, { minLength: 1, maxLength: 4 }), runs), fc.nat(), (origin, entries, cut) => {
        const data = frame(origin, entries);
        assert.ok(refused(data.subarray(0, cut % data.length)), `cut at ${cut % data.length} of ${data.length}`);
        assert.ok(refused(Buffer.concat([data, Buffer.from([0])])));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses or reads a corrupted frame, never throwing anything but a FrameError', () => {
    fc.assert(
      fc.property(nodeId, fc.oneof(fc.array(entry, { minLength: 1, maxLength: 4 }), runs), fc.nat(), fc.integer({ min: 1, max: 255 }), (origin, entries, at, xor) => {
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
    const long = frame('n', [{ message: { id: 'i', topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, createdAt: 0 } }]);
    long.writeUInt32BE(0xfffffff0, 3 + 1 + 4 + 1 + 8 + 1);
    assert.ok(refused(long));
    assert.ok(refused(Buffer.alloc(0)));
    assert.ok(refused(Buffer.from('not a frame')));
  });

  it('refuses an entry with QoS 3, a reserved flag, or a string that is not UTF-8', () => {
    const base = (): Buffer => Buffer.from(frame('n', [{ message: { id: 'i', topic: 't', payload: Buffer.from('p'), qos: 1, retain: false, createdAt: 0 } }]));
    const flags = 3 + 1 + 4;
    const qos3 = base();
    qos3[flags] |= 3;
    assert.ok(refused(qos3));
    const reserved = base();
    reserved[flags] |= 0x80;
    assert.ok(refused(reserved));
    const utf8 = base();
    utf8[flags + 1 + 8 + 1 + 4] = 0xff; // the id's only byte
    assert.ok(refused(utf8));
  });

  it('refuses back-references a writer never makes: to nothing, from an id, past the id before, or into a character', () => {
    const m = (id: string, topic = 't'): StoredMessage => ({ id, topic, payload: Buffer.from('p'), qos: 1, retain: false, createdAt: 0 });
    const first = 3 + 1 + 4 + 1 + 8; // the first entry's id prefix length
    const toNothing = Buffer.from(frame('n', [{ message: m('i') }]));
    toNothing.writeUInt32BE(0xffffffff, first + 1 + 4 + 1); // the topic
    assert.ok(refused(toNothing));
    const idSame = Buffer.from(frame('n', [{ message: m('i') }, { message: m('j') }]));
    const second = first + 1 + 4 + 1 + 4 + 1 + 4 + 1 + 1 + 8;
    assert.equal(idSame.readUInt32BE(second + 1), 1, 'the second id in full');
    idSame.writeUInt32BE(0xffffffff, second + 1);
    assert.ok(refused(idSame));
    const past = Buffer.from(frame('n', [{ message: m('i') }, { message: m('j') }]));
    past[second] = 2;
    assert.ok(refused(past));
    const prefixed = frame('n', [{ message: m('ab') }, { message: m('ac') }]);
    assert.equal(prefixed[first + 1 + 4 + 2 + 4 + 1 + 4 + 1 + 1 + 8], 1, 'the second id shares one character');
    // An id of a surrogate pair, and one sharing half of it: the writer shares only ASCII.
    const pair = Buffer.from(frame('n', [{ message: m('😀a') }, { message: m('z') }]));
    const pairSecond = first + 1 + 4 + 5 + 4 + 1 + 4 + 1 + 1 + 8;
    assert.deepEqual([pair[pairSecond], pair.readUInt32BE(pairSecond + 1)], [0, 1]);
    pair[pairSecond] = 1;
    assert.ok(refused(pair));
    assert.deepEqual(decode(frame('n', [{ message: m('😀a') }, { message: m('😀b') }])).messages.map((x) => x.id), ['😀a', '😀b']);
  });
});
