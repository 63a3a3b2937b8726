// Counters the broker keeps about itself, read by $SYS topics and /metrics.

export type DropReason = 'queueFull' | 'expired' | 'retainedLimit' | 'tooLarge' | 'slowConsumer' | 'notAuthorized' | 'topicLimit';

export class BrokerStats {
  readonly startedAt = Date.now();
  /** Packets of any type received from / sent to clients (Mosquitto's messages/received|sent). */
  messagesReceived = 0;
  messagesSent = 0;
  /** Application messages routed: client publishes, wills, $SYS and admin publishes. */
  messagesRouted = 0;
  bytesReceived = 0;
  bytesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  willsPublished = 0;
  connectionsTotal = 0;
  authFailures = 0;
  readonly drops: Record<DropReason, number> = {
    queueFull: 0,
    expired: 0,
    retainedLimit: 0,
    tooLarge: 0,
    slowConsumer: 0,
    notAuthorized: 0,
    topicLimit: 0,
  };
  /** Connections refused at accept time (maxConnections, per-address limit). */
  connectionsRefused = 0;
  /** Connections closed because their outgoing buffer stayed full. */
  slowConsumersDisconnected = 0;

  dropped(reason: DropReason): void {
    this.drops[reason]++;
  }
}
