// A Transport over a TCP or TLS socket. Until the first bytes have been looked at it also guards
// against the common mistakes (TLS or HTTP on an MQTT port); after that it is a thin pass-through.
import type { Socket } from 'node:net';
import type { AdmissionTicket, ListenerInfo, PeerIdentity, Transport, TransportHandlers } from './transport.js';
import { classifyFirstBytes, type Spoken } from './mistakes.js';

export interface SocketTransportOptions {
  peer?: PeerIdentity;
  admission?: AdmissionTicket;
  /** Look for a TLS ClientHello in the first bytes (plain listeners only). */
  detectTls: boolean;
  /** Called once when the first bytes show the wrong protocol; the transport closes afterwards. */
  onMistake(spoken: Spoken, transport: SocketTransport): void;
  /**
   * The listener's server set Nagle off at accept (`net.createServer({ noDelay })`, done on the
   * handle in C++): not again per socket in JavaScript.
   */
  noDelaySet?: boolean;
}

/** TCP keepalive probes start after this long without traffic (the OS notices a vanished peer). */
const TCP_KEEPALIVE_MS = 60_000;
/**
 * When the probes have given up on a vanished peer: libuv sends 10 of them 1 s apart
 * (TCP_KEEPCNT, TCP_KEEPINTVL) after TCP_KEEPALIVE_MS. Before CONNECT the connect timeout closes a
 * silent socket sooner, and after it the keepalive watchdog does for a Keep Alive up to 46 s; only
 * the other connections get TCP keepalive (silenceLimit), so most accepted sockets are spared the
 * four setsockopt calls (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
 */
const TCP_PROBES_GIVE_UP_MS = TCP_KEEPALIVE_MS + 10 * 1000;

/**
 * Asks the OS to probe `socket`'s peer where nothing else would notice it vanished sooner: a
 * keepalive watchdog that is off (`ms` 0) or closes a silent connection only after the probes gave up.
 */
export function probeSilentPeer(socket: Socket, ms: number): void {
  if ((ms === 0 || ms > TCP_PROBES_GIVE_UP_MS) && !socket.destroyed) socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
}

/** Most bytes held back while deciding what the client speaks. */
const SNIFF_LIMIT = 16;
/**
 * Packets up to this size are copied together while corked (SocketTransport.pending, and a
 * WebSocket frame's packets); larger ones go as their own buffers.
 */
export const COALESCE_MAX = 4096;
/** Nothing held: one shared empty buffer rather than one per socket. */
const EMPTY = Buffer.alloc(0);

// The socket's listeners are shared functions that find their transport on the socket, rather than
// four closures (and their context) on every idle socket.
const OWNER = Symbol('starling.transport');
type OwnedSocket = Socket & { [OWNER]: SocketTransport };
function onSocketError(this: OwnedSocket, err: Error): void {
  this[OWNER].failed(err);
}
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER].received(chunk);
}
function onSocketDrain(this: OwnedSocket): void {
  this[OWNER].drained();
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER].closedBySocket();
}

// The transport's state as bits of one field rather than a field each on every idle socket. Where
// it is with the first bytes: neither PASSING nor REFUSED while it still looks at them.
const PASSING = 1;
/** The first bytes showed the wrong protocol: nothing more reaches the handlers. */
const REFUSED = 2;
/** The socket closed (onClose ran). */
const CLOSED = 4;
/** A 'drain' listener is on the socket (added at the first write it refused). */
const DRAIN_WATCHED = 8;
/** Writes are held for the end of the turn (see `pending`). */
const CORKED = 16;

export class SocketTransport implements Transport {
  readonly listener: ListenerInfo;
  readonly kind: 'tcp' | 'tls';
  private readonly socket: Socket;
  private readonly opts: SocketTransportOptions;
  private handlers?: TransportHandlers;
  /** PASSING, REFUSED, CLOSED, DRAIN_WATCHED, CORKED. */
  private flags = 0;
  private held: Buffer = EMPTY;
  private error?: Error;
  /**
   * Packets written while corked (a turn's writes, server/flusher.ts), written at uncork as one
   * buffer. A socket's own cork would hand them over as a writev of one chunk each, and Node's
   * stream pays per chunk (a buffered record, a callback, an iovec); copying small packets into
   * one buffer costs less. A larger packet is not copied: what is held goes first, then it.
   */
  private pending?: Buffer[];
  private pendingBytes = 0;

