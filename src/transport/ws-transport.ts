// A Transport over one WebSocket, after the opening handshake (ws-accept.ts). Frames are a byte
// stream to MQTT: a frame may hold several packets or part of one [MQTT-6.0.0-2], so binary
// payloads are passed on as they come (ws-reader.ts reads the client's frames, ws-frame.ts writes ours).
import type { Socket } from 'node:net';
import type { AdmissionTicket, ListenerInfo, PeerIdentity, Transport, TransportHandlers } from './transport.js';
import { binaryFrameHeader, closeFrame, controlFrame, frameHeaderLength, PING_FRAME, Opcode, writeBinaryFrameHeader } from './ws-frame.js';
import { CloseCode, WsFrameReader, type WsFrameSink } from './ws-reader.js';
import { LISTENER_KINDS } from './kinds.js';
import { COALESCE_MAX, probeSilentPeer } from './socket-transport.js';

export interface WsTransportOptions {
  remoteAddress: string;
  remotePort: number;
  peer?: PeerIdentity;
  admission?: AdmissionTicket;
  /** The listener's pinger (webSocketPingIntervalSec); none = no pings. */
  pinger?: WsPinger;
  /** Largest message (its frames' payloads together) a client may send; larger closes with 1009. */
  maxMessage: number;
  /** Bytes that arrived with the upgrade request, after its headers. */
  head?: Buffer;
}

/**
 * The WebSocket keep-alive of one listener: one interval pings every open connection, and drops one
 * that did not answer the previous ping. A timer per connection would cost every idle browser tab
 * a Timeout, its closure and their context; this costs it a set entry. The interval runs only while
 * connections are open.
 */
