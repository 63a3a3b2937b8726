// The broker's side of cluster mode: what it tells the other nodes, and what they may ask of it.
// The link itself (NATS subjects, queue groups, retained replication) lives in src/cluster/.
import type { StoredMessage } from '../store/ports.js';
import type { InterestListener } from '../router/subscriptions.js';

export interface ClusterLink extends InterestListener {
  /**
   * A message routed on this node for a local publisher (a client, a will, the admin API): hand it
   * to the nodes that want it. Shared subscriptions are served through the link only, so that one
   * member of a group across the whole cluster gets each message.
   */
  forward(message: StoredMessage): void;
  /** A client connected here; any other node holding a connection with this id must close it. */
  claim(clientId: string): void;
}

/** What the link may ask of the broker when messages or claims arrive from other nodes. */
export interface ClusterSide {
  /**
   * Routes a message from another node to local subscribers, without forwarding it again.
   * `sharedKey` (`group\0filter`) delivers to that shared group's local member only; without it,
   * plain subscribers get it and a retained message updates the local retained index.
   */
  routeRemote(message: StoredMessage, sharedKey?: string): number | Promise<number>;
  /** Another node took this client id: close the local connection, if any [MQTT-3.1.4-2]. */
  takeOver(clientId: string): void;
}
