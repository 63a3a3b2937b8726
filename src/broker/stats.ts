// Counters the broker keeps about itself, read by $SYS topics and /metrics.

/**
 * Why a message was not delivered. A full queue counts by what was lost (queueOverflowPolicy):
 * queueFull, the oldest queued message dropped to make room (dropOldest; under backPressure, for an
 * offline session or a publisher that cannot be held); queueRefused, the new message not queued
 * (refuseNewest, or one message larger than maxQueuedBytes on its own); queueBudget, the new message
 * not queued because all sessions together hold maxQueuedBytesTotal; backPressureTimeout, the
 * oldest dropped because a subscriber's queue stayed full past backPressureTimeoutSec while its
 * publishers were held (and until it drains).
 */
export type DropReason =
  | 'queueFull'
  | 'queueRefused'
  | 'queueBudget'
  | 'backPressureTimeout'
  | 'expired'
  | 'retainedLimit'
  | 'tooLarge'
  | 'slowConsumer'
  | 'notAuthorized'
  | 'topicLimit'
  | 'sessionEnded';

/**
 * Each configured limit that refused, cut off or slowed a client. Counted where the limit acts, so
 * an operator can tell from /metrics which limit a misbehaving (or under-provisioned) fleet hits.
 */
export type LimitReason =
  /** maxConnections: a connection refused at accept time because the broker is full. */
  | 'maxConnections'
  /** maxConnectionsPerAddress: refused because its address already holds its share. */
  | 'maxConnectionsPerAddress'
  /** connectTimeoutSec: closed without a complete CONNECT (or authentication) in time. */
  | 'connectTimeout'
  /** mqttMessageMaxLength: an incoming packet over the maximum size (0x95), refused by the framer. */
  | 'packetTooLarge'
  /** maxSubscriptionsPerClient: a subscription refused in its SUBACK (0x97 / 0x80). */
  | 'maxSubscriptions'
  /** maxTopicLength / maxTopicLevels: a topic filter refused in its SUBACK (0x8F / 0x80). */
  | 'subscribeTopicLimit'
  /** maxPublishRate: reading from a client paused because its PUBLISH budget ran out. */
  | 'publishRate'
  /** maxPublishBytesRate: reading paused because its byte budget ran out. */
  | 'publishBytesRate'
  /** Our Receive Maximum: a client with more unacknowledged QoS 1/2 PUBLISH than allowed (0x93). */
  | 'receiveMaximum'
  /** maxInflightMessages: a QoS 1/2 message to a client waited because its in-flight window was full. */
  | 'maxInflightMessages'
  /** The client's Maximum Packet Size is smaller than the slimmest CONNACK: closed at once [MQTT-3.1.2-24]. */
  | 'connackTooLarge'
  /** mqttTopicAliasMaximum: a PUBLISH with a Topic Alias of 0 or above the maximum (DISCONNECT 0x94). */
  | 'topicAliasMaximum'
  /** maxUserProperties / maxUserPropertyBytes: a packet with too many or too large User Properties (0x97). */
  | 'maxUserProperties'
  /** maxClientMemory: a connection holding more than its memory budget (DISCONNECT 0x97). */
  | 'maxClientMemory'
  /** maxRetainedMessages: a retained message on a new topic not kept (also a `retainedLimit` drop). */
  | 'maxRetainedMessages'
  /** maxRetainedBytes: a retained message not kept because the store would grow past its bytes. */
  | 'maxRetainedBytes'
  /** maxSessions: a CONNECT that would start a new session refused (CONNACK 0x97 / 0x03). */
  | 'maxSessions'
  /** maxSessionBytesTotal: a subscription (SUBACK 0x97 / 0x80) or a CONNECT (0x97 / 0x03) refused. */
  | 'maxSessionBytesTotal'
  /**
   * A new subscription got fewer retained messages than match it: its session's queue (QoS 1/2) or
   * its connection's outgoing buffer (maxOutgoingBytes, QoS 0) could take no more.
   */
  | 'retainedCopies';

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
    queueRefused: 0,
    queueBudget: 0,
    backPressureTimeout: 0,
    expired: 0,
    retainedLimit: 0,
    tooLarge: 0,
    slowConsumer: 0,
    notAuthorized: 0,
    topicLimit: 0,
    sessionEnded: 0,
  };
  /** Connections refused at accept time, both causes (`limits` tells them apart). */
  connectionsRefused = 0;
  readonly limits: Record<LimitReason, number> = {
    maxConnections: 0,
    maxConnectionsPerAddress: 0,
    connectTimeout: 0,
    packetTooLarge: 0,
    maxSubscriptions: 0,
    subscribeTopicLimit: 0,
    publishRate: 0,
    publishBytesRate: 0,
    receiveMaximum: 0,
    maxInflightMessages: 0,
    connackTooLarge: 0,
    topicAliasMaximum: 0,
    maxUserProperties: 0,
    maxClientMemory: 0,
    maxRetainedMessages: 0,
    maxRetainedBytes: 0,
    maxSessions: 0,
    maxSessionBytesTotal: 0,
    retainedCopies: 0,
  };
  /** Connections closed because their outgoing buffer stayed full. */
  slowConsumersDisconnected = 0;
  /** Connections ended by the fault barrier: something threw while serving them (channel.ts fault). */
  connectionFaults = 0;

  dropped(reason: DropReason, count = 1): void {
    this.drops[reason] += count;
  }

  limitHit(reason: LimitReason): void {
    this.limits[reason]++;
  }

  /** A connection refused at accept time; the total stays for $SYS and older dashboards. */
  refused(limit: 'maxConnections' | 'maxConnectionsPerAddress'): void {
    this.connectionsRefused++;
    this.limits[limit]++;
  }
}
