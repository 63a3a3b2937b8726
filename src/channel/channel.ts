// The per-connection protocol state machine: packets in, packets out through ChannelIO, broker
// operations for everything shared. Handlers live one per packet type in ./handlers.
import { MAX_VARIABLE_BYTE_INTEGER, type ProtocolVersion } from '../protocol/constants.js';
import type { ConnectPacket, Packet, Properties } from '../protocol/packets.js';
import { encode, encodePublish } from '../protocol/codec.js';
import { MqttError, protocolError } from '../protocol/errors.js';
import { ReasonCode, connackCodeForV3, disconnectCodeFor } from '../protocol/reason-codes.js';
import type { BrokerClient, ChannelContext, DisconnectKind } from './context.js';
import { remainingExpiry } from '../session/message.js';
import type { ClientInfo } from '../hooks/hooks.js';
import type { Session, SessionOutlet } from '../session/session.js';
import type { Delivery } from '../session/delivery.js';
import type { StoredMessage } from '../store/ports.js';
import type { ChannelIO } from './io.js';
import { lifecycle, transition, type ChannelEvent, type ChannelPhase, type ChannelState, type PendingConnect } from './state.js';
import { OutboundAliases } from './topic-aliases.js';
import { fitPacket } from './fit.js';
import { packetFootprint, userPropertiesOver } from './limits.js';
import { capUtf8 } from '../protocol/reason-string.js';
import type { AuthConversation } from '../hooks/enhanced-auth.js';
import { handlers } from './handlers/index.js';
import { clearCredentialsExpiry } from './credentials-expiry.js';
import { clientFields, logDisconnected, reasonName, type CloseWhy } from './connection-log.js';
import { SETTLED, type MaybePromise } from '../protocol/maybe-promise.js';
import { PUBACK_RUN_MAX, PubackRun, pubackCode } from './puback-run.js';

/** Packets waiting behind an async handler before reading is paused. */
const BACKLOG_PAUSE = 256;

/** An acknowledgement owed to the client (Channel.pipeline). */
interface PendingAck {
  ready: boolean;
  value: unknown;
  /** Sends it; absent for a plain PUBACK (pipelinePuback), which needs only its packet id. */
  ack: ((value: unknown) => void) | undefined;
  packetId: number;
}
/**
 * No packet is larger (a type byte, then four bytes of Remaining Length): the limit that is none.
 * A small integer, where Infinity would be a boxed number of its own in every channel.
 */
const NO_PACKET_LIMIT = MAX_VARIABLE_BYTE_INTEGER + 5;
/** What a connection without inbound aliases or open QoS 2 exchanges reads: shared, never written. */
const NO_ALIASES: ReadonlyMap<number, string> = new Map();
const NO_IDS: ReadonlySet<number> = new Set();
// The channel's flags, bits of one field rather than a field each on every idle channel (read and
// written through the accessors below, under the names they had as fields).
const WANTS_PROBLEM_INFORMATION = 1;
const BUSY = 2;
const ENDING = 4;
const PAUSED = 8;
const ACK_WAIT = 16;
const PUBACKS_DUE = 32;

