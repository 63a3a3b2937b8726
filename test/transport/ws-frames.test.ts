// The WebSocket transport writes its own frame headers: a turn's small packets are copied behind
// the header into one buffer, a larger packet goes to the socket as the caller's Buffer itself.
// These tests check the frames on the wire byte by byte (a raw client of our own) and through a
// real decoder (the `ws` client), and what is handed to the socket: one frame and one write per
// turn.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { spyWrites, wsServer, type PairServer } from '../helpers/socket-pairs.js';
import type { WsTransport } from '../../src/transport/ws-transport.js';
import { COALESCE_MAX } from '../../src/transport/socket-transport.js';
import { waitFor } from './helpers.js';

interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Bytes of the header: 2, 4 or 10 without a mask. */
  headerLength: number;
  payload: Buffer;
}

/** A WebSocket client that does the handshake by hand and cuts what follows into frames itself. */
async function rawClient(port: number): Promise<{ socket: Socket; frames: Frame[] }> {
  const socket = connect(port, '127.0.0.1');
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  let upgraded = false;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('connect', () =>
      socket.write(
        'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
      ),
    );
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        assert.match(buf.subarray(0, end).toString(), /^HTTP\/1.1 101 /);
        buf = buf.subarray(end + 4);
        upgraded = true;
        resolve();
      }
      for (;;) {
        if (buf.length < 2) return;
        const code = buf[1]! & 0x7f;
        const headerLength = (code < 126 ? 2 : code === 126 ? 4 : 10) + (buf[1]! & 0x80 ? 4 : 0);
        if (buf.length < headerLength) return;
        const length = code < 126 ? code : code === 126 ? buf.readUInt16BE(2) : Number(buf.readBigUInt64BE(2));
        if (buf.length < headerLength + length) return;
        frames.push({ fin: (buf[0]! & 0x80) !== 0, rsv: buf[0]! & 0x70, opcode: buf[0]! & 0x0f, masked: (buf[1]! & 0x80) !== 0, headerLength, payload: buf.subarray(headerLength, headerLength + length) });
        buf = buf.subarray(headerLength + length);
      }
    });
  });
  return { socket, frames };
}

/** A `ws` client: a full decoder that rejects malformed frames (bad lengths, masks from a server, reserved bits). */
async function wsClient(port: number): Promise<{ ws: WebSocket; messages: Buffer[]; errors: Error[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
  const messages: Buffer[] = [];
  const errors: Error[] = [];
  ws.on('message', (d: Buffer) => messages.push(d));
  ws.on('error', (e) => errors.push(e));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  return { ws, messages, errors };
}

const packet = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);
const u16 = (n: number): number[] => [n >> 8, n & 0xff];
/** Handlers for a transport whose incoming side the test does not use. */
const IGNORE = { data: () => {}, drain: () => {}, close: () => {} };
// Around each length boundary of RFC 6455 section 5.2: 7-bit, 16-bit and 64-bit lengths.
const sizes = [1, 125, 126, 65535, 65536, 70000];
const sent = sizes.map((n, i) => packet(n, i + 1));

