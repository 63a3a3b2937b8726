// `$SYS/#` belongs to the broker: clients read it (dashboards, the console) but may not write it
// unless an ACL rule names a `$SYS` topic. Packets built and parsed by mqtt-packet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { bye, online, ping, publish1, subscribe, take, uid } from '../conformance/helpers.js';

const VERSION_TOPIC = '$SYS/broker/version';

describe('$SYS is read-only for clients without an ACL', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await startTestServer({ sysIntervalSec: '3600' });
    port = t.port();
  });
  after(() => t.close());

  /** The retained value a new subscriber gets for the topic. */
  async function retainedValue(topic: string): Promise<string> {
    const c = await online(port, 5);
    await subscribe(c, topic, 0);
    const [m] = await take(c, 1, 5000);
    assert.equal(m.topic, topic);
    bye(c);
    return m.payload.toString();
  }

  it('MQTT 5: PUBACK 0x87 for QoS 1, PUBREC 0x87 for QoS 2; QoS 0 is dropped and counted; the broker value stays', async () => {
    const real = await retainedValue(VERSION_TOPIC);
    assert.match(real, /^starling version /);
    const watcher = await online(port, 5);
    await subscribe(watcher, '$SYS/broker/version', 0);
    await take(watcher, 1, 5000); // the retained value
    const c = await online(port, 5);
    const ack1 = await publish1(c, VERSION_TOPIC, 'forged 1', 1, { retain: true });
    assert.equal(ack1.reasonCode, 0x87, 'QoS 1 refused with 0x87 Not authorized');
    c.send({ cmd: 'publish', topic: VERSION_TOPIC, payload: 'forged 2', qos: 2, messageId: 2, retain: true, dup: false });
    const rec = await c.next();
    assert.equal(rec.cmd, 'pubrec');
    assert.equal(rec.reasonCode, 0x87, 'QoS 2 refused with 0x87 Not authorized');
    const dropsBefore = t.server.broker.stats.drops.notAuthorized;
    c.send({ cmd: 'publish', topic: VERSION_TOPIC, payload: 'forged 0', qos: 0, retain: true, dup: false });
    c.send({ cmd: 'publish', topic: '$SYS', payload: 'forged root', qos: 0, retain: true, dup: false });
    await ping(c);
    assert.equal(t.server.broker.stats.drops.notAuthorized, dropsBefore + 2, 'the QoS 0 publishes were dropped and counted');
    assert.deepEqual((await ping(watcher)).map((p) => p.payload?.toString()), [], 'no forged value reached a subscriber');
    assert.equal(await retainedValue(VERSION_TOPIC), real, 'the retained value is still the broker’s');
    // Topics that only look alike are ordinary topics.
    const ack = await publish1(c, '$SYSTEM/x', 'fine', 3);
    assert.notEqual(ack.reasonCode, 0x87);
    bye(c);
    bye(watcher);
  });

  it('MQTT 3.1.1: a QoS 1 publish to $SYS is acknowledged as usual and dropped', async () => {
    const real = await retainedValue(VERSION_TOPIC);
    const c = await online(port, 4);
    await publish1(c, VERSION_TOPIC, 'forged', 1, { retain: true });
    bye(c);
    assert.equal(await retainedValue(VERSION_TOPIC), real);
  });
});

describe('$SYS is writable where an ACL rule names it', () => {
  let t: TestServer;
  let port: number;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-sys-'));
    const acl = join(dir, 'acl');
    // Anonymous clients: everything but $SYS (a wildcard never reaches it), and one $SYS subtree by name.
    writeFileSync(acl, ['topic readwrite #', 'topic readwrite $SYS/custom/#', ''].join('\n'));
    t = await startTestServer({ mqttAuthorizationEnabled: 'true', mqttAclFile: acl, sysIntervalSec: '3600' });
    port = t.port();
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allows the named $SYS topics, refuses the rest of $SYS', async () => {
    const c = await online(port, 5);
    const reader = await online(port, 5);
    const topic = `$SYS/custom/${uid('x')}`;
    await subscribe(reader, topic, 0);
    const ok = await publish1(c, topic, 'mine', 1);
    assert.equal(ok.reasonCode ?? 0, 0);
    const [m] = await take(reader, 1);
    assert.equal(m.payload.toString(), 'mine');
    const refused = await publish1(c, VERSION_TOPIC, 'forged', 2);
    assert.equal(refused.reasonCode, 0x87);
    bye(c);
    bye(reader);
  });
});
