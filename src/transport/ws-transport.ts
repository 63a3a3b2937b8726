// A Transport over one WebSocket. Frames are a byte stream to MQTT: a frame may hold several
// packets or part of one [MQTT-6.0.0-2], so binary message payloads are passed on as they come.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { AdmissionTicket, ListenerInfo, PeerIdentity, Transport, TransportHandlers } from './transport.js';
import { binaryFrameHeader } from './ws-frame.js';
import { LISTENER_KINDS } from './kinds.js';

export interface WsTransportOptions {
  remoteAddress: string;
  remotePort: number;
  peer?: PeerIdentity;
  admission?: AdmissionTicket;
  /** The listener's pinger (webSocketPingIntervalSec); none = no pings. */
  pinger?: WsPinger;
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
const NORMAL_CLOSE = new Set([1000, 1001, 1005]);
/**
 * Largest frame built from coalesced packets; bigger turns go out as several frames, so a client
 * can parse the first packets of a busy turn before the last ones arrive.
 */
const MAX_COALESCED_FRAME = 64 * 1024;

export class WsTransport implements Transport {
  readonly listener: ListenerInfo;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peer?: PeerIdentity;
  readonly admission?: AdmissionTicket;
  readonly kind: 'ws' | 'wss';
  private readonly ws: WebSocket;
  private readonly socket: Duplex & { writableLength: number; writableHighWaterMark: number };
  private handlers?: TransportHandlers;
  /** Messages that arrived before start() (made for the first). */
  private early?: Buffer[];
  private error?: Error;
  private closed = false;
  private needDrain = false;
  /** Packets written while corked, sent as one frame at uncork (the array is reused). */
  private corked = false;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private alive = true;
  private readonly pinger?: WsPinger;

  constructor(ws: WebSocket, socket: Duplex, listener: ListenerInfo, opts: WsTransportOptions) {
    this.ws = ws;
    this.socket = socket as WsTransport['socket'];
    this.listener = listener;
    this.kind = LISTENER_KINDS[listener.scheme].transport as 'ws' | 'wss';
    this.remoteAddress = opts.remoteAddress;
    this.remotePort = opts.remotePort;
    this.peer = opts.peer;
    this.admission = opts.admission;

    // Shared listener functions that find this transport on the WebSocket and on the socket: no
    // closures (and context) per idle connection.
    (ws as Owned<WebSocket>)[OWNER] = this;
    (socket as Owned<Duplex>)[OWNER] = this;
    ws.on('message', onWsMessage);
    ws.on('error', onWsError);
    ws.on('close', onWsClose);
    ws.on('pong', onWsPong);
    socket.on('drain', onSocketDrain);
    // The WebSocket's own keep-alive: proxies and NATs drop idle connections long before MQTT
    // keep-alive notices, and a client that stopped answering pings is gone.
    this.pinger = opts.pinger;
    this.pinger?.add(this);
  }

  /** A message from the WebSocket (onWsMessage). */
  message(data: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      // MQTT packets travel in binary frames only; anything else closes the connection [MQTT-6.0.0-1].
      this.error ??= new Error('text WebSocket frame received; MQTT needs binary frames');
      this.ws.close(1003, 'MQTT needs binary frames');
      return;
    }
    if (this.handlers) this.handlers.data(data);
    else (this.early ??= []).push(data);
  }

  failed(err: Error): void {
    this.error ??= err;
  }

  closedWith(code: number, reason: Buffer): void {
    if (!NORMAL_CLOSE.has(code)) this.error ??= new Error(`WebSocket closed with code ${code}${reason.length ? `: ${reason.toString()}` : ''}`);
    this.onClose();
  }

  ponged(): void {
    this.alive = true;
  }

  socketDrained(): void {
    if (!this.needDrain) return;
    this.needDrain = false;
    this.handlers?.drain();
  }

  /** The listener's ping interval came round: drop a connection that did not answer the last ping, ping the others. */
  pingTick(): void {
    if (!this.alive) {
      this.error ??= new Error('no WebSocket pong within the ping interval');
      this.pinger?.delete(this);
      this.ws.terminate();
      return;
    }
    this.alive = false;
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = undefined;
    if (early) for (const chunk of early) handlers.data(chunk);
    if (this.ws.readyState === this.ws.CLOSED) queueMicrotask(() => this.onClose());
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.pinger?.delete(this);
    this.handlers?.close(this.error);
  }

  write(data: Buffer): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    // A turn's packets travel in one binary frame: a frame may carry several MQTT packets
    // (MQTT 5.0 section 6.0), and one frame costs far less than one per packet. A frame grows to
    // MAX_COALESCED_FRAME; only a single larger packet makes a larger one.
    if (this.pendingBytes > 0 && this.pendingBytes + data.length > MAX_COALESCED_FRAME) this.sendPending();
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (!this.corked) this.sendPending();
    // Same rule as a stream's write(): below the high-water mark the caller may go on.
    const ok = this.socket.writableLength + this.pendingBytes < this.socket.writableHighWaterMark;
    if (!ok) this.needDrain = true;
    return ok;
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount + this.pendingBytes;
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

  /**
   * Sends the pending packets as one frame: our header, then the packets' own buffers, straight to
   * the socket (no copy; shared fan-out bytes stay shared). `ws` writes its own frames (pong, ping,
   * close) to the same socket, each in one synchronous run, as this one is written here, so no
   * frame of theirs can land inside ours. It never sends data frames for us, and without
   * compression its send queue stays empty, so `bufferedAmount` (the socket's buffer) stays true.
   */
  private sendPending(): void {
    const pending = this.pending;
    const n = pending.length;
    if (n === 0) return;
    if (this.ws.readyState === this.ws.OPEN) {
      const socket = this.socket;
      // Nested inside the turn's cork when there is one; on its own it still makes one writev.
      socket.cork();
      socket.write(binaryFrameHeader(this.pendingBytes));
      for (let i = 0; i < n; i++) socket.write(pending[i]);
      socket.uncork();
    }
    pending.length = 0;
    this.pendingBytes = 0;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  end(): void {
    this.sendPending();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}

const OWNER = Symbol('starling.transport');
type Owned<T> = T & { [OWNER]: WsTransport };
const owner = (x: object): WsTransport => (x as Owned<object>)[OWNER];
function onWsMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  owner(this).message(data, isBinary);
}
function onWsError(this: WebSocket, err: Error): void {
  owner(this).failed(err);
}
function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  owner(this).closedWith(code, reason);
}
function onWsPong(this: WebSocket): void {
  owner(this).ponged();
}
function onSocketDrain(this: Duplex): void {
  owner(this).socketDrained();
}
