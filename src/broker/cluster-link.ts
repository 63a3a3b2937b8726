// The broker's side of cluster mode: what it tells the other nodes, and what they may ask of it.
// Two links implement it: the NATS link of src/cluster/nats/link.ts (nodes on several machines) and the
// IPC link of src/cluster/workers/ipc-link.ts (the worker processes of one machine, `workers=N`).
import type { StoredMessage, StoredSessionState } from '../store/ports.js';
import type { InterestListener } from '../router/subscriptions.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

/** A session moving from one node to another: its stored form and the bodies its queue refers to. */
export interface SessionTransfer {
  state: StoredSessionState;
  messages: StoredMessage[];
}

export interface ClusterLink extends InterestListener {
  /**
   * A message routed on this node for a local publisher (a client, a will, the admin API): hand it
   * to the nodes that want it. Shared subscriptions are served through the link only, so that one
   * member of a group across the whole cluster gets each message.
   */
  forward(message: StoredMessage): MaybePromise<void>;
  /**
   * True when the link, having forwarded `message`, also delivers it to this node's own plain
   * subscribers (from a durable stream, in the stream's order): the broker then leaves them out.
   */
  deliversLocally?(message: StoredMessage): boolean;
  /**
   * A client connected here; any other node holding a connection with this id must close it
   * [MQTT-3.1.4-2]. With `resume` (Clean Start 0) a link that can move sessions brings the client's
   * session here from the node that held it, through `ClusterSide.importSession`, before the
   * returned Promise settles; the broker waits for it before it answers CONNECT.
   */
  claim(clientId: string, resume: boolean): MaybePromise<void>;
  /**
   * The session of this client id ended on this node (expired, discarded at disconnect, replaced by
   * a clean start, moved away): a link that remembers where sessions are forgets this one here.
   */
  sessionEnded?(clientId: string): void;
  /**
   * This node's sweep removed these retained messages because they expired [MQTT-3.3.2-5]: a link
   * that keeps a cluster-wide copy clears them there too, unless they were replaced meanwhile.
   */
  retainedExpired?(topics: readonly string[]): void;
}

/**
 * Where a message stands in a cluster's durable stream (persistence=nats). Streams give messages in
 * order, so a session routed sequence n has seen everything before it: the broker drops the message
 * for sessions whose last sequence is at least `seq`, counting them in `duplicates`.
 */
export interface StreamPosition {
  seq: number;
  duplicates: number;
}

/** Where a message from another node goes (ClusterSide.routeRemote); without one, to plain subscribers. */
export interface RemoteRoute {
  /** `group\0filter`: to that shared group's local member only (then `only` is not looked at). */
  shared?: string;
  /**
   * To that client's session only, or to those clients' sessions (a message re-sent after the
   * session moved, or owed to the sessions of a lost node); a retained one then updates nothing.
   */
  only?: string | ReadonlySet<string>;
  /** The message's place in the durable stream: a session that has had it counts a duplicate in it. */
  at?: StreamPosition;
}

/** What the link may ask of the broker when messages or claims arrive from other nodes. */
export interface ClusterSide {
  /**
   * Routes a message from another node to local subscribers, without forwarding it again: to `to`,
   * or without it to plain subscribers, a retained one also updating the local retained index.
   */
  routeRemote(message: StoredMessage, to?: RemoteRoute): MaybePromise<number>;
  /** Another node took this client id: close the local connection, if any [MQTT-3.1.4-2]. */
  takeOver(clientId: string): void;
  /**
   * Another node took this client id and, with `transfer`, wants its session: close the local
   * connection as a takeover, then give up the session. Resolves with its state when `transfer` and a
   * session was here, once its removal from this node's store is durable.
   */
  releaseSession(clientId: string, transfer: boolean): Promise<SessionTransfer | undefined>;
  /**
   * Adopts a session released by another node (and stores it), replacing an offline local one of the
   * same id; false (and nothing changes) when a client is connected here with that id.
   */
  importSession(transfer: SessionTransfer): boolean;
  /**
   * Drops a stale copy of a session another node took over while this one was away: no will, no
   * delivery; nothing happens when its client is connected here.
   */
  forgetSession(clientId: string): void;
}

/**
 * This node's retained index as a link needs it at start-up: read, set and clear without delivery
 * (Broker.localRetained; reconciled by src/cluster/retained-copy.ts).
 */
export interface LocalRetained {
  /** Retained messages this node holds now. */
  list(): StoredMessage[];
  get(topic: string): StoredMessage | undefined;
  /** Stores (index and local store) a retained message without routing it to subscribers. */
  set(message: StoredMessage): void;
  delete(topic: string): void;
}
