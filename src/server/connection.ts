// A connection: Transport ↔ parser ↔ channel. Owns the socket-side deadlines (connect timeout,
// keepalive, on the server's shared DeadlineWheel) and batches the writes of one turn of the event
// loop. An idle connection holds no timer, no closure of its own and no rate-limit state it does not use.
import type { Logger } from 'pino';
import { PacketParser } from '../protocol/parser.js';
import { ConnectRefusedError } from '../protocol/codec.js';
import { MqttError } from '../protocol/errors.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { Channel } from '../channel/channel.js';
import type { ChannelIO } from '../channel/io.js';
import type { Broker } from '../broker/broker.js';
import type { Transport, TransportHandlers } from '../transport/transport.js';
import { TokenBucket } from './rate-limit.js';
import type { WriteFlusher } from './flusher.js';
import type { PacketTrace } from '../observe/trace.js';
import type { DeadlineWheel, WheelEntry } from './deadlines.js';

export interface ConnectionOptions {
  maxPacketSize: number;
  /** A transport that sends no CONNECT within this many ms is closed. */
  connectTimeoutMs: number;
  /** PUBLISH packets per second a client may send (0 = unlimited); over it, reading pauses. */
  maxPublishRate: number;
  /** Bytes per second a client may send (0 = unlimited); over it, reading pauses. */
  maxBytesRate: number;
  /** Outgoing bytes beyond which the client counts as slow. */
  maxOutgoingBytes: number;
  /** A client slow for this long is disconnected (0 = never). */
  slowConsumerTimeoutMs: number;
  /** Shared by the server's connections: uncorks them once per turn. */
  flusher: WriteFlusher;
  /** Shared by the server's connections: their connect and keepalive deadlines (calls deadlineDue). */
  deadlines: DeadlineWheel<Connection>;
  log: Logger;
  /** The console's live trace; its `active` flag is the only cost while nobody watches. */
  trace?: PacketTrace;
}

/**
 * The transport's callbacks for one connection: one small object with shared methods rather than
 * a closure per event (and a context per closure) on every idle socket. Each runs inside the
 * connection's fault barrier: a throw ends this connection only (Channel.fault), never the process.
 */
class TransportEvents implements TransportHandlers {
  private readonly c: Connection;
  constructor(c: Connection) {
    this.c = c;
  }
  data(chunk: Buffer): void {
    try {
      this.c.received(chunk);
    } catch (err) {
      this.c.faulted(err);
    }
  }
  drain(): void {
    try {
      this.c.drained();
    } catch (err) {
      this.c.faulted(err);
    }
  }
  close(err?: Error): void {
    this.c.transportClosed(err);
  }
}

export class Connection implements ChannelIO, WheelEntry {
  readonly channel: Channel;
  private readonly parser: PacketParser;
  private readonly transport: Transport;
  private readonly broker: Broker;
  private readonly opts: ConnectionOptions;
  private lastPacketAt = Date.now();
  /** Where the deadline wheel filed this connection (0: no deadline). */
  wheelSlot = 0;
  private keepaliveMs = 0;
  private corked = false;
  /** Something was written: later writes of a turn are batched (the first, the CONNACK, is not). */
  private answered = false;
  private closed = false;
  /** The parser met bytes it could not read: nothing after them is parsed. */
  private broken = false;
  /** Only when the limit is configured (maxPublishRate, maxPublishBytesRate). */
  private readonly publishRate?: TokenBucket;
  private readonly bytesRate?: TokenBucket;
  /** Reading paused by the rate limit (as opposed to the channel's backlog). */
  private throttled = false;
  private channelPaused = false;
  private slowTimer?: NodeJS.Timeout;
  /** After close(): destroys a transport whose peer did not let it end within 2 s. */
  private endTimer?: NodeJS.Timeout;
  private readonly onClosed: (c: Connection) => void;
  /** The place this connection holds under the connection limits (server/admission.ts), if any. */
  place?: { release(): void };

  constructor(transport: Transport, broker: Broker, opts: ConnectionOptions, onClosed: (c: Connection) => void) {
    this.transport = transport;
    this.broker = broker;
    this.opts = opts;
    this.onClosed = onClosed;
    this.parser = new PacketParser({ maxPacketSize: opts.maxPacketSize });
    this.channel = new Channel(broker, this);
    if (opts.maxPublishRate > 0) this.publishRate = new TokenBucket(opts.maxPublishRate);
    if (opts.maxBytesRate > 0) this.bytesRate = new TokenBucket(opts.maxBytesRate);
  }

  get bufferedBytes(): number {
    return this.transport.bufferedBytes;
  }

