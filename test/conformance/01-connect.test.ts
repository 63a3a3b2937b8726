// 01 CONNECT / CONNACK on the wire: what a server must accept, refuse and close (3.1.1 and 5.0
// section 3.1 and 3.2), including the CONNECTs a well-behaved client never sends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { WireClient } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { REFUSALS_AT_ONCE, REFUSAL_DEADLINE_MS } from '../../src/server/refusal.js';
import * as raw from './raw.js';
import {
  bye,
  connackCode,
  expectDisconnect,
  expectRefused,
  expectSilentClose,
  online,
  openRaw,
  pingOnly,
  publish1,
  sleep,
  subscribe,
  take,
  uid,
} from './helpers.js';

describe('01 CONNECT', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-3.1.0-1] [MQTT-3.2.0-1] closes a connection whose first packet is not CONNECT, without answering it (MQTT 5 [MQTT-3.1.0-1]: no version is known yet)', async () => {
    const firsts = [
      Buffer.from([0xc0, 0x00]), // PINGREQ
      raw.publish({ topic: 'early/x', payload: 'x' }),
      raw.subscribe(1, [['early/#', 0]]),
      Buffer.from([0xe0, 0x00]), // DISCONNECT
    ];
    for (const bytes of firsts) {
      const c = await openRaw(port, 4, bytes);
      await expectSilentClose(c);
    }
  });

  it('[MQTT-3.1.0-1] every packet type other than CONNECT as the first packet closes the connection, PUBREC (first byte 0x50, an ASCII letter) included', async () => {
    // Built by mqtt-packet; the connect timeout (10 s) is far longer than the bound here, so a
    // connection left open fails.
    const firsts: Array<Record<string, unknown>> = [
      { cmd: 'pubrec', messageId: 1 },
      { cmd: 'puback', messageId: 1 },
      { cmd: 'pubrel', messageId: 1 },
      { cmd: 'pubcomp', messageId: 1 },
      { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['early/#'] },
    ];
    for (const version of [4, 5] as const) {
      for (const p of firsts) {
        const bytes = mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: version });
        const c = await openRaw(port, version, bytes);
        await expectSilentClose(c, 3000).catch((err: Error) => assert.fail(`${p.cmd} first (v${version}): ${err.message}`));
      }
    }
  });

  it('[MQTT-3.1.0-2] [MQTT-4.8.0-1] MQTT 3.1.1: a second CONNECT closes the connection', async () => {
    const c = await online(port, 4);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: uid('again') });
    await expectSilentClose(c);
  });

  it('MQTT 5 [MQTT-3.1.0-2] [MQTT-3.2.0-2] a second CONNECT is a Protocol Error: DISCONNECT 0x82 and no second CONNACK', async () => {
    const c = await online(port, 5);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: uid('again5') });
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-3.1.2-1] a protocol name other than "MQTT" is not processed as MQTT 3.1.1: refused and closed (MQTT 5 [MQTT-3.1.2-1]: CONNACK 0x84 at most)', async () => {
    for (const name of ['MQTX', 'mqtt', 'MQIsdp']) {
      const c = await openRaw(port, 4, raw.connect({ name, level: 4, clientId: uid('name') }));
      await expectRefused(c, [1]);
      const c5 = await openRaw(port, 5, raw.connect({ name, level: 5, clientId: uid('name5') }));
      await expectRefused(c5, [0x84]);
    }
  });

  it('[MQTT-3.1.2-2] [MQTT-3.2.2-4] [MQTT-3.2.2-5] an unsupported protocol level gets CONNACK return code 1, Session Present 0, then the close', async () => {
    for (const level of [0, 1, 2]) {
      const c = await openRaw(port, 4, raw.connect({ level, clientId: uid('lvl') }));
      const p = await expectRefused(c, [1]);
      assert.ok(p, `level ${level} is answered with CONNACK 1`);
    }
  });

  it('MQTT 5 [MQTT-3.1.2-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-3.2.2-8] [MQTT-4.13.2-1] a protocol version above 5 gets CONNACK 0x84 (Unsupported Protocol Version), then the close', async () => {
    const c = await openRaw(port, 5, raw.connect({ level: 6, clientId: uid('lvl6') }));
    const p = await expectRefused(c, [0x84]);
    assert.ok(p, 'answered with CONNACK 0x84');
  });

  it('[MQTT-3.1.2-3] [MQTT-3.1.4-1] [MQTT-3.2.2-6] a CONNECT with the reserved Connect Flag set is closed without CONNACK', async () => {
    const c = await openRaw(port, 4, raw.connect({ flags: 0x03, clientId: uid('rsv') }));
    await expectSilentClose(c);
  });

  it('MQTT 5 [MQTT-3.1.2-3] [MQTT-3.1.4-1] [MQTT-4.13.1-1] the reserved Connect Flag is a Malformed Packet: closed (a CONNACK, if any, says 0x81)', async () => {
    const c = await openRaw(port, 5, raw.connect({ level: 5, flags: 0x03, clientId: uid('rsv5') }));
    await expectRefused(c, [0x81]);
  });

  it('[MQTT-2.2.2-1] [MQTT-2.2.2-2] a CONNECT whose fixed-header flags are not 0000 is closed without CONNACK', async () => {
    for (const headerFlags of [0x1, 0x2, 0x8]) {
      const c = await openRaw(port, 4, raw.connect({ headerFlags, clientId: uid('hdr') }));
      await expectSilentClose(c);
    }
  });

  /** CONNECT bytes for `version` (an empty MQTT 5 properties block after Keep Alive), then `fields`. */
  const connectOf = (version: 4 | 5, flags: number, ...fields: raw.Part[]): Buffer =>
    raw.packet(0x10, raw.str('MQTT'), [version, flags], raw.u16(60), ...(version === 5 ? [raw.props()] : []), ...fields);

  /** MQTT 3.1.1 closes without CONNACK [MQTT-3.1.4-1]; MQTT 5 may say 0x81/0x82 in a CONNACK first. */
  async function refused(version: 4 | 5, bytes: Buffer): Promise<void> {
    const c = await openRaw(port, version, bytes);
    if (version === 4) await expectSilentClose(c);
    else await expectRefused(c, [0x81, 0x82]);
  }

  it('[MQTT-3.1.2-11] [MQTT-3.1.2-13] a Will QoS without the Will Flag is closed without CONNACK (MQTT 5 [MQTT-3.1.2-11] [MQTT-3.1.4-1])', async () => {
    for (const version of [4, 5] as const) {
      for (const flags of [0x02 | 0x08, 0x02 | 0x10]) await refused(version, raw.connect({ level: version, flags, clientId: uid('wq') }));
    }
  });

  it('[MQTT-3.1.2-15] a Will Retain without the Will Flag is closed without CONNACK (MQTT 5 [MQTT-3.1.2-13])', async () => {
    for (const version of [4, 5] as const) await refused(version, raw.connect({ level: version, flags: 0x02 | 0x20, clientId: uid('wr') }));
  });

  it('[MQTT-3.1.2-14] a Will QoS of 3 is closed without CONNACK (MQTT 5 [MQTT-3.1.2-12])', async () => {
    for (const version of [4, 5] as const) {
      await refused(version, raw.connect({ level: version, flags: 0x02 | 0x04 | 0x18, clientId: uid('wq3'), will: { topic: 'w', payload: Buffer.from('x') } }));
    }
  });

  it('[MQTT-3.1.2-9] [MQTT-3.1.2-11] the Will Flag without Will Topic and Will Message, or will fields without the flag, is closed (MQTT 5 [MQTT-3.1.2-9])', async () => {
    for (const version of [4, 5] as const) {
      // Will Flag set, payload ends after the client id.
      await refused(version, connectOf(version, 0x02 | 0x04, raw.str(uid('wmiss'))));
      // Will Flag clear, but will fields follow the client id.
      const willProps = version === 5 ? [raw.props()] : [];
      await refused(version, connectOf(version, 0x02, raw.str(uid('wextra')), ...willProps, raw.str('w'), raw.str('x')));
    }
  });

  it('[MQTT-3.1.2-22] MQTT 3.1.1: the Password Flag without the User Name Flag is closed without CONNACK', async () => {
    await refused(4, connectOf(4, 0x02 | 0x40, raw.str(uid('pw')), raw.str('secret')));
  });

  it('[MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.2-20] [MQTT-3.1.2-21] [MQTT-3.1.3-1] [MQTT-3.1.3-3] the Client Identifier comes first and the User Name / Password flags match the fields present (MQTT 5 [MQTT-3.1.2-16] [MQTT-3.1.2-17] [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.3-1] [MQTT-3.1.3-3])', async () => {
    for (const version of [4, 5] as const) {
      const id = raw.str(uid('up'));
      await refused(version, connectOf(version, 0x02)); // no Client Identifier at all
      await refused(version, connectOf(version, 0x02 | 0x80, id)); // flag, no user name
      await refused(version, connectOf(version, 0x02 | 0xc0, id, raw.str('user'))); // flag, no password
      await refused(version, connectOf(version, 0x02, id, raw.str('user'))); // no flag, a user name
      // And the matching form is accepted (no authentication configured).
      const ok = await openRaw(port, version, raw.connect({ level: version, clientId: uid('up-ok'), username: 'user', password: Buffer.from('pw') }));
      assert.equal(connackCode(await ok.next()), 0);
      bye(ok);
    }
  });

  it('[MQTT-3.1.3-4] [MQTT-1.5.3-1] a Client Identifier that is not well-formed UTF-8 is closed without CONNACK (MQTT 5 [MQTT-3.1.3-4] [MQTT-1.5.4-1])', async () => {
    for (const version of [4, 5] as const) {
      for (const clientId of [raw.BAD_UTF8, raw.SURROGATE_UTF8]) await refused(version, raw.connect({ level: version, clientId }));
    }
  });

  it('[MQTT-1.5.3-2] a Client Identifier containing U+0000 is closed without CONNACK (MQTT 5 [MQTT-1.5.4-2])', async () => {
    for (const version of [4, 5] as const) await refused(version, raw.connect({ level: version, clientId: Buffer.from([0x61, 0x00, 0x62]) }));
  });

  it('[MQTT-3.1.3-11] [MQTT-1.5.3-1] a User Name that is not well-formed UTF-8 is closed without CONNACK (MQTT 5 [MQTT-3.1.3-12])', async () => {
    for (const version of [4, 5] as const) await refused(version, raw.connect({ level: version, clientId: uid('un'), username: raw.BAD_UTF8 }));
  });

  it('[MQTT-3.1.3-8] [MQTT-3.1.3-9] [MQTT-3.2.2-4] [MQTT-3.2.2-5] an empty Client Identifier with CleanSession 0 gets CONNACK 2 (identifier rejected), then the close', async () => {
    // mqtt-packet refuses to build this CONNECT, so it is written by hand.
    const c = await openRaw(port, 4, raw.connect({ clientId: '', clean: false }));
    const p = await expectRefused(c, [2]);
    assert.ok(p, 'answered with CONNACK 2');
  });

  it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-1] [MQTT-3.1.4-4] an empty Client Identifier with CleanSession 1 is accepted and works as a client', async () => {
    const c = await openRaw(port, 4, raw.connect({ clientId: '', clean: true }));
    const connack = await c.next();
    assert.equal(connackCode(connack), 0);
    assert.equal(connack.sessionPresent, false);
    await subscribe(c, 'anon/x', 1);
    c.send({ cmd: 'publish', topic: 'anon/x', payload: 'self', qos: 1, messageId: 7 });
    // Its own PUBACK and the delivery to itself may come in either order.
    const got = await take(c, 2);
    const m = got.find((p) => p.cmd === 'publish');
    assert.ok(got.some((p) => p.cmd === 'puback' && p.messageId === 7), 'PUBACK for its publish');
    assert.equal(m?.payload.toString(), 'self');
    bye(c);
  });

  it('MQTT 5 [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] every empty Client Identifier is assigned a different one, returned in CONNACK', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const c = await openRaw(port, 5, raw.connect({ level: 5, clientId: '', clean: i !== 1 }));
      const p = await c.next();
      assert.equal(connackCode(p), 0);
      const assigned = p.properties?.assignedClientIdentifier as string | undefined;
      assert.ok(assigned && assigned.length > 0, 'Assigned Client Identifier present');
      ids.add(assigned);
      bye(c);
    }
    assert.equal(ids.size, 3, 'assigned identifiers are unique');
  });

  it('[MQTT-3.1.3-5] accepts Client Identifiers of 1 to 23 characters of 0-9a-zA-Z, and longer ones (MQTT 5 [MQTT-3.1.3-5])', async () => {
    const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
    for (const version of [4, 5] as const) {
      for (const id of ['Z', alphabet.slice(0, 23), alphabet.slice(23, 46), `${alphabet}-long_id/with:other.chars`]) {
        const c = await online(port, version, { clientId: id });
        bye(c);
        await c.waitClosed();
      }
    }
  });

  it('[MQTT-3.1.4-5] after refusing a CONNECT the server does not process the bytes that followed it (MQTT 5 [MQTT-3.1.4-6] [MQTT-4.12.0-1])', async () => {
    const topic = `refused/${uid('t')}`;
    const bytes = Buffer.concat([
      raw.connect({ clientId: '', clean: false }),
      raw.publish({ topic, payload: 'must not be retained', retain: true }),
      raw.subscribe(1, [['#', 0]]),
    ]);
    const c = await openRaw(port, 4, bytes);
    const p = await expectRefused(c, [2]);
    assert.ok(p, 'refused with CONNACK 2');
    // MQTT 5: refused by the server (an authentication method it does not know), not by the parser.
    const topic5 = `refused5/${uid('t')}`;
    const c5 = await openRaw(port, 5, Buffer.concat([
      raw.connect({ level: 5, clientId: uid('rej5'), properties: raw.props(raw.prop.authenticationMethod('NO-SUCH-METHOD')) }),
      raw.publish({ topic: topic5, payload: 'must not be retained', retain: true, props5: raw.props() }),
    ]));
    const p5 = await expectRefused(c5, [0x8c]);
    assert.ok(p5, 'refused with CONNACK 0x8C (Bad authentication method)');
    const watcher = await online(port, 4);
    const ack = await subscribe(watcher, [
      { topic, qos: 1 },
      { topic: topic5, qos: 1 },
    ]);
    assert.deepEqual(ack.granted, [1, 1]);
    await pingOnly(watcher); // a retained message would have arrived before the PINGRESP
    bye(watcher);
  });

  it('[MQTT-3.2.0-1] [MQTT-3.2.2-2] [MQTT-4.5.0-1] the first packet the server sends is CONNACK, even when messages were queued for the offline session', async () => {
    const clientId = uid('first');
    const a = await online(port, 4, { clientId, clean: false });
    await subscribe(a, 'first/#', 1);
    bye(a);
    await a.waitClosed();
    const pub = await online(port, 4);
    for (let i = 1; i <= 3; i++) await publish1(pub, `first/${i}`, `m${i}`, i);
    bye(pub);
    const { client, connack } = await WireClient.connect(port, { clientId, clean: false }, 4);
    assert.equal(connack.cmd, 'connack', 'CONNACK comes first');
    assert.equal(connack.sessionPresent, true);
    const got = await take(client, 3);
    assert.deepEqual(got.map((p) => [p.cmd, p.payload.toString()]), [
      ['publish', 'm1'],
      ['publish', 'm2'],
      ['publish', 'm3'],
    ]);
    for (const p of got) client.send({ cmd: 'puback', messageId: p.messageId });
    await pingOnly(client);
    bye(client);
  });

  it('MQTT 3.1 ("MQIsdp", level 3): connects, subscribes, publishes and receives', async () => {
    const c = await online(port, 3, { protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'mqtt31-client' });
    const ack = await subscribe(c, 'v31/#', 2);
    assert.deepEqual(ack.granted, [2]);
    c.send({ cmd: 'publish', topic: 'v31/a', payload: 'hello 3.1', qos: 1, messageId: 3 });
    const got = await take(c, 2);
    assert.ok(got.some((p) => p.cmd === 'puback' && p.messageId === 3), 'PUBACK for its publish');
    const m = got.find((p) => p.cmd === 'publish')!;
    assert.equal(m.topic, 'v31/a');
    assert.equal(m.payload.toString(), 'hello 3.1');
    assert.equal(m.qos, 1);
    c.send({ cmd: 'puback', messageId: m.messageId });
    await pingOnly(c);
    bye(c);
  });

  it('MQTT 3.1: a Client Identifier longer than 23 characters gets CONNACK 2', async () => {
    const c = await openRaw(port, 3, raw.connect({ level: 3, clientId: 'x'.repeat(24) }));
    const p = await expectRefused(c, [2]);
    assert.ok(p, 'refused with CONNACK 2');
  });
});