describe('WebSocket frames written by the transport', () => {
  let server: PairServer<WsTransport>;
  const cleanup: Array<() => void> = [];
  before(async () => {
    server = await wsServer();
  });
  after(async () => {
    for (const c of cleanup) c();
    await server.close();
  });

  it('are final, unmasked binary frames with the shortest length encoding, byte for byte', async () => {
    const raw = await rawClient(server.port);
    cleanup.push(() => raw.socket.destroy());
    const { transport } = await server.next();
    transport.start(IGNORE);
    for (const p of sent) transport.write(p);
    await waitFor(() => raw.frames.length === sizes.length, 'one frame per uncorked write');
    raw.frames.forEach((f, i) => {
      const n = sizes[i]!;
      assert.deepEqual({ fin: f.fin, rsv: f.rsv, opcode: f.opcode, masked: f.masked }, { fin: true, rsv: 0, opcode: 2, masked: false }, `${n} bytes`);
      assert.equal(f.headerLength, n < 126 ? 2 : n < 65536 ? 4 : 10, `header of a ${n}-byte frame`);
      assert.ok(f.payload.equals(sent[i]!), `payload of a ${n}-byte frame`);
    });
  });

  it('decode in the ws client, uncorked and corked, for every length class', async () => {
    const client = await wsClient(server.port);
    cleanup.push(() => client.ws.terminate());
    const { transport } = await server.next();
    transport.start(IGNORE);
    for (const p of sent) transport.write(p);
    for (const p of sent) {
      transport.cork();
      transport.write(p);
      transport.uncork();
    }
    await waitFor(() => client.messages.length === sizes.length * 2, 'every message');
    assert.deepEqual(client.errors, []);
    client.messages.forEach((m, i) => assert.ok(m.equals(sent[i % sizes.length]!), `message ${i}`));
  });

  /** Two clients and their transports, started, each socket's writes watched. */
  async function twoClients() {
    const c1 = await wsClient(server.port);
    const a = await server.next();
    const c2 = await wsClient(server.port);
    const b = await server.next();
    cleanup.push(() => c1.ws.terminate(), () => c2.ws.terminate());
    for (const s of [a, b]) s.transport.start(IGNORE);
    return { c1, c2, a, b, writesA: spyWrites(a.socket), writesB: spyWrites(b.socket) };
  }

  /** One turn on both transports: A writes its own packet then the shared one, B the shared one then its own. */
  async function fanOutTurn(shared: Buffer) {
    const t = await twoClients();
    const ownA = packet(4, 0x40);
    const ownB = packet(2, 0xd0);
    t.a.transport.cork();
    t.b.transport.cork();
    t.a.transport.write(ownA);
    t.a.transport.write(shared);
    t.b.transport.write(shared);
    t.b.transport.write(ownB);
    t.a.transport.uncork();
    t.b.transport.uncork();
    await waitFor(() => t.c1.messages.length > 0 && t.c2.messages.length > 0, 'both frames');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.c1.messages.length, 1, 'one frame for the turn');
    assert.equal(t.c2.messages.length, 1, 'one frame for the turn');
    assert.ok(t.c1.messages[0]!.equals(Buffer.concat([ownA, shared])));
    assert.ok(t.c2.messages[0]!.equals(Buffer.concat([shared, ownB])));
    assert.equal(t.writesA.length, 1, 'one write for the turn');
    assert.equal(t.writesB.length, 1, 'one write for the turn');
    return { ...t, ownA, ownB };
  }

  it('carry a turn of small packets in one frame, copied behind its header into one buffer and one write', async () => {
    const shared = packet(100, 0x30);
    const { writesA, writesB } = await fanOutTurn(shared);
    // Per buffer handed to a writev Node's stream pays more than copying a small packet costs.
    assert.equal(writesA[0]!.length, 1, 'one buffer, not a writev of one per packet');
    assert.equal(writesB[0]!.length, 1, 'one buffer, not a writev of one per packet');
    assert.deepEqual([...writesA[0]![0]!.subarray(0, 2)], [0x82, 104]);
    assert.deepEqual([...writesB[0]![0]!.subarray(0, 2)], [0x82, 102]);
    assert.equal(writesA[0]![0]!.length, 2 + 104);
  });

  it('carry a turn holding a packet over 4 KiB as the header and the packets\' own buffers, the shared Buffer itself in each socket\'s writev', async () => {
    // Just over COALESCE_MAX: a large fan-out PUBLISH is not copied once per subscriber.
    const shared = packet(COALESCE_MAX + 1, 0x30);
    const { writesA, writesB, ownA, ownB } = await fanOutTurn(shared);
    const [headerA, ...bodyA] = writesA[0]!;
    const [headerB, ...bodyB] = writesB[0]!;
    assert.deepEqual([...headerA!], [0x82, 126, ...u16(COALESCE_MAX + 5)]);
    assert.deepEqual([...headerB!], [0x82, 126, ...u16(COALESCE_MAX + 3)]);
    // Not equal copies: the very Buffer the caller wrote, in both sockets' writes.
    assert.equal(bodyA[1], shared);
    assert.equal(bodyB[0], shared);
    assert.equal(bodyA[0], ownA);
    assert.equal(bodyB[1], ownB);
  });

  it('copy a turn of packets of exactly 4 KiB, the largest copied', async () => {
    const { writesA } = await fanOutTurn(packet(COALESCE_MAX, 0x30));
    assert.equal(writesA[0]!.length, 1, 'one buffer');
    assert.deepEqual([...writesA[0]![0]!.subarray(0, 4)], [0x82, 126, ...u16(COALESCE_MAX + 4)]);
  });

  it('split a turn over 64 KiB into frames of at most 64 KiB, never splitting a packet', async () => {
    const client = await wsClient(server.port);
    cleanup.push(() => client.ws.terminate());
    const { transport, socket } = await server.next();
    transport.start(IGNORE);
    const writes = spyWrites(socket);
    const parts = [packet(30000, 1), packet(30000, 2), packet(30000, 3), packet(70000, 4), packet(10, 5)];
    transport.cork();
    for (const p of parts) transport.write(p);
    transport.uncork();
    await waitFor(() => client.messages.reduce((n, m) => n + m.length, 0) === 160010, 'every byte');
    assert.deepEqual(
      client.messages.map((m) => m.length),
      [60000, 30000, 70000, 10],
    );
    assert.ok(Buffer.concat(client.messages).equals(Buffer.concat(parts)));
    assert.equal(writes.length, 1, 'still one writev: the frames were written while corked');
  });

  it('keep control frames (pings, close) outside our data frames', async () => {
    const raw = await rawClient(server.port);
    cleanup.push(() => raw.socket.destroy());
    const { transport } = await server.next();
    transport.start(IGNORE);
    transport.cork();
    transport.write(packet(3, 7));
    transport.pingTick(); // written into the corked socket at once, between our writes
    transport.write(packet(2, 8));
    transport.end(); // pending packets first, then the close frame
    transport.uncork();
    await waitFor(() => raw.frames.length === 3, 'ping, data, close');
    assert.deepEqual(
      raw.frames.map((f) => [f.opcode, [...f.payload]]),
      [
        [0x9, []],
        [0x2, [7, 7, 7, 8, 8]],
        [0x8, [0x03, 0xe8]],
      ],
    );
  });
});
