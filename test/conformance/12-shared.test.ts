// 12 MQTT 5 shared subscriptions on the wire (section 4.8.2).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WireClient, WirePacket } from '../helpers/wire.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as raw from './raw.js';
import { bye, expectDisconnect, online, ping, publish1, sleep, subscribe, take, uid } from './helpers.js';

/** A filter refused either in SUBACK (0x8F) or with a DISCONNECT. */
async function refusedShared(c: WireClient): Promise<void> {
  const p = await c.nextOrClose(3000);
  assert.ok(p, 'an answer, not a silent close');
  if (p.cmd === 'suback') {
    assert.deepEqual(p.granted, [0x8f], 'SUBACK Topic Filter invalid');
    bye(c);
    return;
  }
  assert.equal(p.cmd, 'disconnect', `expected SUBACK or DISCONNECT, got ${p.cmd}`);
  assert.ok([0x8f, 0x81, 0x82].includes(p.reasonCode as number), `reason 0x${Number(p.reasonCode).toString(16)}`);
  assert.equal(await c.waitClosed(), true);
}

/** Acknowledges whatever QoS 1/2 deliveries are in `packets`. */
function ackAll(c: WireClient, packets: WirePacket[]): void {
  for (const p of packets) {
    if (p.cmd !== 'publish') continue;
    if (p.qos === 1) c.send({ cmd: 'puback', messageId: p.messageId });
    if (p.qos === 2) c.send({ cmd: 'pubrec', messageId: p.messageId });
  }
}

