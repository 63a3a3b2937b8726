// The per-connection protocol state machine: packets in, packets out through ChannelIO, broker
// operations for everything shared. Handlers live one per packet type in ./handlers.
import type { ProtocolVersion, QoS } from '../protocol/constants.js';
import type { Packet, Properties, PublishPacket } from '../protocol/packets.js';
import { encode } from '../protocol/codec.js';
import { MqttError } from '../protocol/errors.js';
import { ReasonCode, connackCodeForV3, disconnectCodeFor } from '../protocol/reason-codes.js';
import type { BrokerClient, ChannelContext, DisconnectKind } from './context.js';
import { remainingExpiry } from '../session/message.js';
import type { ClientInfo } from '../hooks/hooks.js';
import type { Session, SessionOutlet } from '../session/session.js';
import type { StoredMessage } from '../store/ports.js';
import type { ChannelIO } from './io.js';
import type { ChannelState } from './state.js';
import { OutboundAliases } from './topic-aliases.js';
import type { PendingConnect } from './handlers/connect.js';
import type { AuthConversation } from '../hooks/enhanced-auth.js';
import { handlers } from './handlers/index.js';

/** Packets waiting behind an async handler before reading is paused. */
const BACKLOG_PAUSE = 256;

export class Channel implements BrokerClient, SessionOutlet {
  readonly broker: ChannelContext;
  readonly io: ChannelIO;
  state: ChannelState = 'awaitingConnect';
  version: ProtocolVersion = 4;
  clientId = '';
  username?: string;
  session?: Session;
  /** Session Expiry Interval the client asked for at CONNECT (0 forbids raising it later). */
  connectExpiry = 0;
  /** Client's Maximum Packet Size (MQTT 5); packets larger are not sent [MQTT-3.1.2-24]. */
  maxOutgoingPacketSize = Infinity;
  /** Client wants reason strings and user properties on failures (Request Problem Information). */
  problemInformation = true;
  /** Inbound topic aliases set by the client (MQTT 5). */
  readonly inboundAliases = new Map<number, string>();
  /** Aliases we assign towards the client, up to its Topic Alias Maximum (MQTT 5). */
  outboundAliases?: OutboundAliases;
  /** Inbound QoS 1 publishes not yet acknowledged (counted against our Receive Maximum). */
  inboundQos1 = 0;
  /**
   * Inbound QoS 2 ids opened on this connection and not yet released: with inboundQos1, what counts
   * against our Receive Maximum (ids a resumed session kept from an earlier connection do not).
   */
  readonly inboundQos2 = new Set<number>();

  /**
   * An inbound QoS 2 exchange ended without PUBREL (refused, or not stored): the session forgets the
   * id, so a resend is routed as new, and flow control no longer counts it [MQTT-4.3.3-9].
   */
  inboundQos2Ended(packetId: number): void {
    this.session?.inbound.delete(packetId);
    this.inboundQos2.delete(packetId);
  }
  info!: ClientInfo;
  /** Milliseconds since the epoch when CONNACK was sent. */
  connectedAt = 0;
  /** CONNECT accepted so far, while authentication runs. */
  pendingConnect?: PendingConnect;
  /** Authentication Method from CONNECT (MQTT 5 enhanced authentication). */
  authMethod?: string;
  /** The authentication conversation in progress, if any. */
  auth?: AuthConversation;

  private busy = false;
  private backlog: Packet[] = [];
  private paused = false;

  constructor(broker: ChannelContext, io: ChannelIO) {
    this.broker = broker;
    this.io = io;
  }

  get log() {
    return this.broker.log;
  }

  /** Processes packets in order; one whose handler awaits the store holds the ones behind it. */
  receive(packet: Packet): void {
    if (this.state === 'closed') return;
    if (this.busy) {
      this.backlog.push(packet);
      if (!this.paused && this.backlog.length >= BACKLOG_PAUSE) {
        this.paused = true;
        this.io.pause();
      }
      return;
    }
    this.run(packet);
  }

