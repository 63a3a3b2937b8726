// The packet model: one tagged union keyed on `type`, so every dispatch table is checked by the
// compiler for a missed packet type. Field names are the broker's own; the codec maps them to bytes.
import type { ProtocolVersion, QoS } from './constants.js';

/** A user property pair. Order and duplicates are significant [MQTT-3.3.2-18]. */
export type UserProperty = [key: string, value: string];

/**
 * Every MQTT 5 property, by its meaning. Which ones a packet may carry is enforced by the
 * properties table in the codec; an unknown or misplaced property is a malformed packet.
 */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01
  messageExpiryInterval?: number; // 0x02
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Buffer; // 0x09
  /** 0x0B. PUBLISH may carry several; SUBSCRIBE carries at most one. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13
  authenticationMethod?: string; // 0x15
  authenticationData?: Buffer; // 0x16
  requestProblemInformation?: number; // 0x17
  willDelayInterval?: number; // 0x18
  requestResponseInformation?: number; // 0x19
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21
  topicAliasMaximum?: number; // 0x22
  topicAlias?: number; // 0x23
  maximumQoS?: number; // 0x24
  retainAvailable?: number; // 0x25
  userProperties?: UserProperty[]; // 0x26
  maximumPacketSize?: number; // 0x27
  wildcardSubscriptionAvailable?: number; // 0x28
  subscriptionIdentifiersAvailable?: number; // 0x29
  sharedSubscriptionAvailable?: number; // 0x2A
}

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties (will delay, expiry, content type, ...). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: 'connect';
  /** 'MQIsdp' for 3.1, 'MQTT' for 3.1.1 and 5.0. */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.x) / Clean Start (5.0). */
  clean: boolean;
  keepalive: number;
  clientId: string;
  username?: string;
  password?: Buffer;
  will?: Will;
  properties?: Properties;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** MQTT 5 reason code, or the MQTT 3.x return code when encoded for 3.x. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: 'publish';
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present exactly when qos > 0 [MQTT-2.2.1-2]. */
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface AckPacket<T extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'> {
  type: T;
  packetId: number;
  /** MQTT 5 only; omitted (or 0) means Success. */
  reasonCode?: number;
  properties?: Properties;
}
export type PubackPacket = AckPacket<'puback'>;
export type PubrecPacket = AckPacket<'pubrec'>;
export type PubrelPacket = AckPacket<'pubrel'>;
export type PubcompPacket = AckPacket<'pubcomp'>;

export interface SubscriptionRequest {
  filter: string;
  qos: QoS;
  /** MQTT 5 subscription options; false/0 for 3.x. */
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties?: Properties;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** Granted QoS (0..2) or a failure code (0x80 in 3.1.1; any v5 code). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  filters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** MQTT 5 only: one per filter. */
  reasonCodes?: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: 'pingreq';
}
export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  /** MQTT 5 only; omitted means Normal disconnection. */
  reasonCode?: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: 'auth';
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** Narrow the union by its tag: `PacketOf<'publish'>` is `PublishPacket`. */
export type PacketOf<T extends Packet['type']> = Extract<Packet, { type: T }>;
