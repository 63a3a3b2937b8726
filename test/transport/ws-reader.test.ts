// The reader of client frames (src/transport/ws-reader.ts) without sockets: frames built here,
// masked with random keys, cut into chunks anywhere, with control frames between fragments, at the
// length boundaries of the encoding (0, 125, 126, 65,535, 65,536), and every violation the RFC
// names, each ending in the close code it gives. Hostile bytes never throw.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { unmask, validCloseCode, WsFrameReader, type WsFrameSink } from '../../src/transport/ws-reader.js';

type Event = ['data', Buffer] | ['ping', Buffer] | ['pong'] | ['close', number, string] | ['fail', number, string];

class Recorder implements WsFrameSink {
  readonly events: Event[] = [];
  /** Called after each data event (to pause the reader from inside, as the broker does). */
  onData?: () => void;
  /** Each data event's view as handed on, with a copy taken then: what was handed on must not change after. */
  readonly views: Array<[Buffer, Buffer]> = [];
  wsData(payload: Buffer): void {
    assert.ok(payload.length > 0, 'no empty data events');
    this.events.push(['data', Buffer.from(payload)]);
    this.views.push([payload, Buffer.from(payload)]);
    this.onData?.();
  }
  /** Whether every view handed on still reads as it did (the reader moves later payloads in place). */
  get viewsIntact(): boolean {
    return this.views.every(([view, copy]) => view.equals(copy));
  }
  wsPing(payload: Buffer): void {
    this.events.push(['ping', Buffer.from(payload)]);
  }
  wsPong(): void {
    this.events.push(['pong']);
  }
  wsClose(code: number, reason: string): void {
    this.events.push(['close', code, reason]);
  }
  wsFail(code: number, message: string): void {
    this.events.push(['fail', code, message]);
  }
  get data(): Buffer {
    return Buffer.concat(this.events.filter((e) => e[0] === 'data').map((e) => e[1] as Buffer));
  }
  get terminal(): Event | undefined {
    return this.events.find((e) => e[0] === 'close' || e[0] === 'fail');
  }
}

interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload: Buffer;
  mask?: Buffer | null;
  /** Length encoding: the shortest by default. */
  form?: 7 | 16 | 64;
}

/** A client frame as a client writes it: masked (unless mask is null). */
function frame({ fin = true, rsv = 0, opcode, payload, mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]), form }: FrameSpec): Buffer {
  const n = payload.length;
  const f = form ?? (n < 126 ? 7 : n < 0x10000 ? 16 : 64);
  const len = f === 7 ? Buffer.from([n]) : f === 16 ? Buffer.from([126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([127]), u64(n)]);
  len[0] = len[0]! | (mask ? 0x80 : 0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < n; i++) body[i] = body[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode]), len, mask ?? Buffer.alloc(0), body]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(n / 0x100000000), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

/** Reads a copy of `bytes` (the reader unmasks in place, as it may with a socket's chunk). */
function read(original: Buffer, maxMessage = 1 << 20, cuts: number[] = []): Recorder {
  const bytes = Buffer.from(original);
  const rec = new Recorder();
  const reader = new WsFrameReader(rec, maxMessage);
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    reader.feed(bytes.subarray(at, Math.max(at, cut)));
    at = Math.max(at, cut);
  }
  reader.feed(bytes.subarray(at));
  return rec;
}

const close = (code: number, reason = ''): Buffer => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

