// The checks on a WebSocket upgrade request before it becomes a connection: path, Origin and
// subprotocol. Pure functions, so each rule is tested without sockets.
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Subprotocols Starling answers to. `mqtt` is the registered name [MQTT-6.0.0-3, MQTT-6.0.0-4];
 * `mqttv3.1` is what MQTT 3.1 clients (MQTT.js with protocolVersion 3, old Paho) offer; the
 * versioned spellings appear in a few client libraries. The protocol version itself is decided by
 * CONNECT, never by the subprotocol.
 */
export const MQTT_SUBPROTOCOLS: readonly string[] = ['mqtt', 'mqttv3.1', 'mqttv3.1.1', 'mqttv5.0'];

export type SubprotocolChoice =
  /** Answer with this subprotocol, or with none when `protocol` is undefined. */
  | { ok: true; protocol?: string }
  | { ok: false; offered: string[] };

/** Splits Sec-WebSocket-Protocol (possibly several headers joined by commas). */
export const offeredSubprotocols = (header: string | string[] | undefined): string[] =>
  (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/**
 * The rule, and why:
 * - offers `mqtt` → answer `mqtt`, as the spec requires of the server [MQTT-6.0.0-4];
 * - offers only other MQTT spellings → echo the first of them: a browser fails the handshake if
 *   the answer is one it did not offer (RFC 6455 §4.1), so answering `mqtt` would break them;
 * - offers nothing → accept without a subprotocol header: RFC 6455 forbids answering one here, and
 *   such clients (hand-written tools, some embedded stacks) are otherwise fine;
 * - offers only unknown subprotocols → refuse with 400: answering none makes browsers fail anyway
 *   with an opaque error, and answering theirs would claim a protocol we do not speak.
 */
export function chooseSubprotocol(offered: readonly string[]): SubprotocolChoice {
  if (offered.length === 0) return { ok: true };
  if (offered.includes('mqtt')) return { ok: true, protocol: 'mqtt' };
  const known = offered.find((p) => MQTT_SUBPROTOCOLS.includes(p));
  return known ? { ok: true, protocol: known } : { ok: false, offered: [...offered] };
}

/**
 * The origins listed in webSocketAllowedOrigins: `*` = any; `https://*.example.com` = its
 * subdomains on that scheme and port; otherwise exact. No Origin header (not a browser, RFC 6455
 * §4.1 makes browsers send one) always passes: the check protects browsers' users, not the broker.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.includes('*') || origin === undefined) return true;
  const o = origin.toLowerCase();
  return allowed.some((pattern) => {
    if (pattern === o) return true;
    const wild = /^([a-z][a-z0-9+.-]*:\/\/)\*\.([^/:]+)(:\d+)?$/.exec(pattern);
    if (!wild) return false;
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/:]+)(:\d+)?$/.exec(o);
    return !!m && m[1] === wild[1] && m[2].endsWith(`.${wild[2]}`) && (m[3] ?? '') === (wild[3] ?? '');
  });
}

/** A host that names this machine only: `localhost`, 127.0.0.0/8 or ::1 (brackets allowed). */
export function isLoopbackHost(host: string): boolean {
  const h = bare(host);
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * A page served from the user's own machine: http(s) on a loopback host, any port. No remote site
 * can have such an origin (a browser names a page by the host in its URL, and a remote site cannot
 * be reached as localhost); a dev server (`http://localhost:5173`, `http://127.0.0.1:5500`) can.
 */
export function isLocalOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.pathname === '/' && isLoopbackHost(url.hostname);
}

/** Why an upgrade's Origin was let in; undefined: refused. */
export type OriginGrant = 'no-origin' | 'own' | 'listed' | 'local' | 'file';

export interface OriginContext {
  /** webSocketAllowedOrigins. */
  allowed: readonly string[];
  listener: { secure: boolean; host: string; port: number };
  /** The local address the request arrived on (for the listener's own origin on a wildcard bind). */
  localAddress: string | undefined;
}

/**
 * The origin policy. Besides what webSocketAllowedOrigins lists, a page is admitted when it is the
 * listener's own (the web console), served from the user's own machine (`isLocalOrigin`), or opened
 * from a file (`Origin: null`) while the listener is bound to a loopback address only. `null` is
 * also what a sandboxed frame of any site sends, so it is admitted only where just this machine's
 * browser can reach the broker at all: the development set-up a file page belongs to.
 */
export function admitOrigin(origin: string | undefined, ctx: OriginContext): OriginGrant | undefined {
  if (origin === undefined) return 'no-origin';
  if (isOwnOrigin(origin, ctx.listener, ctx.localAddress)) return 'own';
  if (originAllowed(origin, ctx.allowed)) return 'listed';
  if (isLocalOrigin(origin)) return 'local';
  if (origin === 'null' && isLoopbackHost(ctx.listener.host)) return 'file';
  return undefined;
}

/** What a WebSocket listener admits, for the start-up line and the log's `origins` field. */
export function describeOrigins(allowed: readonly string[], listenerHost: string): string[] {
  if (allowed.includes('*')) return ['* (any page on any site)'];
  const out = ["this listener's own pages", 'http(s)://localhost, 127.0.0.0/8, [::1] (any port)'];
  if (isLoopbackHost(listenerHost)) out.push('null (pages opened from files)');
  return [...out, ...allowed];
}

/**
 * For a refused origin: the configuration line that admits it, or why there is none. Only a
 * well-formed origin is suggested (the config would refuse anything else), and never `null`.
 */
export function originAdvice(origin: string, allowed: readonly string[]): { fix: string; line?: string } {
  if (origin === 'null') {
    return {
      fix:
        'a page opened from a file (or a sandboxed frame) sends Origin null, admitted only by listeners bound to a loopback address; ' +
        'bind this listener to 127.0.0.1, or serve the page from a web server and list its origin in webSocketAllowedOrigins',
    };
  }
  let proper = false;
  try {
    proper = new URL(origin).origin === origin.toLowerCase();
  } catch {
    // not an origin at all
  }
  if (!proper) return { fix: 'not a well-formed origin; no configuration admits it' };
  const line = `webSocketAllowedOrigins=${[...allowed, origin.toLowerCase()].join(',')}`;
  return { fix: `to let pages from ${origin.toLowerCase()} connect, set ${line}`, line };
}

/** A bind address that names no host of its own: the request's local address stands for it. */
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);
const bare = (host: string): string => host.replace(/^\[(.*)\]$/, '$1').toLowerCase();

