// The transport port: what a connection needs from a byte stream, whatever carries it
// (TCP, TLS, WebSocket, secure WebSocket). The server layer owns MQTT; transports own bytes.

export type ListenerScheme = 'mqtt' | 'mqtt+ssl' | 'mqtt+ssl+psk' | 'ws' | 'ws+ssl';

export interface ListenerInfo {
  /** The listener as configured, e.g. `ws://127.0.0.1:8083`; a configured port 0 is replaced by the bound port. */
  url: string;
  scheme: ListenerScheme;
  host: string;
  /** The bound port (the OS-chosen one when configured as 0). */
  port: number;
  /** WebSocket listeners: the HTTP path of the MQTT endpoint, e.g. `/mqtt`. */
  path?: string;
}

/** What TLS established about the peer, for authentication and ACLs. */
export interface PeerIdentity {
  /** True when a client certificate was presented and verified against the trusted CAs. */
  authorized: boolean;
  /** Subject fields of the verified client certificate (CN, O, OU, ...). */
  certificateSubject?: Record<string, string>;
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

export interface Transport {
  readonly listener: ListenerInfo;
  /** Client address (X-Forwarded-For when the listener trusts it). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peer?: PeerIdentity;
  /** 'tcp' | 'tls' | 'ws' | 'wss', or 'stream' (a stream the library's `handle` was given), for logs and metrics. */
  readonly kind: 'tcp' | 'tls' | 'ws' | 'wss' | 'stream';
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
}

/** Called by a listener for each accepted transport. */
export type AcceptTransport = (transport: Transport) => void;
