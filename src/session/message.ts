// Turning an incoming PUBLISH into a stored application message.
import { randomBytes } from 'node:crypto';
import type { Properties, PublishPacket, Will } from '../protocol/packets.js';
import type { StoredMessage } from '../store/ports.js';
import { propertiesSize } from '../protocol/properties.js';

/**
 * What a message holds, counted the same way on every node and after a restart: its topic (UTF-8),
 * payload and properties as a PUBLISH would carry them (maxRetainedBytes, and a will in
 * maxSessionBytesTotal).
 */
export function messageBytes(m: StoredMessage): number {
  return Buffer.byteLength(m.topic, 'utf8') + m.payload.length + propertiesSize(m.properties, 'publish');
}

/**
 * What one queue entry holds, against maxQueuedBytes and maxQueuedBytesTotal and in the figures
 * that report them (starling_queued_bytes, $SYS messages/queued/bytes): its topic in UTF-8 bytes and
 * its payload. Until 2026-12-08 the topic was counted in UTF-16 units (`topic.length`), so a figure
 * named bytes was short by one for every 'ö' and by two for every '温' of a queued topic. About 40 ns
 * for a 50-character topic: the publish path works it out once per message, not per subscriber
 * (EnqueueOptions.bytes).
 */
export function entryBytes(m: Pick<StoredMessage, 'topic' | 'payload'>): number {
  return Buffer.byteLength(m.topic, 'utf8') + m.payload.length;
}

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

/** Bytes a kept view may hold beyond itself: the rest of its own packet (topic, properties), no more. */
const VIEW_SLACK = 4096;

/**
 * A Buffer a message may keep: the view itself when the memory behind it is not much larger (a
 * packet that arrived in pieces fills a buffer of its own size: a 900 KiB payload is then kept
 * without a second 900 KiB), otherwise a copy, so a small payload never pins a whole read chunk.
 */
export function keepable(b: Buffer): Buffer {
  return b.buffer.byteLength <= b.length + VIEW_SLACK ? b : Buffer.from(b);
}

function makeMessage(ids: MessageIds, src: MessageSource, topic: string, publisherId: string, now: number, copy: boolean): StoredMessage {
  const m: StoredMessage = {
    id: ids.next(),
    topic,
    payload: copy ? keepable(src.payload) : src.payload,
    qos: src.qos,
    retain: src.retain,
    createdAt: now,
    publisherId,
  };
  const props = forwardedProperties(src.properties);
  // Correlation Data is a view into the read buffer too: kept the same way as the payload.
  if (props?.correlationData && copy) props.correlationData = keepable(props.correlationData);
  if (props) m.properties = props;
  const expiry = src.properties?.messageExpiryInterval;
  if (expiry !== undefined) m.expiresAt = now + expiry * 1000;
  return m;
}

/**
 * Whether a message may outlive the turn it arrives in (queued, in flight, retained): QoS 1 or 2, or
 * retained. One that does not (QoS 0, not retained) is written out or dropped in that turn, is never
 * stored, acknowledged or deduplicated, and may keep views of its read buffer.
 */
export const outlivesTurn = (m: { qos: number; retain: boolean }): boolean => m.qos > 0 || m.retain;

/**
 * Decoded payloads are views into the socket's read buffer; a message that outlives this turn
 * (queued, in flight, retained) keeps its own copy (or a view of a buffer no larger than its packet)
 * so it does not pin a whole chunk in memory. Nothing writes into these Buffers afterwards: payloads
 * are immutable throughout the broker (the memory store shares them, store/clone.ts).
 */
export function messageFromPublish(ids: MessageIds, packet: PublishPacket, topic: string, publisherId: string, now: number): StoredMessage {
  return makeMessage(ids, packet, topic, publisherId, now, outlivesTurn(packet));
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
