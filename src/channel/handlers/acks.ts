// Acknowledgements of QoS 1/2 exchanges [MQTT-4.3]: PUBACK, PUBREC, PUBCOMP for messages we sent;
// PUBREL for messages we received.
import type { PubackPacket, PubcompPacket, PubrecPacket, PubrelPacket } from '../../protocol/packets.js';
import { protocolError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import type { Channel } from '../channel.js';
import { andThen, type MaybePromise } from '../../protocol/maybe-promise.js';

function connected(ch: Channel, what: string) {
  if (ch.state !== 'connected' || !ch.session) throw protocolError(`${what} before CONNACK`);
  return ch.session;
}

export function handlePuback(ch: Channel, packet: PubackPacket): void {
  ch.broker.completed(connected(ch, 'PUBACK'), packet.packetId, 'puback');
}

export function handlePubrec(ch: Channel, packet: PubrecPacket): MaybePromise<void> {
  const session = connected(ch, 'PUBREC');
  // A PUBREC with a failure code ends the exchange: no PUBREL follows (a PUBREL answers only
  // a PUBREC below 0x80 [MQTT-4.3.3-4]).
  if (packet.reasonCode !== undefined && packet.reasonCode >= 0x80) {
    ch.broker.discard(session, packet.packetId);
    return;
  }
  const r = ch.broker.received(session, packet.packetId);
  const answer = (found: unknown): void => {
    if (found || ch.version !== 5) ch.send({ type: 'pubrel', packetId: packet.packetId });
    else ch.send({ type: 'pubrel', packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
  };
  return andThen(r, answer);
}

export function handlePubrel(ch: Channel, packet: PubrelPacket): MaybePromise<void> {
  const session = connected(ch, 'PUBREL');
  // The exchange is over for flow control whether or not the id was known.
  ch.inboundQos2Completed(packet.packetId);
  const r = ch.broker.inboundCompleted(session, packet.packetId);
  const answer = (found: boolean): void => {
    if (found || ch.version !== 5) ch.send({ type: 'pubcomp', packetId: packet.packetId });
    else ch.send({ type: 'pubcomp', packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
  };
  return andThen(r, answer);
}

export function handlePubcomp(ch: Channel, packet: PubcompPacket): void {
  ch.broker.completed(connected(ch, 'PUBCOMP'), packet.packetId, 'pubcomp');
}
