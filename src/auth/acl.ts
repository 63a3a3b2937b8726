// Topic authorization from the ACL file and from grants carried by the client's credentials.
//
// Semantics (Mosquitto's, made stricter where Mosquitto relies on a per-message check we do not have):
//  - A client's rules: the anonymous rules when it has no user name, else its `user` rules; plus
//    every `pattern` with %u/%c substituted; plus its credential grants (ClientInfo.grants).
//  - A `deny` rule that matches wins over any grant, whichever section either comes from.
//  - PUBLISH to a topic needs a `write` (or `readwrite`) rule matching the topic name.
//  - SUBSCRIBE to a filter needs one `read` rule that *covers* the filter (every topic the filter
//    can match is readable) and no `deny` rule that *overlaps* it: the broker has no per-message
//    read check, so a subscription is all or nothing. `$share/{group}/{filter}` is judged by `{filter}`.
//  - Topics starting with `$` (`$SYS/...`) are only matched by rules whose first level is that
//    literal: `#` does not reach them [MQTT-4.7.2-1], so $SYS is readable only where a rule says so.
//  - Nothing matches: refused (0x87 Not authorized).
//
// Checks are fast: each client's rules are compiled once into a TopicTrie (publish is a trie walk,
// then a small per-client cache), and recompiled only when the ACL file or the client's identity
// changes.
import { isSysTopic, type ClientGrants, type ClientInfo, type Decision } from '../hooks/hooks.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { parseSharedFilter } from '../protocol/topic.js';
import { TopicTrie } from '../topics/trie.js';
import { DENY, READ, WRITE, type Access, type AclFile, type PatternRule } from './acl-file.js';
import { covers, overlaps } from '../topics/cover.js';

/**
 * Per-client memo of recent decisions; cleared when full rather than tracked as an LRU. A client
 * chooses its topics, so the memo is bounded in characters as well as entries: topics and filters
 * longer than CACHED_KEY_MAX are decided without it (a trie walk), and a client's memo holds at most
 * CLIENT_CACHE_MAX × CACHED_KEY_MAX characters per map (64 Ki), whatever it publishes to. Held
 * while the client is connected: `forget` drops it when the connection ends (the session
 * registry keeps the client's identity for an offline session, and with it anything cached here).
 */
const CLIENT_CACHE_MAX = 256;
const CACHED_KEY_MAX = 256;

/**
 * A placeholder value that would change the filter's shape (extra levels or wildcards), or that
 * starts with `$` and so would make a pattern reach `$SYS` or another server topic: client id
 * `$SYS` with `pattern readwrite %c/inbox/#` must not be granted `$SYS/inbox/#`.
 */
