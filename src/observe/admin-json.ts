// The admin API's JSON shapes: messages out, publish requests in (validated field by field, so a
// bad request is answered with what is wrong rather than reaching the broker).
import type { QoS } from '../protocol/constants.js';
import type { Properties, UserProperty } from '../protocol/packets.js';
import { isSysTopic } from '../hooks/hooks.js';
import { publishTopicRefusal, type TopicLimits } from '../channel/topic-rules.js';
import { encode } from '../protocol/codec.js';
import type { StoredMessage } from '../store/ports.js';
import { HttpError } from './http-util.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The payload as text when it is valid UTF-8, else undefined. */
export function payloadText(payload: Buffer): string | undefined {
  try {
    return utf8.decode(payload);
  } catch {
    return undefined;
  }
}

export interface MessageJson {
  topic: string;
  qos: number;
  size: number;
  /** The payload as text when it is valid UTF-8 (truncated in listings; see `truncated`). */
  payloadText?: string;
  truncated?: boolean;
  /** The whole payload, base64 (single-message answers only). */
  payloadBase64?: string;
  createdAt: string;
  expiresAt?: string;
  properties?: Record<string, unknown>;
}

export function messageJson(m: StoredMessage, full: boolean, previewChars = 200): MessageJson {
  const out: MessageJson = { topic: m.topic, qos: m.qos, size: m.payload.length, createdAt: new Date(m.createdAt).toISOString() };
  const text = payloadText(m.payload);
  if (text !== undefined) {
    if (!full && text.length > previewChars) {
      out.payloadText = text.slice(0, previewChars);
      out.truncated = true;
    } else out.payloadText = text;
  }
  if (full) out.payloadBase64 = m.payload.toString('base64');
  if (m.expiresAt !== undefined) out.expiresAt = new Date(m.expiresAt).toISOString();
  const p = m.properties;
  if (p) {
    const props: Record<string, unknown> = {};
    if (p.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = p.payloadFormatIndicator;
    if (p.contentType !== undefined) props.contentType = p.contentType;
    if (p.responseTopic !== undefined) props.responseTopic = p.responseTopic;
    if (p.correlationData !== undefined) props.correlationDataBase64 = p.correlationData.toString('base64');
    if (p.userProperties !== undefined) props.userProperties = p.userProperties;
    out.properties = props;
  }
  return out;
}

const bad = (msg: string): HttpError => new HttpError(400, msg);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodePayload(text: string, encoding: unknown): Buffer {
  switch (encoding ?? 'utf8') {
    case 'utf8':
      return Buffer.from(text, 'utf8');
    case 'base64':
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw bad('payload is not valid base64');
      return Buffer.from(text, 'base64');
    case 'hex': {
      const compact = text.replace(/\s+/g, '');
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(compact)) throw bad('payload is not valid hex (pairs of 0-9a-f)');
      return Buffer.from(compact, 'hex');
    }
    default:
      throw bad('encoding must be "utf8", "base64" or "hex"');
  }
}

/**
 * A topic name checked exactly as a PUBLISH's is (channel/topic-rules.ts), with the configured
 * limits when given (a Response Topic has none); a broken rule is a 400 naming it.
 */
export function topicName(value: unknown, field: string, limits?: TopicLimits): string {
  if (typeof value !== 'string') throw bad(`${field} must be a string`);
  const refused = publishTopicRefusal(value, limits);
  if (refused) throw new HttpError(400, `${field}: ${refused.message}`, {}, { rule: refused.rule });
  return value;
}

/**
 * A topic an admin request publishes to or clears: the MQTT rules (topicName), and not the `$SYS`
 * tree, which belongs to the broker (a message, or a cleared value, there would mislead dashboards).
 */
export function adminTopic(value: unknown, field: string, limits?: TopicLimits): string {
  const topic = topicName(value, field, limits);
  if (isSysTopic(topic)) throw new HttpError(400, `${field}: $SYS topics are published by the broker only`, {}, { rule: 'sysTopic' });
  return topic;
}