  constructor(socket: Socket, listener: ListenerInfo, kind: 'tcp' | 'tls', opts: SocketTransportOptions) {
    this.socket = socket;
    this.listener = listener;
    this.kind = kind;
    this.opts = opts;
    // Read once while the socket is open: Node keeps the answer (getpeername) on the socket, so the
    // getters below still give it after the socket closed (log lines of the disconnection).
    void socket.remoteAddress;
    // MQTT is request/response with small packets: Nagle would add up to 40 ms per round trip.
    if (!opts.noDelaySet) socket.setNoDelay(true);
    (socket as OwnedSocket)[OWNER] = this;
    // Errors before start() must not crash the process; they are reported through close().
    socket.on('error', onSocketError);
  }

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    this.socket.on('data', onSocketData);
    // 'drain' is listened for from the first write the socket could not take (write(), below):
    // most connections never fill their buffer, and need not carry the listener.
    // on, not once: onClose runs once anyway, and once() adds a wrapper state and a bound function per socket.
    this.socket.on('close', onSocketClose);
    if (this.socket.destroyed) queueMicrotask(() => this.onClose());
  }

  // Read through to the socket and its options rather than copied into fields of every transport.
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }
  get peer(): PeerIdentity | undefined {
    return this.opts.peer;
  }
  takeAdmission(): AdmissionTicket | undefined {
    // Per socket (a TLS listener makes these options for each socket), so it is this socket's to drop.
    const ticket = this.opts.admission;
    if (ticket !== undefined) this.opts.admission = undefined;
    return ticket;
  }

  /** The socket's listeners (shared functions, above). */
  failed(err: Error): void {
    this.error ??= err;
  }
  drained(): void {
    this.handlers?.drain();
  }
  closedBySocket(): void {
    this.onClose();
  }

  received(chunk: Buffer): void {
    if ((this.flags & PASSING) !== 0) {
      this.handlers!.data(chunk);
      return;
    }
    if ((this.flags & REFUSED) !== 0) return;
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    const first = classifyFirstBytes(this.held, this.opts.detectTls);
    if (first.verdict === 'wait' && this.held.length < SNIFF_LIMIT) return;
    if (first.verdict === 'tls' || first.verdict === 'http') {
      this.flags |= REFUSED;
      this.held = EMPTY;
      this.error = new Error(`client spoke ${first.verdict === 'tls' ? 'TLS' : 'HTTP'} to an MQTT ${this.kind.toUpperCase()} listener`);
      this.opts.onMistake(first.verdict === 'tls' ? 'tls' : first.websocket ? 'websocket' : 'http', this);
      return;
    }
    this.flags |= PASSING;
    const held = this.held;
    this.held = EMPTY;
    this.handlers!.data(held);
  }

  private onClose(): void {
    if ((this.flags & CLOSED) !== 0) return;
    this.flags |= CLOSED;
    this.handlers?.close(this.error);
  }

  write(data: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    if ((this.flags & CORKED) !== 0 && data.length <= COALESCE_MAX) {
      // Held until uncork and written as one buffer (see `pending`).
      (this.pending ??= []).push(data);
      this.pendingBytes += data.length;
      return true;
    }
    if (this.pendingBytes > 0) this.flushPending();
    return this.writeNow(data);
  }

  private writeNow(data: Buffer): boolean {
    if (this.socket.write(data)) return true;
    // Drain comes after this returns (once the kernel took the buffer), so it cannot be missed.
    if ((this.flags & DRAIN_WATCHED) === 0) {
      this.flags |= DRAIN_WATCHED;
      this.socket.on('drain', onSocketDrain);
    }
    return false;
  }

  /** Writes raw bytes (an HTTP refusal) and closes; used by the mistake handlers. */
  refuse(bytes?: Buffer): void {
    if (bytes && !this.socket.destroyed) this.socket.end(bytes);
    else this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  get bufferedBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  // The socket is corked as well, so a larger packet written during the turn (and the small ones
  // held before it) still leave with the turn's other bytes in one writev, not a system call each.
  cork(): void {
    this.flags |= CORKED;
    this.socket.cork();
  }

  uncork(): void {
    this.flags &= ~CORKED;
    if (this.pendingBytes > 0) this.flushPending();
    this.socket.uncork();
  }

  /** The turn's small packets, copied into one buffer and handed to the socket in one write. */
  private flushPending(): void {
    const pending = this.pending!;
    const bytes = pending.length === 1 ? pending[0] : Buffer.concat(pending, this.pendingBytes);
    pending.length = 0;
    this.pendingBytes = 0;
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.writeNow(bytes);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    // Ending a socket already closed makes Node build (and throw away) an error.
    if ((this.flags & CLOSED) !== 0 || this.socket.destroyed) return;
    if (this.pendingBytes > 0) this.flushPending();
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  silenceLimit(ms: number): void {
    probeSilentPeer(this.socket, ms);
  }
}
