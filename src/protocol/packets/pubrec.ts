// PUBREC (3.5): first answer in the QoS 2 exchange; same reason codes as PUBACK.
import type { PubrecPacket } from '../packets.js';
import { ackCodec } from './ack.js';
import type { PacketCodec } from './common.js';
import { PUBACK_REASONS } from './puback.js';

export const pubrec: PacketCodec<PubrecPacket> = ackCodec('pubrec', 0b0000, PUBACK_REASONS);
