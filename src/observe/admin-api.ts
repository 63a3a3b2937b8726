// The JSON admin API under /api/v1/. Off unless a token or admin users are configured. A request
// carries `Authorization: Bearer <token>` or, for a user listed in httpAdminUsers,
// `Authorization: Basic` with that user's password-file credentials. Browsers never attach a Bearer
// header on their own, and we never answer with a Basic challenge, so a browser never caches Basic
// credentials either: a page on another origin cannot drive the API through a logged-in operator.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { StoredMessage } from '../store/ports.js';
import { HttpError, readJson, sendError, sendJson, type Req, type Res } from './http-util.js';
import { adminTopic, messageFromRequest, messageJson } from './admin-json.js';
import type { AdminSource, AdminUserCheck, ClientView, LogView } from './ports.js';
import { byClientId, bySubscription, clientRow, clientRows, retainedMessage, retainedMessages, subscriptionRows, type ClientRow, type SubscriptionRow } from './introspect.js';
import { packageVersion } from './package-info.js';
import type { PacketTrace } from './trace.js';
import { serveTrace } from './trace-stream.js';

export const API_PREFIX = '/api/v1';

/**
 * The other processes of one broker (the workers of `workers=N`): their part of the client and
 * subscription lists, and kicking a client connected there.
 */
export interface AdminPeers {
  ask(op: 'clients' | 'subscriptions' | 'kick', clientId?: string): Promise<{ rows?: unknown[]; kicked?: boolean }>;
}

export interface AdminApiOptions {
  /** The other workers of this broker, when there are some. */
  peers?: AdminPeers;
  /** The bearer token; empty or absent = bearer tokens are not accepted. */
  token?: string;
  /** Users allowed in with HTTP Basic (httpAdminUsers over mqttPasswordFile). */
  users?: AdminUserCheck;
  /** Largest request body accepted, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  version?: string;
  log?: LogView;
  /** The live packet trace served at /api/v1/trace; absent = no trace endpoint. */
  trace?: PacketTrace;
}

/** Handles one request whose path starts with /api/v1. */
export type AdminApi = (req: Req, res: Res, path: string, query: URLSearchParams) => void;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Pagination: `limit` (1..10000, default 1000) and `offset` (default 0). */
function page<T>(items: T[], query: URLSearchParams): { total: number; offset: number; items: T[] } {
  const limit = Math.min(10_000, Math.max(1, Number.parseInt(query.get('limit') ?? '1000', 10) || 1000));
  const offset = Math.max(0, Number.parseInt(query.get('offset') ?? '0', 10) || 0);
  return { total: items.length, offset, items: items.slice(offset, offset + limit) };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in path');
  }
}

export type { ClientRow, SubscriptionRow } from './introspect.js';

/** This process's answer to another worker's admin question (see AdminPeers). */
export function localAdminAnswer(source: AdminSource, op: 'clients' | 'subscriptions' | 'kick', clientId?: string): { rows?: unknown[]; kicked?: boolean } {
  if (op === 'clients') return { rows: clientRows(source) };
  if (op === 'subscriptions') return { rows: subscriptionRows(source, clientId ?? null) };
  return { kicked: clientId !== undefined && source.kick(clientId) };
}

