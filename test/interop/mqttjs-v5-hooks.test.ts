// What MQTT.js (protocolVersion 5) sees of the broker's hooks: CONNECT User Properties handed to
// authentication, authorization answers with Reason Strings and User Properties on PUBACK, PUBREC and
// SUBACK (and when they are left out), and SCRAM re-authentication.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { UserProperty } from '../../src/protocol/packets.js';
import type { BrokerHooks } from '../../src/hooks/hooks.js';
import { connectClient, endClient, recordPackets } from '../helpers/mqttjs.js';
import { clientFinal, clientFirst, verifyServerFinal } from '../helpers/scram-client.js';
import { startScramServer, startTestServer, type TestServer } from '../helpers/server.js';

const v5 = { protocolVersion: 5 as const };
const NOT_AUTHORIZED = 0x87;

describe('MQTT.js 5.0 and the hooks', () => {
  let t: TestServer;
  /** CONNECT User Properties as the authenticate hook saw them, by client id. */
  const connectProps = new Map<string, UserProperty[] | undefined>();
  const hooks: Partial<BrokerHooks> = {
    authenticate: (client, packet) => {
      connectProps.set(client.clientId, packet.properties?.userProperties);
      return 0;
    },
    authorizePublish: (_client, topic) => {
      if (topic.startsWith('deny/')) return { code: NOT_AUTHORIZED, reasonString: 'deny/ is read-only', userProperties: [['rule', 'deny-all']] };
      if (topic.startsWith('tag/')) return { code: 0, userProperties: [['audited', 'yes'], ['by', 'hook']] };
      if (topic.startsWith('big/')) return { code: 0, userProperties: [['padding', 'x'.repeat(300)]] };
      return 0;
    },
    authorizeSubscribe: (_client, filter) => (filter.startsWith('tag/') ? { code: 0, userProperties: [['sub', 'ok']] } : 0),
  };
  before(async () => {
    t = await startTestServer({}, { hooks });
  });
  after(() => t.close());

  it('accepts User Properties in CONNECT and hands them to the authenticate hook, in order', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'cup', properties: { userProperties: { site: 'north', role: ['a', 'b'] } } });
    assert.deepEqual(connectProps.get('cup'), [['site', 'north'], ['role', 'a'], ['role', 'b']]);
    await endClient(c);
  });

  it('answers a QoS 2 PUBLISH the ACL refuses with PUBREC 0x87, the hook Reason String and User Properties', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'rec87' });
    const seen = recordPackets(c);
    await assert.rejects(c.publishAsync('deny/x', 'no', { qos: 2 }), (err: Error & { code?: number }) => err.code === NOT_AUTHORIZED);
    const pubrec = seen.find((p) => p.cmd === 'pubrec');
    assert.equal(pubrec?.reasonCode, NOT_AUTHORIZED);
    assert.equal(pubrec?.properties?.reasonString, 'deny/ is read-only');
    assert.deepEqual({ ...pubrec?.properties?.userProperties }, { rule: 'deny-all' });
    await endClient(c);
  });

  it('puts the hook User Properties on a successful PUBACK, PUBREC and SUBACK', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'acktags' });
    const seen = recordPackets(c);
    await c.subscribeAsync('tag/#', { qos: 2 });
    await c.publishAsync('tag/one', '1', { qos: 1 });
    await c.publishAsync('tag/two', '2', { qos: 2 });
    const byCmd = (cmd: string) => seen.find((p) => p.cmd === cmd);
    assert.deepEqual({ ...byCmd('suback')?.properties?.userProperties }, { sub: 'ok' });
    assert.deepEqual({ ...byCmd('puback')?.properties?.userProperties }, { audited: 'yes', by: 'hook' });
    assert.equal(byCmd('puback')?.reasonCode, 0);
    assert.deepEqual({ ...byCmd('pubrec')?.properties?.userProperties }, { audited: 'yes', by: 'hook' });
    await endClient(c);
  });

  it('[MQTT-3.1.2-29] with Request Problem Information 0: no Reason String or User Properties on PUBACK, PUBREC or SUBACK', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'rpi0', properties: { requestProblemInformation: false } });
    const seen = recordPackets(c);
    await c.subscribeAsync('tag/#', { qos: 1 });
    await c.publishAsync('tag/one', '1', { qos: 1 });
    await c.publishAsync('tag/two', '2', { qos: 2 });
    await assert.rejects(c.publishAsync('deny/x', 'no', { qos: 1 }), (err: Error & { code?: number }) => err.code === NOT_AUTHORIZED);
    const acks = seen.filter((p) => ['suback', 'puback', 'pubrec'].includes(p.cmd));
    assert.equal(acks.length, 4);
    for (const p of acks) assert.equal(p.properties, undefined, `${p.cmd} ${p.reasonCode} carries no properties`);
    await endClient(c);
  });

  it('[MQTT-3.4.2-3] leaves the hook User Properties off a PUBACK they would make larger than the client Maximum Packet Size', async () => {
    const c = await connectClient(t.url(), { ...v5, clientId: 'mpsack', properties: { maximumPacketSize: 128 } });
    const seen = recordPackets(c);
    await c.publishAsync('big/x', 'x', { qos: 1 });
    const puback = seen.find((p) => p.cmd === 'puback');
    assert.ok(puback, 'the PUBACK is still sent');
    assert.equal(puback.properties, undefined);
    await endClient(c);
  });
});