export class WsPinger {
  private readonly transports = new Set<WsTransport>();
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  add(t: WsTransport): void {
    this.transports.add(t);
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const each of this.transports) each.pingTick();
    }, this.intervalMs);
    this.timer.unref();
  }

  delete(t: WsTransport): void {
    if (!this.transports.delete(t) || this.transports.size > 0) return;
    this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Close codes that mean an orderly end rather than an error. */
const NORMAL_CLOSE = new Set([CloseCode.Normal, 1001, CloseCode.NoStatus]);
/**
 * Largest frame built from coalesced packets; bigger turns go out as several frames, so a client
 * can parse the first packets of a busy turn before the last ones arrive.
 */
const MAX_COALESCED_FRAME = 64 * 1024;
/** After our close frame, how long the client has to close the TCP connection before we drop it. */
const CLOSE_TIMEOUT_MS = 10_000;

/** Unsent bytes past which a ping is not answered (see wsPing). */
export const PONG_BACKLOG = 64 * 1024;

/** Where the connection is: open; our close frame sent (nothing more goes out); socket gone. */
const enum Phase {
  Open,
  Closing,
  Closed,
}

export class WsTransport implements Transport, WsFrameSink {
  readonly listener: ListenerInfo;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peer?: PeerIdentity;
  private admission?: AdmissionTicket;
  readonly kind: 'ws' | 'wss';
  private readonly socket: Socket;
  private readonly reader: WsFrameReader;
  private handlers?: TransportHandlers;
  /** Payloads that arrived before start() (made for the first). */
  private early?: Buffer[];
  private error?: Error;
  private phase = Phase.Open;
  private needDrain = false;
  /** Packets written while corked, sent as one frame at uncork (the array is reused). */
  private corked = false;
  private pending?: Buffer[];
  private pendingBytes = 0;
  /** A pending packet is larger than COALESCE_MAX: the frame goes out as header + the packets' own buffers. */
  private pendingLarge = false;
  private alive = true;
  private readonly pinger?: WsPinger;
  private closeTimer?: NodeJS.Timeout;

  constructor(socket: Socket, listener: ListenerInfo, opts: WsTransportOptions) {
    this.socket = socket;
    this.listener = listener;
    this.kind = LISTENER_KINDS[listener.scheme].transport as 'ws' | 'wss';
    this.remoteAddress = opts.remoteAddress;
    this.remotePort = opts.remotePort;
    this.peer = opts.peer;
    this.admission = opts.admission;
    this.reader = new WsFrameReader(this, opts.maxMessage);

    // Shared listener functions that find this transport on the socket: no closures (and context)
    // per idle connection.
    (socket as Owned<Socket>)[OWNER] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    // The WebSocket's own keep-alive: proxies and NATs drop idle connections long before MQTT
    // keep-alive notices, and a client that stopped answering pings is gone.
    this.pinger = opts.pinger;
    this.pinger?.add(this);
    if (opts.head && opts.head.length > 0) this.reader.feed(opts.head);
  }

  takeAdmission(): AdmissionTicket | undefined {
    const ticket = this.admission;
    this.admission = undefined;
    return ticket;
  }

  /** Bytes from the socket (onSocketData). */
  received(chunk: Buffer): void {
    this.reader.feed(chunk);
  }

  wsData(payload: Buffer): void {
    // After our close frame the connection is going: what the client still sends is not read.
    if (this.phase !== Phase.Open) return;
    if (this.handlers) this.handlers.data(payload);
    else (this.early ??= []).push(payload);
  }

  wsPing(payload: Buffer): void {
    // The reader stops at our close frame, so pings are answered only while open. A client that
    // sends pings and reads nothing would otherwise grow our unsent bytes without bound (pongs
    // bypass write() and its slow-consumer checks): past PONG_BACKLOG unsent, a ping goes
    // unanswered, which the RFC allows (a pong need answer only the latest ping, section 5.5.3).
    if (this.phase === Phase.Open && this.socket.writableLength <= PONG_BACKLOG) this.socket.write(controlFrame(Opcode.Pong, payload));
  }

  wsPong(): void {
    this.alive = true;
  }

  wsClose(code: number, reason: string): void {
    if (!NORMAL_CLOSE.has(code)) this.error ??= new Error(`WebSocket closed with code ${code}${reason ? `: ${reason}` : ''}`);
    // Echo the code [RFC 6455 section 5.5.1]; the server then closes the TCP connection [section 7.1.1].
    this.sendClose(code === CloseCode.NoStatus ? undefined : code, '');
  }

  wsFail(code: number, message: string): void {
    this.error ??= new Error(`WebSocket: ${message}`);
    this.sendClose(code, message);
  }

  failed(err: Error): void {
    this.error ??= err;
  }

  /** The client half-closed: nothing more will be read, so finish ours. */
  ended(): void {
    this.reader.stop();
    if (this.phase === Phase.Open) this.phase = Phase.Closing;
    this.socket.end();
  }

  socketDrained(): void {
    if (!this.needDrain) return;
    this.needDrain = false;
    this.handlers?.drain();
  }

  /**
   * Pings notice a vanished peer (a client that stopped answering is dropped). Without them
   * (webSocketPingIntervalSec=0), as over plain TCP: the OS probes the peer where the keepalive
   * watchdog would not notice sooner, so a client with Keep Alive 0 that vanished is not kept forever.
   */
  silenceLimit(ms: number): void {
    if (this.pinger === undefined) probeSilentPeer(this.socket, ms);
  }

  /** The listener's ping interval came round: drop a connection that did not answer the last ping, ping the others. */
  pingTick(): void {
    if (!this.alive) {
      this.error ??= new Error('no WebSocket pong within the ping interval');
      this.pinger?.delete(this);
      this.destroy();
      return;
    }
    this.alive = false;
    if (this.phase === Phase.Open) this.socket.write(PING_FRAME);
  }

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = undefined;
    if (early) for (const chunk of early) handlers.data(chunk);
    if (this.phase === Phase.Closed) queueMicrotask(() => handlers.close(this.error));
  }

  /** The socket is gone (onSocketClose). */
  socketClosed(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.reader.stop();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.pinger?.delete(this);
    // No close frame came (abnormal closure, 1006 [RFC 6455 section 7.1.5]): the client vanished,
    // as a TCP client does that closes without DISCONNECT, so no error and the log says the same
    // for both. A real socket error (a reset) came through failed() and is still reported.
    this.handlers?.close(this.error);
  }

  /** Our close frame, then the end of our side; the client has CLOSE_TIMEOUT_MS to end its own. */
  private sendClose(code: number | undefined, reason: string): void {
    this.reader.stop();
    if (this.phase !== Phase.Open) return;
    this.phase = Phase.Closing;
    this.pinger?.delete(this);
    this.socket.write(closeFrame(code, reason));
    this.socket.end();
    this.closeTimer = setTimeout(destroyLater, CLOSE_TIMEOUT_MS, this.socket);
    this.closeTimer.unref();
  }

  write(data: Buffer): boolean {
    if (this.phase !== Phase.Open) return false;
    // A turn's packets travel in one binary frame: a frame may carry several MQTT packets
    // (MQTT 5.0 section 6.0), and one frame costs far less than one per packet. A frame grows to
    // MAX_COALESCED_FRAME; only a single larger packet makes a larger one.
    if (!this.corked) {
      // Outside a turn (the CONNACK): a frame of its own, and no list made for a connection that may
      // stay idle from here on. (Nothing is pending then: uncork and end send it.)
      this.writeFrame([data], data.length, data.length > COALESCE_MAX);
    } else {
      if (this.pendingBytes > 0 && this.pendingBytes + data.length > MAX_COALESCED_FRAME) this.sendPending();
      (this.pending ??= []).push(data);
      this.pendingBytes += data.length;
      if (data.length > COALESCE_MAX) this.pendingLarge = true;
    }
    // Same rule as a stream's write(): below the high-water mark the caller may go on.
    const ok = this.socket.writableLength + this.pendingBytes < this.socket.writableHighWaterMark;
    if (!ok) this.needDrain = true;
    return ok;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  cork(): void {
    this.corked = true;
    this.socket.cork();
  }

  uncork(): void {
    this.sendPending();
    this.corked = false;
    this.socket.uncork();
  }

  /** Sends the pending packets as one frame (writeFrame). */
  private sendPending(): void {
    const pending = this.pending;
    const bytes = this.pendingBytes;
    if (pending === undefined || bytes === 0) return;
    if (this.phase === Phase.Open) this.writeFrame(pending, bytes, this.pendingLarge);
    pending.length = 0;
    this.pendingBytes = 0;
    this.pendingLarge = false;
  }

  /**
   * Writes `packets` (`bytes` in all) as one binary frame. Small packets are copied behind the
   * header into one buffer, as SocketTransport does: Node's stream pays per buffer handed to a
   * writev (a buffered record, a callback, an iovec), which for a run of PUBACKs or small PUBLISHes
   * costs more than the copy. With a `large` packet among them (over COALESCE_MAX) the frame goes as
   * the header then the packets' own buffers in one writev (no copy of a large payload). Control
   * frames (pong, ping, close) are written to the same socket each in one call, so none can land
   * inside a data frame.
   */
  private writeFrame(packets: readonly Buffer[], bytes: number, large: boolean): void {
    const socket = this.socket;
    if (!large) {
      const frame = Buffer.allocUnsafe(frameHeaderLength(bytes) + bytes);
      let at = writeBinaryFrameHeader(frame, bytes);
      for (let i = 0; i < packets.length; i++) at += packets[i]!.copy(frame, at);
      socket.write(frame);
      return;
    }
    // Nested inside the turn's cork when there is one; on its own it still makes one writev.
    socket.cork();
    socket.write(binaryFrameHeader(bytes));
    for (let i = 0; i < packets.length; i++) socket.write(packets[i]);
    socket.uncork();
  }

  pause(): void {
    this.reader.pause();
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
    // What was read before the pause goes on after this call returns, as a stream's buffered data
    // would; not if the connection paused again meanwhile (the socket then is paused too).
    queueMicrotask(() => {
      if (!this.socket.isPaused()) this.reader.resume();
    });
  }

  end(): void {
    this.sendPending();
    this.sendClose(CloseCode.Normal, '');
  }

  destroy(): void {
    // Nothing more of the chunk being read reaches the connection (the socket's close comes later).
    this.reader.stop();
    this.socket.destroy();
  }
}

const OWNER = Symbol('starling.transport');
type Owned<T> = T & { [OWNER]: WsTransport };
const owner = (x: object): WsTransport => (x as Owned<object>)[OWNER];
function onSocketData(this: Socket, chunk: Buffer): void {
  owner(this).received(chunk);
}
function onSocketEnd(this: Socket): void {
  owner(this).ended();
}
function onSocketError(this: Socket, err: Error): void {
  owner(this).failed(err);
}
function onSocketClose(this: Socket): void {
  owner(this).socketClosed();
}
function onSocketDrain(this: Socket): void {
  owner(this).socketDrained();
}
function destroyLater(socket: Socket): void {
  socket.destroy();
}
