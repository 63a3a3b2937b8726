// Shared subscriptions survive the loss of a node (persistence=nats): a group `$share/g/ds/t` has one
// member on a node in its own process and one on another node; a publisher on the second node sends
// QoS 1 messages; the first node is frozen (SIGSTOP, so what it pulled for the group stays in flight
// there) and then SIGKILLed mid-stream. Every message whose publisher got its PUBACK after the freeze
// reaches a member: the lost node's share goes to the other member once JetStream's acknowledgement
// wait runs out.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { waitUntil } from './helpers.js';

const TOTAL = 200;
const FREEZE_AFTER = 60;
const KILL_AFTER = 80;

describe('cluster with persistence=nats: a shared group with a member on a node that is killed', () => {
  let nats: NatsServerHandle;
  let victim: BrokerProcess | undefined;
  let node: TestServer | undefined;
  const clients: MqttClient[] = [];
  const flags = (id: string): Record<string, string> => ({
    mqttListeners: 'mqtt://127.0.0.1:0',
    clusterNatsUrl: nats.url,
    clusterNodeId: id,
    clusterSubjectPrefix: 'ds',
    clusterHeartbeatMs: '300',
    persistence: 'nats',
  });

  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    await victim?.kill();
    await node?.close();
    await nats.stop();
  });

  it('redelivers the QoS 1 messages in flight to the lost node to the other member of the group', async (t) => {
    victim = await startBrokerProcess(flags('a'), 30_000);
    node = await startTestServer(flags('b'));
    const b = node;
    await waitUntil(() => b.server.cluster!.members().join() === 'a,b', 'two members', 10_000);

    // One member on each node; clean sessions, so the lost node's member is not adopted: its share
    // can only reach the other member.
    const got = { a: new Map<string, number>(), b: new Map<string, number>() };
    const member = async (where: 'a' | 'b', url: string): Promise<MqttClient> => {
      const c = await connectClient(url, { protocolVersion: 5, clientId: `member-${where}`, clean: true, reconnectPeriod: 0 });
      clients.push(c);
      c.on('error', () => {});
      c.on('message', (_topic, payload) => {
        const p = payload.toString();
        got[where].set(p, (got[where].get(p) ?? 0) + 1);
      });
      await c.subscribeAsync('$share/g/ds/t', { qos: 1 });
      return c;
    };
    await member('a', `mqtt://127.0.0.1:${victim.port()}`);
    await member('b', b.url());

    const pub = await connectClient(b.url(), { protocolVersion: 5, clientId: 'pub' });
    clients.push(pub);
    const acked: string[] = [];
    let killed: Promise<void> | undefined;
    let gotBeforeFreeze = 0;
    for (let i = 0; i < TOTAL; i++) {
      if (i === FREEZE_AFTER) {
        gotBeforeFreeze = got.a.size;
        victim.child.kill('SIGSTOP');
      }
      if (i === KILL_AFTER) killed = victim.kill('SIGKILL');
      await pub.publishAsync('ds/t', String(i), { qos: 1 });
      acked.push(String(i));
    }
    await killed;
    assert.ok(gotBeforeFreeze > 0, 'the group was spread over both nodes (the member on the lost node got messages)');

    // From the freeze on, the lost node routed nothing: whatever it had pulled for the group was in
    // flight there, and must reach the other member. (Before it, a message the node had routed to its
    // member, whose session was a clean one, may have died with that session, as with one broker.)
    const reached = (p: string): boolean => got.a.has(p) || got.b.has(p);
    const afterFreeze = acked.slice(FREEZE_AFTER);
    await waitUntil(() => afterFreeze.every(reached), 'every message acknowledged after the freeze at a member', 30_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; missing: ${afterFreeze.filter((p) => !reached(p)).join(',')}`);
    });
    const both = acked.filter((p) => got.a.has(p) && got.b.has(p)).length;
    const before = acked.slice(0, FREEZE_AFTER).filter((p) => !reached(p));
    const redelivered = b.server.cluster!.durable!.groups.counters.redelivered;
    t.diagnostic(`${acked.length} acknowledged: ${got.a.size} at the lost node's member, ${got.b.size} at the other; at both ${both}; redelivered by JetStream ${redelivered}; routed to the lost member before the freeze but not received: ${before.join(',') || 'none'}`);
    assert.ok(redelivered > 0, 'messages the lost node held for the group were given to the other node');
  });
});
