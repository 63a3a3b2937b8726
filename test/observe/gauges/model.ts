// The truth the operator's figures are held to: a small model of what clients did to the broker
// (connections, sessions, subscriptions, queued messages, retained messages), written from the MQTT
// spec and docs/console.md, not from the broker's code. It computes every figure /metrics, $SYS and
// the admin API show for that state; test/observe/gauges.test.ts drives a real broker with the same
// steps and compares. Byte figures are what docs/security.md says they count, in UTF-8 bytes.
import fc from 'fast-check';

export type Version = 4 | 5;
export type QoS = 0 | 1 | 2;

export interface WillSpec {
  topic: string;
  qos: QoS;
  retain: boolean;
  size: number;
  /** MQTT 5 Will Delay Interval, seconds (0 for 3.1.1). */
  delay: number;
}

export type Step =
  | { kind: 'connect'; id: string; version: Version; clean: boolean; expiry: number; will?: WillSpec }
  | { kind: 'disconnect'; id: string; how: 'normal' | 'drop' | 'withWill' | 'endSession' }
  | { kind: 'kick'; id: string }
  | { kind: 'subscribe'; id: string; filter: string; qos: QoS }
  | { kind: 'unsubscribe'; id: string; filter: string }
  | { kind: 'publish'; id: string; topic: string; qos: QoS; retain: boolean; size: number }
  | { kind: 'adminPublish'; topic: string; qos: QoS; retain: boolean; size: number }
  | { kind: 'adminDelete'; topic: string }
  | { kind: 'stall'; id: string }
  | { kind: 'unstall'; id: string }
  | { kind: 'restart' };

/**
 * A step as generated: the client a step acts on (`who`) is a pick among the clients connected when
 * it runs (and, for a kick, one more that is not connected: the API answers 404), and the topic of
 * an admin delete among the retained topics then (and one more that holds none), so that few steps
 * find nothing to act on; `park` is three steps. GaugesRun.resolve turns a plan into its steps.
 */
export type Plan =
  | Extract<Step, { kind: 'connect' | 'adminPublish' | 'restart' }>
  | { kind: 'disconnect'; who: number; how: Extract<Step, { kind: 'disconnect' }>['how'] }
  | { kind: 'kick'; who: number }
  | { kind: 'subscribe'; who: number; filter: string; qos: QoS }
  | { kind: 'unsubscribe'; who: number; filter: string }
  | { kind: 'publish'; who: number; topic: string; qos: QoS; retain: boolean; size: number }
  | { kind: 'adminDelete'; which: number }
  /** Leaves a persistent session behind that will queue: connect (resuming), subscribe at QoS 1 or 2, disconnect. */
  | { kind: 'park'; id: string; version: Version; filter: string; qos: 1 | 2 }
  /** A client whose session is offline comes back to it (Clean Start 0, the same protocol version). */
  | { kind: 'comeBack'; which: number }
  /**
   * A connected client subscribes to `#` and stops acknowledging what it is sent (its QoS 1/2
   * deliveries stay in flight), or (unstall) acknowledges it all and goes on.
   */
  | { kind: 'stall'; who: number; qos: 1 | 2 }
  | { kind: 'unstall'; who: number };

/** Client ids, one of them not ASCII (its UTF-8 bytes are not its length in UTF-16 units). */
export const IDS = ['c1', 'c2', 'c3', 'çé'];
/** Topics a client publishes (and wills go) to, one not ASCII. */
export const TOPICS = ['t/a', 't/b', 'tö/x'];
/** Overlapping filters, a non-ASCII one, and a shared subscription. */
export const FILTERS = ['t/a', 't/+', 't/#', '#', 'tö/+', '$share/g/t/+'];
/** One second: an MQTT 5 session that expires, or a will that is published, that long after its connection ends. */
export const SHORT = 1;
export const LONG = 3600;
/** What MQTT 3.1.1's Clean Session 0 means: a session that never expires. */
const NEVER = 0xffffffff;

const qos = fc.constantFrom<QoS>(0, 1, 2);
const size = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 24 }));

