// PUBLISH from a client [MQTT-3.3]: resolve the topic alias, authorize, route, acknowledge.
import { INBOUND_ID_BYTES } from '../../session/state-budget.js';
import type { PublishPacket } from '../../protocol/packets.js';
import { MqttError, protocolError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import { messageFromPublish } from '../../session/message.js';
import type { StoreOp, StoredMessage } from '../../store/ports.js';
import type { Channel } from '../channel.js';
import type { RouteOptions } from '../context.js';
import { isWellFormedUtf8 } from '../../protocol/utf8.js';
import { topicLimitRefusal } from '../topic-rules.js';
import { codeOf, type Verdict } from '../../hooks/hooks.js';
import { ackProperties } from '../ack-properties.js';
import { quote } from '../../protocol/reason-string.js';
import { andThen, type MaybePromise } from '../../protocol/maybe-promise.js';
import { pubackCode } from '../puback-run.js';

/** Route options of a QoS 1/2 PUBLISH without store ops of its own (all but QoS 2 to a persistent session): shared. A QoS 0 one passes none. */
const HOLD_PUBLISHER: RouteOptions = { holdPublisher: true };

export function handlePublish(ch: Channel, packet: PublishPacket): MaybePromise<void> {
  if (ch.state !== 'connected') throw protocolError('PUBLISH before CONNACK');
  const session = ch.session!;
  // Subscription Identifiers flow only from server to client [MQTT-3.3.4-6].
  if (packet.properties?.subscriptionIdentifiers) throw protocolError('PUBLISH from a client with a Subscription Identifier');
  const topic = ch.version === 5 ? resolveAlias(ch, packet) : packet.topic;
  // A new alias mapping waits until the topic passed the limits and the ACL, so a refused topic
  // is never held (it would otherwise stay for the life of the connection).
  const newAlias = ch.version === 5 && packet.topic.length > 0 ? packet.properties?.topicAlias : undefined;
  ch.broker.stats.publishReceived++;

  // A QoS 2 PUBLISH whose id is awaiting PUBREL is a resend: acknowledge, do not route again
  // [MQTT-4.3.3-10]. Checked before flow control: a resend opens no new exchange, and a resumed
  // client must be able to resend every id it left open [MQTT-4.4.0-1].
  if (packet.qos === 2 && session.inbound.has(packet.packetId!)) {
    ch.send({ type: 'pubrec', packetId: packet.packetId! });
    return;
  }
  if (packet.qos > 0 && ch.version === 5) {
    // Flow control: more unacknowledged QoS 1/2 than our Receive Maximum [MQTT-3.3.4-7]. The
    // quota starts afresh with each connection (4.9), so only exchanges opened on this one count,
    // not QoS 2 ids a resumed session still holds from an earlier one.
    if (ch.inboundQos1 + ch.inboundQos2.size >= ch.broker.options.receiveMaximum) {
      ch.broker.stats.limitHit('receiveMaximum');
      throw new MqttError(ReasonCode.ReceiveMaximumExceeded, 'receive maximum exceeded');
    }
  }

  // A payload marked as UTF-8 must be UTF-8 (3.3.2.3.2): refused with 0x99 (QoS 0 has no
  // acknowledgement to carry the code, so the connection is closed with it).
  if (packet.properties?.payloadFormatIndicator === 1 && !isWellFormedUtf8(packet.payload)) {
    if (packet.qos === 0) throw new MqttError(ReasonCode.PayloadFormatInvalid, 'payload is not UTF-8');
    return acknowledge(ch, packet, ReasonCode.PayloadFormatInvalid, undefined, 'payload is not UTF-8', false);
  }

  if (packet.qos === 1) ch.inboundQos1Opened();
  // The decoder has met the syntax rules (and an alias' topic was checked when it was set): only the
  // configured limits are left of the check the admin API makes (topic-rules.ts).
  const refused = topicLimitRefusal(topic, ch.broker.options);
  if (refused) {
    ch.broker.stats.dropped('topicLimit');
    return acknowledge(ch, packet, ReasonCode.TopicNameInvalid, undefined, refused.message);
  }
  const decision = ch.broker.hooks.authorizePublish(ch.info, topic, packet);
  // An answer now (the usual case) goes on without a closure per PUBLISH.
  if (!(decision instanceof Promise)) return authorized(ch, packet, topic, newAlias, decision);
  // A library hook may answer later; the channel holds this client's next packets meanwhile (and
  // one that was closed by then goes no further).
  return decision.then((d) => (ch.state === 'connected' ? authorized(ch, packet, topic, newAlias, d) : undefined));
}

function authorized(ch: Channel, packet: PublishPacket, topic: string, newAlias: number | undefined, decision: number | Verdict): MaybePromise<void> {
  // A Verdict's Reason String and User Properties go on the acknowledgement, allowed or not.
  const words = typeof decision === 'number' ? undefined : decision;
  const denied = codeOf(decision);
  if (denied !== ReasonCode.Success) {
    ch.broker.stats.dropped('notAuthorized');
    return acknowledge(ch, packet, denied, words, `not authorized to publish to ${quote(topic)}`);
  }
  if (newAlias !== undefined) ch.setInboundAlias(newAlias, topic);

  const message = messageFromPublish(ch.broker.ids, packet, topic, ch.clientId, ch.broker.now());
  const intercept = ch.broker.hooks.interceptPublish;
  if (!intercept) return route(ch, packet, message, words);
  return andThen(intercept(ch.info, message), (m) => (ch.state === 'connected' ? intercepted(ch, packet, m, words) : undefined));
}

/** The application's rule answered: route what it returned, or accept and drop (null), or refuse (a code). */
function intercepted(ch: Channel, packet: PublishPacket, m: StoredMessage | null | number, words: Verdict | undefined): MaybePromise<void> {
  if (m === null) return acknowledge(ch, packet, ReasonCode.Success, words);
  if (typeof m === 'number') return acknowledge(ch, packet, m, undefined, 'refused by the server');
  return route(ch, packet, m, words);
}

function route(ch: Channel, packet: PublishPacket, message: StoredMessage, words: Verdict | undefined): MaybePromise<void> {
  const session = ch.session!;
  let extra: StoreOp[] | undefined;
  if (packet.qos === 2) {
    // The id is held until PUBREL, in the session's state: past maxSessionBytesTotal the message is
    // refused (MQTT 5 PUBREC 0x97; 3.1.1 has no code, so it is acknowledged and dropped, as an ACL
    // refusal is), never routed without its exactly-once guard.
    if (session.stateWouldOverflow(INBOUND_ID_BYTES)) {
      ch.broker.stats.limitHit('maxSessionBytesTotal');
      return acknowledge(ch, packet, ReasonCode.QuotaExceeded, words, 'the server holds its maximum of session state');
    }
    session.addInbound(packet.packetId!);
    ch.inboundQos2Opened(packet.packetId!);
    if (session.persistent) extra = [{ op: 'inbound.put', clientId: ch.clientId, packetId: packet.packetId! }];
  }

  // A QoS 1/2 publisher can wait for its acknowledgement: a full subscriber queue may hold it.
  const routed = ch.broker.route(message, extra ? { extraOps: extra, holdPublisher: true } : packet.qos > 0 ? HOLD_PUBLISHER : undefined);
  if (typeof routed === 'number') return acknowledge(ch, packet, pubackCode(routed), words);
  if (packet.qos === 1) {
    // QoS 1 awaiting its commit: the packets behind it go on (routed in order, acknowledged in
    // order), unless mayPipeline says no; then they wait until this one is acknowledged.
    const pipelined = ch.mayPipeline();
    if (words === undefined && pipelined) return ch.pipelinePuback(routed, packet.packetId!);
    const ack = (n: number): void => sendAck(ch, packet, pubackCode(n), words, undefined, true);
    if (pipelined) return ch.pipeline(routed, ack);
    return new Promise<void>((resolve) =>
      ch.pipeline(routed, (n) => {
        ack(n);
        resolve();
      }),
    );
  }
  return routed.then(
    (n) => acknowledge(ch, packet, pubackCode(n), words),
    (err: unknown) => {
      // Not stored, so not acknowledged: forget the packet id, or the publisher's resend would be
      // taken for a duplicate and answered without being routed (exactly-once would become never).
      if (packet.qos === 2) ch.inboundQos2Ended(packet.packetId!);
      throw err;
    },
  );
}

/**
 * PUBACK (QoS 1) or PUBREC (QoS 2); reason codes only in MQTT 5 [MQTT-3.4.2-1], with a reason
 * string and a hook's User Properties unless the client asked for no problem information [MQTT-3.1.2-29].
 */
function acknowledge(ch: Channel, packet: PublishPacket, code: number, words?: Verdict, reason?: string, counted = true): void {
  if (packet.qos === 0) return;
  // Behind a pipelined QoS 1 PUBLISH's acknowledgement still owed, in order [MQTT-4.6.0-2].
  if (packet.qos === 1 && ch.acksOwed) return ch.acknowledgeInOrder(() => sendAck(ch, packet, code, words, reason, counted));
  sendAck(ch, packet, code, words, reason, counted);
}

function sendAck(ch: Channel, packet: PublishPacket, code: number, words: Verdict | undefined, reason: string | undefined, counted: boolean): void {
  const packetId = packet.packetId!;
  if (packet.qos === 1 && counted) ch.inboundQos1Acknowledged();
  // A refused QoS 2 message leaves no state: the exchange ends with the PUBREC, and the id
  // may start a new message [MQTT-4.3.3-9].
  if (packet.qos === 2 && code >= 0x80) ch.inboundQos2Ended(packetId);
  const properties = ackProperties(ch, words, reason);
  // The usual PUBACK goes in the run of this read's PUBACKs (Channel.puback), one Buffer for all.
  if (packet.qos === 1 && !properties) return ch.puback(packetId, code);
  const type = packet.qos === 1 ? 'puback' : 'pubrec';
  if (properties) return ch.send({ type, packetId, reasonCode: code, properties });
  if (ch.version !== 5 || code === ReasonCode.Success) return ch.send({ type, packetId });
  ch.send({ type, packetId, reasonCode: code });
}

/**
 * Topic aliases from the client (3.3.2.3.4, 3.3.4) [MQTT-3.3.2-12]: a non-empty topic with an alias
 * sets it (the handler stores it once the topic is accepted); an empty topic uses it. Alias 0 or
 * above the Topic Alias Maximum we granted is Topic Alias invalid (0x94); an empty topic with an
 * alias that has no mapping yet is a Protocol Error (0x82), as 3.3.4 says.
 */
function resolveAlias(ch: Channel, packet: PublishPacket): string {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) {
    if (packet.topic.length === 0) throw protocolError('empty topic without a topic alias');
    return packet.topic;
  }
  if (alias === 0 || alias > ch.broker.options.topicAliasMaximum) {
    ch.broker.stats.limitHit('topicAliasMaximum');
    throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} is outside 1..${ch.broker.options.topicAliasMaximum}`);
  }
  if (packet.topic.length > 0) return packet.topic;
  const topic = ch.inboundAliases.get(alias);
  if (topic === undefined) throw protocolError(`topic alias ${alias} has no mapping yet`);
  return topic;
}