describe('MQTT.js 5.0 re-authentication (SCRAM-SHA-256)', () => {
  let t: TestServer;
  before(async () => {
    t = await startScramServer({ dora: 'explorer' });
  });
  after(() => t.close());

  /** Answers one SCRAM conversation through MQTT.js's handleAuth; resolves whether the server proved itself. */
  function scram(c: MqttClient, password: string, first: ReturnType<typeof clientFirst>): Promise<boolean> {
    return new Promise((resolve) => {
      let final: ReturnType<typeof clientFinal> | undefined;
      c.handleAuth = (packet, cb) => {
        const data = packet.properties?.authenticationData as Buffer;
        if (packet.reasonCode === 0x18) {
          final = clientFinal(first, password, data);
          cb(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: final.message } });
          return;
        }
        resolve(final !== undefined && verifyServerFinal(final, data));
        cb(undefined);
      };
    });
  }

  async function connected(): Promise<MqttClient> {
    const first = clientFirst('dora');
    const opts: IClientOptions = {
      ...v5,
      clientId: 'reauth-mqttjs',
      reconnectPeriod: 0,
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: first.message },
    };
    const c = mqtt.connect(t.url(), { connectTimeout: 5000, ...opts });
    void scram(c, 'explorer', first);
    await new Promise((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    return c;
  }

  /** Starts re-authentication: AUTH 0x19 with the client-first message (MQTT.js has no API for it). */
  function reauthenticate(c: MqttClient, first: ReturnType<typeof clientFirst>): void {
    (c as unknown as { _sendPacket(p: unknown): void })._sendPacket({
      cmd: 'auth',
      reasonCode: 0x19,
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: first.message },
    });
  }

  it('re-authenticates with AUTH 0x19 on a live connection and the server proves itself again (4.12.1)', async () => {
    const c = await connected();
    const first = clientFirst('dora');
    const proven = scram(c, 'explorer', first);
    reauthenticate(c, first);
    assert.equal(await proven, true, 'AUTH 0x00 with a valid server signature');
    // Still connected and working.
    await c.subscribeAsync('reauth/#');
    await c.publishAsync('reauth/x', 'still here');
    assert.equal(c.connected, true);
    await endClient(c);
  });

  it('[MQTT-4.12.1-2] a re-authentication with the wrong password ends the connection with DISCONNECT 0x87', async () => {
    const c = await connected();
    const first = clientFirst('dora');
    void scram(c, 'wrong', first);
    const reason = new Promise<number | undefined>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)));
    reauthenticate(c, first);
    assert.equal(await reason, NOT_AUTHORIZED);
    c.end(true);
  });
});
