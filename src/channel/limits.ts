// Size limits on topics, so one client cannot exhaust the topic tree with huge or deep names.
import type { ChannelLimits } from './context.js';
import { topicLimitBroken } from './topic-rules.js';

/** True when the topic name or filter is within the configured length and depth. */
export function withinTopicLimits(topic: string, limits: ChannelLimits): boolean {
  return topicLimitBroken(topic, limits) === undefined;
}