/** Steps over these filters; the restart variant leaves the shared subscription out (see below). */
export function planArb(filters: readonly string[], withRestart: boolean): fc.Arbitrary<Plan> {
  const id = fc.constantFrom(...IDS);
  const who = fc.nat({ max: IDS.length });
  const topic = fc.constantFrom(...TOPICS);
  const will = (version: Version): fc.Arbitrary<WillSpec> =>
    fc.record({ topic, qos, retain: fc.boolean(), size: fc.integer({ min: 1, max: 16 }), delay: version === 5 ? fc.constantFrom(0, SHORT, LONG) : fc.constant(0) });
  const connect = fc.constantFrom<Version>(4, 5).chain((version) =>
    fc.record({
      kind: fc.constant('connect' as const),
      id,
      version: fc.constant(version),
      clean: fc.boolean(),
      expiry: version === 5 ? fc.constantFrom(0, SHORT, LONG) : fc.constant(0),
      will: fc.option(will(version), { nil: undefined }),
    }),
  );
  const arbs: Array<fc.WeightedArbitrary<Plan>> = [
    { weight: 5, arbitrary: connect },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), who, how: fc.constantFrom('normal' as const, 'drop' as const, 'withWill' as const, 'endSession' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('kick' as const), who }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), who, filter: fc.constantFrom(...filters), qos }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), who, filter: fc.constantFrom(...filters) }) },
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('publish' as const), who, topic, qos, retain: fc.boolean(), size }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('adminPublish' as const), topic, qos, retain: fc.boolean(), size }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('adminDelete' as const), which: fc.nat({ max: TOPICS.length }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('stall' as const), who, qos: fc.constantFrom<1 | 2>(1, 2) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unstall' as const), who }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('comeBack' as const), which: fc.nat({ max: IDS.length - 1 }) }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('park' as const), id, version: fc.constantFrom<Version>(4, 5), filter: fc.constantFrom(...filters), qos: fc.constantFrom<1 | 2>(1, 2) }),
    },
  ];
  if (withRestart) arbs.push({ weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) });
  return fc.oneof(...arbs);
}

