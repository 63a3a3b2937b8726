// What the transport is told: its own settings only, built from the configuration by the server
// (server/transport-options.ts). The transport never reads the Config
// (test/architecture/layers.test.ts forbids transport → config imports).
import type { SecureVersion } from 'node:tls';
import type { ListenerInfo } from './transport.js';

/** Identity → key bytes (TLS-PSK). */
export type PskTable = Map<string, Buffer>;

/** The MQTT-over-WebSocket endpoint: path, browser origins, proxies, pings and frame size. */
export interface WebSocketOptions {
  /** The MQTT endpoint's HTTP path, unless a listener URL gives its own, e.g. `/mqtt`. */
  path: string;
  /** Browser origins admitted (`*`, `same-host`, patterns), as configured. */
  allowedOrigins: readonly string[];
  /** The client address comes from X-Forwarded-For (behind a reverse proxy). */
  trustForwardedFor: boolean;
  trustedProxyHops: number;
  /** 0: no pings. */
  pingIntervalSec: number;
  /** Largest WebSocket message taken; 0: one maximum-size packet and some slack. */
  maxFrameSize: number;
  /** The largest MQTT packet accepted (bytes). */
  maxPacketSize: number;
}

/** Certificate and PSK material and policy for TLS listeners (mqtt+ssl, mqtt+ssl+psk, ws+ssl). */
export interface TlsSettings {
  /** File paths; '' when not configured. */
  certificateFile: string;
  keyFile: string;
  trustedCaFile: string;
  pskIdentityFile: string;
  /** Identity hint sent to PSK clients; '' for none. */
  pskIdentityHint: string;
  /** The PSK table from the configured identities and the identity file's bytes (re-read on refresh). */
  pskKeys(identityFile: Buffer | undefined): PskTable;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  /** OpenSSL cipher list; '' for Node's default. */
  ciphers: string;
  /** Ask clients for a certificate (mutual TLS is in use). */
  requestClientCert: boolean;
  /** Refuse clients without a trusted certificate. */
  requireTrustedClientCert: boolean;
  /** Let untrusted client certificates in (peer.authorized stays false). */
  allowUntrustedClientCert: boolean;
  /** How often the files are read again for rotation; 0: never. */
  refreshCheckSec: number;
}

/** Everything the listeners read, besides the logger and the server's plug-ins. */
export interface TransportOptions {
  webSocket: WebSocketOptions;
  tls: TlsSettings;
  /** The configured listeners, for pointing a client that came to the wrong port at the right one. */
  listeners: readonly ListenerInfo[];
}