describe('WebSocket frame reader', () => {
  it('unmasks in pieces exactly as in one go, at any split, and unmasking twice restores the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer(), fc.array(fc.nat(300), { maxLength: 6 }), (bytes, mask, splits) => {
        const whole = Buffer.from(bytes);
        unmask(whole, mask, 0);
        const pieces = Buffer.from(bytes);
        let at = 0;
        let m = 0;
        for (const s of [...splits.map((x) => Math.min(x, bytes.length)), bytes.length].sort((a, b) => a - b)) {
          m = unmask(pieces.subarray(at, s), mask, m);
          at = s;
        }
        assert.ok(pieces.equals(whole));
        unmask(whole, mask, 0);
        assert.ok(whole.equals(Buffer.from(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it('passes on every payload byte of fragmented binary messages, with pings and pongs between fragments, however the bytes are cut and paused', () => {
    const message = fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 });
    const control = fc.option(fc.oneof(fc.record({ op: fc.constant(0x9), payload: fc.uint8Array({ maxLength: 125 }) }), fc.record({ op: fc.constant(0xa), payload: fc.uint8Array({ maxLength: 125 }) })), { nil: undefined });
    fc.assert(
      fc.property(
        fc.array(fc.record({ fragments: message, between: fc.array(control, { maxLength: 4 }) }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(4000), { maxLength: 12 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 6 }),
        (messages, cuts, mask, pauseEvery) => {
          const wire: Buffer[] = [];
          const expectedData: Buffer[] = [];
          const expectedPings: Buffer[] = [];
          let pongs = 0;
          // Payload bytes before each control frame on the wire: what must have been handed on before it is.
          const dataBeforeControl: number[] = [];
          let dataBytes = 0;
          for (const m of messages) {
            m.fragments.forEach((payload, i) => {
              const last = i === m.fragments.length - 1;
              wire.push(frame({ fin: last, opcode: i === 0 ? 0x2 : 0x0, payload: Buffer.from(payload), mask: Buffer.from(mask) }));
              expectedData.push(Buffer.from(payload));
              dataBytes += payload.length;
              // Control frames may come between the fragments of a message [RFC 6455 section 5.4].
              const c = m.between[i];
              if (c) {
                dataBeforeControl.push(dataBytes);
                wire.push(frame({ opcode: c.op, payload: Buffer.from(c.payload), mask: Buffer.from(mask) }));
                if (c.op === 0x9) expectedPings.push(Buffer.from(c.payload));
                else pongs++;
              }
            });
          }
          wire.push(frame({ opcode: 0x8, payload: close(1000, 'done') }));
          const bytes = Buffer.concat(wire);
          const rec = new Recorder();
          const reader = new WsFrameReader(rec, 1 << 20);
          // Pause from inside a data event now and then, resuming after the chunk, as backpressure does.
          let n = 0;
          rec.onData = () => {
            if (pauseEvery > 0 && ++n % pauseEvery === 0) reader.pause();
          };
          let at = 0;
          for (const cut of [...cuts.map((c) => Math.min(c, bytes.length)), bytes.length].sort((a, b) => a - b)) {
            reader.feed(bytes.subarray(at, cut));
            at = cut;
            for (let guard = 0; guard < 10_000; guard++) {
              if (!(reader as unknown as { paused: boolean }).paused) break;
              reader.resume();
            }
          }
          assert.ok(rec.data.equals(Buffer.concat(expectedData)));
          assert.ok(rec.viewsIntact, 'bytes already handed on were changed by a later frame of the same chunk');
          assert.deepEqual(
            rec.events.filter((e) => e[0] === 'ping').map((e) => [...(e[1] as Buffer)]),
            expectedPings.map((p) => [...p]),
          );
          assert.equal(rec.events.filter((e) => e[0] === 'pong').length, pongs);
          // Data and control frames are reported in wire order, though a chunk's payloads go on together.
          let seen = 0;
          const before: number[] = [];
          for (const e of rec.events) {
            if (e[0] === 'data') seen += e[1].length;
            else if (e[0] === 'ping' || e[0] === 'pong') before.push(seen);
          }
          assert.deepEqual(before, dataBeforeControl);
          assert.deepEqual(rec.events.at(-1), ['close', 1000, 'done']);
          assert.equal(rec.events.filter((e) => e[0] === 'close' || e[0] === 'fail').length, 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands on the payloads of a chunk\'s data frames as one run, in place in the chunk, and the rest of a frame cut off with the next chunk', () => {
    const payloads = [[1], [2, 3], [4, 5, 6], [7]].map((p) => Buffer.from(p));
    const wire = Buffer.concat(payloads.map((payload, i) => frame({ fin: i === payloads.length - 1, opcode: i === 0 ? 0x2 : 0x0, payload })));
    const seen: Buffer[] = [];
    const sink: WsFrameSink = { wsData: (b) => seen.push(b), wsPing() {}, wsPong() {}, wsClose() {}, wsFail() {} };
    const reader = new WsFrameReader(sink, 1 << 20);
    // The last frame's payload byte arrives in a chunk of its own.
    const first = Buffer.from(wire.subarray(0, wire.length - 1));
    reader.feed(first);
    reader.feed(Buffer.from(wire.subarray(wire.length - 1)));
    assert.deepEqual(seen.map((b) => [...b]), [[1, 2, 3, 4, 5, 6], [7]]);
    // A view of the first chunk (its payloads moved together over the headers), not a copy.
    assert.equal(seen[0]!.buffer, first.buffer);
    assert.equal(seen[0]!.byteOffset, first.byteOffset + 6);
  });

  it('reports nothing after the data a paused sink took until it resumes: a close frame or a violation behind a PUBLISH waits, as over TCP', () => {
    const data = frame({ opcode: 0x2, payload: Buffer.from('publish') });
    for (const [after, terminal] of [
      [frame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) }), ['close', 1000, '']],
      [frame({ opcode: 0x2, payload: Buffer.from('x'), mask: null }), ['fail', 1002, 'unmasked frame from a client']],
      [frame({ opcode: 0x9, payload: Buffer.from('p') }), ['ping', Buffer.from('p')]],
    ] as const) {
      const rec = new Recorder();
      const reader = new WsFrameReader(rec, 1 << 20);
      // The broker pauses a connection whose PUBLISH waits for its store write.
      rec.onData = () => reader.pause();
      reader.feed(Buffer.concat([data, after]));
      assert.deepEqual(rec.events, [['data', Buffer.from('publish')]], `only the data before resume (then ${terminal[0]})`);
      reader.resume();
      assert.deepEqual(rec.events, [['data', Buffer.from('publish')], terminal]);
    }
  });

  it('completes a header cut across chunks from the next chunk\'s first bytes, and reads the rest of that chunk in place', () => {
    const payloads = [Buffer.alloc(10, 1), Buffer.alloc(300, 2), Buffer.alloc(5, 3)];
    const wire = Buffer.concat(payloads.map((payload) => frame({ opcode: 0x2, payload })));
    // Inside the second frame's 8-byte header (2 bytes, a 16-bit length, a 4-byte mask), 16 bytes in.
    const cut = 16 + 3;
    const seen: Buffer[] = [];
    const sink: WsFrameSink = { wsData: (b) => seen.push(b), wsPing() {}, wsPong() {}, wsClose() {}, wsFail() {} };
    const reader = new WsFrameReader(sink, 1 << 20);
    reader.feed(Buffer.from(wire.subarray(0, cut)));
    const second = Buffer.from(wire.subarray(cut));
    reader.feed(second);
    assert.deepEqual(Buffer.concat(seen), Buffer.concat(payloads));
    // The second chunk's payloads are handed on as a view of it: it was not copied behind the cut header.
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!.buffer, second.buffer);
    // At the chunk's own offset (past the 5 bytes that completed the cut header): a pooled copy
    // would share the pool's buffer too, but not this offset.
    assert.equal(seen[1]!.byteOffset, second.byteOffset + 5);
    assert.equal(seen[1]!.length, 305);
  });

  it('reads payloads at the length-encoding boundaries, with the header cut at every byte', () => {
    for (const n of [0, 1, 125, 126, 127, 65_535, 65_536, 65_537]) {
      const payload = Buffer.alloc(n);
      for (let i = 0; i < n; i++) payload[i] = (i * 31 + 7) & 0xff;
      const bytes = frame({ opcode: 0x2, payload });
      const headerLength = bytes.length - n;
      assert.equal(headerLength, n < 126 ? 6 : n < 65_536 ? 8 : 14, `header of ${n}`);
      for (let cut = 0; cut <= headerLength + 1; cut++) {
        const rec = read(bytes, 1 << 20, [cut]);
        assert.ok(rec.data.equals(payload), `${n} bytes cut at ${cut}`);
        assert.equal(rec.terminal, undefined);
      }
    }
  });

  it('accepts a longer length encoding than needed (16- and 64-bit forms of small lengths)', () => {
    for (const form of [16, 64] as const) {
      const rec = read(frame({ opcode: 0x2, payload: Buffer.from([1, 2, 3]), form }));
      assert.deepEqual([...rec.data], [1, 2, 3]);
    }
  });

  it('allows a message of exactly maxMessage bytes, over fragments too, and closes with 1009 one byte beyond', () => {
    const max = 65_536;
    assert.equal(read(frame({ opcode: 0x2, payload: Buffer.alloc(max) }), max).terminal, undefined);
    assert.equal(read(frame({ opcode: 0x2, payload: Buffer.alloc(max + 1) }), max).terminal?.[1], 1009);
    const split = Buffer.concat([frame({ fin: false, opcode: 0x2, payload: Buffer.alloc(40_000) }), frame({ opcode: 0x0, payload: Buffer.alloc(max - 40_000) })]);
    assert.equal(read(split, max).terminal, undefined);
    const over = Buffer.concat([frame({ fin: false, opcode: 0x2, payload: Buffer.alloc(40_000) }), frame({ opcode: 0x0, payload: Buffer.alloc(max - 40_000 + 1) })]);
    const rec = read(over, max);
    assert.equal(rec.terminal?.[1], 1009);
    assert.equal(rec.data.length, 40_000, 'the first fragment went on before the second was refused');
    // The count starts again with each message.
    const two = Buffer.concat([frame({ opcode: 0x2, payload: Buffer.alloc(max) }), frame({ opcode: 0x2, payload: Buffer.alloc(max) })]);
    assert.equal(read(two, max).data.length, 2 * max);
  });

  it('refuses a 64-bit length past 2^32 (1009) or with its top bit set (1002) before any payload', () => {
    const header = (high: number): Buffer => Buffer.concat([Buffer.from([0x82, 0xff]), Buffer.from([high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff, 0, 0, 0, 0]), Buffer.alloc(4)]);
    assert.equal(read(header(1)).terminal?.[1], 1009);
    assert.equal(read(header(0x80000000)).terminal?.[1], 1002);
  });

  const violations: Array<[string, Buffer, number]> = [
    ['an unmasked frame', frame({ opcode: 0x2, payload: Buffer.from([1]), mask: null }), 1002],
    ['RSV1 set (no extension negotiated)', frame({ rsv: 4, opcode: 0x2, payload: Buffer.from([1]) }), 1002],
    ['RSV3 set', frame({ rsv: 1, opcode: 0x2, payload: Buffer.from([1]) }), 1002],
    ...[0x3, 0x4, 0x5, 0x6, 0x7].map((op): [string, Buffer, number] => [`reserved data opcode ${op}`, frame({ opcode: op, payload: Buffer.alloc(0) }), 1002]),
    ...[0xb, 0xc, 0xd, 0xe, 0xf].map((op): [string, Buffer, number] => [`reserved control opcode ${op}`, frame({ opcode: op, payload: Buffer.alloc(0) }), 1002]),
    ['a fragmented ping', frame({ fin: false, opcode: 0x9, payload: Buffer.alloc(0) }), 1002],
    ['a 126-byte ping', frame({ opcode: 0x9, payload: Buffer.alloc(126) }), 1002],
    ['a continuation with no message open', frame({ opcode: 0x0, payload: Buffer.from([1]) }), 1002],
    ['a new binary message inside a fragmented one', Buffer.concat([frame({ fin: false, opcode: 0x2, payload: Buffer.from([1]) }), frame({ opcode: 0x2, payload: Buffer.from([2]) })]), 1002],
    ['a text frame [MQTT-6.0.0-1]', frame({ opcode: 0x1, payload: Buffer.from('hi') }), 1003],
    ['a close frame with a one-byte body', frame({ opcode: 0x8, payload: Buffer.from([3]) }), 1002],
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code): [string, Buffer, number] => [`close code ${code}`, frame({ opcode: 0x8, payload: close(code) }), 1002]),
    ['a close reason that is not UTF-8', frame({ opcode: 0x8, payload: Buffer.concat([close(1000), Buffer.from([0xc3, 0x28])]) }), 1007],
  ];
  for (const [what, bytes, code] of violations) {
    it(`closes with ${code} on ${what}, and reads nothing after`, () => {
      const after = frame({ opcode: 0x2, payload: Buffer.from([9]) });
      const rec = read(Buffer.concat([bytes, after]));
      assert.equal(rec.events.length, rec.events[0]?.[0] === 'data' ? 2 : 1, JSON.stringify(rec.events));
      assert.equal(rec.terminal?.[0], 'fail');
      assert.equal(rec.terminal?.[1], code);
    });
  }

  it('reports close frames: empty as 1005, valid codes with their UTF-8 reasons', () => {
    assert.deepEqual(read(frame({ opcode: 0x8, payload: Buffer.alloc(0) })).events, [['close', 1005, '']]);
    for (const code of [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999]) {
      assert.ok(validCloseCode(code));
      assert.deepEqual(read(frame({ opcode: 0x8, payload: close(code, 'bye ✓') })).events, [['close', code, 'bye ✓']]);
    }
    // A 125-byte close body: the most a control frame holds.
    const reason = 'r'.repeat(123);
    assert.deepEqual(read(frame({ opcode: 0x8, payload: close(1000, reason) })).events, [['close', 1000, reason]]);
  });

  it('answers to any bytes at all without throwing, ends at most once, and reports nothing after the end', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (chunks, startMasked) => {
        const rec = new Recorder();
        const reader = new WsFrameReader(rec, 1000);
        // Half the runs start with a valid masked binary header, so the bytes after it are read as payload and beyond.
        if (startMasked) reader.feed(Buffer.from([0x02, 0x83, 1, 2, 3, 4]));
        for (const c of chunks) reader.feed(Buffer.from(c));
        const end = rec.events.findIndex((e) => e[0] === 'close' || e[0] === 'fail');
        assert.ok(end === -1 || end === rec.events.length - 1, 'nothing after the end');
        if (end >= 0) assert.ok(reader.done);
        const held = (reader as unknown as { held?: Buffer }).held;
        assert.ok(held === undefined || held.length <= 14 + 125, 'at most a header and a control frame are held');
      }),
      { numRuns: 1000 },
    );
  });
});
