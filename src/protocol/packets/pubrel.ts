// PUBREL (3.6): its fixed-header flags are 0b0010 [MQTT-3.6.1-1].
import type { PubrelPacket } from '../packets.js';
import { ackCodec } from './ack.js';
import { reasonSet, type PacketCodec } from './common.js';

/** PUBREL and PUBCOMP reason codes (3.6.2.1, 3.7.2.1). */
export const PUBREL_REASONS = reasonSet(0x00, 0x92);

export const pubrel: PacketCodec<PubrelPacket> = ackCodec('pubrel', 0b0010, PUBREL_REASONS);
