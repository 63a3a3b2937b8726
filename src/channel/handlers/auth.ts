// AUTH [MQTT-3.15] and the enhanced authentication exchange [MQTT-4.12]: at connect time it
// sits between CONNECT and CONNACK; once connected, the client may re-authenticate (0x19).
import type { AuthPacket } from '../../protocol/packets.js';
import { MqttError, protocolError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import { quote } from '../../protocol/reason-string.js';
import type { AuthStep } from '../../hooks/enhanced-auth.js';
import type { Channel } from '../channel.js';
import { finishConnect } from './connack.js';
import { armCredentialsExpiry } from '../credentials-expiry.js';
import { andThen, type MaybePromise } from '../../protocol/maybe-promise.js';

/** CONNECT named an Authentication Method: start its conversation. */
export function startEnhancedAuth(ch: Channel, method: string, data: Buffer | undefined): MaybePromise<void> {
  const authenticator = ch.broker.hooks.authenticators.find((a) => a.method === method);
  if (!authenticator) {
    ch.broker.stats.authFailures++;
    throw new MqttError(ReasonCode.BadAuthenticationMethod, `authentication method ${quote(method)} is not supported`);
  }
  ch.converse(authenticator.start(ch.info), method);
  return advance(ch, data);
}

export function handleAuth(ch: Channel, packet: AuthPacket): MaybePromise<void> {
  if (ch.version !== 5) throw protocolError('AUTH is an MQTT 5 packet');
  // The method must be the one from CONNECT; without one, AUTH is not allowed [MQTT-4.12.0-7, MQTT-4.12.1-1].
  const method = packet.properties?.authenticationMethod;
  if (ch.authMethod === undefined || method !== ch.authMethod) throw protocolError('AUTH with a different or no authentication method');
  const data = packet.properties?.authenticationData;
  if (ch.state === 'connecting') {
    if (!ch.auth || packet.reasonCode !== ReasonCode.ContinueAuthentication) throw protocolError('unexpected AUTH during connect');
    return advance(ch, data);
  }
  if (ch.state !== 'connected') throw protocolError('AUTH before CONNECT');
  if (packet.reasonCode === ReasonCode.ReAuthenticate) {
    // Re-authentication starts a fresh conversation with the same method [MQTT-4.12.1-1].
    const authenticator = ch.broker.hooks.authenticators.find((a) => a.method === method)!;
    ch.converse(authenticator.start(ch.info));
    return advance(ch, data);
  }
  if (packet.reasonCode === ReasonCode.ContinueAuthentication && ch.phase === 'reauthenticating') return advance(ch, data);
  throw protocolError('unexpected AUTH reason code');
}

function advance(ch: Channel, data: Buffer | undefined): MaybePromise<void> {
  // Read before the step: the answer belongs to the conversation this packet was part of.
  const reauth = ch.phase === 'reauthenticating';
  return andThen(ch.auth!.step(data), (s) => apply(ch, s, reauth));
}

function apply(ch: Channel, step: AuthStep, reauth: boolean): MaybePromise<void> {
  if (ch.state === 'closed') return;
  switch (step.kind) {
    case 'continue':
      ch.send({
        type: 'auth',
        reasonCode: ReasonCode.ContinueAuthentication,
        properties: { authenticationMethod: ch.authMethod!, ...(step.data ? { authenticationData: step.data } : {}) },
      });
      return;
    case 'failure':
      ch.conversed();
      ch.broker.stats.authFailures++;
      // At connect the failure is a CONNACK, afterwards a DISCONNECT [MQTT-4.12.1-2].
      throw new MqttError(step.reasonCode ?? ReasonCode.NotAuthorized, step.reason ?? 'authentication failed');
    case 'success':
      ch.conversed();
      // Re-authentication renews this client's credentials; it does not turn the connection (and
      // the subscriptions it was granted) into another user's.
      if (reauth && step.username !== undefined && step.username !== ch.info.username) {
        ch.broker.stats.authFailures++;
        throw new MqttError(ReasonCode.NotAuthorized, 're-authentication as another user');
      }
      // New credentials bring their own end, or none; a re-authentication moves the deadline.
      ch.authenticated(step);
      if (!reauth) return finishConnect(ch, step.data);
      armCredentialsExpiry(ch);
      ch.send({
        type: 'auth',
        reasonCode: ReasonCode.Success,
        properties: { authenticationMethod: ch.authMethod!, ...(step.data ? { authenticationData: step.data } : {}) },
      });
      return;
  }
}
