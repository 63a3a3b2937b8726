// The NATS subjects of the cluster link, and MQTT topics as NATS subjects for the retained space
// (`<p>.retain.<levels>`, which tools such as `nats sub` can narrow to a topic).
//
// Each MQTT level becomes one NATS token. A NATS token may not be empty and may not hold `.`, `*`,
// `>` or whitespace, while an MQTT level may hold all of them, so a level is escaped:
//   - bytes outside printable ASCII, and `.` `*` `>` `%`, become `%XX` (hex of each UTF-8 byte);
//   - the empty level becomes a lone `%` (no escaped level is a lone `%`, since `%` itself is `%25`).
// The escaping is injective and level-wise, so two topics map to the same subject only if they are
// the same topic.
//
// Long subjects. A server refuses control lines beyond its max_control_line (4 KiB by default), and an
// MQTT topic may be 64 KiB. A topic whose subject would exceed `maxSubjectLength` is published on the
// space's bare root subject instead (e.g. `starling.retain`), which every node listens to as well.
import { token as storeToken } from '../../store/nats/keys.js';
import type { InterestSubjects } from './interest.js';

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

/** Whether `id` can be a node id (one NATS token, also used in subjects and headers). */
export const isNodeId = (id: unknown): id is string => typeof id === 'string' && NODE_ID.test(id);

/** Throws unless `id` can be a node id. */
export function checkNodeId(id: string): void {
  if (!isNodeId(id)) {
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

/** One subject space: where messages of one kind (retained) are published. */
export class SubjectSpace {
  /** The bare root: long topics are published here. */
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

  /** Patterns that receive every message of this space (the bare root and everything below it). */
  all(): string[] {
    return [this.root, `${this.root}.>`];
  }
}

/** Every subject the cluster link uses, under one prefix. */
export interface ClusterSubjects {
  /** Retained messages: every node listens. */
  readonly retain: SubjectSpace;
  /** Session takeover claims for one client id; `claims` receives all of them. */
  claim(clientId: string): string;
  readonly claims: string;
  /** Heartbeats of one node; `nodes` receives all of them. */
  node(nodeId: string): string;
  readonly nodes: string;
  /** Batches of messages for one node (../batch-frame.ts): only that node listens. */
  inbox(nodeId: string): string;
  /** The exchange of interest between nodes (interest.ts). */
  readonly interest: InterestSubjects;
}

export interface SubjectOptions {
  maxSubjectLength?: number;
}

export function clusterSubjects(prefix = DEFAULT_PREFIX, opts: SubjectOptions = {}): ClusterSubjects {
  checkPrefix(prefix);
  const max = opts.maxSubjectLength ?? DEFAULT_MAX_SUBJECT_LENGTH;
  return {
    retain: new SubjectSpace(`${prefix}.retain`, max),
    // A client id may be up to 64 KiB: the claim carries the id itself, the subject only a bounded
    // token of it (store/nats/keys.ts), which is there for observing claims with `nats sub`.
    claim: (clientId) => `${prefix}.claim.${storeToken(clientId)}`,
    claims: `${prefix}.claim.>`,
    node: (nodeId) => `${prefix}.node.${nodeId}`,
    nodes: `${prefix}.node.*`,
    inbox: (nodeId) => `${prefix}.in.${nodeId}`,
    interest: {
      changes: (nodeId) => `${prefix}.int.${nodeId}`,
      allChanges: `${prefix}.int.*`,
      ack: (nodeId) => `${prefix}.iack.${nodeId}`,
      sync: (nodeId) => `${prefix}.isync.${nodeId}`,
      hello: `${prefix}.ihello`,
    },
  };
}
