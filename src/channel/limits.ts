// Size limits on topics, so one client cannot exhaust the topic tree with huge or deep names.
import type { ChannelLimits } from './context.js';

/** True when the topic name or filter is within the configured length and depth. */
export function withinTopicLimits(topic: string, limits: ChannelLimits): boolean {
  if (topic.length > limits.maxTopicLength) return false;
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) {
    if (++levels > limits.maxTopicLevels) return false;
  }
  return true;
}