export function createAdminApi(source: AdminSource, options: AdminApiOptions): AdminApi {
  if (!options.token && !options.users) throw new Error('the admin API needs a token or admin users');
  const expected = options.token ? digest(options.token) : undefined;
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const version = options.version ?? packageVersion();
  const log = options.log;

  /** Who the request is, or an HttpError saying why not. */
  const authorize = async (req: Req): Promise<string> => {
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Comparing digests keeps the comparison constant-time whatever the lengths.
    if (bearer && expected && timingSafeEqual(digest(bearer[1]), expected)) return 'token';
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (basic && options.users) {
      if (crossSite(req)) throw new HttpError(403, 'Basic credentials are not accepted from another site');
      const text = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon > 0) {
        const user = text.slice(0, colon);
        const verdict = await options.users.check(user, text.slice(colon + 1), req.socket.remoteAddress);
        if (verdict === 'admin') return user;
        if (verdict === 'not-admin') throw new HttpError(403, `user ${JSON.stringify(user)} is not an admin user (httpAdminUsers)`);
        // Password checks take turns by address (auth/check-gate.ts): this one was not checked.
        if (verdict === 'busy') throw new HttpError(503, 'too many password checks under way from this address; try again shortly', { 'Retry-After': '1' });
      }
    }
    const what = [expected ? 'bearer token' : '', options.users ? 'admin user credentials' : ''].filter(Boolean).join(' or ');
    throw new HttpError(401, `missing or invalid ${what}`, { 'WWW-Authenticate': 'Bearer realm="starling admin"' });
  };

  const findClient = (id: string): ClientView | undefined => {
    for (const c of source.connectedClients()) if (c.clientId === id) return c;
    return undefined;
  };

  const overview = () => {
    const st = source.stats;
    return {
      version,
      uptimeSeconds: Math.floor((source.now() - st.startedAt) / 1000),
      clients: source.clients.size,
      sessions: source.sessions.size,
      retained: source.retained.size,
      stats: {
        messagesReceived: st.messagesReceived,
        messagesSent: st.messagesSent,
        publishReceived: st.publishReceived,
        publishSent: st.publishSent,
        bytesReceived: st.bytesReceived,
        bytesSent: st.bytesSent,
        connectionsTotal: st.connectionsTotal,
        authFailures: st.authFailures,
        willsPublished: st.willsPublished,
        drops: { ...st.drops },
      },
    };
  };

  const peers = options.peers;
  const subscriptions = async (query: URLSearchParams) => {
    const only = query.get('clientId');
    const out = subscriptionRows(source, only);
    if (peers) out.push(...(((await peers.ask('subscriptions', only ?? undefined)).rows ?? []) as SubscriptionRow[]));
    out.sort(bySubscription);
    const p = page(out, query);
    return { total: p.total, offset: p.offset, subscriptions: p.items };
  };

  /** Every connected client as a row, this process's and (with peers) the other workers'. */
  const allClientRows = async (): Promise<ClientRow[]> => {
    const rows = clientRows(source);
    if (peers) rows.push(...(((await peers.ask('clients')).rows ?? []) as ClientRow[]));
    return rows.sort(byClientId);
  };

  const retained = (query: URLSearchParams) => {
    const topic = query.get('topic');
    if (topic !== null) {
      const m = retainedMessage(source, topic);
      if (!m) throw new HttpError(404, 'no retained message on that topic');
      return messageJson(m, true);
    }
    const filter = query.get('filter') ?? '#';
    let all: StoredMessage[];
    try {
      all = retainedMessages(source, filter);
    } catch (err) {
      throw new HttpError(400, `filter: ${(err as Error).message}`);
    }
    const p = page(all, query);
    return { total: p.total, offset: p.offset, messages: p.items.map((m) => messageJson(m, false)) };
  };

  /** Publishes through the broker like a client would; resolves once routed (and durable, when it must be). */
  const publish = async (message: StoredMessage): Promise<number> => source.route(message);

  const route = async (req: Req, res: Res, path: string, query: URLSearchParams, who: string): Promise<void> => {
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    const rest = path.slice(API_PREFIX.length).replace(/\/+$/, '');
    const parts = rest.split('/').slice(1);
    const allow = (methods: string): never => {
      throw new HttpError(405, 'method not allowed', { Allow: methods });
    };

    if (rest === '') return get ? sendJson(req, res, 200, { version, endpoints: ENDPOINTS }) : allow('GET, HEAD');
    if (rest === '/broker') return get ? sendJson(req, res, 200, overview()) : allow('GET, HEAD');
    if (rest === '/listeners') return get ? sendJson(req, res, 200, { listeners: source.listeners() }) : allow('GET, HEAD');
    if (rest === '/subscriptions') return get ? sendJson(req, res, 200, await subscriptions(query)) : allow('GET, HEAD');
    if (rest === '/clients') {
      if (!get) return allow('GET, HEAD');
      const p = page(searched(await allClientRows(), query.get('search')), query);
      return sendJson(req, res, 200, { total: p.total, offset: p.offset, clients: p.items });
    }
    if (parts[0] === 'clients' && (parts.length === 2 || (parts.length === 3 && parts[2] === 'kick'))) {
      const id = decodeSegment(parts[1]);
      if (parts.length === 2) {
        if (!get) return allow('GET, HEAD');
        const c = findClient(id);
        const row = c ? clientRow(source, c) : (await allClientRows()).find((r) => r.clientId === id);
        if (!row) throw new HttpError(404, 'no connected client with that id');
        return sendJson(req, res, 200, row);
      }
      if (method !== 'POST') return allow('POST');
      const kicked = source.kick(id) || (peers ? (await peers.ask('kick', id)).kicked === true : false);
      if (!kicked) throw new HttpError(404, 'no connected client with that id');
      log?.info({ clientId: id, admin: who, remote: req.socket.remoteAddress }, 'client disconnected by the admin API');
      return sendJson(req, res, 200, { clientId: id, kicked: true });
    }
    if (rest === '/retained') {
      if (get) return sendJson(req, res, 200, retained(query));
      if (method !== 'DELETE') return allow('GET, HEAD, DELETE');
      const given = query.get('topic');
      if (given === null) throw new HttpError(400, 'DELETE needs ?topic=');
      // Clearing is a publish (below): the same rules as any publish, so what MQTT could not have
      // retained is refused here too, with the rule it breaks.
      const topic = adminTopic(given, 'topic', source.options);
      if (!source.retained.get(topic)) throw new HttpError(404, 'no retained message on that topic');
      // An empty retained message clears the topic [MQTT-3.3.1-10]; it is stored durably and, as for
      // any client doing the same, delivered to current subscribers.
      await publish({ id: source.ids.next(), topic, payload: Buffer.alloc(0), qos: 0, retain: true, createdAt: source.now() });
      log?.info({ topic, admin: who, remote: req.socket.remoteAddress }, 'retained message deleted by the admin API');
      return sendJson(req, res, 200, { topic, deleted: true });
    }
    if (rest === '/trace') {
      if (!get) return allow('GET');
      if (!options.trace) throw new HttpError(404, 'no packet trace on this broker');
      return serveTrace(req, res, query, options.trace, who, log);
    }
    if (rest === '/publish') {
      if (method !== 'POST') return allow('POST');
      const body = await readJson(req, maxBody);
      const message = messageFromRequest(body, source.ids.next(), source.now(), source.options);
      const matched = await publish(message);
      log?.info({ topic: message.topic, qos: message.qos, retain: message.retain, admin: who, remote: req.socket.remoteAddress }, 'message published by the admin API');
      return sendJson(req, res, 200, { id: message.id, matched });
    }
    throw new HttpError(404, 'no such admin endpoint');
  };

  return (req, res, path, query) => {
    authorize(req)
      .then((who) => route(req, res, path, query, who), (err: unknown) => {
        // Drain any body so the connection can be reused, then refuse.
        req.resume();
        throw err;
      })
      .catch((err: unknown) => {
        if (!(err instanceof HttpError)) log?.error({ err, path }, 'admin API request failed');
        sendError(req, res, err);
      });
  };
}

/**
 * A browser request from another site (Fetch Metadata, or an Origin whose host is not ours).
 * Defence in depth for Basic credentials, which a browser could hold for the user.
 */
function crossSite(req: Req): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

/** Rows whose client id, user name, address or listener (either URL) contains `search` (case-insensitive). */
function searched(rows: ClientRow[], search: string | null): ClientRow[] {
  const q = search?.trim().toLowerCase().slice(0, 256);
  if (!q) return rows;
  return rows.filter((r) => [r.clientId, r.username ?? '', r.address, r.listener, r.listenerUrl].some((v) => v.toLowerCase().includes(q)));
}

const ENDPOINTS = [
  'GET /api/v1/broker',
  'GET /api/v1/listeners',
  'GET /api/v1/clients?search=&limit=&offset=',
  'GET /api/v1/clients/{clientId}',
  'POST /api/v1/clients/{clientId}/kick',
  'GET /api/v1/subscriptions?clientId=&limit=&offset=',
  'GET /api/v1/retained?filter=&limit=&offset=',
  'GET /api/v1/retained?topic=',
  'DELETE /api/v1/retained?topic=',
  'POST /api/v1/publish',
  'GET /api/v1/trace?clientId=&filter=',
];
