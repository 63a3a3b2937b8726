// MQTT 3.1.1 behaviour as seen by the real MQTT.js client, over TCP and WebSocket.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IPublishPacket, type Timer } from 'mqtt';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

for (const scheme of ['mqtt', 'ws'] as const) {
  describe(`MQTT.js 3.1.1 over ${scheme}`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer();
    });
    after(() => t.close());
    const url = () => t.url(scheme);
    const id = (s: string) => `${scheme}-${s}`;

    it('publishes and receives at QoS 0, 1 and 2 [MQTT-4.3.1-1, MQTT-4.3.2-1, MQTT-4.3.3-1]', async () => {
      const sub = await connectClient(url(), { clientId: id('sub-q'), protocolVersion: 4 });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('q/#', { qos: 2 });
      const pub = await connectClient(url(), { clientId: id('pub-q'), protocolVersion: 4 });
      for (const qos of [0, 1, 2] as const) await pub.publishAsync(`q/${qos}`, `m${qos}`, { qos });
      const got = await inbox.waitFor(3);
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload.toString(), m.packet.qos]),
        [
          ['q/0', 'm0', 0],
          ['q/1', 'm1', 1],
          ['q/2', 'm2', 2],
        ],
      );
      await Promise.all([endClient(sub), endClient(pub)]);
    });

    it('delivers retained messages on subscribe with the retain flag, and clears them with an empty payload [MQTT-3.3.1-5, MQTT-3.3.1-10]', async () => {
      const pub = await connectClient(url(), { clientId: id('pub-r') });
      await pub.publishAsync('r/a', 'kept', { qos: 1, retain: true });
      await pub.publishAsync('r/b', 'soon gone', { qos: 1, retain: true });
      await pub.publishAsync('r/b', '', { qos: 1, retain: true });
      const sub = await connectClient(url(), { clientId: id('sub-r') });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('r/+', { qos: 1 });
      const [m] = await inbox.waitFor(1);
      assert.equal(m.topic, 'r/a');
      assert.equal(m.packet.retain, true);
      await sleep(100);
      assert.equal(inbox.messages.length, 1);
      // A live message to an existing subscription has RETAIN 0 [MQTT-3.3.1-9].
      await pub.publishAsync('r/a', 'live', { qos: 1, retain: true });
      const [, live] = await inbox.waitFor(2);
      assert.equal(live.packet.retain, false);
      await Promise.all([endClient(sub), endClient(pub)]);
    });

    it('keeps a persistent session: subscriptions and queued QoS 1/2 messages survive a disconnect [MQTT-3.1.2-4, MQTT-3.1.2-5]', async () => {
      const opts = { clientId: id('persist'), clean: false, protocolVersion: 4 as const };
      const first = await connectClient(url(), opts);
      await first.subscribeAsync('p/#', { qos: 2 });
      await endClient(first);
      const pub = await connectClient(url(), { clientId: id('pub-p') });
      await pub.publishAsync('p/1', 'one', { qos: 1 });
      await pub.publishAsync('p/2', 'two', { qos: 2 });
      await pub.publishAsync('p/0', 'zero', { qos: 0 });
      const again = await connectClient(url(), { ...opts });
      const inbox = new Inbox(again);
      const got = await inbox.waitFor(2);
      assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['one', 'two']);
      await Promise.all([endClient(again), endClient(pub)]);
    });

    it('clean session discards the previous session [MQTT-3.1.2-6]', async () => {
      const first = await connectClient(url(), { clientId: id('cleaned'), clean: false });
      await first.subscribeAsync('c/#', { qos: 1 });
      await endClient(first);
      const again = await connectClient(url(), { clientId: id('cleaned'), clean: true });
      const inbox = new Inbox(again);
      const pub = await connectClient(url(), { clientId: id('pub-c') });
      await pub.publishAsync('c/1', 'x', { qos: 1 });
      await sleep(150);
      assert.equal(inbox.messages.length, 0);
      await Promise.all([endClient(again), endClient(pub)]);
    });

    it('sends the will on an abnormal close, with its QoS and retain [MQTT-3.1.2-8, MQTT-3.1.2-17]', async () => {
      const watcher = await connectClient(url(), { clientId: id('watch') });
      const inbox = new Inbox(watcher);
      await watcher.subscribeAsync('will/#', { qos: 1 });
      const dying = await connectClient(url(), {
        clientId: id('dying'),
        will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: true },
      });
      (dying as unknown as { stream: { destroy(): void } }).stream.destroy();
      const [m] = await inbox.waitFor(1);
      assert.equal(m.payload.toString(), 'gone');
      assert.equal(m.packet.qos, 1);
      // Retained: a later subscriber sees it.
      const late = await connectClient(url(), { clientId: id('late') });
      const lateInbox = new Inbox(late);
      await late.subscribeAsync('will/dying');
      const [r] = await lateInbox.waitFor(1);
      assert.equal(r.packet.retain, true);
      dying.end(true);
      await Promise.all([endClient(watcher), endClient(late)]);
    });

    it('does not send the will after DISCONNECT [MQTT-3.1.2-10]', async () => {
      const watcher = await connectClient(url(), { clientId: id('watch2') });
      const inbox = new Inbox(watcher);
      await watcher.subscribeAsync('will2/#');
      const polite = await connectClient(url(), {
        clientId: id('polite'),
        will: { topic: 'will2/polite', payload: Buffer.from('x'), qos: 0, retain: false },
      });
      await endClient(polite);
      await sleep(150);
      assert.equal(inbox.messages.length, 0);
      await endClient(watcher);
    });

    it('takes over a session: a second connection with the same id closes the first [MQTT-3.1.4-2]', async () => {
      const first = await connectClient(url(), { clientId: id('twin') });
      const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
      const second = await connectClient(url(), { clientId: id('twin') });
      await closed;
      assert.equal(second.connected, true);
      first.end(true);
      await endClient(second);
    });

    it('unsubscribes: nothing arrives afterwards [MQTT-3.10.4-1]', async () => {
      const sub = await connectClient(url(), { clientId: id('unsub') });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('u/1');
      await sub.unsubscribeAsync('u/1');
      const pub = await connectClient(url(), { clientId: id('pub-u') });
      await pub.publishAsync('u/1', 'x', { qos: 1 });
      await sleep(150);
      assert.equal(inbox.messages.length, 0);
      await Promise.all([endClient(sub), endClient(pub)]);
    });

    it('delivers overlapping subscriptions once at the highest QoS [MQTT-3.3.5-1]', async () => {
      const sub = await connectClient(url(), { clientId: id('overlap') });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync({ 'o/#': { qos: 0 }, 'o/+': { qos: 2 } });
      const pub = await connectClient(url(), { clientId: id('pub-o') });
      await pub.publishAsync('o/x', 'x', { qos: 2 });
      const [m] = await inbox.waitFor(1);
      assert.equal(m.packet.qos, 2);
      await sleep(100);
      assert.equal(inbox.messages.length, 1);
      await Promise.all([endClient(sub), endClient(pub)]);
    });

    it('replaces a subscription with the same filter [MQTT-3.8.4-3]', async () => {
      const sub = await connectClient(url(), { clientId: id('replace') });
      const inbox = new Inbox(sub);
      const [g1] = await sub.subscribeAsync('rep/x', { qos: 2 });
      const [g2] = await sub.subscribeAsync('rep/x', { qos: 0 });
      assert.equal(g1.qos, 2);
      assert.equal(g2.qos, 0);
      const pub = await connectClient(url(), { clientId: id('pub-rep') });
      await pub.publishAsync('rep/x', 'x', { qos: 2 });
      const [m] = await inbox.waitFor(1);
      assert.equal(m.packet.qos, 0, 'downgraded to the replaced subscription QoS [MQTT-3.8.4-6]');
      await sleep(100);
      assert.equal(inbox.messages.length, 1);
      await Promise.all([endClient(sub), endClient(pub)]);
    });

    it('accepts an empty client id with clean session and generates one [MQTT-3.1.3-6]', async () => {
      const c = await connectClient(url(), { clientId: '', clean: true });
      assert.equal(c.connected, true);
      await endClient(c);
    });

    it('closes a client that sends nothing for 1.5 × its keepalive [MQTT-3.1.2-24]', async () => {
      // MQTT.js takes its keepalive timer as an option; one that never fires stops its PINGREQs
      // while the CONNECT still asks for a 1 s keepalive.
      const never: Timer = { set: () => 0, clear: () => {} };
      const c = await connectClient(url(), { clientId: id('silent'), keepalive: 1, timerVariant: never });
      const connectedAt = Date.now();
      const took = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('still connected after 5 s')), 5000);
        c.once('close', () => {
          clearTimeout(timer);
          resolve(Date.now() - connectedAt);
        });
      });
      // The broker counts from the CONNECT, a moment before MQTT.js saw the CONNACK.
      assert.ok(took >= 1300 && took < 3500, `closed after ${took} ms (1.5 × 1 s expected)`);
      c.end(true);
    });

    it('resends an unacknowledged QoS 1 message with DUP set and the same packet id when the session resumes [MQTT-4.4.0-1, MQTT-3.3.1-1, MQTT-2.3.1-3]', async () => {
      const opts = { clientId: id('unacked'), clean: false, protocolVersion: 4 as const };
      const first = await connectClient(url(), opts);
      await first.subscribeAsync('dup/#', { qos: 1 });
      // MQTT.js sends the PUBACK when handleMessage calls back; never calling back leaves the
      // message unacknowledged (its documented hook for backpressure).
      const seen = new Promise<IPublishPacket>((resolve) => {
        first.handleMessage = (packet) => resolve(packet as IPublishPacket);
      });
      const pub = await connectClient(url(), { clientId: id('pub-dup') });
      await pub.publishAsync('dup/1', 'again', { qos: 1 });
      const original = await Promise.race([seen, sleep(5000).then(() => assert.fail('no delivery within 5 s'))]);
      assert.equal(original.dup, false, 'the first delivery has DUP 0');
      first.end(true);
      // The resend follows the CONNACK at once: listen before connecting.
      const again = mqtt.connect(url(), { ...opts, reconnectPeriod: 0 });
      const [m] = await new Inbox(again).waitFor(1);
      assert.equal(m.payload.toString(), 'again');
      assert.equal(m.packet.dup, true, 'the resent PUBLISH has DUP 1');
      assert.equal(m.packet.messageId, original.messageId, 'the resent PUBLISH keeps its packet id');
      await Promise.all([endClient(again), endClient(pub)]);
    });

    it('refuses a protocol level it does not speak under that name with CONNACK return code 1 [MQTT-3.1.2-2]', async () => {
      // MQTT.js writes whatever name and level it is given: 3.1's name with 3.1.1's level, and back.
      const cases = [
        { protocolId: 'MQIsdp' as const, protocolVersion: 4 as const },
        { protocolId: 'MQTT' as const, protocolVersion: 3 as const },
      ];
      for (const c of cases) {
        await assert.rejects(
          connectClient(url(), { clientId: id(`lvl${c.protocolVersion}`), ...c }),
          (err: Error & { code?: number }) => {
            assert.equal(err.code, 1, `${c.protocolId} level ${c.protocolVersion}: ${err.message}`);
            return true;
          },
        );
      }
    });

  });
}
