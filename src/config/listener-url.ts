// Listener URLs as users write them in `mqttListeners`, e.g. `ws+ssl://0.0.0.0:8084/mqtt`.
import { isIPv4, isIPv6 } from 'node:net';
import type { ListenerScheme } from '../transport/transport.js';

export interface ListenerAddress {
  scheme: ListenerScheme;
  /** Host to bind, without IPv6 brackets. */
  host: string;
  port: number;
  /** WebSocket path given in the URL itself (ws and ws+ssl only); overrides webSocketPath for this listener. */
  path?: string;
}

const SCHEME_HINT = 'use mqtt://, mqtt+ssl://, ws://, ws+ssl://';

const aliases: Record<string, ListenerScheme> = {
  mqtt: 'mqtt',
  'mqtt+ssl': 'mqtt+ssl',
  mqtts: 'mqtt+ssl',
  'mqtt+ssl+psk': 'mqtt+ssl+psk',
  ws: 'ws',
  'ws+ssl': 'ws+ssl',
  wss: 'ws+ssl',
};

/** Schemes other software uses for the same thing: refused, with the spelling Starling wants. */
const foreign: Record<string, string> = {
  tcp: 'for plain MQTT write mqtt://',
  ssl: 'for MQTT over TLS write mqtt+ssl://',
  tls: 'for MQTT over TLS write mqtt+ssl://',
  'mqtt+tls': 'for MQTT over TLS write mqtt+ssl://',
  http: 'for MQTT over WebSocket write ws://',
  https: 'for MQTT over secure WebSocket write ws+ssl://',
  'ws+tls': 'for secure WebSocket write ws+ssl://',
};

/** Ports used when a URL gives none: the usual IANA/EMQX/MoP ones. */
export const DEFAULT_PORTS: Partial<Record<ListenerScheme, number>> = {
  mqtt: 1883,
  'mqtt+ssl': 8883,
  ws: 8083,
  'ws+ssl': 8084,
};

export const isWebSocketScheme = (s: ListenerScheme): boolean => s === 'ws' || s === 'ws+ssl';
export const isTlsScheme = (s: ListenerScheme): boolean => s === 'mqtt+ssl' || s === 'mqtt+ssl+psk' || s === 'ws+ssl';

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
  const scheme = aliases[given];
  if (!scheme) {
    const extra = foreign[given] ? `; ${foreign[given]}` : '';
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
    const d = DEFAULT_PORTS[scheme];
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

/** What a client types to reach a listener, e.g. `wss://127.0.0.1:8084/mqtt` or `mqtts://[::1]:8883`. */
export function clientUrl(l: { scheme: ListenerScheme; host: string; port: number; path?: string }, webSocketPath = '/mqtt'): string {
  // A wildcard bind is not an address a client can dial; name the loopback of the same family.
  const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
  const h = isIPv6(host) ? `[${host}]` : host;
  switch (l.scheme) {
    case 'mqtt':
      return `mqtt://${h}:${l.port}`;
    case 'mqtt+ssl':
    case 'mqtt+ssl+psk':
      return `mqtts://${h}:${l.port}`;
    case 'ws':
      return `ws://${h}:${l.port}${l.path ?? webSocketPath}`;
    case 'ws+ssl':
      return `wss://${h}:${l.port}${l.path ?? webSocketPath}`;
  }
}
