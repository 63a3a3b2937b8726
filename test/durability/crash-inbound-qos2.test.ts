// Exactly once through a crash on the receiving side: the inbound QoS 2 packet id that the broker
// acknowledged with PUBREC is durable, so the publisher's resend after a SIGKILL and restart is
// acknowledged again but not routed again. Raw packets (mqtt-packet) give the test the exact
// sequence: PUBLISH, PUBREC, kill, reconnect, PUBLISH with DUP, PUBREC, PUBREL, PUBCOMP.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { WireClient } from '../helpers/wire.js';
import { crashBroker } from './helpers.js';

const ID = 7;

describe('durability: inbound QoS 2 across SIGKILL', () => {
  it('a PUBLISH resent with DUP after the restart is acknowledged, not delivered again: subscribers get it exactly once [MQTT-4.3.3-2] [MQTT-3.1.2-4]', async () => {
    const run = await crashBroker();
    let broker = run.broker;
    const { url, port } = run;
    // One subscriber offline (the message waits in its queue), one connected through the crash.
    const off = await connectClient(url, { clientId: 'iq-off', clean: false });
    await off.subscribeAsync('iq/#', { qos: 2 });
    await endClient(off);
    const on = mqtt.connect(url, { clientId: 'iq-on', clean: false, reconnectPeriod: 100, connectTimeout: 2000 });
    const onInbox = new Inbox(on);
    await new Promise<void>((resolve) => on.once('connect', () => resolve()));
    await on.subscribeAsync('iq/#', { qos: 2 });

    const first = await WireClient.connect(port, { clientId: 'iq-pub', clean: false });
    assert.equal(first.connack.returnCode, 0);
    const pub = first.client;
    const publish = { cmd: 'publish', topic: 'iq/x', payload: Buffer.from('once'), qos: 2, messageId: ID, retain: false };
    pub.send({ ...publish, dup: false });
    const rec = await pub.next();
    assert.equal(rec.cmd, 'pubrec');
    assert.equal(rec.messageId, ID);

    await broker.kill(); // SIGKILL, between PUBREC and PUBREL
    assert.ok(await pub.waitClosed(5000), 'the publisher saw the connection drop');
    broker = await run.restart();
    try {
      const again = await WireClient.connect(port, { clientId: 'iq-pub', clean: false });
      assert.equal(again.connack.sessionPresent, true, 'the publisher session, with its inbound id, survived');
      const p = again.client;
      p.send({ ...publish, dup: true });
      const rec2 = await p.next();
      assert.deepEqual([rec2.cmd, rec2.messageId], ['pubrec', ID], 'the resend is acknowledged with PUBREC');
      p.send({ cmd: 'pubrel', messageId: ID });
      const comp = await p.next();
      assert.deepEqual([comp.cmd, comp.messageId], ['pubcomp', ID]);
      // The id is free again: a new message with it is a new message.
      p.send({ ...publish, payload: Buffer.from('next'), dup: false });
      assert.equal((await p.next()).cmd, 'pubrec');
      p.send({ cmd: 'pubrel', messageId: ID });
      assert.equal((await p.next()).cmd, 'pubcomp');

      const back = mqtt.connect(url, { clientId: 'iq-off', clean: false, reconnectPeriod: 0 });
      const offInbox = new Inbox(back);
      await Promise.all([offInbox.waitFor(2, 10_000), onInbox.waitFor(2, 10_000)]);
      await sleep(300); // room for a duplicate to show up
      for (const [name, inbox] of [['offline', offInbox], ['connected', onInbox]] as const) {
        assert.deepEqual(inbox.messages.map((m) => m.payload.toString()), ['once', 'next'], `${name} subscriber: exactly once, in order`);
      }
      p.end();
      back.end(true);
      on.end(true);
    } finally {
      on.end(true);
      await broker.kill('SIGTERM');
    }
  });
});
