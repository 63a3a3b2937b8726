// Helpers for cluster tests: a broker stand-in that records what the link asks of it, and bounded waits.
import type { ClusterSide, RemoteRoute, SessionTransfer } from '../../src/broker/cluster-link.js';
import type { StoredMessage } from '../../src/store/ports.js';
import { startClusterLink } from '../../src/cluster/nats/join.js';
import type { ClusterLinkOptions, NatsClusterLink } from '../../src/cluster/nats/link.js';
import { silentLog } from '../helpers/channel.js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle, type StartNatsOptions } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

export { waitUntil } from '../helpers/wait.js';

export class FakeBroker implements ClusterSide {
  readonly routed: Array<{ message: StoredMessage; sharedKey?: string }> = [];
  /** Client ids another node claimed (the link asked to close and release them). */
  readonly takenOver: string[] = [];
  /** Sessions this "node" holds, handed out when a claim asks for them. */
  readonly sessions = new Map<string, SessionTransfer>();
  readonly imported: SessionTransfer[] = [];
  /** Shared groups whose local members all left: a message for them reaches nobody here. */
  readonly emptyGroups = new Set<string>();
  routeRemote(message: StoredMessage, to?: RemoteRoute): number {
    const sharedKey = to?.shared;
    if (sharedKey !== undefined && this.emptyGroups.has(sharedKey)) return 0;
    this.routed.push(sharedKey === undefined ? { message } : { message, sharedKey });
    return 1;
  }
  takeOver(clientId: string): void {
    this.takenOver.push(clientId);
  }
  async releaseSession(clientId: string, transfer: boolean): Promise<SessionTransfer | undefined> {
    this.takenOver.push(clientId);
    const s = this.sessions.get(clientId);
    this.sessions.delete(clientId);
    return transfer ? s : undefined;
  }
  forgetSession(clientId: string): void {
    this.sessions.delete(clientId);
  }
  importSession(t: SessionTransfer): boolean {
    this.imported.push(t);
    this.sessions.set(t.state.session.clientId, t);
    return true;
  }
  topics(): string[] {
    return this.routed.filter((r) => r.sharedKey === undefined).map((r) => r.message.topic);
  }
}

let seq = 0;
export function message(topic: string, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { id: `m-${++seq}`, topic, payload: Buffer.from(`p${seq}`), qos: 0, retain: false, createdAt: Date.now(), ...extra };
}

export async function startLink(servers: string[], nodeId: string, extra: Partial<ClusterLinkOptions> = {}): Promise<{ link: NatsClusterLink; broker: FakeBroker }> {
  const broker = new FakeBroker();
  const link = await startClusterLink({ servers, nodeId, broker, log: silentLog, ...extra });
  return { link, broker };
}

/**
 * A nats-server and a plain client of it (what a test publishes with as a peer, or as anything else
 * that can reach the cluster's subjects); `stop` closes the links in `open`, the client and the server.
 */
export async function natsWithClient(): Promise<{ nats: NatsServerHandle; raw: NatsConnection; stop(open: Array<{ link: NatsClusterLink }>): Promise<void> }> {
  const nats = await startNatsServer();
  const raw = await connect({ servers: nats.url });
  return {
    nats,
    raw,
    stop: async (open) => {
      await Promise.all(open.map((n) => n.link.close()));
      await raw.close();
      await nats.stop();
    },
  };
}

/**
 * A nats-server and one broker node of a cluster on it, in this process (so what the node holds can
 * be measured); `flags` as in the config file, the NATS URL added. `stop` closes the node, then the server.
 */
export async function natsAndNode(flags: Record<string, string>, natsOptions: StartNatsOptions = {}): Promise<{ nats: NatsServerHandle; node: TestServer; stop(): Promise<void> }> {
  const nats = await startNatsServer(natsOptions);
  const node = await startTestServer({ clusterNatsUrl: nats.url, ...flags });
  return {
    nats,
    node,
    stop: async () => {
      await node.close();
      await nats.stop();
    },
  };
}
