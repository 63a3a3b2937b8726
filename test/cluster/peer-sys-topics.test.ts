// A retained message from another node on a `$SYS/...` topic is refused. Each node keeps its own
// $SYS tree and never forwards it; taken in, a peer's `$SYS` message without a publisher passed as
// the broker's own, which the retained budget always admits, so anything that could publish on the
// cluster's subjects could make a node hold any number of retained messages past maxRetainedMessages
// and maxRetainedBytes, and overwrite the node's own $SYS figures (found in review, 2026-12-08).
// A real nats-server, a real broker node, a raw NATS client as the peer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsServerHandle } from '../helpers/nats-server.js';
import type { TestServer } from '../helpers/server.js';
import { clusterSubjects } from '../../src/cluster/nats/subjects.js';
import { messageHeaders } from '../../src/cluster/nats/wire.js';
import type { StoredMessage } from '../../src/store/ports.js';
import { natsAndNode, waitUntil } from './helpers.js';
import { http, parsePrometheus, sampleValue } from '../observe/helpers.js';

describe('cluster: $SYS topics from another node', () => {
  let node: TestServer;
  let raw: NatsConnection;
  let stop: () => Promise<void>;
  before(async () => {
    let nats: NatsServerHandle;
    ({ nats, node, stop } = await natsAndNode({
      clusterNodeId: 'a',
      clusterSubjectPrefix: 'sx',
      sysIntervalSec: '0',
      maxRetainedMessages: '50',
      maxRetainedBytes: String(1024 * 1024),
    }));
    raw = await connect({ servers: nats.url });
  });
  after(async () => {
    await raw.close();
    await stop();
  });

  it('a peer\'s retained messages on ordinary topics are held within the retained budget', async () => {
    await waitUntil(() => node.server.cluster!.members().join() === 'a', 'the node a member');
    const subjects = clusterSubjects('sx');
    const payload = Buffer.alloc(16 * 1024, 1);
    const before = node.server.cluster!.counters.receivedRetained;
    for (let i = 0; i < 400; i++) {
      const m: StoredMessage = { id: `plain-${i}`, topic: `plain/${i}`, payload, qos: 0, retain: true, createdAt: Date.now() };
      raw.publish(subjects.retain.topic(m.topic), payload, { headers: messageHeaders(m, 'evil') });
    }
    await raw.flush();
    await waitUntil(() => node.server.cluster!.counters.receivedRetained - before >= 400, 'all 400 read by the node', 10_000);
    const p = parsePrometheus((await http(node.port('ws'), '/metrics')).text);
    assert.ok(sampleValue(p, 'starling_retained_messages') <= 50);
    assert.ok(sampleValue(p, 'starling_retained_bytes') <= 1024 * 1024);
  });

  it('a peer\'s 400 retained messages of 16 KiB on $SYS topics are refused as malformed, and the node stays within maxRetainedMessages (50) and maxRetainedBytes (1 MiB)', async () => {
    await waitUntil(() => node.server.cluster!.members().join() === 'a', 'the node a member');
    const subjects = clusterSubjects('sx');
    const payload = Buffer.alloc(16 * 1024, 1);
    const malformedBefore = node.server.cluster!.counters.malformed;
    const before = node.server.cluster!.counters.receivedRetained + malformedBefore;
    for (let i = 0; i < 400; i++) {
      const m: StoredMessage = { id: `evil-${i}`, topic: `$SYS/evil/${i}`, payload, qos: 0, retain: true, createdAt: Date.now() };
      raw.publish(subjects.retain.topic(m.topic), payload, { headers: messageHeaders(m, 'evil') });
    }
    await raw.flush();
    await waitUntil(() => node.server.cluster!.counters.receivedRetained + node.server.cluster!.counters.malformed - before >= 400, 'all 400 read by the node', 10_000);
    const p = parsePrometheus((await http(node.port('ws'), '/metrics')).text);
    const count = sampleValue(p, 'starling_retained_messages');
    const bytes = sampleValue(p, 'starling_retained_bytes');
    assert.ok(count <= 50, `the node holds ${count} retained messages (maxRetainedMessages 50)`);
    assert.ok(bytes <= 1024 * 1024, `the node holds ${bytes} bytes of retained messages (maxRetainedBytes 1 MiB)`);
    assert.equal(node.server.cluster!.counters.malformed - malformedBefore, 400, 'each counted as malformed');
    assert.equal(node.server.broker.retained.get('$SYS/evil/0'), undefined);
  });
});
