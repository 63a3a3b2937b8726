// The ACL file, in Mosquitto's format so existing files carry over:
//
//   # comment
//   topic [read|write|readwrite|deny] FILTER     (before any `user` line: anonymous clients)
//   user NAME                                     (the following `topic` lines are NAME's)
//   topic [read|write|readwrite|deny] FILTER
//   pattern [read|write|readwrite|deny] FILTER   (every client, wherever it appears; %u and %c
//                                                 stand for the user name and client id)
//
// The access word is optional (readwrite); without it the rest of the line is the filter, with it
// the filter may contain spaces. `%u`/`%c` must be a whole level, as Mosquitto documents.
import { validateTopicFilter } from '../protocol/topic.js';
import { FileFormatError } from './watched-file.js';

export const READ = 1;
export const WRITE = 2;
export const DENY = 4;

/** READ, WRITE, READ|WRITE or DENY. */
export type Access = number;

export interface AclRule {
  access: Access;
  /** The filter as written (with `%u`/`%c` for patterns). */
  filter: string;
  /** Where it came from, for logs. */
  line: number;
}

export interface PatternRule extends AclRule {
  /** The filter's levels, with the placeholders as the levels `%u`/`%c`. */
  levels: readonly string[];
  usesUsername: boolean;
  usesClientId: boolean;
}

export interface AclFile {
  /** Rules for clients without a user name (the `topic` lines before any `user` line). */
  anonymous: AclRule[];
  /** Rules by user name. */
  users: Map<string, AclRule[]>;
  /** Rules for everyone, after substitution. */
  patterns: PatternRule[];
}

const ACCESS: Record<string, Access> = { read: READ, write: WRITE, readwrite: READ | WRITE, deny: DENY };

/** `[access] filter` → access and filter. */
function accessAndFilter(rest: string): { access: Access; filter: string } {
  const m = /^(\S+)\s+(.*)$/.exec(rest);
  if (m && Object.hasOwn(ACCESS, m[1])) return { access: ACCESS[m[1]], filter: m[2] };
  return { access: READ | WRITE, filter: rest };
}

function checkFilter(filter: string): void {
  if (filter.length === 0) throw new Error('missing topic filter');
  try {
    validateTopicFilter(filter);
  } catch (err) {
    throw new Error(`invalid topic filter "${filter}": ${(err as Error).message}`);
  }
}

function patternRule(access: Access, filter: string, line: number): PatternRule {
  const levels = filter.split('/');
  for (const level of levels) {
    if ((level.includes('%u') || level.includes('%c')) && level !== '%u' && level !== '%c') {
      throw new Error(`"${level}": %u and %c must be a whole topic level`);
    }
  }
  return { access, filter, line, levels, usesUsername: levels.includes('%u'), usesClientId: levels.includes('%c') };
}

export function parseAclFile(text: string, file: string): AclFile {
  const acl: AclFile = { anonymous: [], users: new Map(), patterns: [] };
  let current = acl.anonymous;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
    const keyword = m[1];
    const rest = (m[2] ?? '').trim();
    try {
      if (keyword === 'user') {
        if (rest.length === 0) throw new Error('`user` needs a name');
        let rules = acl.users.get(rest);
        if (!rules) acl.users.set(rest, (rules = []));
        current = rules;
      } else if (keyword === 'topic') {
        const { access, filter } = accessAndFilter(rest);
        checkFilter(filter);
        current.push({ access, filter, line: i + 1 });
      } else if (keyword === 'pattern') {
        const { access, filter } = accessAndFilter(rest);
        checkFilter(filter);
        acl.patterns.push(patternRule(access, filter, i + 1));
      } else {
        throw new Error(`unknown keyword "${keyword}" (expected user, topic or pattern)`);
      }
    } catch (err) {
      throw new FileFormatError(file, i + 1, (err as Error).message);
    }
  }
  return acl;
}
