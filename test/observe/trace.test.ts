// The live packet trace: free while nobody watches, bounded per watcher (rate, buffer, slow
// reader), and through the admin API a real client's exchange as decoded rows — CONNECT and
// CONNACK with properties, SUBSCRIBE/SUBACK with reason codes, PUBLISH both ways with QoS and
// packet ids, their acknowledgements, DISCONNECT with its reason.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PacketTrace, traceRow, type TraceRow } from '../../src/observe/trace.js';
import { overlaps as filtersMeet } from '../../src/topics/cover.js';
import { encode } from '../../src/protocol/codec.js';
import type { Packet } from '../../src/protocol/packets.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient } from '../helpers/mqttjs.js';

const TOKEN = 'trace-test-token';
const conn = (clientId: string) => ({ channel: { clientId, version: 5 as const }, remoteAddress: '127.0.0.1' });
const publish = (topic: string): Packet => ({ type: 'publish', topic, payload: Buffer.from('21.5'), qos: 1, retain: false, dup: false, packetId: 7 });

/** Reads NDJSON rows from a streaming response until `done` says enough, within `ms`. */
async function readRows(res: Response, done: (rows: TraceRow[]) => boolean, ms = 10_000): Promise<TraceRow[]> {
  const reader = res.body!.getReader();
  const rows: TraceRow[] = [];
  let text = '';
  const deadline = Date.now() + ms;
  while (!done(rows)) {
    if (Date.now() > deadline) throw new Error(`trace rows incomplete after ${ms} ms: ${JSON.stringify(rows.map((r) => `${r.dir} ${r.type}`))}`);
    const chunk = await Promise.race([reader.read(), new Promise<{ done: true; value: undefined }>((r) => setTimeout(() => r({ done: true, value: undefined }), 500))]);
    if (chunk.value) text += new TextDecoder().decode(chunk.value);
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const l of lines) if (l) rows.push(JSON.parse(l) as TraceRow);
  }
  await reader.cancel();
  return rows;
}

