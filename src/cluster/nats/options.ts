// The NATS link's options and counters (link.ts, and the parts it is made of: claims.ts, join.ts).
import type { Logger } from 'pino';
import type { ClusterSide } from '../../broker/cluster-link.js';
import type { LocalRetained } from '../retained-copy.js';
import type { DurableOptions } from './durable.js';

/** How a node authenticates to NATS and secures the connection. */
export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface ClusterLinkOptions {
  /** NATS server URLs; the client fails over between them. */
  servers: string[];
  /** This node's id: 1..64 of [A-Za-z0-9_-], unique in the cluster. */
  nodeId: string;
  broker: ClusterSide;
  log: Logger;
  /** Start of every subject and of the retained bucket's name. Default 'starling'. */
  prefix?: string;
  /**
   * The local retained index, to load the retained bucket at start without delivering anything.
   * Without it, loaded messages go through `broker.routeRemote` (which also delivers them).
   */
  retained?: LocalRetained;
  /** Bytes of retained writes waiting for JetStream at most (maxRetainedBytes); past it they are dropped, counted. */
  retainedPendingBytes?: number;
  /** JetStream replicas of the retained bucket when this node creates it. Default 1. */
  retainedReplicas?: number;
  /** Heartbeat period. Default 2000 ms. */
  heartbeatMs?: number;
  /** Bound on connecting and on each JetStream request. Default 5000 ms. */
  timeoutMs?: number;
  /** Subjects longer than this use the space's bare root (subjects.ts). */
  maxSubjectLength?: number;
  /**
   * Durable delivery between nodes and adoption of lost nodes (durable.ts), for nodes whose store is
   * in JetStream (persistence=nats).
   */
  durable?: Pick<DurableOptions, 'replicas' | 'storeOf' | 'maxAgeSec' | 'maxBytes'>;
  /** Credentials and TLS for the NATS servers (connect options of the NATS client). */
  auth?: NatsAuth;
  /** How long a connecting client waits for the other nodes to answer for its session. Default 3000 ms. */
  moveTimeoutMs?: number;
  /**
   * Bytes of messages the NATS client may buffer while it is disconnected (sent on reconnect); beyond
   * that, forwards are dropped and counted, so a long NATS outage cannot exhaust memory. Default 8 MiB.
   */
  reconnectBufferBytes?: number;
  /** This node's own place (join.ts takeOwnPlace), given up when the link closes. */
  place?: { stop(): Promise<void> };
}

/** What the link has done, for tests, metrics and `$SYS`. */
export interface LinkCounters {
  /** Messages published on the plain / retain / share spaces. */
  forwarded: number;
  forwardedRetained: number;
  forwardedShared: number;
  /** Messages from other nodes routed to local plain subscribers (retained ones counted apart). */
  received: number;
  receivedRetained: number;
  /** Messages a local shared group's queue subscription received (from any node, this one included). */
  receivedShared: number;
  /**
   * QoS 1/2 shared-group messages that arrived for a group with no local member any more (its last
   * member left after the sender, another node or this one, picked this node) and were handed on to
   * another node of the group.
   */
  sharedHandedOn: number;
  /** Such messages no other node of the group could take (dropped). */
  sharedLost: number;
  /** This node's own plain/retained forwards that came back and were ignored. */
  ownIgnored: number;
  /** Second copies of one message from overlapping subscriptions, dropped (none since messages travel in batches). */
  duplicates: number;
  /** NATS messages sent carrying a batch of messages to one node (one per destination and turn). */
  batches: number;
  malformed: number;
  /** Forwards that failed (e.g. larger than the NATS server's max_payload, or the link is closed). */
  publishErrors: number;
  /** Forwards dropped because the reconnect buffer was full while NATS was unreachable. */
  droppedDisconnected: number;
  claimsSent: number;
  claimsReceived: number;
  /** Sessions brought here from another node for a reconnecting client, and given up to one. */
  sessionsMovedIn: number;
  sessionsMovedOut: number;
  /** Claims older than this node's own claim for the same client id (this node's connection wins). */
  claimsIgnored: number;
  reconnects: number;
  /**
   * persistence=nats: copies of a QoS 1/2 message the stream gave again (after a node loss, a session
   * move, a redelivery) to a session that had it already, dropped (so never delivered twice).
   */
  durableDuplicates: number;
  /**
   * persistence=nats: QoS 1 messages in flight in a session moved here or adopted, resent with DUP on
   * resume: the client may have had them, so these are the QoS 1 duplicates a subscriber can see.
   */
  durableResent: number;
}
