// Turning an incoming PUBLISH into a stored application message.
import { randomBytes } from 'node:crypto';
import type { Properties, PublishPacket, Will } from '../protocol/packets.js';
import type { StoredMessage } from '../store/ports.js';

/** Properties the server forwards unaltered [MQTT-3.3.2-4, MQTT-3.3.2-17, MQTT-3.3.2-20]. */
export function forwardedProperties(p: Properties | undefined): Properties | undefined {
  if (!p) return undefined;
  const out: Properties = {};
  let any = false;
  if (p.payloadFormatIndicator !== undefined) ((out.payloadFormatIndicator = p.payloadFormatIndicator), (any = true));
  if (p.contentType !== undefined) ((out.contentType = p.contentType), (any = true));
  if (p.responseTopic !== undefined) ((out.responseTopic = p.responseTopic), (any = true));
  if (p.correlationData !== undefined) ((out.correlationData = p.correlationData), (any = true));
  if (p.userProperties !== undefined) ((out.userProperties = p.userProperties), (any = true));
  return any ? out : undefined;
}

/** Unique message ids: a random per-process prefix and a counter (unique across restarts). */
export class MessageIds {
  private readonly prefix = randomBytes(6).toString('hex');
  private n = 0;
  next(): string {
    return `${this.prefix}-${(this.n++).toString(36)}`;
  }
}

/** What a PUBLISH and a will have in common. */
type MessageSource = Pick<PublishPacket, 'payload' | 'qos' | 'retain' | 'properties'>;

function makeMessage(ids: MessageIds, src: MessageSource, topic: string, publisherId: string, now: number, copy: boolean): StoredMessage {
  const m: StoredMessage = {
    id: ids.next(),
    topic,
    payload: copy ? Buffer.from(src.payload) : src.payload,
    qos: src.qos,
    retain: src.retain,
    createdAt: now,
    publisherId,
  };
  const props = forwardedProperties(src.properties);
  // Correlation Data is a view into the read buffer too: copied with the payload, for the same reason.
  if (props?.correlationData && copy) props.correlationData = Buffer.from(props.correlationData);
  if (props) m.properties = props;
  const expiry = src.properties?.messageExpiryInterval;
  if (expiry !== undefined) m.expiresAt = now + expiry * 1000;
  return m;
}

/**
 * Decoded payloads are views into the socket's read buffer; a message that outlives this turn
 * (queued, in flight, retained) gets its own copy so it does not pin a whole chunk in memory.
 */
export function messageFromPublish(ids: MessageIds, packet: PublishPacket, topic: string, publisherId: string, now: number): StoredMessage {
  return makeMessage(ids, packet, topic, publisherId, now, packet.qos > 0 || packet.retain);
}

/** A will lives as long as the connection (or longer): always copied. */
export function messageFromWill(ids: MessageIds, will: Will, publisherId: string, now: number): StoredMessage {
  return makeMessage(ids, will, will.topic, publisherId, now, true);
}

/** Seconds left before a message expires, at least 1 while it is still deliverable [MQTT-3.3.2-6]. */
export function remainingExpiry(m: StoredMessage, now: number): number | undefined {
  if (m.expiresAt === undefined) return undefined;
  return Math.max(1, Math.ceil((m.expiresAt - now) / 1000));
}
