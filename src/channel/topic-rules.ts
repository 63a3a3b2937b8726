// The rules a published topic name must meet, as ONE check for every way a message enters the
// broker: an MQTT PUBLISH (once its Topic Alias is resolved) and the admin API's publish and delete.
// A topic that breaks one of them can never be sent to a subscriber (an encoder would refuse it),
// so it must never be routed or retained, whoever offers it. Messages name the rule and never quote
// the topic: it is the client's string, possibly 64 KiB of it.

/** The configured topic limits (maxTopicLength, maxTopicLevels). */
export interface TopicLimits {
  readonly maxTopicLength: number;
  readonly maxTopicLevels: number;
}

/** Each rule by the name an operator finds in docs/configuration.md or the spec. */
export type TopicRule = 'empty' | 'wildcard' | 'nullCharacter' | 'malformedUtf8' | 'encodedLength' | 'maxTopicLength' | 'maxTopicLevels';

export interface TopicRefusal {
  rule: TopicRule;
  message: string;
}

/** Longest UTF-8 string a packet can carry: its length is a two-byte integer (1.5.4). */
const MAX_ENCODED = 65_535;
const PLUS = 0x2b;
const HASH = 0x23;
/** Beyond this many UTF-16 units a string may take more than MAX_ENCODED bytes (3 bytes per unit at most). */
const SURELY_FITS = Math.floor(MAX_ENCODED / 3);

const refusal = (rule: TopicRule, message: string): TopicRefusal => ({ rule, message });

/** The configured length or depth limit the topic (name or filter) is over, or undefined. */
export function topicLimitBroken(topic: string, limits: TopicLimits): 'maxTopicLength' | 'maxTopicLevels' | undefined {
  if (topic.length > limits.maxTopicLength) return 'maxTopicLength';
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) {
    if (++levels > limits.maxTopicLevels) return 'maxTopicLevels';
  }
  return undefined;
}

/**
 * The rule a topic name to publish to breaks, or undefined: non-empty [MQTT-4.7.3-1], no wildcard
 * [MQTT-3.3.2-2], well-formed UTF-8 [MQTT-1.5.4-1] without U+0000 [MQTT-1.5.4-2], at most 65,535
 * bytes encoded (1.5.4), then the configured limits when given (a Response Topic has none).
 */
export function publishTopicRefusal(topic: string, limits?: TopicLimits): TopicRefusal | undefined {
  if (topic.length === 0) return refusal('empty', 'topic name is empty [MQTT-4.7.3-1]');
  let ascii = true;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return refusal('wildcard', 'topic name contains a wildcard (+ or #) [MQTT-3.3.2-2]');
    if (c === 0) return refusal('nullCharacter', 'topic name contains U+0000 [MQTT-1.5.4-2]');
    if (c >= 0xd800 && c <= 0xdfff) {
      // A surrogate is well-formed only as a high one followed by a low one.
      const low = topic.charCodeAt(i + 1);
      if (c > 0xdbff || !(low >= 0xdc00 && low <= 0xdfff)) return refusal('malformedUtf8', 'topic name is not well-formed UTF-8 (a lone surrogate) [MQTT-1.5.4-1]');
      i++;
    }
    if (c >= 0x80) ascii = false;
  }
  const bytes = ascii ? topic.length : topic.length <= SURELY_FITS ? 0 : Buffer.byteLength(topic, 'utf8');
  if (bytes > MAX_ENCODED) return refusal('encodedLength', `topic name is ${bytes} bytes in UTF-8; a packet carries at most ${MAX_ENCODED}`);
  return limits ? topicLimitRefusal(topic, limits) : undefined;
}

/**
 * The configured limits alone, for a topic whose syntax is known to be good: an MQTT PUBLISH's, which
 * the decoder checked [MQTT-3.3.2-2, MQTT-1.5.4-1, MQTT-1.5.4-2] and a packet can carry. The rest of
 * publishTopicRefusal is for topics that come from elsewhere (admin API, library).
 */
export function topicLimitRefusal(topic: string, limits: TopicLimits): TopicRefusal | undefined {
  const broken = topicLimitBroken(topic, limits);
  if (broken === 'maxTopicLength') return refusal(broken, `topic name is longer than ${limits.maxTopicLength} characters (maxTopicLength)`);
  if (broken === 'maxTopicLevels') return refusal(broken, `topic name has more than ${limits.maxTopicLevels} levels (maxTopicLevels)`);
  return undefined;
}
