// Limits on what one client sends: topics (so it cannot exhaust the topic tree with huge or deep
// names), User Properties per packet, and the bytes a decoded packet holds while it waits.
import type { ChannelLimits } from './context.js';
import type { Packet, UserProperty } from '../protocol/packets.js';
import { topicLimitBroken } from './topic-rules.js';

/** True when the topic name or filter is within the configured length and depth. */
export function withinTopicLimits(topic: string, limits: ChannelLimits): boolean {
  return topicLimitBroken(topic, limits) === undefined;
}

/**
 * Why a packet's User Properties are over the configured limits (count, or bytes of names and
 * values; a CONNECT's will counted with it), or undefined when they are within them.
 */
export function userPropertiesOver(packet: Packet, limits: ChannelLimits): string | undefined {
  const own = 'properties' in packet ? packet.properties?.userProperties : undefined;
  const will = packet.type === 'connect' ? packet.will?.properties?.userProperties : undefined;
  if (!own && !will) return undefined;
  const count = (own?.length ?? 0) + (will?.length ?? 0);
  if (count > limits.maxUserProperties) return `${count} user properties; at most ${limits.maxUserProperties} are accepted`;
  const bytes = utf8Bytes(own) + utf8Bytes(will);
  if (bytes > limits.maxUserPropertyBytes) return `user properties of ${bytes} bytes; at most ${limits.maxUserPropertyBytes} are accepted`;
  return undefined;
}

function utf8Bytes(list: UserProperty[] | undefined): number {
  let n = 0;
  for (const [k, v] of list ?? []) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** A rough count of the bytes a decoded packet holds, for the connection's memory budget. */
export function packetFootprint(packet: Packet): number {
  const OVERHEAD = 64;
  switch (packet.type) {
    case 'publish':
      return OVERHEAD + packet.payload.length + 2 * packet.topic.length;
    case 'subscribe':
      return packet.subscriptions.reduce((n, s) => n + OVERHEAD + 2 * s.filter.length, OVERHEAD);
    case 'unsubscribe':
      return packet.filters.reduce((n, f) => n + OVERHEAD + 2 * f.length, OVERHEAD);
    default:
      return OVERHEAD;
  }
}