  get partialBytes(): number {
    return this.parser.partialBytes;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }
  get listener() {
    return this.transport.listener;
  }
  get peer() {
    return this.transport.peer;
  }
  get remotePort(): number {
    return this.transport.remotePort;
  }
  get kind() {
    return this.transport.kind;
  }

  /** Starts reading; the connect timeout runs from `since` (accept, before any handshake). */
  start(since = Date.now()): void {
    this.opts.deadlines.set(this, since + this.opts.connectTimeoutMs);
    this.transport.start(new TransportEvents(this));
  }

  /**
   * The fault barrier around everything this connection runs on its own (its bytes, its deadlines,
   * its drain): a throw ends this connection only (Channel.fault), never the process.
   */
  faulted(err: unknown): void {
    this.channel.fault(err);
    // A fault before the channel could close (or while it was closed) still ends the socket.
    if (this.channel.state === 'closed') this.close();
  }

  /** Bytes from the transport (TransportEvents, inside the fault barrier). */
  received(chunk: Buffer): void {
    this.data(chunk);
  }

  private data(chunk: Buffer): void {
    if (this.closed || this.broken) return;
    this.broker.stats.bytesReceived += chunk.length;
    let packets;
    try {
      packets = this.parser.push(chunk);
    } catch (err) {
      // Packets before the bad one still count (a PUBLISH then garbage is still a PUBLISH).
      for (const p of this.parser.decodedBeforeError) this.channel.receive(p);
      // An unknown protocol level is answered in the CONNACK layout the client can read [MQTT-3.1.2-2];
      // the CONNECT was not read, so neither was the client's Maximum Packet Size: the refusing
      // CONNACK carries no Reason String, only what every client accepts [MQTT-3.1.2-24].
      this.channel.connectUnread(err instanceof ConnectRefusedError ? err.answerVersion : undefined);
      // mqttMessageMaxLength refused from the fixed header [MQTT-3.2.2-15: 0x95]: a limit worth counting.
      if (err instanceof MqttError && err.reasonCode === ReasonCode.PacketTooLarge) this.broker.stats.limitHit('packetTooLarge');
      // A codec error closes only this connection [MQTT-4.8.0-1]; the broker never throws here.
      // Behind a CONNECT still being answered it waits for the CONNACK (Channel.failInOrder), and
      // the bytes after it are never parsed.
      this.broken = true;
      this.channel.failInOrder(err instanceof MqttError ? err : new MqttError(ReasonCode.MalformedPacket, String(err)));
      return;
    }
    // A packet arriving in parts holds its whole size from its header on: within the budget?
    if (this.parser.partialBytes > 0 && !this.channel.withinMemoryBudget()) return;
    if (packets.length === 0) return;
    this.lastPacketAt = Date.now();
    this.broker.stats.messagesReceived += packets.length;
    let publishes = 0;
    for (const p of packets) {
      if (p.type === 'publish') publishes++;
      if (this.opts.trace?.active) this.opts.trace.inbound(this, p);
      this.channel.receive(p);
    }
    this.throttle(publishes, chunk.length);
  }

  /** Per-client rate limits: over budget, stop reading until the bucket refills. */
  private throttle(publishes: number, bytes: number): void {
    if (!this.publishRate && !this.bytesRate) return;
    const waitPublishes = this.publishRate?.take(publishes) ?? 0;
    const waitBytes = this.bytesRate?.take(bytes) ?? 0;
    if ((waitPublishes === 0 && waitBytes === 0) || this.throttled || this.closed) return;
    // Counted per pause, by the budget that ran out (both when both did).
    if (waitPublishes > 0) this.broker.stats.limitHit('publishRate');
    if (waitBytes > 0) this.broker.stats.limitHit('publishBytesRate');
    const wait = Math.max(waitPublishes, waitBytes);
    this.throttled = true;
    this.transport.pause();
    setTimeout(() => {
      this.throttled = false;
      if (!this.closed && !this.channelPaused) this.transport.resume();
    }, wait).unref();
  }

  /** The transport can take writes again (TransportEvents, inside the fault barrier). */
  drained(): void {
    if (this.slowTimer) {
      clearTimeout(this.slowTimer);
      this.slowTimer = undefined;
    }
    this.channel.drained();
  }

  write(bytes: Buffer): void {
    if (this.closed) return;
    if (this.opts.trace?.active) this.opts.trace.outbound(this, bytes);
    // Writes made during one turn go out together: one syscall, one TLS record or WS frame batch.
    // The connection's first write (its CONNACK, or AUTH) goes out at once: the client waits on it
    // and nothing could join it yet, so it need not wait for the turn's other I/O callbacks.
    if (!this.corked && this.answered) {
      this.corked = true;
      this.transport.cork();
      this.opts.flusher.mark(this);
    }
    this.answered = true;
    this.transport.write(bytes);
    // A consumer whose buffer stays full past the timeout is cut off, so it cannot hold memory.
    if (!this.slowTimer && this.opts.slowConsumerTimeoutMs > 0 && this.transport.bufferedBytes > this.opts.maxOutgoingBytes) {
      this.slowTimer = setTimeout(() => {
        try {
          this.slowConsumer();
        } catch (err) {
          this.faulted(err);
        }
      }, this.opts.slowConsumerTimeoutMs);
      this.slowTimer.unref();
    }
  }

