// What an idle connection costs the server in timers and lazily made state, with real sockets:
// 200 raw clients (no client-side timers in this process) connect with keepalive 60 s and say
// nothing more. The server's timers do not grow with them (one shared deadline wheel), and their
// sessions and channels carry no maps of their own; the keepalive still ends a silent client. TCP
// keepalive is checked in the kernel (/proc/net/tcp), over TCP, WebSocket and TLS.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';
import { waitUntil } from '../helpers/wait.js';
import { connectClient } from '../helpers/mqttjs.js';
import { keepAliveOf } from '../helpers/socket-flags.js';
import { readFileSync } from 'node:fs';
import { certificateFixture } from '../transport/helpers.js';
import type { Transport } from '../../src/transport/transport.js';
import { GateTicket } from '../../src/server/admission.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('idle connections', () => {
  it('hold no timer each: connect timeouts and keepalives share one wheel', async () => {
    const t = await startTestServer({ sysIntervalSec: '0', webSocketPingIntervalSec: '0' });
    const clients: WireClient[] = [];
    try {
      const before = timers();
      // Sockets that have not sent CONNECT yet: the connect timeout is pending for each.
      for (let i = 0; i < 100; i++) clients.push(await WireClient.open(t.port()));
      const awaitingConnect = timers();
      for (let i = 0; i < 100; i++) {
        const { client, connack } = await WireClient.connect(t.port(), { clientId: `idle-${i}`, keepalive: 60 });
        assert.equal(connack.returnCode, 0);
        clients.push(client);
      }
      await waitUntil(() => t.server.connections.size === 200, '200 connections', 10_000);
      const connected = timers();
      // A handful of unrelated timers may come and go (the test helpers, the retained sweep).
      assert.ok(awaitingConnect - before <= 3, `connect timeouts: ${awaitingConnect - before} more timers for 100 sockets`);
      assert.ok(connected - before <= 3, `keepalives: ${connected - before} more timers for 200 connections`);
      const session = t.server.broker.sessions.get('idle-7')!;
      const channel = [...t.server.connections].find((c) => c.channel.clientId === 'idle-7')!.channel;
      // Read as empty, shared: the same empty map serves every idle session.
      assert.equal(session.inflight, t.server.broker.sessions.get('idle-8')!.inflight);
      assert.equal(session.subscriptions.size, 0);
      assert.equal(channel.inboundAliases, [...t.server.connections].find((c) => c.channel.clientId === 'idle-9')!.channel.inboundAliases);
    } finally {
      for (const c of clients) c.socket.destroy();
      await t.close();
    }
  });

  it('carry no drain listener until a write is refused, and leave no timer behind when their clients go', async () => {
    const t = await startTestServer({ sysIntervalSec: '0', webSocketPingIntervalSec: '0' });
    const clients: WireClient[] = [];
    try {
      const before = timers();
      for (let i = 0; i < 50; i++) {
        const { client, connack } = await WireClient.connect(t.port(), { clientId: `gone-${i}`, keepalive: 60 });
        assert.equal(connack.returnCode, 0);
        clients.push(client);
      }
      await waitUntil(() => t.server.connections.size === 50, '50 connections', 10_000);
      const socketOf = (c: unknown): { listenerCount(event: string): number } => (c as { transport: { socket: { listenerCount(event: string): number } } }).transport.socket;
      for (const c of t.server.connections) assert.equal(socketOf(c).listenerCount('drain'), 0, 'no drain listener on an idle socket');
      // A socket the client closed is gone already: nothing is armed to destroy it later (the
      // 2 s timer a connection the server closes arms is unref'd, so it is counted where it is made).
      const real = globalThis.setTimeout;
      let armed = 0;
      globalThis.setTimeout = ((fn: () => void, ms?: number) => {
        armed++;
        return real(fn, ms);
      }) as typeof setTimeout;
      try {
        for (const c of clients) c.socket.destroy();
        await waitUntil(() => t.server.connections.size === 0, 'all closed', 10_000);
      } finally {
        globalThis.setTimeout = real;
      }
      assert.ok(armed <= 3, `${armed} timers set while 50 clients went`);
      assert.ok(timers() - before <= 3, `${timers() - before} more timers after 50 clients went`);
    } finally {
      for (const c of clients) c.socket.destroy();
      await t.close();
    }
  });

  it('[MQTT-3.1.2-24] a silent client among idle ones is still closed after 1.5 × Keep Alive, the others are not', async () => {
    const t = await startTestServer({ sysIntervalSec: '0' });
    try {
      const quiet = await WireClient.connect(t.port(), { clientId: 'ka-quiet', keepalive: 1 });
      const patient = await WireClient.connect(t.port(), { clientId: 'ka-patient', keepalive: 60 });
      const started = Date.now();
      assert.equal(await quiet.client.waitClosed(5000), true, 'closed');
      const took = Date.now() - started;
      assert.ok(took >= 1400, `closed after ${took} ms, not before 1.5 s`);
      assert.equal(patient.client.closed, false);
      patient.client.send({ cmd: 'pingreq' });
      assert.equal((await patient.client.next(5000)).cmd, 'pingresp');
      patient.client.socket.destroy();
    } finally {
      await t.close();
    }
  });

  it('ask the OS for TCP keepalive only where their keepalive watchdog is off or slower than its probes', async () => {
    const t = await startTestServer({ sysIntervalSec: '0' });
    try {
      const clients = [];
      // 30 s: the watchdog closes a silent client after 45 s, before TCP keepalive (60 s + 10 × 1 s)
      // would notice a vanished one. 60 s: after 90 s, later. 0: never.
      for (const keepalive of [30, 60, 0]) {
        const { client, connack } = await WireClient.connect(t.port(), { clientId: `ka-${keepalive}`, keepalive });
        assert.equal(connack.returnCode, 0);
        clients.push(client);
      }
      await waitUntil(() => t.server.connections.size === 3, '3 connections', 10_000);
      assert.equal(await keepAliveOf(t, 'ka-30'), false, 'the watchdog notices first: no probes');
      assert.equal(await keepAliveOf(t, 'ka-60'), true, 'the probes notice first');
      assert.equal(await keepAliveOf(t, 'ka-0'), true, 'nothing of MQTT watches it');
      for (const c of clients) c.socket.destroy();
    } finally {
      await t.close();
    }
  });
  it('over WebSocket without pings, ask the OS for TCP keepalive where the watchdog is off, as over TCP; with pings, never', async () => {
    for (const pings of ['0', '30']) {
      const t = await startTestServer({ sysIntervalSec: '0', webSocketPingIntervalSec: pings });
      try {
        const clients = [];
        for (const keepalive of [30, 0]) clients.push(await connectClient(t.url('ws'), { clientId: `ws-${keepalive}`, keepalive }));
        await waitUntil(() => t.server.connections.size === 2, '2 connections', 10_000);
        assert.equal(await keepAliveOf(t, 'ws-30'), false, `pings ${pings}: the watchdog notices first`);
        // Without pings nothing else would notice a vanished client with Keep Alive 0.
        assert.equal(await keepAliveOf(t, 'ws-0'), pings === '0', `pings ${pings}, Keep Alive 0`);
        for (const c of clients) c.end(true);
      } finally {
        await t.close();
      }
    }
  });

  it('under TLS (mqtt+ssl, and ws+ssl without pings) the kernel gets the same keepalive as over plain TCP, and no connection keeps its admission ticket', async () => {
    const certs = await certificateFixture();
    const t = await startTestServer({
      sysIntervalSec: '0',
      webSocketPingIntervalSec: '0',
      mqttListeners: 'mqtt+ssl://127.0.0.1:0,ws+ssl://127.0.0.1:0',
      mqttTlsCertificateFilePath: certs.a.certFile,
      mqttTlsKeyFilePath: certs.a.keyFile,
    });
    try {
      const clients = [];
      const ca = readFileSync(certs.a.caFile);
      for (const scheme of ['mqtt+ssl', 'ws+ssl'] as const) {
        for (const keepalive of [30, 0]) clients.push(await connectClient(t.url(scheme), { clientId: `${scheme}-${keepalive}`, keepalive, ca }));
      }
      await waitUntil(() => t.server.connections.size === 4, '4 connections', 10_000);
      for (const c of t.server.connections) {
        // The admission ticket was taken at admission: an established connection keeps none.
        const transport = (c as unknown as { transport: Transport & { opts?: object } }).transport;
        assert.equal(transport.takeAdmission?.(), undefined, `${c.channel.clientId}: no admission ticket held`);
        // Nor any field of the transport or of its per-socket options (where it used to stay).
        // Nor the socket, nor the TCP socket under a TLS one, where the listener first put it.
        const socket = (transport as unknown as { socket: Record<symbol, unknown> & { _parent?: Record<symbol, unknown> } }).socket;
        const onSockets = [socket, socket._parent].flatMap((x) => (x ? Object.getOwnPropertySymbols(x).map((k) => x[k]) : []));
        const held = [...Object.values(transport), ...Object.values(transport.opts ?? {}), ...onSockets].filter((v) => v instanceof GateTicket);
        assert.deepEqual(held, [], `${c.channel.clientId}: a GateTicket is still referenced`);
      }
      for (const scheme of ['mqtt+ssl', 'ws+ssl']) {
        // keepAliveOf reads the kernel's timer on the TCP socket under the TLS one.
        assert.equal(await keepAliveOf(t, `${scheme}-30`), false, `${scheme}: the watchdog notices first`);
        assert.equal(await keepAliveOf(t, `${scheme}-0`), true, `${scheme}, Keep Alive 0: the OS probes the peer`);
      }
      for (const c of clients) c.end(true);
    } finally {
      await t.close();
      certs.cleanup();
    }
  });
});
