// Configuration errors: every problem names where the bad value came from (file:line, environment
// variable or CLI flag) so a user can fix it without reading code.

/** Thrown by loadConfig; `problems` holds one line per problem, the message joins them. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(list.join('\n'));
    this.name = 'ConfigError';
    this.problems = list;
  }
}

/** Edit distance (insert, delete, substitute), case-insensitive: typos in keys are mostly case and one letter. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, i) => i);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[t.length];
}

/** The known name closest to `name`, if it is close enough to be a plausible typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // A quarter of the length (at least 2) tolerates a dropped word part without matching unrelated keys.
  const limit = Math.max(2, Math.floor(name.length / 4));
  return bestDistance <= limit ? best : undefined;
}

export const didYouMean = (name: string, known: readonly string[]): string => {
  const c = closest(name, known);
  return c ? ` (did you mean ${c}?)` : '';
};
