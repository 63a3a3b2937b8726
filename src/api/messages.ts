// Messages between the library's shape (Message) and the broker's (StoredMessage), with the checks
// an MQTT client's PUBLISH gets: topic syntax and limits, QoS, UTF-8 payloads marked as such.
import type { StoredMessage } from '../store/ports.js';
import type { Properties, PublishPacket } from '../protocol/packets.js';
import { isWellFormedUtf8 } from '../protocol/utf8.js';
import { remainingExpiry } from '../session/message.js';
import { publishTopicRefusal } from '../channel/topic-rules.js';
import type { ChannelLimits } from '../channel/context.js';
import type { Message, MessageProperties, QoS } from './types.js';

/** The library's view of a stored message (properties copied, so a hook cannot change the broker's). */
export function publicMessage(m: StoredMessage, now: number, retain = m.retain): Message {
  const out: Message = { topic: m.topic, payload: m.payload, qos: m.qos, retain };
  const props = publicProperties(m.properties, remainingExpiry(m, now));
  if (props) out.properties = props;
  return out;
}

/** A client's PUBLISH (or will) as the library sees it, before the broker made a message of it. */
export function packetMessage(packet: Pick<PublishPacket, 'payload' | 'qos' | 'retain' | 'properties'>, topic: string): Message {
  const out: Message = { topic, payload: packet.payload, qos: packet.qos, retain: packet.retain };
  const props = publicProperties(packet.properties, packet.properties?.messageExpiryInterval);
  if (props) out.properties = props;
  return out;
}

function publicProperties(p: Properties | undefined, expiry: number | undefined): MessageProperties | undefined {
  if (!p && expiry === undefined) return undefined;
  const props: MessageProperties = {};
  if (p?.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = p.payloadFormatIndicator as 0 | 1;
  if (p?.contentType !== undefined) props.contentType = p.contentType;
  if (p?.responseTopic !== undefined) props.responseTopic = p.responseTopic;
  if (p?.correlationData !== undefined) props.correlationData = p.correlationData;
  if (p?.userProperties !== undefined) props.userProperties = p.userProperties.map(([k, v]) => [k, v]);
  if (expiry !== undefined) props.messageExpiryInterval = expiry;
  return props;
}

type Limits = Pick<ChannelLimits, 'maxTopicLength' | 'maxTopicLevels'>;

/**
 * A message from the application (broker.publish, or an interceptor's answer) as the broker stores
 * it; throws a TypeError naming what is wrong.
 */
export function storedMessage(m: Message, limits: Limits, id: string, now: number, publisherId?: string): StoredMessage {
  if (typeof m !== 'object' || m === null) throw new TypeError('a message is an object { topic, payload, qos, retain }');
  validateTopic(m.topic, limits);
  const payload = toBuffer(m.payload);
  const qos = m.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`qos must be 0, 1 or 2, not ${String(qos)}`);
  const out: StoredMessage = { id, topic: m.topic, payload, qos: qos as QoS, retain: m.retain === true, createdAt: now };
  if (publisherId !== undefined) out.publisherId = publisherId;
  const props = m.properties;
  if (props) {
    const p: Properties = {};
    if (props.payloadFormatIndicator !== undefined) {
      if (props.payloadFormatIndicator !== 0 && props.payloadFormatIndicator !== 1) throw new TypeError('payloadFormatIndicator must be 0 or 1');
      // A payload marked as UTF-8 must be UTF-8, as for a client's PUBLISH (3.3.2.3.2).
      if (props.payloadFormatIndicator === 1 && !isWellFormedUtf8(payload)) throw new TypeError('the payload is marked as UTF-8 (payloadFormatIndicator 1) but is not');
      p.payloadFormatIndicator = props.payloadFormatIndicator;
    }
    if (props.contentType !== undefined) p.contentType = String(props.contentType);
    if (props.responseTopic !== undefined) {
      validateTopic(props.responseTopic, limits);
      p.responseTopic = props.responseTopic;
    }
    if (props.correlationData !== undefined) p.correlationData = toBuffer(props.correlationData);
    if (props.userProperties !== undefined) {
      if (!Array.isArray(props.userProperties) || !props.userProperties.every((u) => Array.isArray(u) && u.length === 2 && typeof u[0] === 'string' && typeof u[1] === 'string')) {
        throw new TypeError('userProperties must be [key, value] pairs of strings');
      }
      p.userProperties = props.userProperties.map(([k, v]) => [k, v]);
    }
    const expiry = props.messageExpiryInterval;
    if (expiry !== undefined) {
      if (!Number.isInteger(expiry) || expiry < 0 || expiry > 0xffffffff) throw new TypeError('messageExpiryInterval must be whole seconds, 0 to 4294967295');
      out.expiresAt = now + expiry * 1000;
    }
    if (Object.keys(p).length > 0) out.properties = p;
  }
  return out;
}

/** The same check as a topic in a client's PUBLISH and the admin API's (channel/topic-rules.ts). */
export function validateTopic(topic: unknown, limits: Limits): asserts topic is string {
  if (typeof topic !== 'string') throw new TypeError('the topic must be a string');
  const refused = publishTopicRefusal(topic, limits);
  if (refused) throw new TypeError(`topic refused (${refused.rule}): ${refused.message}`);
}

function toBuffer(payload: unknown): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload instanceof Uint8Array) return Buffer.from(payload);
  if (payload === undefined || payload === null) return Buffer.alloc(0);
  throw new TypeError('the payload must be a Buffer, a Uint8Array or a string');
}