/**
 * Whether `origin` is the listener's own, the origin of the web console it serves: the scheme of
 * the listener (http for ws, https for ws+ssl), its bound port, and as host the configured bind
 * host (unless a wildcard), the local address this connection arrived on (IPv4-mapped IPv6
 * unwrapped), or `localhost` when that address is a loopback one. An address literal in an Origin
 * means the page came from that address and port, which is this listener.
 *
 * The Host header is never consulted. A DNS-rebinding page (evil.example re-resolved to the
 * broker's address) controls Host, but its Origin stays `http://evil.example:PORT`, a name that is
 * not our bind host, not an address literal and not `localhost`, so it is refused. A console reached
 * under a DNS name on a wildcard bind is not recognised: list that origin.
 */
export function isOwnOrigin(origin: string, listener: { secure: boolean; host: string; port: number }, localAddress: string | undefined): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (sandboxed frames, file: pages) and anything else that is no origin
  }
  if (url.protocol !== (listener.secure ? 'https:' : 'http:')) return false;
  if (Number(url.port || (listener.secure ? 443 : 80)) !== listener.port) return false;
  const host = bare(url.hostname);
  const configured = bare(listener.host);
  if (!WILDCARD_HOSTS.has(configured) && host === configured) return true;
  const local = bare(localAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  return local !== '' && (host === local || (host === 'localhost' && isLoopbackHost(local)));
}

/**
 * Client address behind `trustedHops` proxies of our own. Each proxy appends the address it was
 * connected from, so only the last `trustedHops` entries were written by us: entries to their left
 * come from the client and can say anything. With one proxy the last entry is the client.
 */
export function clientAddress(req: IncomingMessage, trustForwardedFor: boolean, trustedHops = 1): string {
  if (trustForwardedFor) {
    const xff = req.headers['x-forwarded-for'];
    const entries = (Array.isArray(xff) ? xff.join(',') : (xff ?? '')).split(',').map((e) => e.trim()).filter((e) => e !== '');
    // Fewer entries than hops: every entry was still written by one of our proxies; take the oldest.
    const chosen = entries[Math.max(0, entries.length - Math.max(1, trustedHops))];
    if (chosen && isIP(chosen)) return chosen;
  }
  return req.socket.remoteAddress ?? '';
}

export const requestPath = (url: string | undefined): string => (url ?? '/').split('?')[0];

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, body: string, headers: Record<string, string> = {}): void {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}
