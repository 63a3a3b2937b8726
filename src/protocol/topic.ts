// Topic name and topic filter syntax (section 4.7 of both specs) and shared-subscription filters
// (section 4.8.2 of MQTT 5). Pure string checks; matching lives in src/topics/.
import { MqttError } from './errors.js';
import { ReasonCode } from './reason-codes.js';
import { quote } from './reason-string.js';

const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'
const SLASH = 0x2f; // '/'
const DOLLAR = 0x24; // '$'

const SHARE_PREFIX = '$share/';

const nameError = (msg: string): MqttError => new MqttError(ReasonCode.TopicNameInvalid, msg);
const filterError = (msg: string): MqttError => new MqttError(ReasonCode.TopicFilterInvalid, msg);

/**
 * A topic name as sent in PUBLISH: no wildcards [MQTT-3.3.2-2], [MQTT-4.7.1-1], and at least one
 * character [MQTT-4.7.3-1]. `allowEmpty` is for an MQTT 5 PUBLISH that carries a Topic Alias, where
 * the empty name is resolved from the alias (section 3.3.2.3.4). Throws 0x90 Topic Name invalid.
 */
export function validateTopicName(name: string, allowEmpty = false): void {
  if (name.length === 0) {
    if (allowEmpty) return;
    throw nameError('topic name is empty [MQTT-4.7.3-1]');
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === PLUS || c === HASH) throw nameError(`topic name ${quote(name)} contains a wildcard [MQTT-3.3.2-2]`);
  }
}

/**
 * A topic filter as sent in SUBSCRIBE/UNSUBSCRIBE: non-empty [MQTT-4.7.3-1]; '#' only as the whole
 * last level [MQTT-4.7.1-2]; '+' only as a whole level [MQTT-4.7.1-3]. Throws 0x8F Topic Filter invalid.
 */
export function validateTopicFilter(filter: string): void {
  const n = filter.length;
  if (n === 0) throw filterError('topic filter is empty [MQTT-4.7.3-1]');
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c !== PLUS && c !== HASH) continue;
    const alone = (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === n - 1 || filter.charCodeAt(i + 1) === SLASH);
    if (!alone) throw filterError(`wildcard in topic filter ${quote(filter)} must occupy a whole level [MQTT-4.7.1-2], [MQTT-4.7.1-3]`);
    if (c === HASH && i !== n - 1) throw filterError(`'#' must be the last level of topic filter ${quote(filter)} [MQTT-4.7.1-2]`);
  }
}

/**
 * Splits `$share/{ShareName}/{filter}` (MQTT 5 section 4.8.2). Returns undefined for a filter that is
 * not shared. Throws 0x8F when it starts with `$share/` but the share name is empty or contains
 * '/', '+' or '#' [MQTT-4.8.2-1], [MQTT-4.8.2-2], or the inner filter is empty or invalid.
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash === -1) throw filterError(`shared subscription ${quote(filter)} has no topic filter [MQTT-4.8.2-2]`);
  const group = filter.slice(SHARE_PREFIX.length, slash);
  if (group.length === 0) throw filterError(`shared subscription ${quote(filter)} has an empty share name [MQTT-4.8.2-1]`);
  for (let i = 0; i < group.length; i++) {
    const c = group.charCodeAt(i);
    if (c === PLUS || c === HASH) throw filterError(`share name ${quote(group)} contains a wildcard [MQTT-4.8.2-2]`);
  }
  const inner = filter.slice(slash + 1);
  validateTopicFilter(inner);
  return { group, filter: inner };
}

/** Topics starting with '$' are not matched by filters starting with a wildcard [MQTT-4.7.2-1]. */
export function isSystemTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR;
}
