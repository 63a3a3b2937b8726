// The transport port: what a connection needs from a byte stream, whatever carries it
// (TCP, TLS, WebSocket, secure WebSocket). The server layer owns MQTT; transports own bytes.
import type { Socket } from 'node:net';
import type { ListenerScheme, TransportKind } from './kinds.js';

export type { ListenerScheme, TransportKind };

/** A listener URL as parsed (config/listener-url.ts). */
export interface ListenerAddress {
  scheme: ListenerScheme;
  /** Host to bind, without IPv6 brackets. */
  host: string;
  port: number;
  /** WebSocket path given in the URL itself (ws and ws+ssl only); overrides the configured path for this listener. */
  path?: string;
}

/** A listener to open: its URL as configured, parsed. */
export interface ListenerSpec extends ListenerAddress {
  url: string;
}

export interface ListenerInfo extends ListenerSpec {
  /** The listener as configured, e.g. `ws://127.0.0.1:8083`; a configured port 0 is replaced by the bound port. */
  url: string;
  /** The bound port (the OS-chosen one when configured as 0). */
  port: number;
  /** WebSocket listeners: the HTTP path of the MQTT endpoint, e.g. `/mqtt`. */
  path?: string;
  /** WebSocket listeners: the browser origins admitted, in words (printed and logged at start). */
  origins?: string[];
}

/** What TLS established about the peer, for authentication and ACLs. */
export interface PeerIdentity {
  /** True when a client certificate was presented and verified against the trusted CAs. */
  authorized: boolean;
  /** Subject fields of the verified client certificate (CN, O, OU, ...); a repeated field is a list. */
  certificateSubject?: Record<string, string | readonly string[]>;
  /** The PSK identity the client used (mqtt+ssl+psk listeners). */
  pskIdentity?: string;
}

export interface TransportHandlers {
  data(chunk: Buffer): void;
  /** The transport can take more writes after `write` returned false. */
  drain(): void;
  /** The transport is gone; `error` says why when it was not a normal close. */
  close(error?: Error): void;
}

/**
 * A socket's place under the connection limits (maxConnections, maxConnectionsPerAddress), held
 * from accept until the socket closes, through a TLS handshake or a WebSocket upgrade.
 */
export interface AdmissionTicket {
  /** When the socket was accepted (ms since the epoch): connectTimeoutSec counts from here. */
  readonly acceptedAt: number;
  /**
   * Set when the socket is over this limit and was let in only for a moment, to show whether it is
   * plain HTTP (an operator's /metrics or console on a WebSocket port): a WebSocket upgrade on it
   * is refused (503).
   */
  readonly refused?: string;
  /**
   * The socket carries plain HTTP (console, /metrics, admin API), not MQTT: it stops being timed by
   * connectTimeoutSec (Node's HTTP timeouts govern it) but keeps its place until it closes, since a
   * keep-alive HTTP socket holds a descriptor as long as any connection. False for a socket let in
   * over a limit only to show it is HTTP: it holds no place, so it must close after its response.
   */
  leave(): boolean;
}

export interface GateOptions {
  /** False when the socket's address is a proxy's (X-Forwarded-For names the client): only the total counts yet. */
  byAddress: boolean;
  /** The socket may carry plain HTTP (WebSocket listeners): over a limit, it may still show it is HTTP. */
  http: boolean;
}

/** What the server does with each socket a TLS or WebSocket listener accepts, before anything is read. */
export interface AdmissionGate {
  /**
   * Takes a place for a socket just accepted. Undefined when a limit refused it: the gate has
   * counted and destroyed it (no CONNACK can be sent before the handshake).
   */
  enter(socket: Socket, listener: ListenerInfo, opts: GateOptions): AdmissionTicket | undefined;
}

export interface Transport {
  readonly listener: ListenerInfo;
  /**
   * The place its socket took at accept (TLS and WebSocket listeners with a gate), handed over
   * once: the transport keeps no reference to it after, so an idle connection does not hold it.
   */
  takeAdmission?(): AdmissionTicket | undefined;
  /** Client address (X-Forwarded-For when the listener trusts it). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peer?: PeerIdentity;
  /** Its listener kind's transport (transport/kinds.ts), or 'stream' (the library's `handle`), for logs and metrics. */
  readonly kind: TransportKind;
  /** Installs the connection's handlers; data may arrive as soon as this is called. */
  start(handlers: TransportHandlers): void;
  /** Sends one or more whole MQTT packets; false means the caller should wait for drain. */
  write(data: Buffer): boolean;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Batch writes made in this turn (cork/uncork); a no-op where the transport cannot. */
  cork(): void;
  uncork(): void;
  /** Stops reading (backpressure from the broker side) and resumes. */
  pause(): void;
  resume(): void;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  /**
   * The MQTT connection's keepalive watchdog closes it after `ms` without a packet (0: never). The
   * transport asks the OS to probe a silent peer (TCP keepalive) where that would notice a vanished
   * one sooner. Absent where there is no socket of its own.
   */
  silenceLimit?(ms: number): void;
}

/** Called by a listener for each accepted transport. */
export type AcceptTransport = (transport: Transport) => void;
