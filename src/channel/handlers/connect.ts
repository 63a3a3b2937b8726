// CONNECT: validate, then authenticate: plainly here, or by an MQTT 5 enhanced conversation
// (./auth.ts); both go on to ./connack.ts, which binds the session and answers [MQTT-3.1], [MQTT-4.12].
import { randomBytes } from 'node:crypto';
import type { ConnectPacket } from '../../protocol/packets.js';
import { MqttError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import type { Channel } from '../channel.js';
import type { PendingConnect } from '../state.js';
import { startEnhancedAuth } from './auth.js';
import { finishConnect } from './connack.js';
import { isWellFormedUtf8 } from '../../protocol/utf8.js';
import { andThen, type MaybePromise } from '../../protocol/maybe-promise.js';

/** Longest client id MQTT 3.1 allows (3.1 specification, CONNECT payload). */
const MQTT31_MAX_CLIENT_ID = 23;
/** The largest Receive Maximum there is; ours is configured (mqttReceiveMaximum, options.receiveMaximum). */
export const RECEIVE_MAXIMUM = 65_535;

export function handleConnect(ch: Channel, packet: ConnectPacket): MaybePromise<void> {
  // A second CONNECT is a protocol violation [MQTT-3.1.0-2]: the channel refuses the transition.
  ch.connecting(packet);
  const props = packet.properties ?? {};
  const maxKeepAlive = ch.broker.options.maxKeepAlive;
  checkWillPayload(packet);

  const { clientId, assigned } = resolveClientId(packet);
  const pending: PendingConnect = { packet, assignedClientId: assigned, keepalive: packet.keepalive };
  ch.identified(pending, clientId);
  if (maxKeepAlive > 0 && (packet.keepalive > maxKeepAlive || packet.keepalive === 0)) {
    // MQTT 5 is told the cap (Server Keep Alive) [MQTT-3.2.2-21]; 3.x has no way to say it, so
    // it is refused (as Mosquitto does, with "identifier rejected").
    if (packet.protocolVersion !== 5) {
      throw new MqttError(ReasonCode.ClientIdentifierNotValid, `keepalive ${packet.keepalive}s exceeds the maximum ${maxKeepAlive}s`);
    }
    pending.keepalive = pending.serverKeepAlive = maxKeepAlive;
  }

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
