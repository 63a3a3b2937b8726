// MQTT topics and filters as NATS subjects, so the NATS servers route a message only to the nodes
// whose subscriptions could match it.
//
// Each MQTT level becomes one NATS token. A NATS token may not be empty and may not hold `.`, `*`,
// `>` or whitespace, while an MQTT level may hold all of them, so a level is escaped:
//   - bytes outside printable ASCII, and `.` `*` `>` `%`, become `%XX` (hex of each UTF-8 byte);
//   - the empty level becomes a lone `%` (no escaped level is a lone `%`, since `%` itself is `%25`).
// The escaping is injective and level-wise, so two topics map to the same subject only if they are
// the same topic, and a literal level maps to the same token in a topic as in a filter.
// Filters: `+` → `*`; `#` → `>`, and because MQTT's `#` also matches its parent level (`a/#` matches
// `a`, section 4.7.1.2), `a/#` subscribes both `a` and `a.>`. NATS `*`/`>` match `$`-tokens too, which
// MQTT's leading wildcards must not [MQTT-4.7.2-1]; that is harmless because the subject match is only
// a pre-filter: the receiving node matches the topic again with its own trie.
//
// Long subjects. A server refuses control lines beyond its max_control_line (4 KiB by default), and an
// MQTT topic may be 64 KiB. A topic whose subject would exceed `maxSubjectLength` is published on the
// space's bare root subject instead (e.g. `starling.msg`, which no `starling.msg.…` pattern matches).
// Every filter that could match such a topic subscribes the bare root too: any filter with a wildcard,
// and any filter whose own pattern is too long (a literal level maps to the same token in topic and
// filter and a wildcard token is one character, so a topic matching a filter's pattern has a subject at
// least as long as that pattern). So no match is lost; long topics just reach more nodes.
import { token as storeToken } from '../../store/nats/keys.js';

/** Default start of every subject, and of the retained bucket's name. */
export const DEFAULT_PREFIX = 'starling';

/** Default bound on a subject's length, well below the server's 4 KiB control line. */
export const DEFAULT_MAX_SUBJECT_LENGTH = 1024;

const PREFIX = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws unless `prefix` is one or more NATS tokens of [A-Za-z0-9_-] separated by dots. */
export function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new Error(`cluster subject prefix ${JSON.stringify(prefix)} must be dot-separated tokens of A-Z a-z 0-9 _ -`);
  }
}

/** Throws unless `id` can be a node id (one NATS token, also used in subjects and headers). */
export function checkNodeId(id: string): void {
  if (typeof id !== 'string' || !NODE_ID.test(id)) {
    throw new Error(`cluster node id ${JSON.stringify(id)} must be 1..64 characters of A-Z a-z 0-9 _ -`);
  }
}

const HEX = '0123456789ABCDEF';

/** True for a UTF-16 code unit that stands for itself in a token (printable ASCII but . * > %). */
function plain(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x2a && c !== 0x3e && c !== 0x25;
}

