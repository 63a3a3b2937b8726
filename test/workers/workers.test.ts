// `workers=2`: the real `starling start` with two worker processes sharing the listeners, driven with
// MQTT.js. Which worker served a connection is read from its JSON log; the kernel hands connections
// to the workers in turn, so consecutive connections land on different workers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { startPool, type PoolProcess } from './pool-process.js';
import { http, parsePrometheus, sampleValue } from '../observe/helpers.js';
import { passwordLine } from '../../src/auth/password-file.js';
import { clientFinal, clientFirst } from '../helpers/scram-client.js';
import { WireClient } from '../helpers/wire.js';

describe('workers=2: two processes act as one broker', () => {
  let pool: PoolProcess;
  const clients: MqttClient[] = [];
  const connect = async (url: string, options: Parameters<typeof connectClient>[1]): Promise<MqttClient> => {
    const c = await connectClient(url, options);
    clients.push(c);
    return c;
  };

  before(async () => {
    // TLS listeners without a certificate: the primary makes the development one for every worker.
    pool = await startPool({
      workers: '2',
      mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws+ssl://127.0.0.1:0',
      httpAdminToken: 'workers-admin',
    });
  });

  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    const code = await pool.stop('SIGTERM');
    rmSync(pool.dir, { recursive: true, force: true });
    assert.equal(code, 0, 'the primary exits 0 after SIGTERM');
  });

  it('starts two workers and prints where to connect', async () => {
    const ready = pool.logs.filter((l) => l.msg === 'worker ready').map((l) => l.worker).sort();
    assert.deepEqual(ready, [1, 2]);
    assert.match(pool.url('mqtt'), /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.match(pool.url('ws'), /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    assert.match(pool.url('wss'), /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
  });

  it('delivers at QoS 0, 1 and 2 between clients of different workers, over TCP and WebSocket', async () => {
    const subs: Array<{ client: MqttClient; inbox: Inbox; worker: number }> = [];
    for (let i = 0; i < 4; i++) {
      const id = `x-sub-${i}`;
      const client = await connect(i % 2 === 0 ? pool.url('mqtt') : pool.url('ws'), { clientId: id, protocolVersion: i < 2 ? 4 : 5 });
      const inbox = new Inbox(client);
      await client.subscribeAsync('x/#', { qos: 2 });
      subs.push({ client, inbox, worker: await pool.workerOf(id) });
    }
    assert.deepEqual(new Set(subs.map((s) => s.worker)), new Set([1, 2]), 'the subscribers are spread over both workers');
    const publisher = await connect(pool.url('ws'), { clientId: 'x-pub', protocolVersion: 5 });
    for (const qos of [0, 1, 2] as const) await publisher.publishAsync(`x/${qos}`, `qos ${qos}`, { qos });
    for (const s of subs) {
      const got = await s.inbox.waitFor(3);
      assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}`).sort(), ['x/0=qos 0', 'x/1=qos 1', 'x/2=qos 2']);
    }
    await sleep(100);
    for (const s of subs) assert.equal(s.inbox.messages.length, 3, 'each message once per subscriber');
  });

  it('serves TLS and secure WebSocket from both workers, with one development certificate', async () => {
    const tls = { rejectUnauthorized: false };
    const subs: Array<{ inbox: Inbox; worker: number }> = [];
    for (let i = 0; i < 4; i++) {
      const id = `tls-sub-${i}`;
      const client = await connect(i % 2 === 0 ? pool.url('mqtts') : pool.url('wss'), { clientId: id, ...tls });
      const inbox = new Inbox(client);
      await client.subscribeAsync('tls/t', { qos: 1 });
      subs.push({ inbox, worker: await pool.workerOf(id) });
    }
    assert.deepEqual(new Set(subs.map((s) => s.worker)), new Set([1, 2]));
    const publisher = await connect(pool.url('wss'), { clientId: 'tls-pub', ...tls });
    await publisher.publishAsync('tls/t', 'secret', { qos: 1 });
    for (const s of subs) assert.equal((await s.inbox.waitFor(1))[0]!.payload.toString(), 'secret');
  });

  it('answers /metrics on any worker for all of them', async () => {
    const port = Number(new URL(pool.url('ws')).port);
    const accepted = async (): Promise<number> => {
      const reply = await http(port, '/metrics');
      assert.equal(reply.status, 200);
      return sampleValue(parsePrometheus(reply.text), 'starling_connections_accepted_total');
    };
    const before = await accepted();
    const workers = new Set<number>();
    for (let i = 0; i < 4; i++) {
      await connect(pool.url('mqtt'), { clientId: `metrics-${i}` });
      workers.add(await pool.workerOf(`metrics-${i}`));
    }
    assert.equal(workers.size, 2, 'the clients are on both workers');
    // Scrapes land on either worker; each must count the connections of both.
    for (let i = 0; i < 4; i++) assert.equal(await accepted(), before + 4, `scrape ${i + 1} adds up both workers`);
  });

  it('lists the clients and subscriptions of both workers in the admin API, and kicks a client on either', async () => {
    const port = Number(new URL(pool.url('ws')).port);
    const api = async (path: string, method = 'GET') => {
      const reply = await http(port, `/api/v1${path}`, { method, headers: { Authorization: 'Bearer workers-admin' } });
      return { status: reply.status, body: reply.json() as Record<string, unknown> };
    };
    const ids = ['adm-0', 'adm-1', 'adm-2', 'adm-3'];
    const byId = new Map<string, MqttClient>();
    const workerOf = new Map<string, number>();
    for (const id of ids) {
      const c = await connect(pool.url('mqtt'), { clientId: id });
      await c.subscribeAsync(`adm/${id}`, { qos: 1 });
      byId.set(id, c);
      workerOf.set(id, await pool.workerOf(id));
    }
    assert.equal(new Set(workerOf.values()).size, 2);
    for (let i = 0; i < 3; i++) {
      const clients = (await api('/clients')).body.clients as Array<{ clientId: string }>;
      for (const id of ids) assert.ok(clients.some((c) => c.clientId === id), `request ${i + 1}: ${id} listed wherever the request landed`);
      const subs = (await api('/subscriptions')).body.subscriptions as Array<{ clientId: string; filter: string }>;
      for (const id of ids) assert.ok(subs.some((s) => s.clientId === id && s.filter === `adm/${id}`), `request ${i + 1}: ${id}'s subscription listed`);
    }
    // Kick each of two clients that sit on different workers: one of the kicks is served remotely.
    const onEach = [1, 2].map((w) => ids.find((id) => workerOf.get(id) === w)!);
    for (const id of onEach) {
      const closed = new Promise<void>((resolve) => byId.get(id)!.once('close', () => resolve()));
      const k = await api(`/clients/${id}/kick`, 'POST');
      assert.equal(k.status, 200, `${id} kicked`);
      await closed;
    }
    assert.equal((await api('/clients/nobody/kick', 'POST')).status, 404);
  });

  it('keeps retained messages on every worker', async () => {
    const publisher = await connect(pool.url('mqtt'), { clientId: 'r-pub' });
    await publisher.publishAsync('r/state', 'on', { qos: 1, retain: true });
    const workers = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const id = `r-sub-${i}`;
      const client = await connect(pool.url('mqtt'), { clientId: id });
      const inbox = new Inbox(client);
      await client.subscribeAsync('r/#', { qos: 1 });
      const [m] = await inbox.waitFor(1);
      assert.equal(m!.payload.toString(), 'on');
      assert.equal(m!.packet.retain, true, 'delivered with the retain flag [MQTT-3.3.1-8]');
      workers.add(await pool.workerOf(id));
    }
    assert.equal(workers.size, 2, 'read from both workers');
  });

  it('moves a persistent session to the worker the client reconnects to, losing nothing [MQTT-3.1.2-4] [MQTT-4.4.0-1]', async () => {
    const publisher = await connect(pool.url('mqtt'), { clientId: 'm-pub' });
    const first = await connectClient(pool.url('mqtt'), { clientId: 'mover', clean: false });
    await first.subscribeAsync('m/#', { qos: 1 });
    await endClient(first);
    const served: number[] = [await pool.workerOf('mover', 1)];
    for (let round = 1; round <= 4; round++) {
      for (let k = 0; k < 5; k++) await publisher.publishAsync(`m/${round}`, `${round}.${k}`, { qos: 1 });
      // The queued messages may arrive right behind the CONNACK: listen before connecting.
      const again = mqtt.connect(pool.url('mqtt'), { clientId: 'mover', clean: false, reconnectPeriod: 0 });
      const inbox = new Inbox(again);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no CONNACK within 5 s')), 5000);
        again.once('connect', () => (clearTimeout(t), resolve()));
      });
      // MQTT.js keeps the CONNACK it got (a private field, read for the test).
      const sessionPresent = (again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
      assert.equal(sessionPresent, true, `round ${round}: the session is present`);
      const got = await inbox.waitFor(5);
      assert.deepEqual(got.map((m) => m.payload.toString()), [0, 1, 2, 3, 4].map((k) => `${round}.${k}`), `round ${round}: every queued message, in order`);
      served.push(await pool.workerOf('mover', round + 1));
      await endClient(again);
    }
    const moves = served.filter((w, i) => i > 0 && w !== served[i - 1]).length;
    assert.ok(moves >= 1, `the session changed worker at least once (workers: ${served.join(', ')})`);
    const moved = pool.logs.filter((l) => l.msg === 'client connected' && l.clientId === 'mover' && l.sessionPresent === true);
    assert.equal(moved.length, 4);
  });

  it('closes the older connection of a client id on the other worker (takeover) [MQTT-3.1.4-2]; its Session Expiry 0 session does not move [MQTT-3.1.2-6] [MQTT-3.2.2-2]', async () => {
    const old = await connectClient(pool.url('mqtt'), { clientId: 'twin', protocolVersion: 5 });
    await old.subscribeAsync('twin/#', { qos: 1 });
    const reason = new Promise<number | undefined>((resolve) => {
      old.once('disconnect', (p) => resolve(p.reasonCode));
      old.once('close', () => resolve(undefined));
    });
    const oldWorker = await pool.workerOf('twin', 1);
    let fresh: MqttClient | undefined;
    let freshWorker = oldWorker;
    // Connections alternate between the workers; a filler connection moves the next one over if needed.
    for (let i = 0; i < 3 && freshWorker === oldWorker; i++) {
      if (fresh) await connect(pool.url('mqtt'), { clientId: `twin-filler-${i}` });
      fresh = await connect(pool.url('mqtt'), { clientId: 'twin', protocolVersion: 5, clean: false });
      freshWorker = await pool.workerOf('twin', i + 2);
    }
    assert.notEqual(freshWorker, oldWorker, 'the second connection is on the other worker');
    assert.equal(await reason, 0x8e, 'the old connection is told Session taken over (0x8E)');
    await endClient(old, true);
    assert.equal(fresh!.connected, true);
    // MQTT.js keeps the CONNACK it got (a private field, read for the test).
    const sessionPresent = (fresh as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
    assert.equal(sessionPresent, false, 'the old session ended with its connection: nothing was carried over');
    const freshInbox = new Inbox(fresh!);
    const control = await connect(pool.url('ws'), { clientId: 'twin-control' });
    const controlInbox = new Inbox(control);
    await control.subscribeAsync('twin/#', { qos: 1 });
    const publisher = await connect(pool.url('mqtt'), { clientId: 'twin-pub' });
    await publisher.publishAsync('twin/x', 'after', { qos: 1 });
    await controlInbox.waitFor(1);
    await sleep(300);
    assert.equal(freshInbox.messages.length, 0, 'the old subscription did not come over');
  });

  it('spreads a shared subscription over members on both workers, each message to one member', async () => {
    const inboxes: Inbox[] = [];
    const workers = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const id = `g-member-${i}`;
      const c = await connect(pool.url('mqtt'), { clientId: id, protocolVersion: 5 });
      inboxes.push(new Inbox(c));
      await c.subscribeAsync('$share/g/g/#', { qos: 1 });
      workers.add(await pool.workerOf(id));
    }
    assert.equal(workers.size, 2);
    const publisher = await connect(pool.url('ws'), { clientId: 'g-pub', protocolVersion: 5 });
    for (let i = 0; i < 40; i++) await publisher.publishAsync('g/t', String(i), { qos: 1 });
    const deadline = Date.now() + 5000;
    const total = (): number => inboxes.reduce((n, b) => n + b.messages.length, 0);
    while (total() < 40 && Date.now() < deadline) await sleep(20);
    await sleep(100);
    const all = inboxes.flatMap((b) => b.messages.map((m) => m.payload.toString())).sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(all, Array.from({ length: 40 }, (_, i) => String(i)), 'every message exactly once across the group');
    assert.ok(inboxes.filter((b) => b.messages.length > 0).length >= 2, 'more than one member served');
  });

  it('starts a worker again when it dies; a persistent session on it loses nothing published meanwhile', async () => {
    // A persistent session on worker 2 (connections alternate between the workers, and the session
    // follows its client, so one of the first connections lands it there).
    const options = { clientId: 'phoenix', clean: false, reconnectPeriod: 0 };
    let served = 0;
    for (let i = 1; i <= 4 && served !== 2; i++) {
      const c = await connectClient(pool.url('mqtt'), options);
      await c.subscribeAsync('phx/#', { qos: 1 });
      served = await pool.workerOf('phoenix', i);
      await endClient(c);
    }
    assert.equal(served, 2, 'the session is on worker 2');

    const victim = pool.logs.find((l) => l.msg === 'worker ready' && l.worker === 2)!;
    process.kill(victim.pid as number, 'SIGKILL');
    await pool.waitForLog((l) => l.msg === 'worker died; starting it again' && l.worker === 2, 'the restart');
    // While worker 2 is down: messages for the session are kept for it, and its client, reconnecting
    // to worker 1, waits until worker 2 is back and hands the session over.
    const publisher = await connect(pool.url('mqtt'), { clientId: 'phx-pub' });
    for (let i = 0; i < 5; i++) await publisher.publishAsync('phx/t', String(i), { qos: 1 });
    const again = mqtt.connect(pool.url('mqtt'), options);
    clients.push(again);
    const phoenix = new Inbox(again);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no CONNACK within 20 s')), 20_000);
      again.once('connect', () => (clearTimeout(t), resolve()));
    });
    const present = (again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
    assert.equal(present, true, 'the session came back with its worker and moved to the client');
    assert.deepEqual((await phoenix.waitFor(5)).map((m) => m.payload.toString()), ['0', '1', '2', '3', '4'], 'nothing published while its worker was down is lost');
    let readies = 0;
    await pool.waitForLog((l) => l.msg === 'worker ready' && l.worker === 2 && ++readies === 2, 'worker 2 ready again', 15_000);
    const workers = new Set<number>();
    const inboxes: Inbox[] = [];
    for (let i = 0; i < 4; i++) {
      const id = `after-${i}`;
      const c = await connect(pool.url('mqtt'), { clientId: id });
      inboxes.push(new Inbox(c));
      await c.subscribeAsync('after/t', { qos: 1 });
      workers.add(await pool.workerOf(id));
    }
    assert.equal(workers.size, 2, 'both workers serve again');
    const afterPub = await connect(pool.url('mqtt'), { clientId: 'after-pub' });
    await afterPub.publishAsync('after/t', 'hello', { qos: 1 });
    for (const b of inboxes) assert.equal((await b.waitFor(1))[0]!.payload.toString(), 'hello');
    // The restarted worker copied the retained state of the running one.
    const late = await connect(pool.url('mqtt'), { clientId: 'after-retained' });
    const lateInbox = new Inbox(late);
    await late.subscribeAsync('r/state', { qos: 1 });
    assert.equal((await lateInbox.waitFor(1))[0]!.payload.toString(), 'on');
  });
});

