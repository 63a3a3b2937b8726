// Routing a message another node or worker sent: nobody is waiting to be told it failed (the sender
// acknowledged its publisher already), so a failure is logged, never thrown into the link's I/O.
import type { ClusterSide, RemoteRoute } from '../broker/cluster-link.js';
import type { StoredMessage } from '../store/ports.js';

export function routeQuietly(
  broker: Pick<ClusterSide, 'routeRemote'>,
  log: { error(obj: object, msg: string): void },
  message: StoredMessage,
  to?: RemoteRoute,
): void {
  // (The closure is made only for a Promise: none per message on the QoS 0 path.)
  try {
    const routed = broker.routeRemote(message, to);
    if (routed instanceof Promise) routed.catch((err: unknown) => routeFailed(log, message, err));
  } catch (err) {
    routeFailed(log, message, err);
  }
}

/** Says that routing `message` from another node or worker failed. */
export function routeFailed(log: { error(obj: object, msg: string): void }, message: StoredMessage, err: unknown): void {
  log.error({ err, topic: message.topic }, 'cluster: routing a message from elsewhere failed');
}
