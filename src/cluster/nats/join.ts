// Joining the cluster: connect to NATS, start the link (and durable delivery), or fail naming why.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { clusterKv, holdOwnPlace, type OwnPlace } from './place.js';
import { DurableChannel } from './durable.js';
import { NatsClusterLink } from './link.js';
import type { ClusterLinkOptions, NatsAuth } from './options.js';
import { checkNodeId, clusterSubjects, DEFAULT_PREFIX } from './subjects.js';

/** A node id for a node that was not given one: host name and a random suffix. */
export function generateNodeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'node';
  return `${host}-${randomBytes(4).toString('hex')}`;
}

/** Connects to NATS and joins the cluster; the caller then attaches the link to its broker. */
export async function startClusterLink(opts: ClusterLinkOptions): Promise<NatsClusterLink> {
  checkNodeId(opts.nodeId);
  if (opts.servers.length === 0) throw new Error('cluster: no NATS server given');
  const subjects = clusterSubjects(opts.prefix ?? DEFAULT_PREFIX, { maxSubjectLength: opts.maxSubjectLength });
  const nc = await natsConnect(opts, 'cluster');
  const link = new NatsClusterLink(nc, subjects, { ...opts, heartbeatMs: opts.heartbeatMs ?? 2000 });
  try {
    await link.start();
    if (opts.durable) {
      link.durable = await DurableChannel.open(nc, {
        ...opts.durable,
        prefix: opts.prefix ?? DEFAULT_PREFIX,
        nodeId: opts.nodeId,
        broker: opts.broker,
        log: opts.log,
        timeoutMs: opts.timeoutMs,
        heartbeatMs: opts.heartbeatMs ?? 2000,
        alive: (node) => link.members().includes(node),
        counters: link.counters,
        malformed: link.malformed,
      });
    }
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  opts.log.info({ nodeId: opts.nodeId, server: nc.getServer(), members: link.members() }, 'cluster: joined');
  return link;
}

async function natsConnect(opts: { servers: string[]; auth?: NatsAuth; nodeId: string; timeoutMs?: number }, role: string): Promise<NatsConnection> {
  try {
    return await connect({
      servers: opts.servers,
      ...opts.auth,
      name: `starling-${role}-${opts.nodeId}`,
      timeout: opts.timeoutMs ?? 5000,
      // Once connected, a node outlives NATS server restarts and fail-overs: keep reconnecting.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (err) {
    throw new Error(`cluster: cannot connect to NATS at ${opts.servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
}

export interface OwnPlaceOptions {
  servers: string[];
  auth?: NatsAuth;
  nodeId: string;
  prefix?: string;
  /** JetStream replicas of the coordination bucket when this node creates it. */
  replicas: number;
  heartbeatMs?: number;
  timeoutMs?: number;
  /** How long to wait for another node's adoption of this one to finish. Default 120 s. */
  waitMs?: number;
  log: Logger;
  /** Another node took this running node's place (see HoldOptions.onLost). */
  onLost?: (adopter: string) => void;
}

/**
 * A durable cluster node (persistence=nats) takes its own place before it opens its store
 * (place.ts): while another node adopts it, it waits. Resolves with a handle to give it up at close.
 */
export async function takeOwnPlace(opts: OwnPlaceOptions): Promise<{ stop(): Promise<void> }> {
  checkNodeId(opts.nodeId);
  const nc = await natsConnect(opts, 'place');
  let place: OwnPlace;
  try {
    const kv = await clusterKv(nc, opts.prefix ?? DEFAULT_PREFIX, opts.replicas);
    place = await holdOwnPlace(kv, { nodeId: opts.nodeId, intervalMs: opts.heartbeatMs ?? 2000, waitMs: opts.waitMs ?? 120_000, log: opts.log, ...(opts.onLost ? { onLost: opts.onLost } : {}) });
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  return {
    stop: async () => {
      place.stop();
      await nc.close().catch(() => undefined);
    },
  };
}