function userProperties(value: unknown): UserProperty[] {
  const pairs: unknown[] = Array.isArray(value) ? value : isObject(value) ? Object.entries(value) : [];
  if (!Array.isArray(value) && !isObject(value)) throw bad('properties.userProperties must be an object or [key, value] pairs');
  return pairs.map((p) => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') {
      throw bad('each user property is a [string, string] pair');
    }
    return [p[0], p[1]] as UserProperty;
  });
}

function properties(value: unknown, now: number): { properties?: Properties; expiresAt?: number } {
  if (value === undefined) return {};
  if (!isObject(value)) throw bad('properties must be an object');
  const p: Properties = {};
  let expiresAt: number | undefined;
  for (const [key, v] of Object.entries(value)) {
    switch (key) {
      case 'contentType':
        if (typeof v !== 'string') throw bad('properties.contentType must be a string');
        p.contentType = v;
        break;
      case 'payloadFormatIndicator':
        if (v !== 0 && v !== 1) throw bad('properties.payloadFormatIndicator must be 0 or 1');
        p.payloadFormatIndicator = v;
        break;
      case 'responseTopic':
        p.responseTopic = topicName(v, 'properties.responseTopic');
        break;
      case 'correlationData':
        if (typeof v !== 'string') throw bad('properties.correlationData must be a base64 string');
        p.correlationData = decodePayload(v, 'base64');
        break;
      case 'userProperties':
        p.userProperties = userProperties(v);
        break;
      case 'messageExpiryInterval':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
          throw bad('properties.messageExpiryInterval must be whole seconds, 0 to 4294967295');
        }
        expiresAt = now + v * 1000;
        break;
      default:
        throw bad(`unknown property "${key}"`);
    }
  }
  return { ...(Object.keys(p).length > 0 ? { properties: p } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** Builds the message of a POST /api/v1/publish body; throws HttpError 400 on any invalid field. */
/** What an admin publish meets: the topic limits and the largest packet a client may send. */
export type PublishLimits = TopicLimits & { readonly maxPacketSize: number };

export function messageFromRequest(body: unknown, id: string, now: number, limits: PublishLimits): StoredMessage {
  if (!isObject(body)) throw bad('body must be a JSON object');
  const topic = adminTopic(body.topic, 'topic', limits);
  const payloadValue = body.payload ?? '';
  if (typeof payloadValue !== 'string') throw bad('payload must be a string (see encoding)');
  const payload = decodePayload(payloadValue, body.encoding);
  const qos = body.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw bad('qos must be 0, 1 or 2');
  const retain = body.retain ?? false;
  if (typeof retain !== 'boolean') throw bad('retain must be true or false');
  for (const key of Object.keys(body)) {
    if (!['topic', 'payload', 'encoding', 'qos', 'retain', 'properties'].includes(key)) throw bad(`unknown field "${key}"`);
  }
  const { properties: props, expiresAt } = properties(body.properties, now);
  const m: StoredMessage = { id, topic, payload, qos: qos as QoS, retain, createdAt: now };
  if (props) m.properties = props;
  if (expiresAt !== undefined) m.expiresAt = expiresAt;
  // No bigger than a client could publish (mqttMessageMaxLength), measured as the MQTT 5 PUBLISH.
  const size = encode({ type: 'publish', topic, payload, qos: m.qos, retain, dup: false, ...(m.qos > 0 ? { packetId: 1 } : {}), ...(props ? { properties: props } : {}) }, 5).length;
  if (size > limits.maxPacketSize) {
    throw new HttpError(400, `message is a ${size}-byte PUBLISH; clients may send at most ${limits.maxPacketSize} (mqttMessageMaxLength)`, {}, { rule: 'mqttMessageMaxLength' });
  }
  return m;
}
