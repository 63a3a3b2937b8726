// 07 Sessions on the wire: Clean Session / Clean Start, Session Present, takeover and the MQTT 5
// Session Expiry Interval (sections 3.1.2.4, 3.1.4, 3.2.2.2, 3.14.2.2.2, 4.1).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WireClient } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { bye, expectDisconnect, expectSilentClose, online, onlineWith, ping, publish1, subscribe, take, uid } from './helpers.js';

describe('07 sessions', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  /** Publishes a QoS 1 message from a throwaway client. */
  async function publishFrom(topic: string, payload: string): Promise<void> {
    const p = await online(port, 4);
    await publish1(p, topic, payload);
    bye(p);
  }

  it('[MQTT-3.2.2-3] [MQTT-3.2.2-2] [MQTT-3.1.2-4] CleanSession 0: Session Present 0 the first time, 1 once a session is stored', async () => {
    const clientId = uid('sp');
    const a = await onlineWith(port, 4, { clientId, clean: false });
    assert.equal(a.connack.sessionPresent, false);
    bye(a.client);
    await a.client.waitClosed();
    const b = await onlineWith(port, 4, { clientId, clean: false });
    assert.equal(b.connack.sessionPresent, true);
    bye(b.client);
  });

  it('[MQTT-3.2.2-1] [MQTT-3.1.2-6] [MQTT-3.1.4-3] CleanSession 1 answers Session Present 0 and discards the stored session: subscriptions and queued messages', async () => {
    const clientId = uid('wipe');
    const topic = `wipe/${uid('t')}`;
    const a = await online(port, 4, { clientId, clean: false });
    await subscribe(a, topic, 1);
    bye(a);
    await a.waitClosed();
    await publishFrom(topic, 'queued while away');
    const b = await onlineWith(port, 4, { clientId, clean: true });
    assert.equal(b.connack.sessionPresent, false);
    assert.deepEqual(await ping(b.client), [], 'the queued message went with the old session');
    await publishFrom(topic, 'after');
    assert.deepEqual(await ping(b.client), [], 'the old subscription went too');
    bye(b.client);
  });

  it('[MQTT-3.1.2-6] the state of a CleanSession 1 session is not reused by a later CleanSession 0 connection', async () => {
    const clientId = uid('clean-then-durable');
    const topic = `ctd/${uid('t')}`;
    const a = await online(port, 4, { clientId, clean: true });
    await subscribe(a, topic, 1);
    bye(a);
    await a.waitClosed();
    await publishFrom(topic, 'x');
    const b = await onlineWith(port, 4, { clientId, clean: false });
    assert.equal(b.connack.sessionPresent, false);
    await publishFrom(topic, 'y');
    assert.deepEqual(await ping(b.client), []);
    bye(b.client);
  });

  it('[MQTT-3.1.2-6] [MQTT-3.2.2-3] [MQTT-3.1.4-2] a CleanSession 1 connection taken over by a CleanSession 0 one: Session Present 0 and none of the old state', async () => {
    const clientId = uid('clean-takeover');
    const topic = `ct/${uid('t')}`;
    const first = await online(port, 4, { clientId, clean: true });
    await subscribe(first, topic, 1);
    // A message in flight to the first connection, never acknowledged: it must not be resent either.
    await publishFrom(topic, 'in flight');
    await take(first, 1);
    const { client: second, connack } = await WireClient.connect(port, { clientId, clean: false }, 4);
    assert.equal(connack.cmd, 'connack');
    assert.equal(connack.returnCode, 0);
    assert.equal(connack.sessionPresent, false, 'the clean session ended with the connection that was taken over');
    await expectSilentClose(first);
    await publishFrom(topic, 'after');
    assert.deepEqual((await ping(second)).map((p) => `${p.cmd} ${p.topic ?? ''}`), [], 'no subscription and no resent message came over');
    bye(second);
  });

  it('MQTT 5 [MQTT-3.1.2-23] [MQTT-3.2.2-3] a Session Expiry 0 connection taken over by a Clean Start 0 one: Session Present 0 and none of the old state', async () => {
    const clientId = uid('clean-takeover5');
    const topic = `ct5/${uid('t')}`;
    const first = await online(port, 5, { clientId, clean: true });
    await subscribe(first, topic, 1);
    await publishFrom(topic, 'in flight');
    await take(first, 1);
    const { client: second, connack } = await WireClient.connect(port, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } }, 5);
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.sessionPresent, false, 'a session with expiry 0 ended with the connection that was taken over');
    await expectDisconnect(first, 0x8e);
    await publishFrom(topic, 'after');
    assert.deepEqual((await ping(second)).map((p) => `${p.cmd} ${p.topic ?? ''}`), [], 'no subscription and no resent message came over');
    bye(second);
  });

  it('[MQTT-3.1.3-2] the Client Identifier (compared exactly) identifies the session (MQTT 5 [MQTT-3.1.3-2])', async () => {
    for (const version of [4, 5] as const) {
      const session = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const lower = uid(`abc${version}`);
      const upper = lower.toUpperCase();
      const a = await online(port, version, { clientId: lower, clean: false, ...session });
      bye(a);
      await a.waitClosed();
      const other = await onlineWith(port, version, { clientId: upper, clean: false, ...session });
      assert.equal(other.connack.sessionPresent, false, 'a differently cased id is another client');
      bye(other.client);
      const same = await onlineWith(port, version, { clientId: lower, clean: false, ...session });
      assert.equal(same.connack.sessionPresent, true);
      bye(same.client);
    }
  });

  it('[MQTT-3.1.4-2] [MQTT-4.4.0-1] takeover in MQTT 3.1.1: the old connection is closed, the session continues with the new one, in-flight messages are resent to it', async () => {
    const clientId = uid('twin4');
    const topic = `twin4/${uid('t')}`;
    const first = await online(port, 4, { clientId, clean: false });
    await subscribe(first, topic, 1);
    await publishFrom(topic, 'in flight');
    const [m] = await take(first, 1);
    const { client: second, connack } = await WireClient.connect(port, { clientId, clean: false }, 4);
    assert.equal(connack.sessionPresent, true);
    await expectSilentClose(first);
    const [again] = await take(second, 1);
    assert.equal(again.payload.toString(), 'in flight');
    assert.equal(again.messageId, m.messageId);
    assert.equal(again.dup, true);
    second.send({ cmd: 'puback', messageId: again.messageId });
    await publishFrom(topic, 'to the new connection');
    const [next] = await take(second, 1);
    assert.equal(next.payload.toString(), 'to the new connection');
    second.send({ cmd: 'puback', messageId: next.messageId });
    bye(second);
  });

  it('MQTT 5 [MQTT-3.1.4-3] takeover: DISCONNECT 0x8E (Session taken over) to the old connection, then it is closed', async () => {
    const clientId = uid('twin5');
    const first = await online(port, 5, { clientId, properties: { sessionExpiryInterval: 30 } });
    const { client: second, connack } = await WireClient.connect(port, { clientId, clean: false, properties: { sessionExpiryInterval: 30 } }, 5);
    assert.equal(connack.sessionPresent, true);
    await expectDisconnect(first, 0x8e);
    await ping(second);
    bye(second);
  });

  it('MQTT 5 [MQTT-3.1.2-4] [MQTT-3.2.2-2] [MQTT-3.1.4-4] Clean Start 1 discards an existing session even when it has not expired', async () => {
    const clientId = uid('cs5');
    const topic = `cs5/${uid('t')}`;
    const a = await online(port, 5, { clientId, properties: { sessionExpiryInterval: 300 } });
    await subscribe(a, topic, 1);
    bye(a);
    await a.waitClosed();
    const b = await onlineWith(port, 5, { clientId, clean: true, properties: { sessionExpiryInterval: 300 } });
    assert.equal(b.connack.sessionPresent, false);
    await publishFrom(topic, 'x');
    assert.deepEqual(await ping(b.client), []);
    bye(b.client);
  });

  it('MQTT 5 [MQTT-3.1.2-5] [MQTT-3.1.2-6] [MQTT-3.2.2-3] [MQTT-3.1.4-5] Clean Start 0 resumes a stored session (Session Present 1) or creates one (Session Present 0)', async () => {
    const clientId = uid('resume5');
    const a = await onlineWith(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(a.connack.sessionPresent, false);
    bye(a.client);
    await a.client.waitClosed();
    const b = await onlineWith(port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(b.connack.sessionPresent, true);
    bye(b.client);
  });

  it('MQTT 5 [MQTT-3.1.2-23] [MQTT-4.1.0-2] without a Session Expiry Interval the session ends with the connection', async () => {
    const clientId = uid('noexp');
    const a = await online(port, 5, { clientId, clean: false });
    await subscribe(a, `noexp/${uid('t')}`, 1);
    bye(a);
    await a.waitClosed();
    const b = await onlineWith(port, 5, { clientId, clean: false });
    assert.equal(b.connack.sessionPresent, false);
    bye(b.client);
  });

  it('MQTT 5 (3.14.2.2.2) a non-zero Session Expiry Interval on DISCONNECT after 0 on CONNECT is a Protocol Error: DISCONNECT 0x82', async () => {
    const clientId = uid('sei0');
    const c = await online(port, 5, { clientId });
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
    await expectDisconnect(c, 0x82);
    const again = await onlineWith(port, 5, { clientId, clean: false });
    assert.equal(again.connack.sessionPresent, false, 'the session was not prolonged');
    bye(again.client);
  });

  it('MQTT 5 (3.14.2.2.2) DISCONNECT may change a non-zero Session Expiry Interval: to 0 ends the session, upwards keeps it', async () => {
    const ending = uid('sei-end');
    const a = await online(port, 5, { clientId: ending, properties: { sessionExpiryInterval: 60 } });
    a.socket.end(mqttDisconnect({ sessionExpiryInterval: 0 }));
    await a.waitClosed();
    const a2 = await onlineWith(port, 5, { clientId: ending, clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.equal(a2.connack.sessionPresent, false, 'expiry 0 at DISCONNECT ended the session');
    bye(a2.client);

    const keeping = uid('sei-keep');
    const b = await online(port, 5, { clientId: keeping, properties: { sessionExpiryInterval: 1 } });
    b.socket.end(mqttDisconnect({ sessionExpiryInterval: 300 }));
    await b.waitClosed();
    await new Promise((r) => setTimeout(r, 1300));
    const b2 = await onlineWith(port, 5, { clientId: keeping, clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.equal(b2.connack.sessionPresent, true, 'the longer interval from DISCONNECT applies');
    bye(b2.client);
  });
});

describe('07 sessions across a restart (SQLite)', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('MQTT 5 (3.14.2.2.2) a session whose expiry is set to 0 at DISCONNECT is gone after a restart, too', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'starling-sei0-'));
    dirs.push(dataDir);
    const flags = { mqttListeners: 'mqtt://127.0.0.1:0', persistence: 'sqlite', dataDir };
    const clientId = uid('sei-restart');
    const kept = uid('sei-kept');
    const first = await startTestServer(flags);
    try {
      const a = await online(first.port(), 5, { clientId, properties: { sessionExpiryInterval: 300 } });
      await subscribe(a, 'restart/#', 1);
      a.socket.end(mqttDisconnect({ sessionExpiryInterval: 0 }));
      await a.waitClosed();
      // A session left alone is the control: it must come back.
      const b = await online(first.port(), 5, { clientId: kept, properties: { sessionExpiryInterval: 300 } });
      bye(b);
      await b.waitClosed();
    } finally {
      await first.close();
    }
    const second = await startTestServer(flags);
    try {
      const again = await onlineWith(second.port(), 5, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
      assert.equal(again.connack.sessionPresent, false, 'the ended session did not come back from the store');
      bye(again.client);
      const control = await onlineWith(second.port(), 5, { clientId: kept, clean: false, properties: { sessionExpiryInterval: 300 } });
      assert.equal(control.connack.sessionPresent, true, 'a persistent session does survive the restart');
      bye(control.client);
    } finally {
      await second.close();
    }
  });
});

/** A v5 DISCONNECT with properties, as bytes (so it can be the last thing written before FIN). */
function mqttDisconnect(properties: Record<string, unknown>): Buffer {
  return mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0, properties } as unknown as mqttPacket.Packet, { protocolVersion: 5 });
}
