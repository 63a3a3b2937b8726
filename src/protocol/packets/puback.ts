// PUBACK (3.4): the QoS 1 acknowledgement.
import type { PubackPacket } from '../packets.js';
import { ackCodec } from './ack.js';
import { reasonSet, type PacketCodec } from './common.js';

/** PUBACK and PUBREC reason codes (3.4.2.1, 3.5.2.1). */
export const PUBACK_REASONS = reasonSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99);

export const puback: PacketCodec<PubackPacket> = ackCodec('puback', 0b0000, PUBACK_REASONS);
