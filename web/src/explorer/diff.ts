// A line diff of two values (longest common subsequence), for "what changed since the last
// message". Long inputs are cut so the table stays small: this runs on every repaint of the panel.

export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

const MAX_LINES = 400;

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.split('\n').slice(0, MAX_LINES);
  const b = after.split('\n').slice(0, MAX_LINES);
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], kept as one flat array.
  const w = b.length + 1;
  const lcs = new Uint16Array((a.length + 1) * w);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] });
      i++;
      j++;
    } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) out.push({ kind: 'removed', text: a[i++] });
    else out.push({ kind: 'added', text: b[j++] });
  }
  while (i < a.length) out.push({ kind: 'removed', text: a[i++] });
  while (j < b.length) out.push({ kind: 'added', text: b[j++] });
  return out;
}

/** Paths of the numeric leaves of a JSON value (`a.b`, `list.0.x`), at most `max` of them. */
export function numericFields(value: unknown, max = 200): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (out.length >= max || depth > 8) return;
    if (typeof v === 'number' && Number.isFinite(v)) out.push(path);
    else if (v && typeof v === 'object') {
      for (const [k, c] of Object.entries(v as Record<string, unknown>)) walk(c, path ? `${path}.${k}` : k, depth + 1);
    }
  };
  walk(value, '', 0);
  return out;
}

/** The number at `path` in a JSON value, if there is one. */
export function fieldAt(value: unknown, path: string): number | undefined {
  let v: unknown = value;
  for (const k of path.split('.')) {
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
