// Retained writes waiting for the cluster's JetStream bucket are bounded in bytes, not only in count:
// while JetStream does not answer (here: the node's NATS user may not use the JetStream API, so the
// bucket never opens), every retained PUBLISH's write waits, up to mqttMessageMaxLength each, and
// 10,000 of them could be gigabytes. They now wait up to maxRetainedBytes in all, the rest dropped
// and counted. A real nats-server, an MQTT.js publisher; the node runs in this process, so what it
// holds is read after full collections.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { fullGc, liveBytes, MiB } from '../helpers/heap.js';
import { natsAndNode, waitUntil } from './helpers.js';
import { http, parsePrometheus, sampleValue } from '../observe/helpers.js';

describe('cluster: retained writes waiting for JetStream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-rp-'));
  let node: TestServer;
  let stop: () => Promise<void>;
  let pub: MqttClient | undefined;
  before(async () => {
    // A user who may publish and subscribe on everything except the JetStream API.
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, 'authorization { users = [ { user: node, password: secret, permissions: { publish: { deny: ["$JS.API.>"] } } } ] }\n');
    ({ node, stop } = await natsAndNode(
      {
        clusterNatsUser: 'node',
        clusterNatsPassword: 'secret',
        clusterNodeId: 'a',
        clusterSubjectPrefix: 'rp',
        maxRetainedBytes: String(2 * MiB),
        mqttMessageMaxLength: String(600 * 1024),
      },
      { args: ['-c', conf] },
    ));
  });
  after(async () => {
    if (pub) await endClient(pub, true);
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds at most maxRetainedBytes of them: 40 retained messages of 512 KiB on distinct topics', async (t) => {
    await waitUntil(() => node.server.cluster!.members().join() === 'a', 'the node a member');
    assert.equal(node.server.cluster!.state.retainedLoaded, false, 'the bucket cannot open: JetStream is denied');
    pub = await connectClient(node.url(), { protocolVersion: 5, clientId: 'rp-pub' });
    const payload = Buffer.alloc(512 * 1024, 7);
    const N = 40;
    const gc = fullGc();
    const baseline = liveBytes(gc);
    for (let i = 0; i < N; i++) await pub.publishAsync(`rp/${i}`, Buffer.from(payload), { qos: 1, retain: true });
    const grown = liveBytes(gc) - baseline;
    t.diagnostic(`held ${(grown / MiB).toFixed(1)} MiB more after ${N / 2} MiB of retained messages`);
    // The local index keeps its 2 MiB (maxRetainedBytes), the waiting writes at most 2 MiB more;
    // before the bound every one of the 20 MiB waited.
    assert.ok(grown < 7 * MiB, `the node holds ${(grown / MiB).toFixed(1)} MiB more after ${N} retained messages of 512 KiB`);
    const failures = node.server.cluster!.state.retainedWriteFailures;
    assert.ok(failures >= N - 4 && failures <= N, `the writes past the bound are dropped and counted (${failures})`);
    const reply = await http(node.port('ws'), '/metrics');
    assert.equal(sampleValue(parsePrometheus(reply.text), 'starling_cluster_errors_total', { kind: 'retainedWrites' }), failures, 'counted in /metrics');
  });
});
