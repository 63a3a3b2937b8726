// What travels between nodes besides the batches of ../batch-frame.ts: a message as NATS headers plus
// the raw payload (retained messages on the retain subjects, and QoS 1/2 messages in the durable
// stream of persistence=nats), and the small JSON bodies of claims and heartbeats.
//
// Message headers (values are printable ASCII: strings are escaped like subject tokens, %XX of UTF-8):
//   Starling-Format: 1            layout of these headers; a node refuses formats it does not know
//   Starling-Origin: <node id>    the publishing node (a node ignores its own plain forwards)
//   Starling-Id, -Topic           escaped strings (the subject may be hashed or the bare root, so the
//                                 topic always travels in full)
//   Starling-QoS, -Retain         0|1|2, 0|1
//   Starling-Created, -Expires    milliseconds since the epoch (Expires only with an expiry)
//   Starling-Publisher            escaped client id, for No Local on the receiving node [MQTT-3.8.3-3]
//   Starling-Properties           base64url of the JSON of the MQTT 5 properties (Buffers kept,
//                                 user properties in order, see store/json.ts)
// The payload is the message body, untouched: no base64 inflation on the hot path.
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { QoS } from '../../protocol/constants.js';
import type { Properties } from '../../protocol/packets.js';
import type { StoredMessage } from '../../store/ports.js';
import { decodeJson, encodeJson } from '../../store/json.js';
import { validateMessage } from '../../store/validate.js';
import { escapeLevel, isNodeId, unescapeLevel } from './subjects.js';
import { checkedProperties } from '../batch-frame.js';
import { stringRefusal, topicRefusal } from '../peer-fields.js';

export const WIRE_FORMAT = '1';

export const H = {
  format: 'Starling-Format',
  origin: 'Starling-Origin',
  id: 'Starling-Id',
  topic: 'Starling-Topic',
  qos: 'Starling-QoS',
  retain: 'Starling-Retain',
  created: 'Starling-Created',
  expires: 'Starling-Expires',
  publisher: 'Starling-Publisher',
  properties: 'Starling-Properties',
  leave: 'Starling-Leave',
} as const;

/** Headers for a message forwarded by node `origin`. */
export function messageHeaders(message: StoredMessage, origin: string): MsgHdrs {
  const h = headers();
  h.set(H.format, WIRE_FORMAT);
  h.set(H.origin, origin);
  h.set(H.id, escapeLevel(message.id));
  h.set(H.topic, escapeLevel(message.topic));
  h.set(H.qos, String(message.qos));
  h.set(H.retain, message.retain ? '1' : '0');
  h.set(H.created, String(message.createdAt));
  if (message.expiresAt !== undefined) h.set(H.expires, String(message.expiresAt));
  if (message.publisherId !== undefined) h.set(H.publisher, escapeLevel(message.publisherId));
  if (message.properties !== undefined) h.set(H.properties, Buffer.from(encodeJson(message.properties), 'utf8').toString('base64url'));
  return h;
}

interface HeaderReader {
  get(k: string): string;
  has(k: string): boolean;
}

const int = (text: string, name: string): number => {
  if (!/^-?\d{1,16}$/.test(text)) throw new Error(`${name} is not an integer`);
  return Number(text);
};

/** The message a node received; throws an Error saying what is wrong with a malformed one. */
export function decodeMessage(h: HeaderReader | undefined, data: Uint8Array): { origin: string; message: StoredMessage } {
  if (!h) throw new Error('no headers');
  const format = h.get(H.format);
  if (format !== WIRE_FORMAT) throw new Error(`unknown wire format ${JSON.stringify(format)}`);
  const qos = Number(h.get(H.qos));
  const message: StoredMessage = {
    id: unescapeLevel(h.get(H.id)),
    topic: unescapeLevel(h.get(H.topic)),
    // Copied: the received bytes belong to the NATS client's read buffer.
    payload: Buffer.from(data),
    qos: qos as QoS,
    retain: h.get(H.retain) === '1',
    createdAt: int(h.get(H.created), H.created),
  };
  if (h.has(H.expires)) message.expiresAt = int(h.get(H.expires), H.expires);
  if (h.has(H.publisher)) message.publisherId = unescapeLevel(h.get(H.publisher));
  if (h.has(H.properties)) {
    // As a PUBLISH to a client carries them, or refused here (never in a subscriber's connection).
    message.properties = checkedProperties(decodeJson<Properties>(Buffer.from(h.get(H.properties), 'base64url').toString('utf8')));
  }
  const why =
    validateMessage(message) ??
    topicRefusal(message.topic) ??
    stringRefusal(message.id, 'message id') ??
    (message.publisherId === undefined ? undefined : stringRefusal(message.publisherId, 'publisher'));
  if (why) throw new Error(why);
  const origin = h.get(H.origin);
  if (!isNodeId(origin)) throw new Error('no origin, or not a node id');
  return { origin, message };
}