/** One line per step, for assertion messages (what fast-check shrank to, readable). */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'connect': {
      const will = s.will ? ` will(${s.will.topic} q${s.will.qos}${s.will.retain ? ' retained' : ''} ${s.will.size}B${s.will.delay ? ` delay ${s.will.delay}s` : ''})` : '';
      return `connect ${s.id} v${s.version === 5 ? '5' : '3.1.1'} ${s.clean ? 'clean' : 'resume'}${s.version === 5 ? ` expiry ${s.expiry}s` : ''}${will}`;
    }
    case 'disconnect':
      return `disconnect ${s.id} (${s.how})`;
    case 'kick':
      return `kick ${s.id} (admin API)`;
    case 'subscribe':
      return `${s.id} subscribes ${s.filter} q${s.qos}`;
    case 'unsubscribe':
      return `${s.id} unsubscribes ${s.filter}`;
    case 'publish':
      return `${s.id} publishes ${s.topic} q${s.qos}${s.retain ? ' retained' : ''} ${s.size}B`;
    case 'adminPublish':
      return `admin API publishes ${s.topic} q${s.qos}${s.retain ? ' retained' : ''} ${s.size}B`;
    case 'adminDelete':
      return `admin API deletes retained ${s.topic}`;
    case 'stall':
      return `${s.id} stops acknowledging`;
    case 'unstall':
      return `${s.id} acknowledges again`;
    case 'restart':
      return 'restart the broker (same data directory)';
  }
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Whether an MQTT topic filter matches a topic name (4.7), $-topics excluded from leading wildcards. */
export function matches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('#') || filter.startsWith('+'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** `$share/{group}/{filter}` → group and filter. */
function shared(filter: string): { group: string; filter: string } | undefined {
  const m = /^\$share\/([^/]+)\/(.+)$/.exec(filter);
  return m ? { group: m[1], filter: m[2] } : undefined;
}

interface ModelSession {
  id: string;
  version: Version;
  expiry: number;
  online: boolean;
  /** Filter → granted QoS, in the order first subscribed. */
  subs: Map<string, QoS>;
  /**
   * Messages owed: topic and payload bytes (as a queue entry holds them), QoS, and whether it was
   * sent (holds a packet id, in flight) or waits in the queue.
   */
  queue: Array<{ topic: string; size: number; qos: number; inflight: boolean }>;
  /** Connected, but acknowledging nothing (see Plan 'stall'). */
  stalled: boolean;
  will?: WillSpec;
  /** When its connection was accepted: the server ends connections in that order when it stops. */
  connectedAt: number;
}

export interface Message {
  topic: string;
  size: number;
  qos: QoS;
  retain: boolean;
}

/** What every view shows, in one comparable shape (the same for the model and the broker). */
export interface Figures {
  metrics: {
    /** starling_connections by `{listener scheme} {protocol}`. */
    connections: Record<string, number>;
    sessions: { online: number; offline: number };
    subscriptions: number;
    queuedMessages: number;
    inflightMessages: number;
    queuedBytes: number;
    sessionStateBytes: number;
    retainedMessages: number;
    retainedBytes: number;
    /** starling_connections_accepted_total and starling_wills_published_total since the server started. */
    connectionsAccepted: number;
    willsPublished: number;
  };
  sys: Record<string, string>;
  admin: {
    overview: { clients: number; sessions: number; retained: number; connectionsTotal: number; willsPublished: number };
    /** GET /clients/{id} of every connected client, by id. */
    client: Record<string, { clientId: string; protocol: string; queued: number; inflight: number; subscriptions: number }>;
    /** GET /subscriptions?clientId= of every connected client and every session with subscriptions: `filter qQoS`. */
    subscriptionsOf: Record<string, string[]>;
    /** GET /retained?topic= of every retained topic: the payload's size. */
    retainedTopic: Record<string, number>;
    clients: { total: number; rows: Array<{ clientId: string; protocol: string; queued: number; inflight: number; subscriptions: number }> };
    subscriptions: { total: number; rows: Array<{ clientId: string; filter: string; qos: number; online: boolean }> };
    retained: { total: number; rows: Array<{ topic: string; size: number }> };
  };
}

/** The $SYS keys compared (under $SYS/broker/). */
export const SYS_KEYS = [
  'clients/connected',
  'clients/disconnected',
  'clients/total',
  'subscriptions/count',
  'messages/inflight',
  'messages/queued',
  'messages/queued/bytes',
  'sessions/state/bytes',
  'retained messages/count',
  'retained messages/bytes',
  'clients/maximum',
] as const;

/** The observer: the test's own $SYS reader, an ordinary client the figures count like any other. */
export interface Observer {
  clientId: string;
  filter: string;
  /** `{listener scheme} {protocol}` of its connection. */
  connection: string;
}

/** The $SYS tree's own retained messages, as the observer holds them (topic → payload). */
export type SysRetained = ReadonlyMap<string, string>;

/** What happened in the model, counted so a property can show (and require) that it was exercised. */
export type Event = 'takeover' | 'resumed' | 'will' | 'queued' | 'inflight' | 'sharedOffline' | 'retainedCleared' | 'expired';

export class Model {
  /** Events so far (see Event). */
  readonly events = new Map<Event, number>();
  /** Since the server (re)started: connections accepted (the observer's included), wills published. */
  private since = { connections: 1, wills: 0 };
  /** Most clients connected at a $SYS sample since the server started (clients/maximum). */
  private maximum = 0;
  private readonly sessions = new Map<string, ModelSession>();
  /** Retained messages: topic → payload bytes. */
  readonly retained = new Map<string, number>();
  /** Shared groups (`group\0filter`): members in the order they joined, and the round-robin cursor. */
  private readonly groups = new Map<string, { group: string; filter: string; members: string[]; next: number }>();
  /** Connections accepted so far (their order). */
  private connections = 0;
  /** While the server stops: a connected session has not acknowledged what it is sent. */
  private stopping = false;

  constructor(private readonly observer: Observer) {}

  session(id: string): ModelSession | undefined {
    return this.sessions.get(id);
  }

  online(id: string): boolean {
    return this.sessions.get(id)?.online === true;
  }

  /** Client ids connected now, in the order of IDS; `stalled`: only those (not) acknowledging. */
  connected(stalled?: boolean): string[] {
    return IDS.filter((id) => this.online(id) && (stalled === undefined || this.sessions.get(id)!.stalled === stalled));
  }

  /** A connected client stops acknowledging (true) or acknowledges what it was sent and goes on (false). */
  stall(id: string, stalled: boolean): void {
    const s = this.sessions.get(id)!;
    s.stalled = stalled;
    if (!stalled) s.queue = [];
  }

  /** Offline sessions (id and protocol version), in the order of IDS. */
  offline(): Array<{ id: string; version: Version }> {
    return IDS.flatMap((id) => {
      const s = this.sessions.get(id);
      return s && !s.online ? [{ id, version: s.version }] : [];
    });
  }

  private count(e: Event): void {
    this.events.set(e, (this.events.get(e) ?? 0) + 1);
  }

  /** A CONNECT from `id`; returns the Session Present the CONNACK must carry. */
  connect(step: Extract<Step, { kind: 'connect' }>): boolean {
    const prev = this.sessions.get(step.id);
    if (prev?.online) {
      this.count('takeover');
      // Taken over [MQTT-3.1.4-2]: the old connection's will goes now unless it has a delay, which
      // the resumption cancels [MQTT-3.1.3-9] (or Clean Start publishes, below).
      if (prev.will && prev.will.delay === 0) this.publishWill(prev);
      prev.online = false;
      prev.stalled = false;
    }
    const expiry = step.version === 5 ? step.expiry : step.clean ? 0 : NEVER;
    let s: ModelSession;
    let present: boolean;
    if (prev && !step.clean && prev.expiry > 0) {
      s = prev;
      present = true;
      this.count('resumed');
    } else {
      if (prev) {
        // Clean Start (or a session that was to end with its connection) ends the old session and
        // publishes a will still waiting for its delay.
        if (prev.will) this.publishWill(prev);
        this.end(prev);
      }
      s = { id: step.id, version: step.version, expiry, online: false, subs: new Map(), queue: [], stalled: false, connectedAt: 0 };
      this.sessions.set(step.id, s);
      present = false;
    }
    s.version = step.version;
    s.expiry = expiry;
    s.will = step.will;
    s.online = true;
    s.stalled = false;
    s.connectedAt = ++this.connections;
    this.since.connections++;
    // What was queued is sent and acknowledged (MQTT.js acknowledges on receipt).
    s.queue = [];
    return present;
  }

  /**
   * The connection of `id` ended: `withWill` false for a normal DISCONNECT, which discards the will;
   * `endSession` for an MQTT 5 DISCONNECT that sets the Session Expiry Interval to 0. `later`: what
   * falls due a second later is left for `aSecondLater` (it comes after a restart).
   */
  disconnected(id: string, withWill: boolean, endSession = false, later = false): void {
    const s = this.sessions.get(id);
    if (!s?.online) return;
    if (!withWill) s.will = undefined;
    if (endSession) s.expiry = 0;
    s.online = false;
    s.stalled = false;
    if (s.expiry === 0) {
      // The session ends with its connection, and a delayed will with it [MQTT-3.1.3-9].
      if (s.will) this.publishWill(s);
      this.end(s);
      return;
    }
    // The will goes when its delay or the session runs out, whichever is first.
    if (s.will && Math.min(s.will.delay, s.expiry) === 0) this.publishWill(s);
    if (!later) this.secondPassed(s);
  }

  /** A second after its connection ended: a will with that delay goes, a session with that expiry ends (the test waits for it). */
  private secondPassed(s: ModelSession): void {
    if (s.will && Math.min(s.will.delay, s.expiry) === SHORT) this.publishWill(s);
    if (s.expiry === SHORT) this.expire(s);
  }

  private expire(s: ModelSession): void {
    this.count('expired');
    if (s.will) this.publishWill(s);
    this.end(s);
  }

  /**
   * The server stops: every connection ends, in the order they were accepted, as an abnormal close
   * (wills are published); what a connected session is sent meanwhile stays unacknowledged.
   */
  shutdown(): void {
    this.stopping = true;
    const online = [...this.sessions.values()].filter((s) => s.online).sort((a, b) => a.connectedAt - b.connectedAt);
    for (const s of online) this.disconnected(s.id, true, false, true);
    this.stopping = false;
  }

  /**
   * The server started again: its counters start from zero, and the observer has connected. What a
   * session had in flight at QoS 1 is queued again (its store row stays queued while it is in flight:
   * "QoS 1 streams from memory", broker/queues.ts); QoS 2 is read back in flight, to be resent with DUP.
   */
  restarted(): void {
    for (const s of this.sessions.values()) for (const e of s.queue) if (e.qos === 1) e.inflight = false;
    this.since = { connections: 1, wills: 0 };
    this.maximum = 0;
  }

  /** After a restart: what falls due a second after the connections ended at shutdown. */
  aSecondLater(): void {
    for (const s of [...this.sessions.values()]) if (!s.online) this.secondPassed(s);
  }

  subscribe(id: string, filter: string, qos: QoS): void {
    const s = this.sessions.get(id)!;
    s.subs.set(filter, qos);
    const sh = shared(filter);
    if (!sh) return;
    // Re-subscribing leaves the group and joins it again at the end (a group left empty is gone).
    this.leaveGroup(id, filter);
    const key = `${sh.group}\0${sh.filter}`;
    const g = this.groups.get(key);
    if (g) g.members.push(id);
    else this.groups.set(key, { group: sh.group, filter: sh.filter, members: [id], next: 0 });
  }

  unsubscribe(id: string, filter: string): void {
    const s = this.sessions.get(id)!;
    if (!s.subs.delete(filter)) return;
    this.leaveGroup(id, filter);
  }

  private leaveGroup(id: string, filter: string): void {
    const sh = shared(filter);
    if (!sh) return;
    const key = `${sh.group}\0${sh.filter}`;
    const g = this.groups.get(key);
    const i = g ? g.members.indexOf(id) : -1;
    if (!g || i < 0) return;
    g.members.splice(i, 1);
    if (g.members.length === 0) this.groups.delete(key);
  }

  private end(s: ModelSession): void {
    for (const filter of [...s.subs.keys()]) this.leaveGroup(s.id, filter);
    if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
  }

  private publishWill(s: ModelSession): void {
    const w = s.will!;
    s.will = undefined;
    this.count('will');
    this.since.wills++;
    this.route({ topic: w.topic, size: w.size, qos: w.qos, retain: w.retain });
  }

  /** A message routed as from any publisher: retained, then one delivery per matching session. */
  route(m: Message): void {
    if (m.retain) {
      // An empty retained message clears the topic [MQTT-3.3.1-10].
      if (m.size === 0) {
        if (this.retained.delete(m.topic)) this.count('retainedCleared');
      }
      else this.retained.set(m.topic, m.size);
    }
    // One delivery per session at the highest QoS its matching subscriptions grant [MQTT-3.3.5-1].
    const granted = new Map<ModelSession, number>();
    const grant = (s: ModelSession, q: number): void => void granted.set(s, Math.max(granted.get(s) ?? 0, q));
    for (const s of this.sessions.values()) {
      for (const [filter, q] of s.subs) if (!shared(filter) && matches(filter, m.topic)) grant(s, q);
    }
    // Each shared group sends the message to one member, a connected one while there is one.
    for (const g of this.groups.values()) {
      if (!matches(g.filter, m.topic)) continue;
      const n = g.members.length;
      let chosen: string | undefined;
      for (let i = 0; i < n; i++) {
        const id = g.members[(g.next + i) % n];
        if (this.sessions.get(id)!.online) {
          g.next = (g.next + i + 1) % n;
          chosen = id;
          break;
        }
      }
      if (chosen === undefined) {
        chosen = g.members[g.next % n];
        g.next = (g.next + 1) % n;
      }
      const s = this.sessions.get(chosen)!;
      if (!s.online && m.qos > 0) this.count('sharedOffline');
      grant(s, s.subs.get(`$share/${g.group}/${g.filter}`)!);
    }
    for (const [s, q] of granted) {
      const qos = Math.min(q, m.qos);
      // QoS 0 is never kept for a session; a connected client is sent (and acknowledges) the rest.
      if (qos === 0) continue;
      if (!s.online) {
        s.queue.push({ topic: m.topic, size: m.size, qos, inflight: false });
        this.count('queued');
      }
      // Sent and not acknowledged: by a client that acknowledges nothing, or while the server stops
      // (the connection ends before an acknowledgement can come).
      else if (s.stalled || (this.stopping && s.expiry > 0)) {
        s.queue.push({ topic: m.topic, size: m.size, qos, inflight: true });
        this.count('inflight');
      }
    }
  }

  /** Every figure, as the three views must show it; `sys`: the $SYS tree's own retained messages (after the sample read). */
  figures(sys: SysRetained): Figures {
    const o = this.observer;
    const all = [...this.sessions.values()];
    const online = all.filter((s) => s.online);
    const protocol = (v: Version): string => (v === 5 ? '5.0' : '3.1.1');
    const connections: Record<string, number> = { [o.connection]: 1 };
    for (const s of online) {
      const key = `mqtt ${protocol(s.version)}`;
      connections[key] = (connections[key] ?? 0) + 1;
    }
    let subscriptions = 1;
    let queued = 0;
    let inflight = 0;
    let queuedBytes = 0;
    let stateBytes = utf8(o.clientId) + utf8(o.filter);
    for (const s of all) {
      subscriptions += s.subs.size;
      for (const e of s.queue) {
        if (e.inflight) inflight++;
        else queued++;
        queuedBytes += utf8(e.topic) + e.size;
      }
      stateBytes += utf8(s.id);
      for (const f of s.subs.keys()) stateBytes += utf8(f);
      if (s.will) stateBytes += utf8(s.will.topic) + s.will.size;
    }
    let retainedBytes = 0;
    for (const [topic, n] of this.retained) retainedBytes += utf8(topic) + n;
    const sysBytes = (tree: SysRetained): number => {
      let n = 0;
      for (const [topic, payload] of tree) n += utf8(topic) + utf8(payload);
      return n;
    };
    const clients = online.length + 1;
    const sessions = all.length + 1;
    // clients/maximum is sampled: the most connected at any sample, this one included.
    this.maximum = Math.max(this.maximum, clients);
    const subRows = [{ clientId: o.clientId, filter: o.filter, qos: 0, online: true }];
    for (const s of all) for (const [filter, q] of s.subs) subRows.push({ clientId: s.id, filter, qos: q, online: s.online });
    const clientRows = [{ clientId: o.clientId, protocol: '3.1.1', queued: 0, inflight: 0, subscriptions: 1 }];
    for (const s of online) {
      const inflight = s.queue.filter((e) => e.inflight).length;
      clientRows.push({ clientId: s.id, protocol: protocol(s.version), queued: s.queue.length - inflight, inflight, subscriptions: s.subs.size });
    }
    const retainedRows = [...this.retained].map(([topic, n]) => ({ topic, size: n }));
    return normalise({
      metrics: {
        connections,
        sessions: { online: clients, offline: sessions - clients },
        subscriptions,
        queuedMessages: queued,
        inflightMessages: inflight,
        queuedBytes,
        sessionStateBytes: stateBytes,
        retainedMessages: this.retained.size + sys.size,
        retainedBytes: retainedBytes + sysBytes(sys),
        connectionsAccepted: this.since.connections,
        willsPublished: this.since.wills,
      },
      // The $SYS tree's own values are retained messages too, as the sample publishes them.
      sys: {
        'clients/connected': String(clients),
        'clients/disconnected': String(sessions - clients),
        'clients/total': String(sessions),
        'subscriptions/count': String(subscriptions),
        'messages/inflight': String(inflight),
        'messages/queued': String(queued),
        'messages/queued/bytes': String(queuedBytes),
        'sessions/state/bytes': String(stateBytes),
        'retained messages/count': String(this.retained.size + sys.size),
        'retained messages/bytes': String(retainedBytes + sysBytes(sys)),
        'clients/maximum': String(this.maximum),
      },
      admin: {
        overview: { clients, sessions, retained: this.retained.size + sys.size, connectionsTotal: this.since.connections, willsPublished: this.since.wills },
        clients: { total: clients, rows: clientRows },
        client: Object.fromEntries(clientRows.map((r) => [r.clientId, r])),
        subscriptionsOf: Object.fromEntries([[o.clientId, [`${o.filter} q0`]], ...all.filter((s) => s.online || s.subs.size > 0).map((s) => [s.id, [...s.subs].map(([f, q]) => `${f} q${q}`).sort()])]),
        retainedTopic: Object.fromEntries(this.retained),
        subscriptions: { total: subRows.length, rows: subRows },
        retained: { total: retainedRows.length, rows: retainedRows },
      },
    });
  }
}

const byKey = (...keys: string[]) => (a: any, b: any): number => {
  for (const k of keys) if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  return 0;
};

/** Rows in one order and records with sorted keys, so two Figures compare with deepEqual. */
export function normalise(f: Figures): Figures {
  const sorted = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))) as T;
  return {
    metrics: { ...f.metrics, connections: sorted(f.metrics.connections) },
    sys: sorted(f.sys),
    admin: {
      overview: f.admin.overview,
      client: sorted(f.admin.client),
      subscriptionsOf: sorted(f.admin.subscriptionsOf),
      retainedTopic: sorted(f.admin.retainedTopic),
      clients: { total: f.admin.clients.total, rows: [...f.admin.clients.rows].sort(byKey('clientId')) },
      subscriptions: { total: f.admin.subscriptions.total, rows: [...f.admin.subscriptions.rows].sort(byKey('clientId', 'filter')) },
      retained: { total: f.admin.retained.total, rows: [...f.admin.retained.rows].sort(byKey('topic')) },
    },
  };
}
