// The one table of listener kinds: every scheme `mqttListeners` accepts, with its other spellings,
// usual port, the transport it becomes and its label. Config parses URLs with it, the transport
// opens listeners by it, observe labels connections with it and the CLI prints and dials by it.
// A leaf: it imports nothing from src/, so every layer may read it (test/architecture/layers.test.ts).
import { isIPv6 } from 'node:net';

export interface ListenerKind {
  /** Other spellings accepted for the scheme, e.g. `mqtts` for `mqtt+ssl`. */
  readonly aliases: readonly string[];
  /**
   * Schemes other software uses for the same thing, refused with the spelling Starling wants;
   * each with what it carries in words (`tcp` → "plain MQTT").
   */
  readonly lookalikes: Readonly<Record<string, string>>;
  /** The port a URL without one gets (the usual IANA/EMQX/MoP ones); none for PSK. */
  readonly defaultPort?: number;
  /** `Transport.kind` of its connections: logs, the admin API and /metrics. */
  readonly transport: 'tcp' | 'tls' | 'ws' | 'wss';
  /** What the kind carries, in words, for the start-up lines. */
  readonly label: string;
  /** How the listener authenticates TLS: none, a certificate, or pre-shared keys. */
  readonly tls: 'none' | 'certificate' | 'psk';
  /** MQTT over WebSocket: the URL may carry a path, and plain HTTP is served beside it. */
  readonly webSocket: boolean;
  /** The scheme a client dials (MQTT.js, mosquitto_pub -L). */
  readonly dial: 'mqtt' | 'mqtts' | 'ws' | 'wss';
}

export const LISTENER_KINDS = {
  mqtt: { aliases: [], lookalikes: { tcp: 'plain MQTT' }, defaultPort: 1883, transport: 'tcp', label: 'MQTT over TCP', tls: 'none', webSocket: false, dial: 'mqtt' },
  'mqtt+ssl': {
    aliases: ['mqtts'],
    lookalikes: { ssl: 'MQTT over TLS', tls: 'MQTT over TLS', 'mqtt+tls': 'MQTT over TLS' },
    defaultPort: 8883,
    transport: 'tls',
    label: 'MQTT over TLS',
    tls: 'certificate',
    webSocket: false,
    dial: 'mqtts',
  },
  'mqtt+ssl+psk': { aliases: [], lookalikes: {}, transport: 'tls', label: 'MQTT over TLS-PSK', tls: 'psk', webSocket: false, dial: 'mqtts' },
  ws: { aliases: [], lookalikes: { http: 'MQTT over WebSocket' }, defaultPort: 8083, transport: 'ws', label: 'MQTT over WebSocket', tls: 'none', webSocket: true, dial: 'ws' },
  'ws+ssl': {
    aliases: ['wss'],
    lookalikes: { https: 'MQTT over secure WebSocket', 'ws+tls': 'secure WebSocket' },
    defaultPort: 8084,
    transport: 'wss',
    label: 'MQTT over secure WebSocket',
    tls: 'certificate',
    webSocket: true,
    dial: 'wss',
  },
} as const satisfies Record<string, ListenerKind>;

export type ListenerScheme = keyof typeof LISTENER_KINDS;
/** What carries a connection: a listener kind's transport, or a stream the library's `handle` was given. */
export type TransportKind = ListenerKind['transport'] | 'stream';
export type DialScheme = ListenerKind['dial'];

export const LISTENER_SCHEMES = Object.keys(LISTENER_KINDS) as ListenerScheme[];
export const kindOf = (scheme: ListenerScheme): ListenerKind => LISTENER_KINDS[scheme];
export const isWebSocketScheme = (s: ListenerScheme): boolean => LISTENER_KINDS[s].webSocket;
/** TLS of either sort (certificates or pre-shared keys). */
export const isTlsScheme = (s: ListenerScheme): boolean => LISTENER_KINDS[s].tls !== 'none';
export const usesCertificate = (s: ListenerScheme): boolean => LISTENER_KINDS[s].tls === 'certificate';

/** The listener scheme a spelling (scheme or alias, any case) names; undefined when none. */
export function schemeNamed(name: string): ListenerScheme | undefined {
  const n = name.toLowerCase();
  return LISTENER_SCHEMES.find((s) => s === n || (LISTENER_KINDS[s].aliases as readonly string[]).includes(n));
}

/** The usual port of each scheme a client dials (mqtt 1883, mqtts 8883, ws 8083, wss 8084). */
export const DIAL_PORTS: Readonly<Record<DialScheme, number>> = (() => {
  const out: Partial<Record<DialScheme, number>> = {};
  for (const s of LISTENER_SCHEMES) {
    const k: ListenerKind = LISTENER_KINDS[s];
    if (k.defaultPort !== undefined) out[k.dial] ??= k.defaultPort;
  }
  return out as Record<DialScheme, number>;
})();

/** What a client types to reach a listener, e.g. `wss://127.0.0.1:8084/mqtt` or `mqtts://[::1]:8883`. */
export function clientUrl(l: { scheme: ListenerScheme; host: string; port: number; path?: string }, webSocketPath = '/mqtt'): string {
  // A wildcard bind is not an address a client can dial; name the loopback of the same family.
  const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
  const h = isIPv6(host) ? `[${host}]` : host;
  const kind: ListenerKind = LISTENER_KINDS[l.scheme];
  return `${kind.dial}://${h}:${l.port}${kind.webSocket ? (l.path ?? webSocketPath) : ''}`;
}