  private slowConsumer(): void {
    this.slowTimer = undefined;
    if (this.closed || this.transport.bufferedBytes <= this.opts.maxOutgoingBytes) return;
    this.broker.stats.slowConsumersDisconnected++;
    this.opts.log.warn({ clientId: this.channel.clientId, remote: this.remoteAddress, buffered: this.transport.bufferedBytes }, 'slow consumer disconnected');
    // Closed gracefully, so a client that reads again learns why (0x97); close() still destroys
    // the transport 2 s later, so the buffer cannot be held for long.
    this.channel.quotaExceeded(`outgoing buffer over ${this.opts.maxOutgoingBytes} bytes for ${this.opts.slowConsumerTimeoutMs / 1000} s`);
  }

  /** End of the turn (WriteFlusher): hand the batched writes to the socket. */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.transport.uncork();
  }

  close(): void {
    if (this.closed) return;
    this.uncork();
    this.closed = true;
    this.clearTimer();
    this.transport.end();
    // Do not wait forever for a peer that will not read its last bytes. Cleared once the transport
    // is gone: the timer holds this connection (its channel, the client id, what it was sent), and a
    // client connecting and leaving in a loop could otherwise have the last 2 s of them held.
    this.endTimer = setTimeout(() => this.transport.destroy(), 2000);
    this.endTimer.unref();
    this.onClosed(this);
  }

  destroy(): void {
    this.channel.end('abnormal');
    this.transport.destroy();
  }

  setKeepalive(seconds: number): void {
    this.opts.deadlines.delete(this);
    if (this.closed) return;
    this.keepaliveMs = seconds * 1000;
    // No packet within 1.5 × Keep Alive closes the connection [MQTT-3.1.2-24]; 0 turns the watchdog
    // off. The transport adds TCP keepalive where the OS would notice a vanished peer sooner.
    const limit = this.keepaliveMs * 1.5;
    if (seconds > 0) this.opts.deadlines.set(this, Date.now() + limit);
    this.transport.silenceLimit?.(limit);
  }

  pause(): void {
    this.channelPaused = true;
    this.transport.pause();
  }
  resume(): void {
    this.channelPaused = false;
    if (!this.throttled) this.transport.resume();
  }

  /**
   * The wheel says this connection's deadline passed: before CONNECT completed, the connect timeout;
   * after it, the keepalive watchdog, which is not moved on every packet but, when it falls due,
   * re-filed for the time left since the last one.
   */
  deadlineDue(): void {
    try {
      if (this.closed) return;
      if (this.keepaliveMs === 0) return this.connectTimedOut();
      const limit = this.keepaliveMs * 1.5;
      const idle = Date.now() - this.lastPacketAt;
      if (idle >= limit) this.channel.keepaliveExpired();
      else this.opts.deadlines.set(this, this.lastPacketAt + limit);
    } catch (err) {
      this.faulted(err);
    }
  }

  private connectTimedOut(): void {
    // Still not connected: no CONNECT, or an authentication exchange that never finished.
    if (this.channel.state === 'connected' || this.channel.state === 'closed') return;
    this.broker.stats.limitHit('connectTimeout');
    this.opts.log.info({ remote: this.remoteAddress, listener: this.listener.url }, 'no CONNECT in time; closing');
    this.channel.end('abnormal');
    this.close();
  }

  /** The transport is gone (TransportEvents). */
  transportClosed(err?: Error): void {
    if (err) this.opts.log.debug({ err, remote: this.remoteAddress }, 'transport error');
    // Closed before the channel hears of it: its close() then neither ends the gone socket (which
    // would make Node build an error for it) nor arms a timer to destroy it later.
    this.closed = true;
    try {
      this.channel.transportClosed(err);
    } catch (fault) {
      // Already gone: nothing to tell the client, but the rest of the close must still happen.
      this.channel.fault(fault);
    }
    this.clearTimer();
    this.onClosed(this);
  }

  /** Every timer of this connection (after close(), the transport is gone: nothing is left to destroy). */
  private clearTimer(): void {
    this.opts.deadlines.delete(this);
    if (this.slowTimer) clearTimeout(this.slowTimer);
    if (this.endTimer) clearTimeout(this.endTimer);
    this.slowTimer = this.endTimer = undefined;
  }
}