/** A takeover claim: the client id and when (origin's clock) the client connected. */
export interface Claim {
  clientId: string;
  at: number;
}

export const encodeClaim = (c: Claim): Uint8Array => Buffer.from(JSON.stringify(c), 'utf8');

/** A claim read from another node; throws on a malformed one (a client id no CONNECT could carry). */
export function decodeClaim(data: Uint8Array): Claim {
  const c = JSON.parse(Buffer.from(data).toString('utf8')) as Claim;
  if (typeof c !== 'object' || c === null || stringRefusal(c.clientId, 'client id') !== undefined || !Number.isSafeInteger(c.at) || c.at < 0) throw new Error('malformed claim');
  return { clientId: c.clientId, at: c.at };
}

/**
 * Version of the cluster protocol: the layout of every frame nodes exchange (batches, interest,
 * claims, durable messages). Two nodes of different versions read none of each other's frames.
 * 1: before the batch frames (heartbeats without `iv` or `wire`); 2: the batch frames; 3: batch
 * frames whose strings may refer back to the entry before (batch-frame.ts, version 2). Raised with
 * any change a node of the version before would misread.
 */
export const WIRE_VERSION = 3;

/** The protocol version a heartbeat's node speaks (one of version 1 names none). */
export const wireOf = (hb: Heartbeat): number => hb.wire ?? (hb.iv === undefined ? 1 : 2);

/** A heartbeat: a node says it is alive, and how often it will say so. */
export interface Heartbeat {
  node: string;
  /** Random per start: two processes configured with one node id tell each other apart by it. */
  instance: string;
  intervalMs: number;
  startedAt: number;
  /** Version of the node's interest (interest.ts): a node that knows an older one asks for it. */
  iv?: number;
  /** The cluster protocol version the node speaks (WIRE_VERSION); absent from version 1 and 2 nodes that predate it. */
  wire?: number;
}

export const encodeHeartbeat = (b: Heartbeat): Uint8Array => Buffer.from(JSON.stringify(b), 'utf8');

/**
 * The heartbeat periods a node may announce: those `clusterHeartbeatMs` allows (config/schema.ts).
 * A peer's period sets when it counts as lost: 0 would have it lost at once (and adopted, with
 * persistence=nats), 1e12 never.
 */
export const HEARTBEAT_MIN_MS = 100;
export const HEARTBEAT_MAX_MS = 60_000;

/** A node's instance: random per start (16 hex digits from this version; any short token is taken). */
const INSTANCE = /^[A-Za-z0-9_-]{1,64}$/;
export const isInstance = (x: unknown): x is string => typeof x === 'string' && INSTANCE.test(x);

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** A heartbeat read from another node; throws on a malformed one, whose every field is checked before use. */
export function decodeHeartbeat(data: Uint8Array): Heartbeat {
  const b = JSON.parse(Buffer.from(data).toString('utf8')) as Heartbeat;
  if (
    typeof b !== 'object' ||
    b === null ||
    !isNodeId(b.node) ||
    !isInstance(b.instance) ||
    !Number.isSafeInteger(b.intervalMs) ||
    b.intervalMs < HEARTBEAT_MIN_MS ||
    b.intervalMs > HEARTBEAT_MAX_MS ||
    !isCount(b.startedAt) ||
    (b.iv !== undefined && !isCount(b.iv)) ||
    (b.wire !== undefined && !(Number.isSafeInteger(b.wire) && b.wire >= 1))
  ) {
    throw new Error('malformed heartbeat');
  }
  const hb: Heartbeat = { node: b.node, instance: b.instance, intervalMs: b.intervalMs, startedAt: b.startedAt };
  if (b.iv !== undefined) hb.iv = b.iv;
  if (b.wire !== undefined) hb.wire = b.wire;
  return hb;
}
