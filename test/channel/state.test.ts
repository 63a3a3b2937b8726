// The channel's states and transitions (src/channel/state.ts): the table itself, and a real
// connection walked through them over a socket, re-authentication included (MQTT 5 AUTH, 4.12).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lifecycle, transition, type ChannelEvent, type ChannelPhase } from '../../src/channel/state.js';
import { clientFinal, clientFirst, verifyServerFinal } from '../helpers/scram-client.js';
import { startScramServer, type TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';
import { waitUntil } from '../helpers/wait.js';
import type { Channel } from '../../src/channel/channel.js';

const PHASES: ChannelPhase[] = ['awaitingConnect', 'connecting', 'connected', 'reauthenticating', 'closed'];
const EVENTS: ChannelEvent[] = ['connect', 'connack', 'reauthenticate', 'reauthenticated', 'close'];
const METHOD = 'SCRAM-SHA-256';

describe('channel: the transition table', () => {
  it('allows exactly these transitions (anything else is refused)', () => {
    const allowed: string[] = [];
    for (const from of PHASES) for (const e of EVENTS) {
      const to = transition(from, e);
      if (to !== undefined) allowed.push(`${from} -${e}-> ${to}`);
    }
    assert.deepEqual(allowed.sort(), [
      'awaitingConnect -close-> closed',
      'awaitingConnect -connect-> connecting',
      'connected -close-> closed',
      'connected -reauthenticate-> reauthenticating',
      'connecting -close-> closed',
      'connecting -connack-> connected',
      'reauthenticating -close-> closed',
      'reauthenticating -reauthenticate-> reauthenticating',
      'reauthenticating -reauthenticated-> connected',
    ]);
  });

  it('[MQTT-3.1.0-2] a second CONNECT has no transition; nothing leaves closed', () => {
    for (const from of PHASES.filter((p) => p !== 'awaitingConnect')) assert.equal(transition(from, 'connect'), undefined, from);
    for (const e of EVENTS) assert.equal(transition('closed', e), undefined, e);
  });

  it('a re-authenticating connection is connected as far as the server and the broker can tell', () => {
    assert.equal(lifecycle('reauthenticating'), 'connected');
    for (const p of PHASES.filter((x) => x !== 'reauthenticating')) assert.equal(lifecycle(p), p);
  });
});

describe('channel: a connection through its states, on a socket', () => {
  let t: TestServer;
  before(async () => {
    t = await startScramServer({ carol: 'correct horse' });
  });
  after(() => t.close());

  /** The server's channel for `clientId` (found once its CONNECT was read). */
  async function channelOf(clientId: string): Promise<Channel> {
    let found: Channel | undefined;
    await waitUntil(() => (found = [...t.server.connections].find((c) => c.channel.clientId === clientId)?.channel) !== undefined, `the channel of ${clientId}`);
    return found!;
  }

  /** AUTH with `reasonCode` and the first SCRAM message; answers the challenge; returns the final packet. */
  async function converse(c: WireClient, reasonCode: number, during?: () => Promise<void>) {
    const first = clientFirst('carol');
    c.send({ cmd: 'auth', reasonCode, properties: { authenticationMethod: METHOD, authenticationData: first.message } });
    const challenge = await c.next(5000);
    assert.equal(challenge.reasonCode, 0x18);
    await during?.();
    const final = clientFinal(first, 'correct horse', challenge.properties!.authenticationData!);
    c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: final.message } });
    return { last: await c.next(5000), final };
  }

  it('awaitingConnect → connecting (the AUTH exchange) → connected → reauthenticating (other packets flow) → connected → closed', async () => {
    const c = await WireClient.open(t.port(), 5);
    try {
      const first = clientFirst('carol');
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'states', properties: { authenticationMethod: METHOD, authenticationData: first.message } });
      const ch = await channelOf('states');
      const challenge = await c.next(5000);
      assert.equal(challenge.cmd, 'auth');
      assert.deepEqual([ch.state, ch.phase], ['connecting', 'connecting'], 'between CONNECT and CONNACK');
      assert.equal(ch.pendingConnect?.packet.clientId, 'states');
      const final = clientFinal(first, 'correct horse', challenge.properties!.authenticationData!);
      c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: final.message } });
      const connack = await c.next(5000);
      assert.equal(connack.cmd, 'connack');
      assert.equal(verifyServerFinal(final, connack.properties!.authenticationData), true);
      assert.deepEqual([ch.state, ch.phase], ['connected', 'connected']);
      assert.equal(ch.pendingConnect, undefined, 'what CONNECT settled is let go at CONNACK');
      assert.ok(ch.connectedAt > 0);

      const { last } = await converse(c, 0x19, async () => {
        assert.deepEqual([ch.state, ch.phase], ['connected', 'reauthenticating'], 'a re-authentication is a state of its own');
        // [MQTT-4.12.1] the connection goes on meanwhile: a QoS 1 PUBLISH is acknowledged.
        c.send({ cmd: 'publish', topic: 'reauth/meanwhile', payload: Buffer.from('x'), qos: 1, messageId: 5 });
        const ack = await c.next(5000);
        assert.deepEqual([ack.cmd, ack.messageId], ['puback', 5]);
      });
      assert.deepEqual([last.cmd, last.reasonCode], ['auth', 0]);
      assert.deepEqual([ch.state, ch.phase], ['connected', 'connected'], 'success ends the re-authentication');

      // Continue Authentication outside a conversation has no transition: a Protocol Error.
      c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD } });
      const refusal = await c.next(5000);
      assert.deepEqual([refusal.cmd, refusal.reasonCode], ['disconnect', 0x82]);
      assert.equal(await c.waitClosed(5000), true);
      await waitUntil(() => ch.state === 'closed', 'the channel to close');
      assert.equal(ch.phase, 'closed');
    } finally {
      c.socket.destroy();
    }
  });

  it('[MQTT-3.1.0-2] a second CONNECT is refused by the channel: the connection is closed', async () => {
    const c = await WireClient.open(t.port(), 4);
    try {
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'twice' });
      assert.equal((await c.next(5000)).cmd, 'connack');
      const ch = await channelOf('twice');
      assert.equal(ch.state, 'connected');
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'twice' });
      assert.equal(await c.waitClosed(5000), true);
      assert.equal(ch.state, 'closed');
    } finally {
      c.socket.destroy();
    }
  });
});