describe('01 CONNECT timeout (3.1.4: a server SHOULD close a connection that sends no CONNECT)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ connectTimeoutSec: '1' });
  });
  after(() => t.close());

  it('closes a socket that never sends CONNECT after connectTimeoutSec', async () => {
    const c = await WireClient.open(t.port(), 4);
    const started = Date.now();
    assert.equal(await c.waitClosed(4000), true, 'closed by the server');
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 3500, `closed after ${took} ms`);
  });

  it('closes a socket that sends half a CONNECT and stops', async () => {
    const bytes = raw.connect({ clientId: uid('half') });
    const c = await openRaw(t.port(), 4, bytes.subarray(0, 7));
    const started = Date.now();
    assert.equal(await c.waitClosed(4000), true, 'closed by the server');
    assert.ok(Date.now() - started >= 900);
  });

  it('does not close a client that connected in time (the timeout ends with CONNACK)', async () => {
    const c = await online(t.port(), 4, { keepalive: 0 });
    await sleep(1500);
    await pingOnly(c);
    bye(c);
  });
});

describe('01 CONNECT larger than the server Maximum Packet Size', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ mqttMessageMaxLength: '1024' });
  });
  after(() => t.close());

  it('MQTT 5 (3.2.2.2) a CONNECT over the Maximum Packet Size gets CONNACK 0x95 (Packet too large), then the close; MQTT 3.1.1 is closed without CONNACK', async () => {
    const will = { topic: 'big/will', payload: Buffer.alloc(2000, 1), qos: 0, retain: false };
    const c5 = await WireClient.open(t.port(), 5);
    c5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: uid('big5'), will });
    const connack = await expectRefused(c5, [0x95]);
    assert.ok(connack, 'an MQTT 5 client is told why');
    const c4 = await WireClient.open(t.port(), 4);
    c4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: uid('big4'), will });
    await expectSilentClose(c4);
  });
});