export class Channel implements BrokerClient, SessionOutlet {
  readonly broker: ChannelContext;
  readonly io: ChannelIO;
  /** Protocol version from CONNECT (or from `connectUnread`, for a refusal before CONNECT is read). */
  get version(): ProtocolVersion {
    return this.protocolVersion;
  }
  private protocolVersion: ProtocolVersion = 4;
  session?: Session;
  /** Client wants reason strings and user properties on failures (Request Problem Information). */
  get problemInformation(): boolean {
    return this.wantsProblemInformation;
  }
  private flags = WANTS_PROBLEM_INFORMATION;
  private get wantsProblemInformation(): boolean {
    return (this.flags & WANTS_PROBLEM_INFORMATION) !== 0;
  }
  private set wantsProblemInformation(on: boolean) {
    this.flag(WANTS_PROBLEM_INFORMATION, on);
  }
  private flag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }
  /** Inbound topic aliases set by the client (MQTT 5); the map is made with the first. */
  get inboundAliases(): ReadonlyMap<number, string> {
    return this.aliasesIn ?? NO_ALIASES;
  }
  private aliasesIn?: Map<number, string>;
  /** Inbound QoS 1 publishes not yet acknowledged (counted against our Receive Maximum). */
  get inboundQos1(): number {
    return this.qos1Open;
  }
  private qos1Open = 0;

  /** An inbound QoS 1 PUBLISH is being handled: it counts against our Receive Maximum until acknowledged. */
  inboundQos1Opened(): void {
    this.qos1Open++;
  }

  /** PUBACK sent for an inbound QoS 1 PUBLISH. */
  inboundQos1Acknowledged(): void {
    this.qos1Open--;
  }
  /**
   * Inbound QoS 2 ids opened on this connection and not yet released: with inboundQos1, what counts
   * against our Receive Maximum (ids a resumed session kept from an earlier connection do not).
   */
  get inboundQos2(): ReadonlySet<number> {
    return this.qos2Open ?? NO_IDS;
  }
  private qos2Open?: Set<number>;

  /** PUBREL: the exchange no longer counts against our Receive Maximum. */
  inboundQos2Completed(packetId: number): void {
    this.qos2Open?.delete(packetId);
  }

  /** An inbound QoS 2 exchange opened on this connection (PUBREC sent, PUBREL awaited). */
  inboundQos2Opened(packetId: number): void {
    (this.qos2Open ??= new Set()).add(packetId);
  }

  /**
   * An inbound QoS 2 exchange ended without PUBREL (refused, or not stored): the session forgets the
   * id, so a resend is routed as new, and flow control no longer counts it [MQTT-4.3.3-9].
   */
  inboundQos2Ended(packetId: number): void {
    this.session?.deleteInbound(packetId);
    this.qos2Open?.delete(packetId);
  }
  /** Ends the connection when its credentials expire (./credentials-expiry.ts). */
  credentialsTimer?: NodeJS.Timeout;

  /** Where the connection is (state.ts); changed only by the transitions below. */
  private current: ChannelPhase = 'awaitingConnect';
  private id = '';
  private client?: ClientInfo;
  private connackAt = 0;
  private user?: string;
  private expiryAsked = 0;
  private maxPacketOut = NO_PACKET_LIMIT;
  private aliasesOut?: OutboundAliases;
  private pending?: PendingConnect;
  private method?: string;
  private conversation?: AuthConversation;
  private get busy(): boolean {
    return (this.flags & BUSY) !== 0;
  }
  private set busy(on: boolean) {
    this.flag(BUSY, on);
  }
  /** Bytes held by inbound alias topics and by the backlog (memoryHeld). */
  private inboundAliasBytes = 0;
  private backlogBytes = 0;
  /** Being ended (a fault, or a CONNACK that cannot fit): nothing more is read, sent or delivered. */
  private get ending(): boolean {
    return (this.flags & ENDING) !== 0;
  }
  private set ending(on: boolean) {
    this.flag(ENDING, on);
  }
  /** Packets read while a handler awaits (made when one first waits). */
  private backlog?: Packet[];
  /** A codec error read behind a CONNECT still being answered: raised once the packets before it are (failInOrder). */
  private failureBehind?: unknown;
  private get paused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }
  private set paused(on: boolean) {
    this.flag(PAUSED, on);
  }
  /**
   * Acknowledgements owed for QoS 1 PUBLISHes, in the order received [MQTT-4.6.0-2]: one whose
   * commit is under way is not `ready` yet, and those behind it wait (made when one first waits).
   */
  private acks?: PendingAck[];
  /**
   * The last promise pipeline() waits on, and the acknowledgements waiting on it: PUBLISHes whose
   * commits joined one write share its promise (StoreWrites.joining), so one callback serves them all.
   */
  private awaited?: Promise<unknown>;
  private awaitedAcks?: PendingAck[];
  /** `busy` because a packet other than a QoS 1 PUBLISH waits for `acks` to go. */
  private get ackWait(): boolean {
    return (this.flags & ACK_WAIT) !== 0;
  }
  private set ackWait(on: boolean) {
    this.flag(ACK_WAIT, on);
  }
  /** Plain PUBACKs not yet written (puback()): written as one Buffer at the end of the run (made when first needed). */
  private pubacks?: PubackRun;
  private get pubacksDue(): boolean {
    return (this.flags & PUBACKS_DUE) !== 0;
  }
  private set pubacksDue(on: boolean) {
    this.flag(PUBACKS_DUE, on);
  }

  constructor(broker: ChannelContext, io: ChannelIO) {
    this.broker = broker;
    this.io = io;
  }

  get log() {
    return this.broker.log;
  }

  // ---- state and its transitions (state.ts): handlers ask, the channel moves ------------------

  /** The lifecycle: awaitingConnect, connecting, connected (re-authenticating included), closed. */
  get state(): ChannelState {
    return lifecycle(this.current);
  }

  /** The state with re-authentication as its own. */
  get phase(): ChannelPhase {
    return this.current;
  }

  /** The client identifier (assigned by us for an empty one); '' until CONNECT was read. */
  get clientId(): string {
    return this.id;
  }

  /** Who the client is, as the hooks see it; set once CONNECT was read (the handlers run after that). */
  get info(): ClientInfo {
    return this.client!;
  }

  /** Who the client is: the CONNECT user name until authentication verified one (mTLS CN, token subject). */
  get username(): string | undefined {
    return this.user;
  }

  /** Session Expiry Interval the client asked for at CONNECT (0 forbids raising it later). */
  get connectExpiry(): number {
    return this.expiryAsked;
  }

  /** Client's Maximum Packet Size (MQTT 5); packets larger are not sent [MQTT-3.1.2-24]. */
  get maxOutgoingPacketSize(): number {
    return this.maxPacketOut;
  }

  /** Aliases we assign towards the client, up to its Topic Alias Maximum (MQTT 5). */
  get outboundAliases(): OutboundAliases | undefined {
    return this.aliasesOut;
  }

  /** Milliseconds since the epoch when CONNACK was sent. */
  get connectedAt(): number {
    return this.connackAt;
  }

  /** CONNECT accepted so far, while authentication runs (until CONNACK). */
  get pendingConnect(): PendingConnect | undefined {
    return this.pending;
  }

  /** Authentication Method from CONNECT (MQTT 5 enhanced authentication). */
  get authMethod(): string | undefined {
    return this.method;
  }

  /** The enhanced authentication conversation in progress, if any. */
  get auth(): AuthConversation | undefined {
    return this.conversation;
  }

  /** Moves along `event` (state.ts); one the table does not allow here is a protocol error. */
  private move(event: ChannelEvent, refusal: string): void {
    const next = transition(this.current, event);
    if (next === undefined) throw protocolError(refusal);
    this.current = next;
  }

  /**
   * The connection failed before a CONNECT was read (the server's parser refused it): the refusal
   * is answered in `answerVersion`'s CONNACK layout when the parser could tell it [MQTT-3.1.2-2],
   * and without a Reason String, since the client's Maximum Packet Size is unknown [MQTT-3.1.2-24].
   * Nothing changes once a CONNECT was read.
   */
  connectUnread(answerVersion: ProtocolVersion | undefined): void {
    if (this.state !== 'awaitingConnect') return;
    if (answerVersion !== undefined) this.protocolVersion = answerVersion;
    this.wantsProblemInformation = false;
  }

  /**
   * CONNECT arrived: only one is allowed [MQTT-3.1.0-2]. Its version and what it asks of our
   * answers hold from here on, so even a refusing CONNACK respects them [MQTT-3.2.2-19].
   */
  connecting(packet: ConnectPacket): void {
    this.move('connect', 'second CONNECT');
    this.protocolVersion = packet.protocolVersion;
    if (packet.protocolVersion !== 5) return;
    const props = packet.properties ?? {};
    this.wantsProblemInformation = props.requestProblemInformation !== 0;
    this.limitPacketsTo(props.maximumPacketSize);
  }

  /** The client's Maximum Packet Size (MQTT 5 CONNECT), within what a packet can be at all. */
  private limitPacketsTo(max: number | undefined): void {
    if (max !== undefined) this.maxPacketOut = Math.min(max, NO_PACKET_LIMIT);
  }

  /** CONNECT is valid: who the client says it is, and what the steps after authentication need. */
  identified(pending: PendingConnect, clientId: string): void {
    const { packet } = pending;
    this.pending = pending;
    this.id = clientId;
    this.user = packet.username;
    const info: ClientInfo = { clientId, remoteAddress: this.io.remoteAddress, listener: this.io.listener };
    if (packet.username !== undefined) info.username = packet.username;
    if (this.io.peer) info.peer = this.io.peer;
    this.client = info;
  }

  /**
   * An enhanced authentication conversation starts: at CONNECT with its method, or once connected
   * as a re-authentication (AUTH 0x19, same method [MQTT-4.12.1-1]), which is a state of its own.
   */
  converse(conversation: AuthConversation, method?: string): void {
    if (this.current === 'connecting') {
      if (method !== undefined) this.method = method;
    } else this.move('reauthenticate', 'AUTH before CONNECT');
    this.conversation = conversation;
  }

  /**
   * Authentication succeeded: the identity it verified is the connection's (a hook may have set
   * ClientInfo.username), and an enhanced method's credentials replace the old ones: their end, or
   * none (a re-authentication moves the deadline), and their grants.
   */
  authenticated(credentials?: { username?: string; expiresAt?: number; grants?: ClientInfo['grants'] }): void {
    if (credentials) {
      const info = this.info;
      if (credentials.username !== undefined) info.username = credentials.username;
      if (credentials.expiresAt !== undefined) info.credentialsExpireAt = credentials.expiresAt;
      else delete info.credentialsExpireAt;
      if (credentials.grants !== undefined) info.grants = credentials.grants;
      else delete info.grants;
    }
    this.user = this.info.username;
  }

  /** The conversation ended (success or failure); a re-authentication is over. */
  conversed(): void {
    this.conversation = undefined;
    if (this.current === 'reauthenticating') this.move('reauthenticated', 'no re-authentication in progress');
  }

  /**
   * CONNACK with success goes out now: connected [MQTT-3.2.0-1], with the Session Expiry Interval
   * the client asked for and as many topic aliases towards it as were agreed (0: none).
   */
  connected(sessionExpiry: number, outboundAliases: number): void {
    this.move('connack', 'CONNACK outside CONNECT');
    this.expiryAsked = sessionExpiry;
    if (outboundAliases > 0) this.aliasesOut = new OutboundAliases(outboundAliases);
    this.connackAt = this.broker.now();
    this.pending = undefined;
  }

  /** Processes packets in order; one whose handler awaits the store holds the ones behind it. */
  receive(packet: Packet): void {
    // After a packet that will end the connection (failInOrder), nothing more is acted on.
    if (this.state === 'closed' || this.ending || this.failureBehind !== undefined) return;
    // Counted before anything is kept or routed: a packet over the limits is never held.
    const v5 = packet.type === 'connect' ? packet.protocolVersion === 5 : this.version === 5;
    const over = v5 ? userPropertiesOver(packet, this.broker.options) : undefined;
    if (over) {
      // A refused CONNECT is answered in its own version's CONNACK, within the Maximum Packet Size
      // it announced [MQTT-3.1.2-24].
      if (packet.type === 'connect' && this.state === 'awaitingConnect') {
        this.protocolVersion = packet.protocolVersion;
        if (packet.protocolVersion === 5) this.limitPacketsTo(packet.properties?.maximumPacketSize);
      }
      this.broker.stats.limitHit('maxUserProperties');
      // A later packet's excess is not the CONNECT's: it waits for the CONNACK (failInOrder).
      const err = new MqttError(ReasonCode.QuotaExceeded, over);
      if (packet.type === 'connect') this.fail(err);
      else this.failInOrder(err);
      return;
    }
    // Acknowledgements of our deliveries never wait behind a held PUBLISH: the publisher may be held
    // by a queue that only its own (or its peer's) PUBACKs can drain. Nothing orders them after an
    // inbound PUBLISH, and a PUBCOMP always follows our PUBREL, so its PUBREC was handled already.
    if (this.busy && (packet.type === 'puback' || packet.type === 'pubcomp') && this.state === 'connected') {
      this.run(packet);
      return;
    }
    // Only QoS 1 PUBLISHes go on while acknowledgements are owed (see pipeline()); any other
    // packet waits for them, as it waited for the handler before.
    if (!this.busy && this.waitsForAcks(packet)) this.busy = this.ackWait = true;
    if (this.busy) {
      const backlog = (this.backlog ??= []);
      backlog.push(packet);
      this.backlogBytes += packetFootprint(packet);
      if (!this.withinMemoryBudget()) return;
      // Reading stops while the backlog is long or large; what one more read adds is bounded by a chunk.
      if (!this.paused && (backlog.length >= BACKLOG_PAUSE || this.backlogBytes >= this.broker.options.maxClientMemory / 4)) {
        this.paused = true;
        this.io.pause();
      }
      return;
    }
    this.run(packet);
  }

  /**
   * Bytes this connection holds for its client besides its session (queued and in-flight messages
   * have their own limits there): topic aliases both ways, the packet being received, the backlog.
   */
  get memoryHeld(): number {
    return this.inboundAliasBytes + (this.aliasesOut?.bytes ?? 0) + this.backlogBytes + this.io.partialBytes;
  }

  /** Over maxClientMemory: DISCONNECT (or CONNACK) 0x97 Quota exceeded, and the close. */
  withinMemoryBudget(): boolean {
    if (this.state === 'closed') return true;
    const over = this.overBudget();
    if (over) this.fail(over);
    return over === undefined;
  }

  /** The error of a connection over maxClientMemory (counted), or undefined within it. */
  private overBudget(): MqttError | undefined {
    const max = this.broker.options.maxClientMemory;
    if (this.memoryHeld <= max) return undefined;
    this.broker.stats.limitHit('maxClientMemory');
    return new MqttError(ReasonCode.QuotaExceeded, `connection holds more than ${max} bytes`);
  }

  /** Maps an inbound alias once its topic was accepted [MQTT-3.3.2-12]; counted in the memory budget. */
  setInboundAlias(alias: number, topic: string): void {
    const old = this.inboundAliases.get(alias);
    if (old !== undefined) this.inboundAliasBytes -= 2 * old.length;
    (this.aliasesIn ??= new Map()).set(alias, topic);
    this.inboundAliasBytes += 2 * topic.length;
    // Thrown inside the PUBLISH handler: the channel turns it into DISCONNECT 0x97 and the close.
    const over = this.overBudget();
    if (over) throw over;
  }

  private run(packet: Packet): void {
    try {
      const handle = handlers[packet.type] as (ch: Channel, p: Packet) => MaybePromise<void>;
      const r = handle(this, packet);
      // Not andThen: what matters is whether the handler went on later (the packets behind it wait),
      // and its rejection ends the connection.
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
    const backlog = this.backlog;
    while (backlog && !this.busy && this.state !== 'closed' && !this.ending && backlog.length > 0) {
      if (this.waitsForAcks(backlog[0])) {
        this.busy = this.ackWait = true;
        break;
      }
      const packet = backlog.shift()!;
      this.backlogBytes -= packetFootprint(packet);
      this.run(packet);
    }
    if (this.failureBehind !== undefined) {
      // Every packet before the bad bytes has been handled (the CONNECT answered): now the error,
      // as DISCONNECT if the CONNECT was accepted. Reading stays paused.
      if (this.busy || (backlog?.length ?? 0) > 0 || this.state === 'closed') return;
      const err = this.failureBehind;
      this.failureBehind = undefined;
      return this.fail(err);
    }
    if (this.paused && (this.backlog?.length ?? 0) < BACKLOG_PAUSE / 2 && this.backlogBytes < this.broker.options.maxClientMemory / 8) {
      this.paused = false;
      this.io.resume();
    }
  }

  /**
   * While acknowledgements are owed, a packet waits for them unless it is a QoS 1 PUBLISH that may
   * still go on (mayPipeline). A QoS 1 PUBLISH answered at once (refused, or with no subscriber)
   * also queues an acknowledgement behind the owed ones, so without this bound a client could grow
   * that queue for as long as one commit takes.
   */
  private waitsForAcks(packet: Packet): boolean {
    return this.acksOwed && (packet.type !== 'publish' || packet.qos !== 1 || !this.mayPipeline());
  }

  /**
   * Whether a QoS 1 PUBLISH whose commit is under way may let the packets behind it go on
   * (`pipeline`): not while a full queue holds some publisher (backPressure must stop reading the
   * publishers, at most one message past the limit each), nor once as many are open as our
   * Receive Maximum (MQTT 5) or the backlog bound allow: the packets behind it then wait until it
   * is acknowledged, as before pipelining (so a client that sends past our Receive Maximum is
   * slowed down, not cut off, as it was).
   */
  mayPipeline(): boolean {
    const most = this.version === 5 ? this.broker.options.receiveMaximum : BACKLOG_PAUSE;
    return this.qos1Open < most && !this.broker.publishersHeld;
  }

  /**
   * Pipelined QoS 1: the PUBLISH was routed (in order) and its commit is under way; the next packets
   * are handled meanwhile, so a client's PUBLISHes of one read share one commit and one write of
   * their PUBACKs. `ack` runs once `done` resolved and every acknowledgement before it went; a
   * rejection ends the connection (nothing after it is acknowledged).
   */
  pipeline<T>(done: Promise<T>, ack: (value: T) => void): void {
    this.owe(done, { ready: false, value: undefined, ack: ack as (value: unknown) => void, packetId: 0 });
  }

  /**
   * As pipeline, for the usual acknowledgement: a PUBACK without properties for a message `done`
   * says was routed to that many sessions (no closure per PUBLISH; written in a run, puback()).
   */
  pipelinePuback(done: Promise<number>, packetId: number): void {
    this.owe(done, { ready: false, value: undefined, ack: undefined, packetId });
  }

  private owe(done: Promise<unknown>, entry: PendingAck): void {
    (this.acks ??= []).push(entry);
    if (done === this.awaited) {
      // Its callback has not run yet (it forgets `awaited` when it does): it will mark this one too.
      this.awaitedAcks!.push(entry);
      return;
    }
    const group = [entry];
    this.awaited = done;
    this.awaitedAcks = group;
    done.then(
      (value) => {
        if (this.awaitedAcks === group) this.awaited = this.awaitedAcks = undefined;
        for (const e of group) {
          e.ready = true;
          e.value = value;
        }
        this.sendAcks();
      },
      (err) => {
        if (this.awaitedAcks === group) this.awaited = this.awaitedAcks = undefined;
        this.fail(err);
      },
    );
  }

  /** Acknowledgements of pipelined PUBLISHes are still owed. */
  get acksOwed(): boolean {
    return this.acks !== undefined && this.acks.length > 0;
  }

  /** Sends an acknowledgement after the ones owed before it [MQTT-4.6.0-2] (now if none is). */
  acknowledgeInOrder(ack: () => void): void {
    if (!this.acksOwed) return ack();
    this.acks!.push({ ready: true, value: undefined, ack, packetId: 0 });
  }

  private sendAcks(): void {
    const acks = this.acks;
    if (acks === undefined) return; // ended meanwhile
    let n = 0;
    while (n < acks.length && acks[n].ready) n++;
    if (n === 0) return;
    const done = acks.splice(0, n);
    for (const a of done) {
      if (a.ack !== undefined) a.ack(a.value);
      else {
        this.inboundQos1Acknowledged();
        this.puback(a.packetId, pubackCode(a.value as number));
      }
    }
    if (acks.length === 0 && this.ackWait) {
      this.ackWait = false;
      this.next();
    }
  }

  /**
   * Sends one packet, fitted to the client's Maximum Packet Size [MQTT-3.1.2-24] (fit.ts: a Reason
   * String or User Properties that would push it over are left out [MQTT-3.4.2-2, MQTT-3.9.2-1,
   * MQTT-3.14.2-3]). A packet that still cannot fit is not sent; a CONNACK that cannot fit ends the
   * connection, as the client could never learn the outcome. Never throws: a failure to encode or
   * write is this connection's fault (the barrier), not its caller's.
   */
  send(packet: Packet): void {
    if (this.state === 'closed' || this.ending) return;
    if (this.pubacksDue) this.writePubacks();
    try {
      const bytes = fitPacket(packet, this.version, this.maxPacketOut);
      if (!bytes) {
        if (packet.type === 'connack') this.unreachable();
        return;
      }
      this.broker.stats.messagesSent++;
      this.broker.stats.bytesSent += bytes.length;
      this.io.write(bytes);
    } catch (err) {
      this.fault(err);
    }
  }

  /**
   * A PUBACK without properties for an inbound QoS 1 PUBLISH (its caller counted it acknowledged):
   * collected with the others of this synchronous run and written as one Buffer at its end (a
   * microtask), or before anything else this channel writes, so the order is kept [MQTT-4.6.0-2].
   * One larger than the client's Maximum Packet Size is not sent, as send() would not [MQTT-3.1.2-24].
   */
  puback(packetId: number, code: number): void {
    if (this.state === 'closed' || this.ending) return;
    // (No client that could connect takes fewer than 5 bytes, the smallest MQTT 5 CONNACK; kept for the rule.)
    const size = PubackRun.size(code, this.version);
    if (size > this.maxPacketOut) return;
    const run = (this.pubacks ??= new PubackRun());
    run.add(packetId, code, size);
    if (!this.pubacksDue) {
      this.pubacksDue = true;
      void SETTLED.then(() => this.writePubacks());
    }
    if (run.length >= PUBACK_RUN_MAX) this.writePubacks();
  }

  /** Writes the PUBACKs collected by puback() (if not written already). */
  private writePubacks(): void {
    if (!this.pubacksDue) return;
    this.pubacksDue = false;
    const run = this.pubacks!;
    const count = run.length;
    const bytes = run.take();
    if (this.state === 'closed') return;
    try {
      this.broker.stats.messagesSent += count;
      this.broker.stats.bytesSent += bytes.length;
      this.io.write(bytes);
    } catch (err) {
      this.fault(err);
    }
  }

  /** Even the slimmest CONNACK is larger than the client's Maximum Packet Size: close at once. */
  private unreachable(): void {
    this.broker.stats.limitHit('connackTooLarge');
    this.log.info({ clientId: this.clientId, remote: this.io.remoteAddress, maximumPacketSize: this.maxPacketOut }, 'CONNACK larger than the client accepts; closing');
    // After the current step: the caller may still be setting the connection up.
    this.ending = true;
    queueMicrotask(() => this.end('abnormal'));
  }

  // ---- SessionOutlet: deliveries from the broker -----------------------------------------

  get writable(): boolean {
    return this.io.bufferedBytes < this.broker.options.maxOutgoingBytes;
  }

  /** The outgoing buffer drained: send what waited. */
  drained(): void {
    if (this.state === 'connected' && this.session) this.session.sendUnsent();
  }

  deliver(delivery: Delivery): void {
    if (this.state !== 'connected' || this.ending) return;
    if (this.pubacksDue) this.writePubacks();
    try {
      this.writePublish(delivery);
    } catch (err) {
      // Called from another client's publish: the fault is this subscriber's, and ends it alone.
      this.fault(err);
    }
  }

  private writePublish(delivery: Delivery): void {
    const { message, qos, retain, subscriptionIds, packetId } = delivery;
    // A consumer that does not read loses QoS 0 rather than growing our memory; QoS 1/2 wait
    // in its session (Session.sendUnsent stops while the outlet is not writable).
    if (qos === 0 && !this.writable) {
      this.broker.stats.dropped('slowConsumer');
      return;
    }
    // The common fan-out case has the same bytes for every subscriber: encode once, share.
    const shared = qos === 0 && !subscriptionIds && !this.aliasesOut && (this.version !== 5 || message.expiresAt === undefined);
    const cache = this.broker.publishCache;
    let bytes = shared ? cache.get(message, this.version, retain) : undefined;
    let newAlias = false;
    if (!bytes) {
      // From the fields, with no packet object: one of these per message a drain sends.
      let topic = message.topic;
      let props: Properties | undefined;
      if (this.version === 5) {
        props = this.outgoingProperties(message, subscriptionIds);
        if (this.aliasesOut) {
          const { alias, withTopic } = this.aliasesOut.lookup(topic);
          (props ??= {}).topicAlias = alias;
          if (!withTopic) topic = '';
          newAlias = withTopic;
        }
      }
      bytes = encodePublish(topic, message.payload, qos, retain, delivery.dup === true, packetId, props, this.version);
      if (shared) cache.set(message, this.version, retain, bytes);
    }
    if (bytes.length > this.maxPacketOut) {
      if (newAlias) this.aliasesOut!.forget(message.topic);
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
    // Most messages carry none of these: no clock read, no object.
    if (!message.properties && message.expiresAt === undefined && !subscriptionIds) return undefined;
    const expiry = remainingExpiry(message, this.broker.now());
    const p: Properties = message.properties ? { ...message.properties } : {};
    if (expiry !== undefined) p.messageExpiryInterval = expiry;
    if (subscriptionIds) p.subscriptionIdentifiers = subscriptionIds;
    return p;
  }

  // ---- ending ------------------------------------------------------------------------------

  /**
   * A codec error in the bytes read after packets still being handled. Behind a CONNECT not yet
   * answered it waits for the answer: an error in a later packet is not the CONNECT's, so it must
   * not become the CONNACK's reason code [MQTT-4.13.1-1]; once CONNACK 0x00 is out it is a
   * DISCONNECT with its own code, after the packets before it. Nothing more is read meanwhile.
   */
  failInOrder(err: unknown): void {
    if (this.state !== 'connecting' || !this.busy || this.ending) return this.fail(err);
    this.failureBehind ??= err;
    if (!this.paused) {
      this.paused = true;
      this.io.pause();
    }
  }

  /**
   * A protocol violation or failure: answer with the reason code where the protocol has a
   * packet for it (CONNACK before success, DISCONNECT in MQTT 5 after), then close only this
   * connection [MQTT-4.8.0-1].
   */
  fail(err: unknown): void {
    if (this.state === 'closed' || this.ending) return;
    const mqtt = err instanceof MqttError ? err : undefined;
    const beforeConnack = this.state === 'awaitingConnect' || this.state === 'connecting';
    // An internal failure (the store rejected a write, a hook threw) is not the client's fault.
    // Before CONNACK it means the server cannot serve the client now: return code 3 / 0x88
    // Server unavailable, so a 3.1.1 client is told rather than cut off without a code; after it,
    // 0x83 Implementation specific error.
    const code = mqtt?.reasonCode ?? (beforeConnack ? ReasonCode.ServerUnavailable : ReasonCode.ImplementationSpecificError);
    // The client gets the reason of a protocol error, never an internal error's text (paths, SQL).
    const message = mqtt ? mqtt.message : beforeConnack ? 'server unavailable' : 'internal error';
    if (!mqtt) {
      this.broker.stats.connectionFaults++;
      this.log.error({ err, clientId: this.clientId, remote: this.io.remoteAddress }, 'internal error; closing connection');
    }
    // A connected client's line is the disconnect line; before that, the refusal is the news.
    else if (this.state !== 'connected') this.log.info({ ...clientFields(this), reasonCode: code, reason: capUtf8(message) }, `connection refused: ${reasonName(code)}: ${capUtf8(message)}`);
    if (beforeConnack) {
      this.refuseConnect(code, message);
    } else if (this.version === 5) {
      const props: Properties | undefined = this.problemInformation ? { reasonString: message } : undefined;
      const reasonCode = disconnectCodeFor(code);
      this.send(props ? { type: 'disconnect', reasonCode, properties: props } : { type: 'disconnect', reasonCode });
    }
    this.end('abnormal', mqtt ? { reason: `protocol error: ${message}`, reasonCode: code } : { reason: 'internal error' });
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

  /** Closes the connection and tells the broker how it ended; `why` goes in the disconnect log line. */
  end(kind: DisconnectKind, why?: CloseWhy): void {
    if (this.state === 'closed') return;
    // PUBACKs collected before the end go before it (a DISCONNECT right behind PUBLISHes, say).
    if (this.pubacksDue) this.writePubacks();
    const wasConnected = this.state === 'connected';
    const wasBound = wasConnected || this.state === 'connecting';
    if (wasConnected) logDisconnected(this, why ?? { reason: kind === 'normal' ? 'closed' : 'closed abnormally' });
    this.move('close', 'closed twice');
    this.backlog = undefined;
    this.backlogBytes = 0;
    this.acks = undefined;
    this.awaited = this.awaitedAcks = undefined;
    clearCredentialsExpiry(this);
    try {
      if (wasBound) this.broker.disconnected(this, kind);
    } catch (err) {
      // The connection still closes (a throw here would leave it open and half-detached).
      this.broker.stats.connectionFaults++;
      this.log.error({ err, clientId: this.clientId, remote: this.io.remoteAddress }, 'fault while ending the connection');
    }
    this.io.close();
    this.broker.hooks.release?.(this.info);
    if (wasConnected) this.broker.hooks.notify?.disconnected?.(this.info, kind);
  }

  /**
   * The fault barrier: something threw while serving this connection (encoding a packet for it,
   * delivering to it, one of its timers, a hook or store callback outside a handler). It ends this
   * connection only: MQTT 5 gets 0x83 Implementation specific error where a packet can still be
   * sent (DISCONNECT after CONNACK, CONNACK before), written directly so that a second throw cannot
   * recurse; then the close, after the current call stack (which may be another client's fan-out).
   */
  fault(err: unknown): void {
    if (this.state === 'closed' || this.ending) return;
    if (this.pubacksDue) this.writePubacks();
    // Writing them may have faulted already (and closed the connection): this fault is still told.
    if (this.ending) {
      this.log.error({ err, clientId: this.clientId, remote: this.io.remoteAddress }, 'fault while serving the connection (already closing)');
      return;
    }
    this.ending = true;
    this.broker.stats.connectionFaults++;
    this.log.error({ err, clientId: this.clientId, remote: this.io.remoteAddress }, 'fault while serving the connection; closing it');
    if (this.version === 5) {
      const reasonCode = ReasonCode.ImplementationSpecificError;
      const packet: Packet =
        this.state === 'connected' ? { type: 'disconnect', reasonCode } : { type: 'connack', sessionPresent: false, reasonCode };
      try {
        const bytes = encode(packet, 5);
        if (bytes.length <= this.maxPacketOut) this.io.write(bytes);
      } catch {
        // Nothing more can be said to this client; it is closed below.
      }
    }
    queueMicrotask(() => {
      try {
        this.end('abnormal');
      } catch {
        this.io.close();
      }
    });
  }

  /** Another connection claimed this client id [MQTT-3.1.4-2]; MQTT 5 is told why (0x8E). */
  takenOver(elsewhere = false): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      this.send({ type: 'disconnect', reasonCode: ReasonCode.SessionTakenOver });
    }
    const reason = `taken over: another connection${elsewhere ? ' on another node or worker' : ''} used this client id`;
    this.end(elsewhere ? 'abnormal' : 'takenOver', { reason });
  }

  /** No packet within 1.5 × keepalive [MQTT-3.1.2-24]; MQTT 5 gets DISCONNECT 0x8D. */
  keepaliveExpired(): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      this.send({ type: 'disconnect', reasonCode: ReasonCode.KeepAliveTimeout });
    }
    this.end('abnormal', { reason: 'keepalive timeout: no packet for 1.5 × keepalive' });
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
    this.end('abnormal', { reason: `quota exceeded: ${reason}`, reasonCode: ReasonCode.QuotaExceeded });
  }

  /** The transport went away without DISCONNECT: an abnormal close, the will is published. */
  transportClosed(err?: Error): void {
    this.end('abnormal', err ? { reason: `socket error: ${err.message}`, ...('code' in err ? { code: err.code } : {}) } : { reason: 'connection closed without DISCONNECT' });
  }
}
