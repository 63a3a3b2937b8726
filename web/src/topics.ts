// MQTT topic filter matching in the browser (for the message log filter and routing $SYS data).

/** True when `topic` matches `filter`; '$' topics need a filter that names their first level [MQTT-4.7.2-1]. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter.startsWith('$share/')) filter = filter.split('/').slice(2).join('/');
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Null when valid, else why not. */
export function filterProblem(filter: string): string | null {
  if (filter.length === 0) return 'the topic filter is empty';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return "'#' must be a whole level, and the last";
    if (l.includes('+') && l !== '+') return "'+' must be a whole level";
  }
  return null;
}

export function topicProblem(topic: string): string | null {
  if (topic.length === 0) return 'the topic is empty';
  if (/[+#]/.test(topic)) return 'a topic to publish to cannot contain + or #';
  return null;
}