describe('packet trace', () => {
  it('is inactive until watched and inactive again when the last watcher stops', () => {
    const trace = new PacketTrace();
    assert.equal(trace.active, false);
    const a = trace.watch({ clientId: 'x' }, () => true);
    const b = trace.watch({ filter: '#' }, () => true);
    assert.equal(trace.active, true);
    a.stop();
    assert.equal(trace.active, true);
    b.stop();
    assert.equal(trace.active, false);
  });

  it('refuses more watchers than its limit', () => {
    const trace = new PacketTrace({ maxWatchers: 1 });
    const a = trace.watch({ clientId: 'x' }, () => true);
    assert.throws(() => trace.watch({ clientId: 'y' }, () => true), /at most 1 traces/);
    a.stop();
  });

  it('keeps to its rate, counts what it drops, and drops batches a slow reader cannot take', () => {
    let now = 1_000;
    const trace = new PacketTrace({ rowsPerSecond: 10, bufferRows: 1000 }, () => now);
    const got: TraceRow[] = [];
    let accept = true;
    const w = trace.watch({ clientId: 'dev' }, (rows) => (accept ? (got.push(...rows), true) : false));
    for (let i = 0; i < 50; i++) trace.inbound(conn('dev'), publish('a/b'));
    trace.flush();
    assert.equal(got.length, 10);
    assert.equal(w.drops.rateLimited, 40);
    now += 1000; // a second later the bucket is full again
    accept = false;
    for (let i = 0; i < 5; i++) trace.inbound(conn('dev'), publish('a/b'));
    trace.flush();
    assert.equal(w.drops.slowReader, 5);
    w.stop();
  });

  it('bounds the rows held between flushes', () => {
    const trace = new PacketTrace({ rowsPerSecond: 1000, bufferRows: 3 });
    const w = trace.watch({ clientId: 'dev' }, () => true);
    for (let i = 0; i < 5; i++) trace.inbound(conn('dev'), publish('a/b'));
    assert.equal(w.drops.bufferFull, 2);
    w.stop();
  });

  it('matches a topic filter against PUBLISH topics and (UN)SUBSCRIBE filters, any client', () => {
    const trace = new PacketTrace();
    const got: TraceRow[] = [];
    const w = trace.watch({ filter: 'x/+' }, (rows) => (got.push(...rows), true));
    trace.inbound(conn('one'), publish('x/1'));
    trace.inbound(conn('two'), publish('y/1'));
    trace.outbound(conn('three'), encode(publish('x/2'), 5));
    trace.inbound(conn('four'), { type: 'subscribe', packetId: 2, subscriptions: [{ filter: 'x/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    trace.inbound(conn('four'), { type: 'pingreq' });
    trace.flush();
    assert.deepEqual(got.map((r) => `${r.clientId} ${r.dir} ${r.type}`), ['one in publish', 'three out publish', 'four in subscribe']);
    w.stop();
  });

  it('matches filters as MQTT does [MQTT-4.7.1-2, MQTT-4.7.2-1]', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a/+', 'a/b', true], ['a/+', 'a/b/c', false], ['a/#', 'a', true], ['a/#', 'a/b/c', true],
      ['#', '$SYS/x', false], ['+/x', '$SYS/x', false], ['$SYS/#', '$SYS/x', true], ['a/b', 'a/c', false],
      ['a/+/c', 'a/#', true], ['a/+', '+/b', true], ['a/b', 'a/b/c', false], ['+', '', true],
    ];
    for (const [a, b, want] of cases) {
      assert.equal(filtersMeet(a, b), want, `${a} ~ ${b}`);
      assert.equal(filtersMeet(b, a), want, `${b} ~ ${a}`);
    }
  });

  it('never shows a CONNECT password', () => {
    const row = traceRow({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: 'c', username: 'u', password: Buffer.from('secret') }, 'in', '', 0, 100);
    assert.doesNotMatch(JSON.stringify(row), /secret|password/);
    assert.equal(row.username, 'u');
  });

  it('bounds a row whatever the client sent: long topics, many filters, large properties', () => {
    const long = 'x'.repeat(65_000);
    const sub = traceRow(
      { type: 'subscribe', packetId: 1, subscriptions: Array.from({ length: 10_000 }, (_, i) => ({ filter: `${long}${i}`, qos: 0 as const })), properties: { userProperties: Array.from({ length: 1000 }, () => [long, long] as [string, string]) } } as Packet,
      'in', 'c', 0, 100,
    );
    const text = JSON.stringify(sub);
    assert.ok(text.length < 100_000, `row of ${text.length} characters`);
    assert.equal(sub.subscriptionCount, 10_000, 'the full count is kept');
    const pub = traceRow({ type: 'publish', topic: long, payload: Buffer.from(long), qos: 0, retain: false, dup: false, properties: { correlationData: Buffer.alloc(60_000), responseTopic: long } }, 'in', 'c', 0, 100);
    assert.ok(JSON.stringify(pub).length < 5_000, 'a PUBLISH row is small');
  });
});

describe('packet trace through the admin API', () => {
  let t: TestServer;
  let base: string;
  const headers = { Authorization: `Bearer ${TOKEN}` };

  before(async () => {
    // One subscription per client: a second one is refused in its SUBACK (0x97).
    t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', httpAdminToken: TOKEN, maxSubscriptionsPerClient: '1' });
    base = `http://127.0.0.1:${t.port('ws')}/api/v1/trace`;
  });
  after(async () => {
    await t.close();
  });

  it('needs the admin token and something to watch', async () => {
    assert.equal((await fetch(`${base}?clientId=x`)).status, 401);
    assert.equal((await fetch(base, { headers })).status, 400);
    assert.equal((await fetch(`${base}?filter=${encodeURIComponent('a/#/b')}`, { headers })).status, 400);
  });

  it('streams one client’s exchange as decoded rows', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}?clientId=traced`, { headers, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const client = await connectClient(t.url('ws'), { clientId: 'traced', protocolVersion: 5, properties: { sessionExpiryInterval: 30 } });
    await client.subscribeAsync('t/#', { qos: 1 });
    await client.subscribeAsync('u/#', { qos: 0 }).catch(() => undefined);
    await client.publishAsync('t/x', 'hello', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    await client.endAsync({ reasonCode: 0x04 });
    const rows = await readRows(res, (rs) => rs.some((r) => r.type === 'disconnect'));
    ac.abort();
    const seq = rows.filter((r) => r.type !== 'start' && r.type !== 'drops').map((r) => `${r.dir} ${r.type}`);
    for (const want of ['in connect', 'out connack', 'in subscribe', 'out suback', 'in publish', 'out puback', 'out publish', 'in puback', 'in disconnect']) {
      assert.ok(seq.includes(want), `${want} in ${JSON.stringify(seq)}`);
    }
    const connect = rows.find((r) => r.type === 'connect')!;
    assert.equal(connect.clientId, 'traced');
    assert.deepEqual(connect.properties, { sessionExpiryInterval: 30 });
    const connack = rows.find((r) => r.type === 'connack')!;
    assert.equal(connack.reasonCode, 0);
    const subacks = rows.filter((r) => r.type === 'suback');
    assert.deepEqual(subacks[0].reasonCodes, [1]);
    assert.deepEqual(subacks[1].reasonCodes, [0x97], 'over maxSubscriptionsPerClient: quota exceeded');
    const pubIn = rows.find((r) => r.type === 'publish' && r.dir === 'in')!;
    assert.equal(pubIn.topic, 't/x');
    assert.equal(pubIn.qos, 1);
    assert.equal(pubIn.text, 'hello');
    assert.equal(typeof pubIn.packetId, 'number');
    assert.equal(rows.find((r) => r.type === 'puback' && r.dir === 'out')!.packetId, pubIn.packetId);
    assert.equal(rows.find((r) => r.type === 'disconnect')!.reasonCode, 0x04);
  });
});
