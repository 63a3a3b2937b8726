// A cluster node remembers its own recent claims of client ids for 10 s (to settle two connects of
// one id on two nodes at once). Remembered without a bound, clients connecting and leaving with new
// 64,000-character ids had a node hold all of the last 10 s of them: the claims now keep at most
// 4 Mi characters of ids, the oldest forgotten first. Raw packets over real sockets, a real
// nats-server; the node runs in this process, so what it holds is read after full collections.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';
import { fullGc, liveBytes, MiB } from '../helpers/heap.js';
import { natsAndNode, waitUntil } from './helpers.js';

describe('cluster: own claims of client ids', () => {
  let node: TestServer;
  let stop: () => Promise<void>;
  before(async () => {
    ({ node, stop } = await natsAndNode({ clusterNodeId: 'a', clusterSubjectPrefix: 'cm', mqttMessageMaxLength: '131072', maxClientMemory: '1048576' }));
  });
  after(() => stop());

  it('holds at most 4 Mi characters of recently claimed client ids: 300 connects with 64,000-character ids, each gone at once', async (t) => {
    await waitUntil(() => node.server.cluster!.members().join() === 'a', 'the node a member');
    const once = async (clientId: string): Promise<void> => {
      const { client, connack } = await WireClient.connect(node.port(), { clientId });
      assert.equal(connack.returnCode, 0);
      client.send({ cmd: 'disconnect' });
      assert.ok(await client.waitClosed(5000), 'closed after DISCONNECT');
    };
    for (let i = 0; i < 10; i++) await once(`warm-${i}`);
    const N = 300;
    const LENGTH = 64_000;
    const gc = fullGc();
    const baseline = liveBytes(gc);
    const started = Date.now();
    for (let i = 0; i < N; i++) await once(`${i}-`.padEnd(LENGTH, 'c'));
    await waitUntil(() => node.server.connections.size === 0, 'every connection gone');
    const grown = liveBytes(gc) - baseline;
    const sent = N * LENGTH;
    t.diagnostic(`held ${(grown / MiB).toFixed(1)} MiB more after ${(sent / MiB).toFixed(1)} MiB of client ids in ${Date.now() - started} ms`);
    // Measured: all of them (18 MiB) without the bound, about 4 MiB with it (the last 65 ids).
    assert.ok(Date.now() - started < 10_000, 'within the 10 s a claim is remembered, or this shows nothing');
    assert.ok(grown < 8 * MiB, `the node holds ${(grown / MiB).toFixed(1)} MiB more after ${N} connects with ${LENGTH}-character ids`);
  });
});
