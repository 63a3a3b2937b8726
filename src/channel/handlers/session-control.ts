// PINGREQ [MQTT-3.12], DISCONNECT [MQTT-3.14], and packets only a server sends.
import type { DisconnectPacket, Packet, PingreqPacket } from '../../protocol/packets.js';
import { protocolError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import type { Channel } from '../channel.js';
import { clientDisconnect } from '../connection-log.js';

export function handlePingreq(ch: Channel, _packet: PingreqPacket): void {
  if (ch.state !== 'connected') throw protocolError('PINGREQ before CONNACK');
  ch.send({ type: 'pingresp' });
}

export function handleDisconnect(ch: Channel, packet: DisconnectPacket): void {
  if (ch.state !== 'connected') throw protocolError('DISCONNECT before CONNACK');
  const expiry = packet.properties?.sessionExpiryInterval;
  if (ch.version === 5 && expiry !== undefined && ch.session) {
    // A session that was to end with the connection cannot be prolonged at DISCONNECT [MQTT-3.14.2-2].
    if (ch.connectExpiry === 0 && expiry !== 0) throw protocolError('session expiry set at DISCONNECT after 0 at CONNECT');
    ch.broker.setExpiry(ch.session, expiry);
  }
  // DISCONNECT with 0x04 asks for the will to be published [MQTT-3.14.4-3 commentary].
  const withWill = ch.version === 5 && packet.reasonCode === ReasonCode.DisconnectWithWillMessage;
  ch.end(withWill ? 'abnormal' : 'normal', clientDisconnect(ch.version, packet.reasonCode));
}

/** CONNACK, SUBACK, UNSUBACK and PINGRESP flow only from server to client [MQTT-4.8.0-1]. */
export function handleServerOnly(_ch: Channel, packet: Packet): void {
  throw protocolError(`${packet.type.toUpperCase()} is sent only by a server`);
}
