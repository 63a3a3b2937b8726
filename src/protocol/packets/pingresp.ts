// PINGRESP (3.13): a fixed header and nothing else.
import type { ProtocolVersion } from '../constants.js';
import { malformed } from '../errors.js';
import type { PingrespPacket } from '../packets.js';
import { checkFlags, type PacketCodec } from './common.js';

const BYTES = Buffer.from([0xd0, 0x00]);

export const pingresp: PacketCodec<PingrespPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): PingrespPacket {
    checkFlags(flags, 0, version, 'PINGRESP');
    if (body.length !== 0) throw malformed('PINGRESP has no variable header or payload');
    return { type: 'pingresp' };
  },
  // A fresh copy each time: callers may hand the buffer to a socket that holds on to it.
  encode: (): Buffer => Buffer.from(BYTES),
};
