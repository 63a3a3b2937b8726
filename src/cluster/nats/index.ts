// The NATS cluster: several Starling nodes, possibly on several machines, act as one broker over a
// NATS server (link.ts), with durable delivery and adoption of lost nodes on JetStream (durable.ts)
// and the cluster's retained messages in a JetStream bucket (retained.ts). What the server needs.
export { generateNodeId, startClusterLink, takeOwnPlace } from './join.js';
export type { NatsClusterLink } from './link.js';
export type { ClusterLinkOptions, NatsAuth } from './options.js';