const UNSAFE_VALUE = /^\$|[+#/]/;

class ClientRules {
  readonly trie = new TopicTrie<Access>();
  readonly readFilters: string[] = [];
  readonly denyFilters: string[] = [];
  /** Topic name → OR of the access bits of every rule matching it. */
  readonly topicFlags = new Map<string, number>();
  readonly subscribeDecisions = new Map<string, Decision>();

  constructor(
    readonly generation: number,
    readonly username: string | undefined,
    readonly clientId: string,
    readonly grants: ClientGrants | undefined,
  ) {}

  add(access: Access, filter: string): void {
    this.trie.add(filter, access);
    if (access & DENY) this.denyFilters.push(filter);
    else if (access & READ) this.readFilters.push(filter);
  }

  flags(topic: string): number {
    let flags = this.topicFlags.get(topic);
    if (flags !== undefined) return flags;
    let f = 0;
    this.trie.match(topic, (access) => {
      f |= access;
    });
    flags = f;
    if (topic.length > CACHED_KEY_MAX) return flags;
    if (this.topicFlags.size >= CLIENT_CACHE_MAX) this.topicFlags.clear();
    this.topicFlags.set(topic, flags);
    return flags;
  }
}

/**
 * A pattern's filter for one client. Returns undefined when the pattern does not apply. A
 * placeholder whose value holds `/`, `+` or `#` would reshape the filter (user `a/b` reaching into
 * user `a`'s tree), so a granting pattern is dropped for that client and a `deny` pattern is widened
 * to everything below the level before the placeholder: the unsafe value never gains access.
 */
export function substitutePattern(rule: PatternRule, username: string | undefined, clientId: string): string | undefined {
  if (rule.usesUsername && username === undefined) return undefined; // no user name: %u rules do not apply
  const out: string[] = [];
  for (const level of rule.levels) {
    const value = level === '%u' ? username! : level === '%c' ? clientId : undefined;
    if (value === undefined) {
      out.push(level);
      continue;
    }
    if (!UNSAFE_VALUE.test(value)) {
      out.push(value);
      continue;
    }
    if (rule.access !== DENY) return undefined;
    out.push('#');
    return out.join('/');
  }
  return out.join('/');
}

export class Authorizer {
  private acl: AclFile | undefined;
  private generation = 0;
  private readonly cache = new WeakMap<ClientInfo, ClientRules>();

  /**
   * @param useFile whether ACL file rules apply (mqttAuthorizationEnabled). Without them only
   *   credential grants restrict, and clients without grants may do anything.
   */
  constructor(private readonly useFile: boolean) {}

  /** Installs a newly loaded ACL file (undefined: none loaded, so file rules grant nothing). */
  setAcl(acl: AclFile | undefined): void {
    this.acl = acl;
    this.generation++;
  }

  authorizePublish(client: ClientInfo, topic: string): Decision {
    const rules = this.rulesFor(client);
    // No rules: anything but $SYS, which only a rule naming it opens (see allowAll).
    if (rules === undefined) return isSysTopic(topic) ? ReasonCode.NotAuthorized : ReasonCode.Success;
    const flags = rules.flags(topic);
    return !(flags & DENY) && flags & WRITE ? ReasonCode.Success : ReasonCode.NotAuthorized;
  }

  /** Whether a message on `topic` may be delivered to the client (for a per-delivery hook). */
  authorizeRead(client: ClientInfo, topic: string): Decision {
    const rules = this.rulesFor(client);
    if (rules === undefined) return ReasonCode.Success;
    const flags = rules.flags(topic);
    return !(flags & DENY) && flags & READ ? ReasonCode.Success : ReasonCode.NotAuthorized;
  }

  authorizeSubscribe(client: ClientInfo, filter: string): Decision {
    const rules = this.rulesFor(client);
    if (rules === undefined) return ReasonCode.Success;
    const cached = rules.subscribeDecisions.get(filter);
    if (cached !== undefined) return cached;
    const decision = decideSubscribe(rules, filter);
    if (filter.length > CACHED_KEY_MAX) return decision;
    if (rules.subscribeDecisions.size >= CLIENT_CACHE_MAX) rules.subscribeDecisions.clear();
    rules.subscribeDecisions.set(filter, decision);
    return decision;
  }

  /** Characters of the topics and filters memoised for the client (what a client's choices make it hold). */
  cachedCharacters(client: ClientInfo): number {
    const r = this.cache.get(client);
    if (r === undefined) return 0;
    let n = 0;
    for (const k of r.topicFlags.keys()) n += k.length;
    for (const k of r.subscribeDecisions.keys()) n += k.length;
    return n;
  }

  /** Drops what is compiled and cached for the client (its connection ended); compiled again when next asked. */
  forget(client: ClientInfo): void {
    this.cache.delete(client);
  }

  /** The client's compiled rules, or undefined when nothing restricts it. */
  private rulesFor(client: ClientInfo): ClientRules | undefined {
    if (!this.useFile && client.grants === undefined) return undefined;
    const r = this.cache.get(client);
    if (
      r !== undefined &&
      r.generation === this.generation &&
      r.username === client.username &&
      r.clientId === client.clientId &&
      r.grants === client.grants
    ) {
      return r;
    }
    const compiled = this.compile(client);
    this.cache.set(client, compiled);
    return compiled;
  }

  private compile(client: ClientInfo): ClientRules {
    const { username, clientId, grants } = client;
    const rules = new ClientRules(this.generation, username, clientId, grants);
    const acl = this.useFile ? this.acl : undefined;
    if (acl) {
      const own = username === undefined ? acl.anonymous : (acl.users.get(username) ?? []);
      for (const rule of own) rules.add(rule.access, rule.filter);
      for (const pattern of acl.patterns) {
        const filter = substitutePattern(pattern, username, clientId);
        if (filter !== undefined) rules.add(pattern.access, filter);
      }
    }
    if (grants) {
      for (const f of grants.publish) rules.add(WRITE, f);
      for (const f of grants.subscribe) rules.add(READ, f);
      for (const f of grants.deny) rules.add(DENY, f);
    }
    return rules;
  }
}

function decideSubscribe(rules: ClientRules, filter: string): Decision {
  let inner = filter;
  try {
    inner = parseSharedFilter(filter)?.filter ?? filter;
  } catch {
    return ReasonCode.TopicFilterInvalid;
  }
  for (const deny of rules.denyFilters) if (overlaps(deny, inner)) return ReasonCode.NotAuthorized;
  for (const grant of rules.readFilters) if (covers(grant, inner)) return ReasonCode.Success;
  return ReasonCode.NotAuthorized;
}
