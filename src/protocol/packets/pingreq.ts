// PINGREQ (3.12): a fixed header and nothing else.
import type { ProtocolVersion } from '../constants.js';
import { malformed } from '../errors.js';
import type { PingreqPacket } from '../packets.js';
import { checkFlags, type PacketCodec } from './common.js';

const BYTES = Buffer.from([0xc0, 0x00]);

export const pingreq: PacketCodec<PingreqPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): PingreqPacket {
    checkFlags(flags, 0, version, 'PINGREQ');
    if (body.length !== 0) throw malformed('PINGREQ has no variable header or payload');
    return { type: 'pingreq' };
  },
  // A fresh copy each time: callers may hand the buffer to a socket that holds on to it.
  encode: (): Buffer => Buffer.from(BYTES),
};
