// 15 A store that fails under a running broker (section 4.8 of 3.1.1: transient errors; 3.2.2.3's
// return code 3; MQTT 5 4.13). The broker answers what the protocol has a code for, closes only the
// connection whose packet could not be made durable, and keeps serving everyone else.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FailingStore, refuseFor } from '../helpers/failing-store.js';
import { bye, connackCode, expectDisconnect, expectSilentClose, online, ping, publish1, subscribe, take, uid, type Version } from './helpers.js';

/** CONNECT fields for a session the broker must persist (so binding it writes to the store). */
const persistent = (version: Version): Record<string, unknown> =>
  version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };

describe('15 store failures', () => {
  let t: TestServer;
  let port: number;
  const store = new FailingStore();
  before(async () => {
    t = await startTestServer({}, { store });
    port = t.port();
  });
  afterEach(() => {
    store.failWhen = () => false;
  });
  after(() => t.close());

  /** The store's own error text (paths, SQL) is for the log, never for the client. */
  const assertNoInternals = (reasonString: unknown): void =>
    assert.doesNotMatch(String(reasonString ?? ''), /test store/, 'the Reason String does not carry the store error');

  /** The connection the failure was on ends: MQTT 5 is told why (0x83 Implementation specific error: the fault barrier) first, 3.x has no packet for it. */
  async function expectClosedByFailure(c: WireClient, version: Version): Promise<void> {
    if (version === 5) assertNoInternals((await expectDisconnect(c, 0x83)).properties?.reasonString);
    else await expectSilentClose(c);
  }

  /** A persistent client subscribes and gets a QoS 1 message from a new client: the store path works. */
  async function carriesOn(c: WireClient, version: Version): Promise<void> {
    const topic = `ok/${uid('t')}`;
    await subscribe(c, topic, 1);
    const p = await online(port, version);
    await publish1(p, topic, 'still here');
    const [m] = await take(c, 1);
    assert.equal(m.payload.toString(), 'still here');
    c.send({ cmd: 'puback', messageId: m.messageId });
    bye(p);
  }

  it('[MQTT-4.8.0-2] [MQTT-3.2.2-4] [MQTT-3.2.2-5] a store failure while binding the session gets CONNACK return code 3 (Server unavailable), Session Present 0, then the close; the client connects once the store is back (MQTT 5 [MQTT-3.2.2-6] [MQTT-3.2.2-7]: CONNACK 0x88)', async () => {
    for (const version of [3, 4, 5] as const) {
      const clientId = uid(`cf${version}`);
      const connect = { clientId, ...persistent(version) };
      store.failWhen = refuseFor(clientId);
      const { client, connack } = await WireClient.connect(port, connect, version);
      assert.equal(connack.cmd, 'connack', `v${version}: CONNACK`);
      assert.equal(connackCode(connack), version === 5 ? 0x88 : 3, `v${version}: CONNACK code`);
      assert.equal(connack.sessionPresent, false, `v${version}: Session Present 0`);
      assertNoInternals(connack.properties?.reasonString);
      assert.equal(await client.waitClosed(), true, `v${version}: closed after the refusing CONNACK`);
      store.failWhen = () => false;
      bye(await online(port, version, connect));
    }
  });

  it('[MQTT-4.8.0-2] a store failure while storing a persistent session\'s subscription closes that connection without SUBACK, and other clients carry on (MQTT 5 [MQTT-4.13.2-1]: DISCONNECT 0x83 first)', async () => {
    for (const version of [4, 5] as const) {
      const other = await online(port, version, persistent(version));
      const clientId = uid(`sf${version}`);
      const c = await online(port, version, { clientId, ...persistent(version) });
      store.failWhen = refuseFor(clientId, 'subscription.put');
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `sf/${uid('t')}`, qos: 1 }] });
      await expectClosedByFailure(c, version);
      assert.ok(store.failures > 0, 'the store refused the write');
      await carriesOn(other, version);
      bye(other);
    }
  });

  it('[MQTT-4.8.0-2] a store failure while queueing a QoS 1 or 2 message for a persistent subscriber closes the publisher\'s connection without PUBACK or PUBREC; the subscriber stays connected and other clients carry on (MQTT 5 [MQTT-4.13.2-1]: DISCONNECT 0x83 first)', async () => {
    for (const version of [4, 5] as const) {
      for (const qos of [1, 2] as const) {
        const subscriberId = uid(`pf${version}${qos}`);
        const topic = `pf/${uid('t')}`;
        const subscriber = await online(port, version, { clientId: subscriberId, ...persistent(version) });
        await subscribe(subscriber, topic, qos);
        const other = await online(port, version, persistent(version));
        const publisher = await online(port, version);
        store.failWhen = refuseFor(subscriberId, 'queue.put');
        publisher.send({ cmd: 'publish', topic, payload: 'not durable', qos, messageId: 1, retain: false, dup: false });
        await expectClosedByFailure(publisher, version);
        store.failWhen = () => false;
        assert.deepEqual(await ping(subscriber), [], 'the subscriber is still connected and got nothing that was not durable');
        // The failed entry is not left blocking the subscriber's queue: the next message arrives.
        const again = await online(port, version);
        again.send({ cmd: 'publish', topic, payload: 'durable', qos, messageId: 2, retain: false, dup: false });
        const [m] = await take(subscriber, 1);
        assert.equal(m.payload.toString(), 'durable', `v${version} QoS ${qos}: later messages still reach the subscriber`);
        bye(again);
        await carriesOn(other, version);
        bye(subscriber);
        bye(other);
      }
    }
  });

  it('[MQTT-4.3.3-2] a persistent QoS 2 publisher whose PUBLISH could not be stored is not answered, and its resend after reconnecting is routed, once', async () => {
    for (const version of [4, 5] as const) {
      const topic = `q2/${uid('t')}`;
      // A persistent subscriber: its copy is part of the failed write. (A clean session's copy is
      // sent at once, before the packet id is durable; docs/conformance.md, Choices.)
      const subscriber = await online(port, version, persistent(version));
      await subscribe(subscriber, topic, 1);
      const publisherId = uid(`q2p${version}`);
      const first = await online(port, version, { clientId: publisherId, ...persistent(version) });
      store.failWhen = refuseFor(publisherId, 'inbound.put');
      first.send({ cmd: 'publish', topic, payload: 'exactly once', qos: 2, messageId: 7, retain: false, dup: false });
      await expectClosedByFailure(first, version);
      store.failWhen = () => false;
      const second = await online(port, version, { clientId: publisherId, ...persistent(version) });
      second.send({ cmd: 'publish', topic, payload: 'exactly once', qos: 2, messageId: 7, retain: false, dup: true });
      const [m] = await take(subscriber, 1);
      assert.equal(m.payload.toString(), 'exactly once', `v${version}: the resend is routed`);
      subscriber.send({ cmd: 'puback', messageId: m.messageId });
      assert.deepEqual(await ping(subscriber), [], `v${version}: and delivered once`);
      bye(second);
      bye(subscriber);
    }
  });
});