describe('12 shared subscriptions', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer();
    port = t.port();
  });
  after(() => t.close());

  it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] a malformed shared filter is refused: empty ShareName, wildcard in it, no "/" and Topic Filter after it', async () => {
    for (const filter of ['$share//x', '$share/g+/x', '$share/g#/x', '$share/g', '$share/g/']) {
      const c = await online(port, 5);
      c.sendRaw(raw.subscribe(1, [[filter, 1]], { props5: raw.props() }));
      await refusedShared(c);
    }
  });

  it('[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await online(port, 5);
    c.sendRaw(raw.subscribe(1, [['$share/g/nl/x', 0x04 | 1]], { props5: raw.props() }));
    await expectDisconnect(c, 0x82);
  });

  it('(4.8.2) each message goes to one member of each group, and to every plain subscriber', async () => {
    const topic = `sh/${uid('t')}`;
    const groupA = await Promise.all([0, 1].map(() => online(port, 5)));
    const groupB = await Promise.all([0, 1, 2].map(() => online(port, 5)));
    for (const c of groupA) await subscribe(c, `$share/a/${topic}`, 1);
    for (const c of groupB) await subscribe(c, `$share/b/${topic}`, 1);
    const plain = await online(port, 5);
    await subscribe(plain, topic, 1);
    const pub = await online(port, 5);
    const n = 12;
    for (let i = 0; i < n; i++) await publish1(pub, topic, String(i), i + 1);
    const count = async (members: WireClient[]): Promise<string[]> => {
      const all: string[] = [];
      for (const m of members) {
        const got = await ping(m);
        ackAll(m, got);
        all.push(...got.map((p) => p.payload.toString()));
      }
      return all.sort((x, y) => Number(x) - Number(y));
    };
    const expected = Array.from({ length: n }, (_, i) => String(i));
    assert.deepEqual(await count(groupA), expected, 'group a got every message exactly once');
    assert.deepEqual(await count(groupB), expected, 'group b got every message exactly once');
    assert.deepEqual(await count([plain]), expected, 'the plain subscriber got every message');
    for (const c of [...groupA, ...groupB, plain, pub]) bye(c);
  });

  it('[MQTT-4.8.2-3] the granted QoS of the member is respected', async () => {
    const topic = `shq/${uid('t')}`;
    const m = await online(port, 5);
    const ack = await subscribe(m, `$share/q/${topic}`, 0);
    assert.deepEqual(ack.granted, [0]);
    const pub = await online(port, 5);
    await publish1(pub, topic, 'q1');
    const [p] = await take(m, 1);
    assert.equal(p.qos, 0);
    bye(m);
    bye(pub);
  });

  it('(3.3.1.3) a new shared subscription is not sent retained messages', async () => {
    const topic = `shr/${uid('t')}`;
    const pub = await online(port, 5);
    await publish1(pub, topic, 'retained', 1, { retain: true });
    const m = await online(port, 5);
    await subscribe(m, `$share/r/${topic}`, 1);
    assert.deepEqual(await ping(m), []);
    bye(m);
    bye(pub);
  });

  it('[MQTT-4.8.2-6] a PUBACK with a failure code from a member discards the message: no other member gets it', async () => {
    const topic = `shnack/${uid('t')}`;
    const members = await Promise.all([0, 1].map(() => online(port, 5)));
    for (const c of members) await subscribe(c, `$share/n/${topic}`, 1);
    const pub = await online(port, 5);
    await publish1(pub, topic, 'refused');
    const got = await Promise.all(members.map((c) => ping(c)));
    const holder = got.findIndex((g) => g.length > 0);
    assert.ok(holder >= 0, 'one member got it');
    assert.equal(got[1 - holder].length, 0);
    members[holder].send({ cmd: 'puback', messageId: got[holder][0].messageId, reasonCode: 0x80 });
    await sleep(100);
    for (const c of members) assert.deepEqual(await ping(c), [], 'not redelivered to anyone');
    for (const c of [...members, pub]) bye(c);
  });

  it('[MQTT-4.8.2-4] [MQTT-3.3.1-1] [MQTT-4.4.0-1] a QoS 2 delivery to a member that drops is completed with that member when it reconnects, not with another', async () => {
    const topic = `shq2/${uid('t')}`;
    const idA = uid('shA');
    const a = await online(port, 5, { clientId: idA, properties: { sessionExpiryInterval: 60 } });
    await subscribe(a, `$share/q2/${topic}`, 2);
    const pub = await online(port, 5);
    await publish1(pub, topic, 'to a');
    const [m] = await take(a, 1);
    a.end();
    await a.waitClosed();
    const b = await online(port, 5);
    await subscribe(b, `$share/q2/${topic}`, 2);
    assert.deepEqual(await ping(b), [], 'not handed to the other member');
    const again = await online(port, 5, { clientId: idA, clean: false, properties: { sessionExpiryInterval: 60 } });
    const [r] = await take(again, 1);
    assert.equal(r.payload.toString(), 'to a');
    assert.equal(r.messageId, m.messageId);
    assert.equal(r.dup, true);
    again.send({ cmd: 'puback', messageId: r.messageId });
    for (const c of [again, b, pub]) bye(c);
  });

  it('[MQTT-4.8.2-5] if that member\'s session ends before it reconnects, no other member is sent the message', async () => {
    const topic = `shend/${uid('t')}`;
    const a = await online(port, 5, { clientId: uid('shEnd'), properties: { sessionExpiryInterval: 1 } });
    await subscribe(a, `$share/e/${topic}`, 2);
    const b = await online(port, 5);
    await subscribe(b, `$share/e/${topic}`, 2);
    const pub = await online(port, 5);
    // Round robin: publish until a (not b) holds one, acknowledging what b gets.
    let held: WirePacket | undefined;
    for (let i = 0; i < 4 && !held; i++) {
      await publish1(pub, topic, `m${i}`, i + 1);
      const [ga, gb] = await Promise.all([ping(a), ping(b)]);
      ackAll(b, gb);
      held = ga[0];
    }
    assert.ok(held, 'member a was chosen for one message');
    a.end();
    await a.waitClosed();
    await sleep(1500); // a's session expires
    const leftover = (await ping(b)).filter((p) => p.payload.toString() === held!.payload.toString());
    assert.deepEqual(leftover, [], 'the message held by the ended session is not sent to b');
    bye(b);
    bye(pub);
  });

  it('(4.8.2) unsubscribing one member leaves the rest of the group receiving everything', async () => {
    const topic = `shu/${uid('t')}`;
    const [a, b] = await Promise.all([0, 1].map(() => online(port, 5)));
    await subscribe(a, `$share/u/${topic}`, 0);
    await subscribe(b, `$share/u/${topic}`, 0);
    a.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`$share/u/${topic}`] });
    const ack = await a.next();
    assert.equal(ack.cmd, 'unsuback');
    const pub = await online(port, 5);
    for (let i = 0; i < 4; i++) await publish1(pub, topic, String(i), i + 1);
    assert.deepEqual(await ping(a), []);
    assert.deepEqual((await ping(b)).map((p) => p.payload.toString()), ['0', '1', '2', '3']);
    for (const c of [a, b, pub]) bye(c);
  });
});
