// PUBCOMP (3.7): last packet of the QoS 2 exchange; same reason codes as PUBREL.
import type { PubcompPacket } from '../packets.js';
import { ackCodec } from './ack.js';
import type { PacketCodec } from './common.js';
import { PUBREL_REASONS } from './pubrel.js';

export const pubcomp: PacketCodec<PubcompPacket> = ackCodec('pubcomp', 0b0000, PUBREL_REASONS);
