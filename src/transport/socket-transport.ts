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
}

/** Most bytes held back while deciding what the client speaks. */
const SNIFF_LIMIT = 16;
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

export class SocketTransport implements Transport {
  readonly listener: ListenerInfo;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peer?: PeerIdentity;
  readonly admission?: AdmissionTicket;
  readonly kind: 'tcp' | 'tls';
  private readonly socket: Socket;
  private readonly opts: SocketTransportOptions;
  private handlers?: TransportHandlers;
  private sniffing = true;
  /** Set once the first bytes showed the wrong protocol: nothing more reaches the handlers. */
  private refused = false;
  private held: Buffer = EMPTY;
  private error?: Error;
  private closed = false;

  constructor(socket: Socket, listener: ListenerInfo, kind: 'tcp' | 'tls', opts: SocketTransportOptions) {
    this.socket = socket;
    this.listener = listener;
    this.kind = kind;
    this.opts = opts;
    this.peer = opts.peer;
    this.admission = opts.admission;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    // MQTT is request/response with small packets: Nagle would add up to 40 ms per round trip.
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    (socket as OwnedSocket)[OWNER] = this;
    // Errors before start() must not crash the process; they are reported through close().
    socket.on('error', onSocketError);
  }

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    this.socket.on('data', onSocketData);
    this.socket.on('drain', onSocketDrain);
    // on, not once: onClose runs once anyway, and once() adds a wrapper state and a bound function per socket.
    this.socket.on('close', onSocketClose);
    if (this.socket.destroyed) queueMicrotask(() => this.onClose());
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
    if (this.refused) return;
    if (!this.sniffing) {
      this.handlers!.data(chunk);
      return;
    }
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    const first = classifyFirstBytes(this.held, this.opts.detectTls);
    if (first.verdict === 'wait' && this.held.length < SNIFF_LIMIT) return;
    if (first.verdict === 'tls' || first.verdict === 'http') {
      this.sniffing = false;
      this.refused = true;
      this.held = EMPTY;
      this.error = new Error(`client spoke ${first.verdict === 'tls' ? 'TLS' : 'HTTP'} to an MQTT ${this.kind.toUpperCase()} listener`);
      this.opts.onMistake(first.verdict === 'tls' ? 'tls' : first.websocket ? 'websocket' : 'http', this);
      return;
    }
    this.sniffing = false;
    const held = this.held;
    this.held = EMPTY;
    this.handlers!.data(held);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.close(this.error);
  }

  write(data: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(data);
  }

  /** Writes raw bytes (an HTTP refusal) and closes; used by the mistake handlers. */
  refuse(bytes?: Buffer): void {
    if (bytes && !this.socket.destroyed) this.socket.end(bytes);
    else this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
