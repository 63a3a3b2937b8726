// Scenario 7, cross-node: the 1-to-1 pairs of scenario 4 with every publisher on node 1 and every
// subscriber on node 2 of a two-node cluster (over one nats-server), QoS 0, 64-byte payloads:
// latency at 20,000 msgs/s offered and throughput at 1 and 32 msgs per write. Each message crosses
// NATS once (node 1 → nats-server → node 2), so this is the price of a cluster hop.
import type { Scenario } from './scenario.js';
import { pairsScenario } from './pairs.js';

export const crossNode: Scenario = pairsScenario({
  id: 7,
  name: 'cross-node pairs',
  summary: 'publisher on node 1, subscriber on node 2 of a 2-node cluster; 1,000 pairs, QoS 0, 64-byte payloads',
  brokers: ['starling-cluster'],
  stem: 'xpair',
  crossNode: true,
});
