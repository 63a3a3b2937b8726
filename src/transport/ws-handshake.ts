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
 * Origin policy (webSocketAllowedOrigins): `*` = any; otherwise only the listed origins, so an
 * empty list refuses every browser page except the listener's own (`isOwnOrigin`, checked by the
 * caller, which knows the listener). No Origin header (not a browser, RFC 6455 §4.1 makes
 * browsers send one) always passes: the check protects browsers' users, not the broker.
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

/** A bind address that names no host of its own: the request's local address stands for it. */
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);
const bare = (host: string): string => host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
const isLoopback = (address: string): boolean => /^127\./.test(address) || address === '::1';

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
  return local !== '' && (host === local || (host === 'localhost' && isLoopback(local)));
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