  private run(packet: Packet): void {
    try {
      const handle = handlers[packet.type] as (ch: Channel, p: Packet) => void | Promise<void>;
      const r = handle(this, packet);
      if (r instanceof Promise) {
        this.busy = true;
        r.then(
          () => this.next(),
          (err) => this.fail(err),
        );
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private next(): void {
    this.busy = false;
    while (!this.busy && this.state !== 'closed' && this.backlog.length > 0) {
      this.run(this.backlog.shift()!);
    }
    if (this.paused && this.backlog.length < BACKLOG_PAUSE / 2) {
      this.paused = false;
      this.io.resume();
    }
  }

  send(packet: Packet): void {
    if (this.state === 'closed') return;
    let bytes = encode(packet, this.version);
    // Never more than the client's Maximum Packet Size [MQTT-3.1.2-24]: a Reason String or User
    // Properties that would push an ack over it are left out [MQTT-3.4.2-2, MQTT-3.9.2-1, MQTT-3.14.2-3].
    if (bytes.length > this.maxOutgoingPacketSize && 'properties' in packet && packet.properties) {
      const { reasonString: _r, userProperties: _u, ...rest } = packet.properties;
      const slim = { ...packet, properties: rest } as Packet;
      bytes = encode(slim, this.version);
      if (bytes.length > this.maxOutgoingPacketSize) return;
    }
    this.broker.stats.messagesSent++;
    this.broker.stats.bytesSent += bytes.length;
    this.io.write(bytes);
  }

  // ---- SessionOutlet: deliveries from the broker -----------------------------------------

  get writable(): boolean {
    return this.io.bufferedBytes < this.broker.options.maxOutgoingBytes;
  }

  /** The outgoing buffer drained: send what waited. */
  drained(): void {
    if (this.state === 'connected' && this.session) this.session.flush();
  }

  publish(
    message: StoredMessage,
    qos: QoS,
    retain: boolean,
    subscriptionIds: number[] | undefined,
    packetId: number | undefined,
    dup: boolean,
  ): void {
    if (this.state !== 'connected') return;
    // A consumer that does not read loses QoS 0 rather than growing our memory; QoS 1/2 wait
    // in its session (Session.flush stops while the outlet is not writable).
    if (qos === 0 && !this.writable) {
      this.broker.stats.dropped('slowConsumer');
      return;
    }
    // The common fan-out case has the same bytes for every subscriber: encode once, share.
    const shared = qos === 0 && !subscriptionIds && !this.outboundAliases && (this.version !== 5 || message.expiresAt === undefined);
    const cache = this.broker.publishCache;
    let bytes = shared ? cache.get(message, this.version, retain) : undefined;
    let newAlias = false;
    if (!bytes) {
      const packet: PublishPacket = { type: 'publish', topic: message.topic, payload: message.payload, qos, retain, dup };
      if (packetId !== undefined) packet.packetId = packetId;
      if (this.version === 5) {
        const props = this.outgoingProperties(message, subscriptionIds);
        if (props) packet.properties = props;
        if (this.outboundAliases) {
          const { alias, withTopic } = this.outboundAliases.lookup(message.topic);
          (packet.properties ??= {}).topicAlias = alias;
          if (!withTopic) packet.topic = '';
          newAlias = withTopic;
        }
      }
      bytes = encode(packet, this.version);
      if (shared) cache.set(message, this.version, retain, bytes);
    }
    if (bytes.length > this.maxOutgoingPacketSize) {
      if (newAlias) this.outboundAliases!.forget(message.topic);
      // Too large for this client: discard it as if it had been delivered [MQTT-3.1.2-25].
      this.broker.stats.dropped('tooLarge');
      if (packetId !== undefined && this.session) {
        const s = this.session;
        queueMicrotask(() => this.broker.discard(s, packetId));
      }
      return;
    }
    this.broker.stats.publishSent++;
    this.broker.stats.messagesSent++;
    this.broker.stats.bytesSent += bytes.length;
    this.io.write(bytes);
  }

  pubrel(packetId: number): void {
    this.send({ type: 'pubrel', packetId });
  }

  private outgoingProperties(message: StoredMessage, subscriptionIds: number[] | undefined): Properties | undefined {
    const expiry = remainingExpiry(message, this.broker.now());
    if (!message.properties && expiry === undefined && !subscriptionIds) return undefined;
    const p: Properties = message.properties ? { ...message.properties } : {};
    if (expiry !== undefined) p.messageExpiryInterval = expiry;
    if (subscriptionIds) p.subscriptionIdentifiers = subscriptionIds;
    return p;
  }

  // ---- ending ------------------------------------------------------------------------------

  /**
   * A protocol violation or failure: answer with the reason code where the protocol has a
   * packet for it (CONNACK before success, DISCONNECT in MQTT 5 after), then close only this
   * connection [MQTT-4.8.0-1].
   */
  fail(err: unknown): void {
    if (this.state === 'closed') return;
    const mqtt = err instanceof MqttError ? err : undefined;
    const beforeConnack = this.state === 'awaitingConnect' || this.state === 'connecting';
    // An internal failure (the store rejected a write, an authenticator broke) is not the client's
    // fault. Before CONNACK it means the server cannot serve the client now: return code 3 / 0x88
    // Server unavailable, so a 3.1.1 client is told rather than cut off without a code.
    const code = mqtt?.reasonCode ?? (beforeConnack ? ReasonCode.ServerUnavailable : ReasonCode.UnspecifiedError);
    // The client gets the reason of a protocol error, never an internal error's text (paths, SQL).
    const message = mqtt ? mqtt.message : beforeConnack ? 'server unavailable' : 'internal error';
    if (mqtt) this.log.info({ clientId: this.clientId, remote: this.io.remoteAddress, code, reason: message }, 'closing connection');
    else this.log.error({ err, clientId: this.clientId, remote: this.io.remoteAddress }, 'internal error; closing connection');
    if (beforeConnack) {
      this.refuseConnect(code, message);
    } else if (this.version === 5) {
      const props: Properties | undefined = this.problemInformation ? { reasonString: message } : undefined;
      const reasonCode = disconnectCodeFor(code);
      this.send(props ? { type: 'disconnect', reasonCode, properties: props } : { type: 'disconnect', reasonCode });
    }
    this.end('abnormal');
  }

  /** CONNACK with a failure code; MQTT 3.x has codes only for some failures [MQTT-3.2.2-5]. */
  refuseConnect(code: number, reason: string): void {
    if (this.version === 5) {
      const props: Properties | undefined = this.problemInformation ? { reasonString: reason } : undefined;
      this.send({ type: 'connack', sessionPresent: false, reasonCode: code, ...(props ? { properties: props } : {}) });
      return;
    }
    const v3 = connackCodeForV3(code);
    const hasCode =
      code === ReasonCode.UnsupportedProtocolVersion ||
      code === ReasonCode.ClientIdentifierNotValid ||
      code === ReasonCode.BadUserNameOrPassword ||
      code === ReasonCode.NotAuthorized ||
      code === ReasonCode.ServerUnavailable ||
      code === ReasonCode.ServerBusy ||
      code === ReasonCode.Banned ||
      code === ReasonCode.BadAuthenticationMethod;
    if (hasCode) this.send({ type: 'connack', sessionPresent: false, reasonCode: v3 });
  }

  /** Closes the connection and tells the broker how it ended. */
  end(kind: DisconnectKind): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    const wasBound = wasConnected || this.state === 'connecting';
    this.state = 'closed';
    this.backlog = [];
    if (wasBound) this.broker.disconnected(this, kind);
    this.io.close();
    if (wasConnected) this.broker.hooks.notify?.disconnected?.(this.info, kind);
  }

  /** Another connection claimed this client id [MQTT-3.1.4-2]; MQTT 5 is told why (0x8E). */
  takenOver(elsewhere = false): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      this.send({ type: 'disconnect', reasonCode: ReasonCode.SessionTakenOver });
    }
    this.end(elsewhere ? 'abnormal' : 'takenOver');
  }

  /** No packet within 1.5 × keepalive [MQTT-3.1.2-24]; MQTT 5 gets DISCONNECT 0x8D. */
  keepaliveExpired(): void {
    if (this.state === 'closed') return;
    this.log.info({ clientId: this.clientId, remote: this.io.remoteAddress }, 'keepalive timeout');
    if (this.version === 5 && this.state === 'connected') {
      this.send({ type: 'disconnect', reasonCode: ReasonCode.KeepAliveTimeout });
    }
    this.end('abnormal');
  }

  /**
   * A limit the server imposes was exceeded in a way waiting cannot fix (a consumer that stopped
   * reading): MQTT 5 gets DISCONNECT 0x97 Quota exceeded, with the reason, before the close.
   */
  quotaExceeded(reason: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      const props: Properties | undefined = this.problemInformation ? { reasonString: reason } : undefined;
      this.send({ type: 'disconnect', reasonCode: ReasonCode.QuotaExceeded, ...(props ? { properties: props } : {}) });
    }
    this.end('abnormal');
  }

  /** The transport went away without DISCONNECT: an abnormal close, the will is published. */
  transportClosed(): void {
    this.end('abnormal');
  }
}