describe('01 CONNECT over a connection limit', () => {
  let perAddress: TestServer;
  let total: TestServer;
  before(async () => {
    perAddress = await startTestServer({ maxConnectionsPerAddress: '1' });
    total = await startTestServer({ maxConnections: '1' });
  });
  after(() => Promise.all([perAddress.close(), total.close()]));

  /** CONNECTs at `version` to a full server: the CONNACK code of each, after checking the close. */
  async function refusedCode(port: number, version: 3 | 4 | 5): Promise<number | undefined> {
    const c = await WireClient.open(port, version);
    c.send({ cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean: true, keepalive: 60, clientId: uid('full') });
    const connack = await c.nextOrClose(3000);
    assert.equal(connack?.cmd, 'connack', 'a refused client is told why');
    assert.equal(connack.sessionPresent, false, 'Session Present 0');
    assert.equal(await c.waitClosed(3000), true, 'then closed');
    return connackCode(connack);
  }

  it('[MQTT-3.2.2-4] [MQTT-3.2.2-5] over maxConnections or maxConnectionsPerAddress, CONNECT gets CONNACK 3 (Server unavailable), Session Present 0, then the close (MQTT 5 [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-3.2.2-8]: 0x89 Server busy over maxConnections, 0x97 Quota exceeded over maxConnectionsPerAddress)', async () => {
    for (const [t, limit, v5] of [[perAddress, 'maxConnectionsPerAddress', 0x97], [total, 'maxConnections', 0x89]] as const) {
      const holder = await online(t.port(), 4);
      const before = t.server.broker.stats.limits[limit];
      assert.equal(await refusedCode(t.port(), 4), 3, `${limit}: MQTT 3.1.1`);
      assert.equal(await refusedCode(t.port(), 3), 3, `${limit}: MQTT 3.1`);
      assert.equal(await refusedCode(t.port(), 5), v5, `${limit}: MQTT 5`);
      assert.equal(t.server.broker.stats.limits[limit] - before, 3, `${limit}: every refusal counted`);
      bye(holder);
      await holder.waitClosed();
    }
  });

  it('(3.2.2.2) refusing is bounded: a refused socket that sends no CONNECT is closed within about a second, and beyond the sockets being refused at once the rest are closed at accept', async () => {
    const port = perAddress.port();
    const holder = await online(port, 4);
    const waiting = await Promise.all(Array.from({ length: REFUSALS_AT_ONCE }, () => WireClient.open(port, 4)));
    const extra = await WireClient.open(port, 4);
    const started = Date.now();
    assert.equal(await extra.waitClosed(800), true, 'a socket past the refusal budget is closed at once');
    assert.ok(waiting.every((c) => !c.closed), 'the sockets being refused wait for their CONNECT');
    for (const c of waiting) assert.equal(await c.waitClosed(3000), true, 'a silent refused socket is closed');
    const took = Date.now() - started;
    assert.ok(took < REFUSAL_DEADLINE_MS + 1000, `closed after ${took} ms`);
    assert.ok(waiting.every((c) => c.parseError === undefined));
    // The budget is free again: the next refused client gets its CONNACK.
    assert.equal(await refusedCode(port, 4), 3);
    bye(holder);
    await holder.waitClosed();
  });
});
