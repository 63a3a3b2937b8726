// The checks `starling pub`/`sub` make on a topic before connecting, so a topic the broker must
// refuse is reported with its reason instead of being sent (or silently dropped at QoS 0).
import { validateTopicFilter, validateTopicName } from '../protocol/topic.js';

/** UTF-8 strings in MQTT are at most 65,535 bytes long [MQTT-1.5.3]. */
const MAX_UTF8 = 65_535;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkString(what: string, text: string): void {
  // Lone surrogates cannot be encoded as UTF-8 [MQTT-1.5.3-1]; U+0000 is forbidden [MQTT-1.5.3-2].
  if (LONE_SURROGATE.test(text)) throw new Error(`${what} "${text}" is not valid UTF-8 [MQTT-1.5.3-1]`);
  if (text.includes('\u0000')) throw new Error(`${what} contains the null character U+0000 [MQTT-1.5.3-2]`);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_UTF8) throw new Error(`${what} is ${bytes} bytes long; MQTT allows at most ${MAX_UTF8} [MQTT-1.5.3]`);
}

/** Throws a user-facing Error when `topic` cannot be published to. */
export function checkPublishTopic(topic: string): void {
  checkString('topic', topic);
  try {
    validateTopicName(topic);
  } catch (err) {
    throw new Error(`invalid publish topic: ${(err as Error).message}${/[+#]/.test(topic) ? ' (wildcards + and # are for subscribing)' : ''}`);
  }
}

/** Throws a user-facing Error when `filter` cannot be subscribed to. */
export function checkTopicFilter(filter: string): void {
  checkString('topic filter', filter);
  try {
    validateTopicFilter(filter);
  } catch (err) {
    throw new Error(`invalid subscription topic: ${(err as Error).message}`);
  }
}
