// CONNECT: validate, authenticate (plain or MQTT 5 enhanced), bind the session, answer CONNACK
// [MQTT-3.1], [MQTT-3.2], [MQTT-4.12].
import { randomBytes } from 'node:crypto';
import type { ConnectPacket, ConnackPacket, Properties } from '../../protocol/packets.js';
import { MqttError, protocolError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import { SESSION_NEVER_EXPIRES } from '../../protocol/constants.js';
import type { Channel } from '../channel.js';
import { OutboundAliases } from '../topic-aliases.js';
import { startEnhancedAuth } from './auth.js';
import { isWellFormedUtf8 } from '../../protocol/utf8.js';
import { codeOf } from '../../hooks/hooks.js';
import { quote } from '../../protocol/reason-string.js';
import { MAX_FIELD_LENGTH } from '../../protocol/bytes.js';
import { armCredentialsExpiry } from '../credentials-expiry.js';
import { logConnected } from '../connection-log.js';
import { andThen, type MaybePromise } from '../../protocol/maybe-promise.js';

/** Longest client id MQTT 3.1 allows (3.1 specification, CONNECT payload). */
const MQTT31_MAX_CLIENT_ID = 23;
/** The largest Receive Maximum there is; ours is configured (mqttReceiveMaximum, options.receiveMaximum). */
export const RECEIVE_MAXIMUM = 65_535;

/** What CONNECT settled that the later steps need. */
export interface PendingConnect {
  packet: ConnectPacket;
  assignedClientId: boolean;
  keepalive: number;
  serverKeepAlive?: number;
}

export function handleConnect(ch: Channel, packet: ConnectPacket): MaybePromise<void> {
  // A second CONNECT is a protocol violation [MQTT-3.1.0-2].
  if (ch.state !== 'awaitingConnect') throw protocolError('second CONNECT');
  ch.state = 'connecting';
  ch.version = packet.protocolVersion;
  const props = packet.properties ?? {};
  if (packet.protocolVersion === 5) {
    ch.problemInformation = props.requestProblemInformation !== 0;
    // Known from here on, so even a refusing CONNACK respects it [MQTT-3.2.2-19].
    if (props.maximumPacketSize !== undefined) ch.maxOutgoingPacketSize = props.maximumPacketSize;
  }
  const maxKeepAlive = ch.broker.options.maxKeepAlive;
  checkWillPayload(packet);

  const { clientId, assigned } = resolveClientId(packet);
  ch.clientId = clientId;
  ch.username = packet.username;
  ch.info = { clientId, remoteAddress: ch.io.remoteAddress, listener: ch.io.listener };
  if (packet.username !== undefined) ch.info.username = packet.username;
  if (ch.io.peer) ch.info.peer = ch.io.peer;

  const pending: PendingConnect = { packet, assignedClientId: assigned, keepalive: packet.keepalive };
  if (maxKeepAlive > 0 && (packet.keepalive > maxKeepAlive || packet.keepalive === 0)) {
    // MQTT 5 is told the cap (Server Keep Alive) [MQTT-3.2.2-21]; 3.x has no way to say it, so
    // it is refused (as Mosquitto does, with "identifier rejected").
    if (packet.protocolVersion !== 5) {
      throw new MqttError(ReasonCode.ClientIdentifierNotValid, `keepalive ${packet.keepalive}s exceeds the maximum ${maxKeepAlive}s`);
    }
    pending.keepalive = pending.serverKeepAlive = maxKeepAlive;
  }
  ch.pendingConnect = pending;

  if (packet.protocolVersion === 5 && props.authenticationMethod !== undefined) {
    return startEnhancedAuth(ch, props.authenticationMethod, props.authenticationData);
  }
  return andThen(ch.broker.hooks.authenticate(ch.info, packet), (d) => afterAuthentication(ch, d));
}

function afterAuthentication(ch: Channel, decision: number): MaybePromise<void> {
  if (ch.state !== 'connecting') return;
  if (decision !== ReasonCode.Success) {
    ch.broker.stats.authFailures++;
    throw new MqttError(decision, decision === ReasonCode.BadUserNameOrPassword ? 'bad user name or password' : 'not authorized');
  }
  return finishConnect(ch, undefined);
}

/**
 * A will payload marked as UTF-8 must be UTF-8, as a PUBLISH's must: refused with CONNACK 0x99 (3.1.3.2.3),
 * rather than found out when the will is published and nobody is there to tell.
 */
function checkWillPayload(packet: ConnectPacket): void {
  const will = packet.will;
  if (will?.properties?.payloadFormatIndicator === 1 && !isWellFormedUtf8(will.payload)) {
    throw new MqttError(ReasonCode.PayloadFormatInvalid, 'the will payload is marked as UTF-8 but is not');
  }
}

/** A will is a publish like any other: the client must be allowed to publish to its topic. */
async function authorizeWill(ch: Channel): Promise<void> {
  const will = ch.pendingConnect!.packet.will;
  if (!will) return;
  const asPublish = { type: 'publish' as const, topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false };
  const decision = codeOf(await ch.broker.hooks.authorizePublish(ch.info, will.topic, will.properties ? { ...asPublish, properties: will.properties } : asPublish));
  if (decision !== ReasonCode.Success) throw new MqttError(decision, `not authorized to publish the will to ${quote(will.topic)}`);
}

/** Authentication passed: bind the session and send CONNACK. */
export async function finishConnect(ch: Channel, authData: Buffer | undefined): Promise<void> {
  // Authentication may have replaced the user name with the verified identity (mTLS CN, token subject).
  ch.username = ch.info.username;
  await authorizeWill(ch);
  if (ch.state !== 'connecting') return;
  const pending = ch.pendingConnect!;
  const { packet } = pending;
  const props = packet.properties ?? {};
  if (packet.protocolVersion === 5) {
    // Aliases towards the client only when it allows them [MQTT-3.3.2-9], and no more than we keep.
    const outbound = Math.min(props.topicAliasMaximum ?? 0, ch.broker.options.maxOutgoingTopicAliases);
    if (outbound > 0) ch.outboundAliases = new OutboundAliases(outbound);
  }
  const expiryInterval =
    packet.protocolVersion === 5 ? (props.sessionExpiryInterval ?? 0) : packet.clean ? 0 : SESSION_NEVER_EXPIRES;
  ch.connectExpiry = expiryInterval;

  const req = {
    clientId: ch.clientId,
    protocolVersion: packet.protocolVersion,
    clean: packet.clean,
    expiryInterval,
    identity: ch.info,
    ...(packet.will ? { will: ch.broker.willFor(ch.clientId, packet.will) } : {}),
  };
  const { session, sessionPresent } = await ch.broker.connect(ch, req);
  if (ch.state !== 'connecting') return;

  const connack: ConnackPacket = { type: 'connack', sessionPresent, reasonCode: ReasonCode.Success };
  if (packet.protocolVersion === 5) connack.properties = connackProperties(ch, pending, authData);
  ch.state = 'connected';
  ch.connectedAt = ch.broker.now();
  ch.pendingConnect = undefined;
  ch.send(connack);
  ch.broker.stats.connectionsTotal++;
  ch.io.setKeepalive(pending.keepalive);
  armCredentialsExpiry(ch);
  logConnected(ch, { keepalive: pending.keepalive, cleanStart: packet.clean, sessionExpiry: expiryInterval, sessionPresent });
  ch.broker.attach(session, ch, packet.protocolVersion === 5 ? (props.receiveMaximum ?? 65_535) : 65_535);
  ch.broker.hooks.notify?.connected?.(ch.info);
}

/**
 * An empty client id gets a generated one when the session is clean [MQTT-3.1.3-6] (MQTT 5: always,
 * and it is returned as Assigned Client Identifier [MQTT-3.2.2-16]); otherwise it is rejected
 * with return code 2 [MQTT-3.1.3-8]. MQTT 3.1 requires 1–23 characters.
 */
function resolveClientId(packet: ConnectPacket): { clientId: string; assigned: boolean } {
  if (packet.protocolVersion === 3 && (packet.clientId.length === 0 || packet.clientId.length > MQTT31_MAX_CLIENT_ID)) {
    throw new MqttError(ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 client ids have 1 to 23 characters');
  }
  if (packet.clientId.length > 0) return { clientId: packet.clientId, assigned: false };
  if (packet.protocolVersion === 4 && !packet.clean) {
    throw new MqttError(ReasonCode.ClientIdentifierNotValid, 'a zero-length client id needs clean session');
  }
  return { clientId: `starling-${randomBytes(8).toString('hex')}`, assigned: true };
}

function connackProperties(ch: Channel, pending: PendingConnect, authData: Buffer | undefined): Properties {
  const opts = ch.broker.options;
  const p: Properties = {
    receiveMaximum: opts.receiveMaximum,
    maximumPacketSize: opts.maxPacketSize,
    retainAvailable: 1,
    wildcardSubscriptionAvailable: 1,
    subscriptionIdentifiersAvailable: 1,
    sharedSubscriptionAvailable: 1,
  };
  // Absent means 0: the client may not use aliases (3.2.2.3.8).
  if (opts.topicAliasMaximum > 0) p.topicAliasMaximum = opts.topicAliasMaximum;
  if (pending.assignedClientId) p.assignedClientIdentifier = ch.clientId;
  // Only to a client that asked for it [MQTT-3.1.2-28]; left out when a long client id would make
  // it longer than a string can be (the Server MAY send it, 3.2.2.3.15).
  if (pending.packet.properties?.requestResponseInformation === 1 && opts.responseInformation) {
    const info = opts.responseInformation.replaceAll('%c', ch.clientId);
    if (Buffer.byteLength(info) <= MAX_FIELD_LENGTH) p.responseInformation = info;
  }
  if (pending.serverKeepAlive !== undefined) p.serverKeepAlive = pending.serverKeepAlive;
  if (ch.authMethod !== undefined) {
    p.authenticationMethod = ch.authMethod;
    if (authData) p.authenticationData = authData;
  }
  return p;
}
