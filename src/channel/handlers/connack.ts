// After authentication: the will is authorized, the session bound, and CONNACK answers [MQTT-3.2].
// Both ways of authenticating end here: plain (./connect.ts) and enhanced (./auth.ts).
import type { ConnackPacket, Properties } from '../../protocol/packets.js';
import { MqttError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import { SESSION_NEVER_EXPIRES } from '../../protocol/constants.js';
import type { Channel } from '../channel.js';
import type { PendingConnect } from '../state.js';
import { codeOf } from '../../hooks/hooks.js';
import { quote } from '../../protocol/reason-string.js';
import { MAX_FIELD_LENGTH } from '../../protocol/bytes.js';
import { armCredentialsExpiry } from '../credentials-expiry.js';
import { logConnected } from '../connection-log.js';

/** A will is a publish like any other: the client must be allowed to publish to its topic. */
async function authorizeWill(ch: Channel): Promise<void> {
  const will = ch.pendingConnect!.packet.will!;
  const asPublish = { type: 'publish' as const, topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false };
  const decision = codeOf(await ch.broker.hooks.authorizePublish(ch.info, will.topic, will.properties ? { ...asPublish, properties: will.properties } : asPublish));
  if (decision !== ReasonCode.Success) throw new MqttError(decision, `not authorized to publish the will to ${quote(will.topic)}`);
}

/** Authentication passed: bind the session and send CONNACK. */
export async function finishConnect(ch: Channel, authData: Buffer | undefined): Promise<void> {
  // Authentication may have replaced the user name with the verified identity (mTLS CN, token subject).
  ch.authenticated();
  // Most clients have no will: no await (and no promise of an async call) for them.
  if (ch.pendingConnect!.packet.will) {
    await authorizeWill(ch);
    if (ch.state !== 'connecting') return;
  }
  const pending = ch.pendingConnect!;
  const { packet } = pending;
  const props = packet.properties ?? {};
  // Aliases towards the client only when it allows them [MQTT-3.3.2-9], and no more than we keep.
  const outboundAliases = packet.protocolVersion === 5 ? Math.min(props.topicAliasMaximum ?? 0, ch.broker.options.maxOutgoingTopicAliases) : 0;
  const expiryInterval =
    packet.protocolVersion === 5 ? (props.sessionExpiryInterval ?? 0) : packet.clean ? 0 : SESSION_NEVER_EXPIRES;

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
  ch.connected(expiryInterval, outboundAliases);
  ch.send(connack);
  ch.broker.stats.connectionsTotal++;
  ch.io.setKeepalive(pending.keepalive);
  armCredentialsExpiry(ch);
  logConnected(ch, { keepalive: pending.keepalive, cleanStart: packet.clean, sessionExpiry: expiryInterval, sessionPresent });
  ch.broker.attach(session, ch, packet.protocolVersion === 5 ? (props.receiveMaximum ?? 65_535) : 65_535);
  ch.broker.hooks.notify?.connected?.(ch.info);
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