/** One MQTT level (or any string) as one NATS token; see the file comment. */
export function escapeLevel(level: string): string {
  if (level.length === 0) return '%';
  let i = 0;
  while (i < level.length && plain(level.charCodeAt(i))) i++;
  if (i === level.length) return level;
  let out = level.slice(0, i);
  while (i < level.length) {
    const c = level.charCodeAt(i);
    if (plain(c)) {
      out += level[i++];
      continue;
    }
    // A surrogate pair is one code point; take both halves so UTF-8 encodes it as one character.
    const next = i + 1 < level.length ? level.charCodeAt(i + 1) : 0;
    const wide = c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
    const ch = wide ? level.slice(i, i + 2) : level[i];
    i += ch.length;
    for (const b of Buffer.from(ch, 'utf8')) out += '%' + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/** The inverse of escapeLevel (for headers and diagnostics; routing never needs to decode). */
export function unescapeLevel(token: string): string {
  if (token === '%') return '';
  if (!token.includes('%')) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    if (token[i] === '%') {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`bad escape in token ${JSON.stringify(token)}`);
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(token.charCodeAt(i));
      i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The tokens of a topic name, joined with `.` (no prefix). */
export function topicTokens(topic: string): string {
  return topic.split('/').map(escapeLevel).join('.');
}

/**
 * The NATS patterns (no prefix) that together match exactly the mapped topics an MQTT filter
 * matches, `$` rules aside (see the file comment). Shared prefixes must be removed first.
 */
export function filterPatterns(filter: string): string[] {
  const levels = filter.split('/');
  const out: string[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l === '#') {
      // `#` is last in a valid filter; it matches the parent level too (section 4.7.1.2).
      if (tokens.length > 0) out.push(tokens.join('.'));
      tokens.push('>');
      break;
    }
    tokens.push(l === '+' ? '*' : escapeLevel(l));
  }
  out.push(tokens.join('.'));
  return out;
}

const hasWildcard = (filter: string): boolean => filter.split('/').some((l) => l === '+' || l === '#');

/** One subject space: where messages of one kind (plain, shared, retained) are published. */
export class SubjectSpace {
  /** The bare root: long topics are published here, and every filter that could match one listens. */
  readonly root: string;

  constructor(
    root: string,
    private readonly maxLength: number,
  ) {
    this.root = root;
  }

  /** The subject a message on `topic` is published on. */
  topic(topic: string): string {
    const s = `${this.root}.${topicTokens(topic)}`;
    return s.length > this.maxLength ? this.root : s;
  }

  /** The subjects (patterns) to subscribe for `filter`, without duplicates. */
  filter(filter: string): string[] {
    const out = new Set<string>();
    for (const p of filterPatterns(filter)) {
      const s = `${this.root}.${p}`;
      out.add(s.length > this.maxLength ? this.root : s);
    }
    if (hasWildcard(filter)) out.add(this.root);
    return [...out];
  }

  /** Patterns that receive every message of this space (the bare root and everything below it). */
  all(): string[] {
    return [this.root, `${this.root}.>`];
  }
}

/** Every subject the cluster link uses, under one prefix. */
export interface ClusterSubjects {
  /** Plain subscriptions: only nodes with a matching filter listen. */
  readonly msg: SubjectSpace;
  /** Shared subscriptions: queue subscriptions, one queue group per (group, filter). */
  readonly share: SubjectSpace;
  /** Retained messages: every node listens. */
  readonly retain: SubjectSpace;
  /** Session takeover claims for one client id; `claims` receives all of them. */
  claim(clientId: string): string;
  readonly claims: string;
  /** Heartbeats of one node; `nodes` receives all of them. */
  node(nodeId: string): string;
  readonly nodes: string;
}

export interface SubjectOptions {
  maxSubjectLength?: number;
}

export function clusterSubjects(prefix = DEFAULT_PREFIX, opts: SubjectOptions = {}): ClusterSubjects {
  checkPrefix(prefix);
  const max = opts.maxSubjectLength ?? DEFAULT_MAX_SUBJECT_LENGTH;
  return {
    msg: new SubjectSpace(`${prefix}.msg`, max),
    share: new SubjectSpace(`${prefix}.share`, max),
    retain: new SubjectSpace(`${prefix}.retain`, max),
    // A client id may be up to 64 KiB: the claim carries the id itself, the subject only a bounded
    // token of it (store/nats/keys.ts), which is there for observing claims with `nats sub`.
    claim: (clientId) => `${prefix}.claim.${storeToken(clientId)}`,
    claims: `${prefix}.claim.>`,
    node: (nodeId) => `${prefix}.node.${nodeId}`,
    nodes: `${prefix}.node.*`,
  };
}

/** The name of the queue group for a shared subscription `$share/{group}/{filter}`. */
export function queueName(group: string, filter: string): string {
  // One token, bounded, never the same for two (group, filter) pairs (see store/nats/keys.ts).
  return 'q' + storeToken(`${group}\0${filter}`);
}
