// Joining the cluster: connect to NATS, start the link (and durable delivery), or fail naming why.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DurableChannel } from './durable.js';
import { NatsClusterLink } from './link.js';
import type { ClusterLinkOptions } from './options.js';
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
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      ...opts.auth,
      name: `starling-cluster-${opts.nodeId}`,
      timeout: opts.timeoutMs ?? 5000,
      // Once connected, a node outlives NATS server restarts and fail-overs: keep reconnecting.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (err) {
    throw new Error(`cluster: cannot connect to NATS at ${opts.servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
  const link = new NatsClusterLink(nc, subjects, { ...opts, heartbeatMs: opts.heartbeatMs ?? 2000 });
  try {
    await link.start();
    if (opts.durable) {
      link.durable = await DurableChannel.open(nc, { ...opts.durable, prefix: opts.prefix ?? DEFAULT_PREFIX, nodeId: opts.nodeId, broker: opts.broker, log: opts.log, timeoutMs: opts.timeoutMs });
    }
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  opts.log.info({ nodeId: opts.nodeId, server: nc.getServer(), members: link.members() }, 'cluster: joined');
  return link;
}
