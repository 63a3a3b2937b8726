// What another node sends (or anything that can publish on the cluster's subjects: NATS credentials
// are the trust boundary, see docs/clustering.md) is read as a client's packet is: every string is
// checked against what MQTT allows it before this node keeps it, routes it or sends it to a client,
// so no peer message makes this node send its clients what the protocol forbids (a wildcard in a
// PUBLISH's topic [MQTT-3.3.2-2], a string over 65,535 bytes [MQTT-1.5.4-1]) or hold a string no
// client could have made.
import { MAX_FIELD_LENGTH } from '../protocol/bytes.js';
import { parseSharedFilter } from '../protocol/topic.js';
import { isWellFormedString } from '../protocol/utf8.js';
import type { StoredMessage } from '../store/ports.js';
import { isNodeLocalTopic } from './retained-copy.js';

const PLUS = 0x2b;
const HASH = 0x23;

/** Why `s` cannot be an MQTT string (UTF-8 of at most 65,535 bytes, no lone surrogate), or undefined. */
export function stringRefusal(s: unknown, what: string): string | undefined {
  if (typeof s !== 'string') return `${what} is not a string`;
  if (s.length > MAX_FIELD_LENGTH || Buffer.byteLength(s, 'utf8') > MAX_FIELD_LENGTH) return `${what} is over ${MAX_FIELD_LENGTH} bytes`;
  if (!isWellFormedString(s)) return `${what} is not well-formed text`;
  return undefined;
}

/** Why `topic` cannot be a PUBLISH's topic name (its length aside: see stringRefusal), or undefined. */
function topicCharsRefusal(topic: string): string | undefined {
  if (topic.length === 0) return 'empty topic name';
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return 'wildcard in a topic name';
    if (c === 0) return 'U+0000 in a topic name';
  }
  return undefined;
}

/**
 * Why `topic` cannot be the topic of a message from another node, or undefined: a PUBLISH's topic
 * name, and not a `$SYS/` one. Each node keeps its own `$SYS` tree and never forwards it, so no node
 * sends one; taken in, a peer's retained `$SYS` message would have passed as the broker's own, which
 * the retained budget always admits (a peer could grow the index without bound and overwrite this
 * node's figures).
 */
export const topicRefusal = (topic: unknown): string | undefined =>
  stringRefusal(topic, 'topic') ?? topicCharsRefusal(topic as string) ?? (isNodeLocalTopic(topic as string) ? 'a $SYS topic (each node keeps its own)' : undefined);

/** Whether `filter` (with a share `group`, or null) is one a client could have subscribed to. */
export function isSubscribable(filter: unknown, group: unknown): boolean {
  if (typeof filter !== 'string' || (group !== null && typeof group !== 'string')) return false;
  const full = group === null ? filter : `$share/${group}/${filter}`;
  if (stringRefusal(full, 'filter') !== undefined || full.includes('\0')) return false;
  try {
    const shared = parseSharedFilter(group === null ? `$share/x/${filter}` : full);
    return shared !== undefined && shared.filter === filter && (group === null || shared.group === group);
  } catch {
    return false;
  }
}

/**
 * Why the messages of a batch from another node (../batch-frame.ts, which carries any string) cannot
 * all be routed here, or undefined. A string is checked where it is new in the batch: a
 * back-reference reads as the same string object as the entry before's, so a run of one topic costs
 * one check.
 */
export function batchRefusal(messages: readonly StoredMessage[], shared: readonly (string | undefined)[] | undefined): string | undefined {
  let topic: string | undefined;
  let publisher: string | undefined;
  let key: string | undefined;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.topic !== topic) {
      const why = topicRefusal(m.topic);
      if (why) return why;
      topic = m.topic;
    }
    if (m.publisherId !== undefined && m.publisherId !== publisher) {
      const why = stringRefusal(m.publisherId, 'publisher');
      if (why) return why;
      publisher = m.publisherId;
    }
    const k = shared?.[i];
    if (k !== undefined && k !== key) {
      // A shared key is `group\0filter`, from one `$share/group/filter` of a SUBSCRIBE.
      const zero = k.indexOf('\0');
      if (zero < 0 || !isSubscribable(k.slice(zero + 1), k.slice(0, zero))) return 'a shared key no SUBSCRIBE could make';
      key = k;
    }
  }
  return undefined;
}
