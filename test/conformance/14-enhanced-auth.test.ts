// 14: MQTT 5 enhanced authentication on the wire: the AUTH exchange at connect and re-authentication.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientFinal, clientFirst, verifyServerFinal } from '../helpers/scram-client.js';
import { startScramServer, type TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';

const METHOD = 'SCRAM-SHA-256';

describe('14 enhanced authentication', () => {
  let t: TestServer;
  before(async () => {
    t = await startScramServer({ carol: 'correct horse' });
  });
  after(() => t.close());

  /** One SCRAM conversation over AUTH packets; returns the server's final message. */
  async function converse(c: WireClient, password: string, reasonCode: number): Promise<{ last: Record<string, any>; final: ReturnType<typeof clientFinal> }> {
    const first = clientFirst('carol');
    c.send({ cmd: 'auth', reasonCode, properties: { authenticationMethod: METHOD, authenticationData: first.message } });
    const challenge = await c.next();
    assert.equal(challenge.cmd, 'auth');
    assert.equal(challenge.reasonCode, 0x18);
    const final = clientFinal(first, password, challenge.properties!.authenticationData!);
    c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: final.message } });
    return { last: await c.next(), final };
  }

  async function connected(): Promise<WireClient> {
    const c = await WireClient.open(t.port(), 5);
    const first = clientFirst('carol');
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'reauth', properties: { authenticationMethod: METHOD, authenticationData: first.message } });
    const challenge = await c.next();
    assert.equal(challenge.cmd, 'auth', 'the server continues the exchange with AUTH 0x18');
    const final = clientFinal(first, 'correct horse', challenge.properties!.authenticationData!);
    c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: final.message } });
    const connack = await c.next();
    assert.equal(connack.cmd, 'connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(verifyServerFinal(final, connack.properties!.authenticationData), true);
    return c;
  }

  it('MQTT 5 (4.12.1) re-authenticates with AUTH 0x19 on the same method and answers AUTH 0x00', async () => {
    const c = await connected();
    const { last, final } = await converse(c, 'correct horse', 0x19);
    assert.equal(last.cmd, 'auth');
    assert.equal(last.reasonCode, 0);
    assert.equal(last.properties!.authenticationMethod, METHOD);
    assert.equal(verifyServerFinal(final, last.properties!.authenticationData), true);
    // Still connected and working.
    c.send({ cmd: 'pingreq' });
    assert.equal((await c.next()).cmd, 'pingresp');
    c.end();
  });

  it('MQTT 5 [MQTT-4.12.1-2] a failed re-authentication ends the connection with DISCONNECT and a reason code', async () => {
    const c = await connected();
    const { last } = await converse(c, 'wrong', 0x19);
    assert.equal(last.cmd, 'disconnect');
    // 0x86 is a CONNACK-only code; DISCONNECT says Not authorized (3.14.2.1).
    assert.equal(last.reasonCode, 0x87);
    assert.equal(await c.waitClosed(2000), true);
  });

  it('MQTT 5 (4.12.1) an AUTH with another Authentication Method is a Protocol Error', async () => {
    const c = await connected();
    c.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'OTHER' } });
    const d = await c.next();
    assert.equal(d.cmd, 'disconnect');
    assert.equal(d.reasonCode, 0x82);
    assert.equal(await c.waitClosed(2000), true);
  });
});
