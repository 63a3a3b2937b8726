// Shared listener plumbing: what openListener is given, binding with readable errors, and the
// TLS-handshake errors that are really a client using the wrong scheme.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TransportOptions } from './options.js';
import type { AdmissionGate, AdmissionTicket, GateOptions, ListenerInfo, PeerIdentity } from './transport.js';
import { adviceFor, spokenFromTlsError } from './mistakes.js';
import { logLimited, OncePerWindow } from './log-limit.js';
import { tlsFailure } from './tls-failures.js';

/** Gets the first go at a plain HTTP request on a ws/ws+ssl port; returns true when it answered. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ListenerOptions {
  /** TLS and WebSocket settings, and the configured listeners (built by the server from the configuration). */
  transport: TransportOptions;
  log: Logger;
  /** Web console, /metrics and the like plug in here (ws and ws+ssl listeners). */
  http?: HttpHandler;
  /**
   * The listeners actually bound, for pointing a client that came to the wrong port at the right
   * one; defaults to `transport.listeners`, as configured (ports 0 stay 0).
   */
  siblings?: () => readonly ListenerInfo[];
  /** Counts and times sockets from accept (TLS and WebSocket listeners); absent in transport tests. */
  gate?: AdmissionGate;
}

export interface OpenListener {
  info: ListenerInfo;
  /** Stops accepting; transports already handed out stay open (their owners close them). */
  close(): Promise<void>;
}

export const siblingsOf = (opts: ListenerOptions): readonly ListenerInfo[] => (opts.siblings ? opts.siblings() : opts.transport.listeners);

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another broker running?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not available on this machine',
};

/** Binds and resolves with the port actually bound; errors name the listener. */
export function listenOn(server: Server, host: string, port: number, url: string, log: Logger): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = (err.code && REASONS[err.code]) ?? err.message;
      reject(Object.assign(new Error(`cannot listen on ${url}: ${why}`), { code: err.code, cause: err }));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.removeListener('error', onError);
      // Later errors (accept failing with EMFILE when out of file descriptors) must not crash the
      // broker through an unhandled 'error' event; the listener keeps going once descriptors free up.
      server.on('error', (err: NodeJS.ErrnoException) => log.error({ listener: url, err: err.message, code: err.code }, 'listener error'));
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** The configured URL with port 0 replaced by the port the system chose, for logs and displays. */
export const boundUrl = (url: string, port: number): string => url.replace(/^([^:]+:\/\/(?:\[[^\]]*\]|[^:/]*)):0(?=\/|$)/, `$1:${port}`);

/** Stops accepting at once; does not wait for open connections (net.Server's callback would). */
export function stopAccepting(server: Server): Promise<void> {
  if (server.listening) server.close();
  return Promise.resolve();
}

/**
 * Handshake errors of a TLS server (tlsClientError): a client that did not speak TLS gets the
 * one-line advice; a failed handshake is a warning with its cause, once a minute per client address
 * (a client retrying every second, or many addresses at once, cannot flood the log or grow the
 * memory: see OncePerWindow).
 */
export function watchTlsFailures(server: Server, info: ListenerInfo, opts: ListenerOptions): void {
  // A socket that failed its handshake no longer knows its peer: remember it from the accept.
  const addresses = new WeakMap<object, string | undefined>();
  server.on('connection', (raw: Socket) => addresses.set(raw, raw.remoteAddress));
  const lines = new OncePerWindow();
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket): void => {
    // The raw socket under the TLS one (Node keeps it as _parent): its address and how much it sent.
    const raw = (socket as unknown as { _parent?: Socket })._parent;
    const remote = socket.remoteAddress ?? (raw ? addresses.get(raw) : undefined);
    const spoken = spokenFromTlsError(err.code);
    if (spoken) logLimited(lines, opts.log, 'warn', remote ?? '', { listener: info.url, remote }, adviceFor(info, spoken, siblingsOf(opts), info.path ?? opts.transport.webSocket.path));
    else {
      // Typed as an Error, set by Node as the verification code (UNABLE_TO_VERIFY_LEAF_SIGNATURE…).
      const refused = socket.authorizationError as unknown;
      const certificateError = refused instanceof Error ? refused.message : typeof refused === 'string' ? refused : undefined;
      const failure = tlsFailure(err.code, err.message, certificateError, raw?.bytesRead);
      const held = failure.probe ? undefined : lines.take(remote ?? '');
      const fields = { listener: info.url, remote, code: err.code, ...(certificateError ? { certificateError } : {}) };
      if (held === undefined) opts.log.debug({ ...fields, err: err.message }, `TLS handshake failed: ${failure.cause}`);
      else opts.log.warn({ ...fields, ...(held > 0 ? { failedSinceLastLine: held } : {}) }, `TLS handshake failed: ${failure.cause}`);
    }
    socket.destroy();
  });
}

