// Admission places: counted in the total and under an address, given back exactly once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Admission, SocketGate, type Place } from '../../src/server/admission.js';
import type { ListenerInfo, Transport } from '../../src/transport/transport.js';

const place = (p: Place | string): Place => {
  assert.equal(typeof p, 'object', `admitted, not refused by ${String(p)}`);
  return p as Place;
};

describe('Admission', () => {
  it('refuses over the total and over the per-address share, by cause', () => {
    const a = new Admission(3, 2);
    place(a.enter('10.0.0.1'));
    place(a.enter('10.0.0.1'));
    assert.equal(a.enter('10.0.0.1'), 'maxConnectionsPerAddress');
    place(a.enter('10.0.0.2'));
    assert.equal(a.enter('10.0.0.3'), 'maxConnections');
    assert.equal(a.open, 3);
  });

  it('keeps no counts by address without a per-address limit, and they start once one is set', () => {
    const a = new Admission(0, 0);
    const places = Array.from({ length: 5 }, () => place(a.enter('10.0.0.1')));
    assert.equal(places[0].locate('203.0.113.1'), undefined);
    assert.equal((a as unknown as { byAddress: Map<string, number> }).byAddress.size, 0, 'nothing counted by address');
    for (const p of places) p.release();
    assert.equal(a.open, 0);
    const limited = new Admission(0, 1);
    const p = place(limited.enter('10.0.0.1'));
    assert.equal(limited.enter('10.0.0.1'), 'maxConnectionsPerAddress');
    p.release();
    place(limited.enter('10.0.0.1'));
  });

  it('releases a place once however many paths release it', () => {
    const a = new Admission(2, 1);
    const p = place(a.enter('10.0.0.1'));
    place(a.enter('10.0.0.2'));
    p.release();
    p.release();
    p.release();
    assert.equal(a.open, 1, 'one release counted');
    place(a.enter('10.0.0.1'));
    assert.equal(a.enter('10.0.0.3'), 'maxConnections', 'the limit still holds: no place was given back twice');
  });

  it('counts a place in the total first and under the client address once it is located (behind a proxy)', () => {
    const a = new Admission(0, 1);
    const p1 = place(a.enter(undefined));
    const p2 = place(a.enter(undefined));
    assert.equal(p1.locate('203.0.113.1'), undefined);
    assert.equal(p2.locate('203.0.113.1'), 'maxConnectionsPerAddress');
    assert.equal(p1.locate('203.0.113.9'), undefined, 'a located place is not moved again');
    p1.release();
    assert.equal(p2.locate('203.0.113.1'), undefined, 'the address share was given back with the place');
    p2.release();
    assert.equal(a.open, 0);
    place(a.enter('203.0.113.1'));
  });
});

describe('SocketGate', () => {
  const listener = { url: 'ws://127.0.0.1:0', kind: 'ws' } as unknown as ListenerInfo;
  const events = { refused: () => {}, timedOut: () => {} };

  /** Runs `use` with the server side of a real loopback connection, then closes both sides. */
  async function withSocket(use: (socket: net.Socket) => Promise<void>): Promise<void> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [socket] = (await once(server, 'connection')) as [net.Socket];
    try {
      await use(socket);
    } finally {
      client.destroy();
      socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }

  it('hands a WebSocket socket\'s place to its MQTT connection: the socket keeps no close listener for it, and the connection\'s release is the one that counts', async () => {
    await withSocket(async (socket) => {
      const admission = new Admission(1, 0);
      const gate = new SocketGate(admission, 10_000, events);
      const closeListeners = socket.listenerCount('close');
      const ticket = gate.enter(socket, listener, { byAddress: false, http: true });
      assert.ok(ticket);
      assert.equal(socket.listenerCount('close'), closeListeners + 1, 'a socket still in its upgrade gives its place back on close');
      const admitted = gate.admit({ takeAdmission: () => ticket, remoteAddress: '127.0.0.1' } as unknown as Transport);
      assert.equal(typeof admitted, 'object');
      assert.equal(socket.listenerCount('close'), closeListeners, 'nothing per idle connection left on the socket');
      assert.equal(admission.open, 1);
      (admitted as { place: Place }).place.release();
      assert.equal(admission.open, 0, 'the connection gives the place back');
    });
  });

  it('keeps the close listener when the place is refused once located behind a proxy, so the socket\'s close gives it back', async () => {
    await withSocket(async (socket) => {
      const admission = new Admission(0, 1);
      const other = place(admission.enter('203.0.113.1'));
      const gate = new SocketGate(admission, 10_000, events);
      const ticket = gate.enter(socket, listener, { byAddress: false, http: true });
      assert.equal(gate.admit({ takeAdmission: () => ticket, remoteAddress: '203.0.113.1' } as unknown as Transport), 'maxConnectionsPerAddress');
      assert.equal(admission.open, 2);
      socket.destroy();
      await once(socket, 'close');
      assert.equal(admission.open, 1, 'the refused socket\'s place went back when it closed');
      other.release();
    });
  });
});
