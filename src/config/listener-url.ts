// Listener URLs as users write them in `mqttListeners`, e.g. `ws+ssl://0.0.0.0:8084/mqtt`.
import { isIPv4, isIPv6 } from 'node:net';
import { LISTENER_KINDS, LISTENER_SCHEMES, isWebSocketScheme, schemeNamed, type ListenerKind } from '../transport/kinds.js';
import type { ListenerAddress } from '../transport/transport.js';

export type { ListenerAddress };

/** The schemes a user is pointed to: those with a usual port (PSK is for those who know it). */
const SCHEME_HINT = `use ${LISTENER_SCHEMES.filter((s) => 'defaultPort' in LISTENER_KINDS[s]).map((s) => `${s}://`).join(', ')}`;

/** Schemes other software uses for the same thing: refused, with the spelling Starling wants. */
function lookalikeHint(given: string): string | undefined {
  for (const s of LISTENER_SCHEMES) {
    const words = (LISTENER_KINDS[s].lookalikes as Readonly<Record<string, string>>)[given];
    if (words) return `for ${words} write ${s}://`;
  }
  return undefined;
}

const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[^\]]*\]|[^:/?#[\]]*)(?::([^/?#]*))?(\/[^?#]*)?$/;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses one listener URL; throws an Error whose message is fit to show to a user. */
export function parseListenerUrl(url: string): ListenerAddress {
  const text = url.trim();
  const m = URL_RE.exec(text);
  if (!m) {
    if (!text.includes('://')) throw new Error(`"${text}" has no scheme (${SCHEME_HINT}, e.g. mqtt://127.0.0.1:1883)`);
    throw new Error(`"${text}" is not a listener URL like mqtt://127.0.0.1:1883`);
  }
  const [, rawScheme, rawHost, rawPort, rawPath] = m;
  const given = rawScheme.toLowerCase();
  const scheme = schemeNamed(given);
  if (!scheme) {
    const hint = lookalikeHint(given);
    const extra = hint ? `; ${hint}` : '';
    throw new Error(`unknown scheme "${rawScheme}" (${SCHEME_HINT}${extra})`);
  }

  let host = rawHost;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) throw new Error(`"${rawHost}" is not an IPv6 address`);
  } else if (host === '') {
    throw new Error(`"${text}" has no host (use 127.0.0.1 for this machine only, 0.0.0.0 for every interface)`);
  } else if (!isIPv4(host) && !HOSTNAME_RE.test(host)) {
    throw new Error(`"${rawHost}" is not a host name or IP address (write IPv6 addresses in brackets, e.g. [::1])`);
  }

  let port: number;
  if (rawPort === undefined || rawPort === '') {
    const d = (LISTENER_KINDS[scheme] as ListenerKind).defaultPort;
    if (d === undefined) throw new Error(`"${text}" needs a port (${scheme}:// has no usual port)`);
    port = d;
  } else {
    if (!/^\d{1,5}$/.test(rawPort) || Number(rawPort) > 65535) throw new Error(`port "${rawPort}" is not 0..65535`);
    port = Number(rawPort);
  }

  const result: ListenerAddress = { scheme, host, port };
  if (rawPath !== undefined && rawPath !== '/') {
    if (!isWebSocketScheme(scheme)) {
      throw new Error(`"${text}": only ws:// and ws+ssl:// listeners take a path (MQTT over TCP has none)`);
    }
    result.path = rawPath;
  }
  return result;
}