/** What TLS established about a client: certificate subject and verification, PSK identity. */
export function peerOf(socket: TLSSocket, pskIdentity?: string): PeerIdentity {
  const cert = socket.getPeerCertificate();
  const present = !!cert && Object.keys(cert).length > 0;
  const peer: PeerIdentity = { authorized: present && socket.authorized };
  if (present && cert.subject) {
    // A field the subject repeats stays a list: joined, two CNs "alice" and "bob" would read as
    // one name "alice,bob" (authentication refuses a repeated identity field).
    const subject: Record<string, string | readonly string[]> = {};
    for (const [k, v] of Object.entries(cert.subject as unknown as Record<string, string | string[]>)) {
      subject[k] = Array.isArray(v) ? [...v] : v;
    }
    peer.certificateSubject = subject;
  }
  if (pskIdentity !== undefined) peer.pskIdentity = pskIdentity;
  return peer;
}

/** The gate's tickets of one listener's sockets, found again from the TLS socket or request on them. */
export interface SocketTickets {
  of(socket: Socket): AdmissionTicket | undefined;
  /** The ticket, handed to the transport made for the socket: the socket no longer holds it. */
  take(socket: Socket): AdmissionTicket | undefined;
  /**
   * The socket turned out to carry plain HTTP (AdmissionTicket.leave): false when it must close
   * after this response. Called for every request on a socket; the ticket stays on it, so an
   * upgrade on the same socket later claims the same place.
   */
  leave(socket: Socket): boolean;
}

const TICKET = Symbol('starling.ticket');
type Ticketed = Socket & { [TICKET]?: AdmissionTicket; _parent?: Socket | null };
/**
 * The socket the server accepted under `s`: `s` itself, or the TCP socket under a TLS socket, which
 * Node keeps as its `_parent` (also on the TLS socket of an HTTPS request).
 */
const accepted = (s: Socket): Ticketed => ((s as Ticketed)._parent ?? s) as Ticketed;

/**
 * Hands every socket `server` accepts to the gate at once, before a TLS handshake or an HTTP
 * request is read. The ticket rides on the accepted socket itself, found again from the TLS
 * socket or request on it, so it goes with the socket: no map entry, key or close listener per
 * connection.
 */
export function gateSockets(server: Server, info: ListenerInfo, gate: AdmissionGate | undefined, opts: GateOptions): SocketTickets {
  if (!gate) return { of: () => undefined, take: () => undefined, leave: () => true };
  server.on('connection', (socket: Socket) => {
    const ticket = gate.enter(socket, info, opts);
    if (ticket) (socket as Ticketed)[TICKET] = ticket;
  });
  const take = (socket: Socket): AdmissionTicket | undefined => {
    const raw = accepted(socket);
    const ticket = raw[TICKET];
    // Set to undefined, not deleted: deleting a property other than the last one added would put
    // the socket's properties in dictionary mode.
    if (ticket !== undefined) raw[TICKET] = undefined;
    return ticket;
  };
  return {
    of: (socket) => accepted(socket)[TICKET],
    take,
    leave: (socket) => accepted(socket)[TICKET]?.leave() ?? true,
  };
}