describe('workers=2 with SCRAM: one server secret for every worker', () => {
  let pool: PoolProcess;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-workers-scram-'));
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `${await passwordLine('carol', 'carol-pw', { scrypt: { N: 1024, r: 8, p: 1 } })}\n`);
    pool = await startPool({ workers: '2', mqttListeners: 'mqtt://127.0.0.1:0', mqttAuthenticationEnabled: 'true', mqttPasswordFile: passwd });
  });
  after(async () => {
    const code = await pool.stop('SIGTERM');
    rmSync(pool.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0);
  });

  it('gives an unknown user the same SCRAM salt on either worker (else two probes would tell it is made up)', async () => {
    const port = Number(new URL(pool.url('mqtt')).port);
    const salts = new Map<number, string>();
    // Connections alternate between the workers; a few attempts reach both.
    for (let i = 0; i < 6 && salts.size < 2; i++) {
      const clientId = `ghost-probe-${i}`;
      const c = await WireClient.open(port, 5);
      const first = clientFirst('ghost');
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: first.message } });
      const challenge = await c.next(15_000);
      assert.equal(challenge.cmd, 'auth');
      const data = challenge.properties!.authenticationData as Buffer;
      c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: clientFinal(first, 'guess', data).message } });
      const connack = await c.next(15_000);
      assert.equal(connack.reasonCode, 0x86);
      c.end();
      const failed = await pool.waitForLog((l) => l.msg === 'authentication failed' && l.clientId === clientId, `the failure of ${clientId}`);
      salts.set(failed.worker!, /s=([^,]+)/.exec(data.toString())![1]!);
    }
    assert.equal(salts.size, 2, 'probes reached both workers');
    assert.equal(new Set(salts.values()).size, 1, `one salt on both workers: ${JSON.stringify([...salts])}`);
    assert.equal(pool.logs.filter((l) => l.msg === 'server secret created').length, 1, 'one secret, made once');
  });
});
