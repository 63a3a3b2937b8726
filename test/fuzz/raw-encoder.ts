// A small MQTT encoder that writes whatever it is given: properties in any packet, repeated ones,
// byte properties outside 0/1, invalid UTF-8, wrong fixed-header flags. It is used only for what
// mqtt-packet (the encoder the other tests trust) refuses to produce; see encode.ts.
import { PROPERTY_TABLE, type PropertyType } from '../../src/protocol/properties.js';
import { expandProps, materialize, materializeBin, type BinSpec, type FuzzPacket, type PropSpec, type StrSpec } from './model.js';

const TYPE_BY_ID = new Map<number, PropertyType>(PROPERTY_TABLE.map((d) => [d.id, d.type]));
const CODE = { connect: 1, publish: 3, puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7, subscribe: 8, unsubscribe: 10, pingreq: 12, disconnect: 14, auth: 15 } as const;
/** The fixed-header flags the spec requires [MQTT-2.1.3-1]. */
const FLAGS: Partial<Record<keyof typeof CODE, number>> = { pubrel: 2, subscribe: 2, unsubscribe: 2 };

export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0 && out.length < 4);
  return Buffer.from(out);
}

const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
/** A length-prefixed field; the prefix is the low 16 bits, as a careless encoder would write. */
const prefixed = (b: Buffer): Buffer => Buffer.concat([u16(b.length & 0xffff), b]);
const str = (s: StrSpec): Buffer => prefixed(materialize(s));
const bin = (b: BinSpec): Buffer => prefixed(materializeBin(b));

function propBytes(p: PropSpec): Buffer {
  const id = Buffer.from([p.id]);
  const v = p.value;
  switch (TYPE_BY_ID.get(p.id)) {
    case 'byte':
      return Buffer.concat([id, Buffer.from([(v as number) & 0xff])]);
    case 'u16':
      return Buffer.concat([id, u16(v as number)]);
    case 'u32':
      return Buffer.concat([id, u32(v as number)]);
    case 'varint':
      return Buffer.concat([id, varint(v as number)]);
    case 'utf8':
      return Buffer.concat([id, str(v as StrSpec)]);
    case 'binary':
      return Buffer.concat([id, bin(v as BinSpec)]);
    case 'pair': {
      const [k, val] = v as readonly [StrSpec, StrSpec];
      return Buffer.concat([id, str(k), str(val)]);
    }
    default: // an identifier MQTT 5 does not define: one byte of value after it
      return Buffer.concat([id, Buffer.from([typeof v === 'number' ? v & 0xff : 0])]);
  }
}

export function propsBytes(props: readonly PropSpec[]): Buffer {
  const body = Buffer.concat(expandProps(props).map(propBytes));
  return Buffer.concat([varint(body.length), body]);
}

/** The packet's bytes; `headerFlags` replaces the fixed header's low four bits. */
export function rawEncode(p: FuzzPacket, version: 4 | 5, headerFlags?: number): Buffer {
  if (p.type === 'raw') return Buffer.from(p.bytes);
  const v5 = version === 5;
  const props = (list: readonly PropSpec[]): Buffer[] => (v5 ? [propsBytes(list)] : []);
  let flags = FLAGS[p.type] ?? 0;
  let parts: Buffer[];
  switch (p.type) {
    case 'connect': {
      const w = p.will;
      const computed =
        (p.clean ? 0x02 : 0) | (w ? 0x04 | ((w.qos & 3) << 3) | (w.retain ? 0x20 : 0) : 0) | (p.password ? 0x40 : 0) | (p.username ? 0x80 : 0);
      parts = [
        prefixed(Buffer.from(p.protocolName ?? 'MQTT')),
        Buffer.from([p.version, p.flags ?? computed]),
        u16(p.keepalive),
        ...(p.version === 5 ? [propsBytes(p.props)] : []),
        str(p.clientId),
        ...(w ? [...(p.version === 5 ? [propsBytes(w.props)] : []), str(w.topic), bin(w.payload)] : []),
        ...(p.username ? [str(p.username)] : []),
        ...(p.password ? [bin(p.password)] : []),
      ];
      break;
    }
    case 'publish':
      flags = ((p.qos & 3) << 1) | (p.dup ? 8 : 0) | (p.retain ? 1 : 0);
      parts = [str(p.topic), ...(p.qos > 0 ? [u16(p.packetId)] : []), ...props(p.props), materializeBin(p.payload)];
      break;
    case 'subscribe':
      parts = [u16(p.packetId), ...props(p.props), ...p.subs.flatMap((s) => [str(s.filter), Buffer.from([s.options & 0xff])])];
      break;
    case 'unsubscribe':
      parts = [u16(p.packetId), ...props(p.props), ...p.filters.map(str)];
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      parts = [u16(p.packetId), ...(v5 ? [Buffer.from([p.reason]), propsBytes(p.props)] : [])];
      break;
    case 'pingreq':
      parts = [];
      break;
    case 'disconnect':
    case 'auth':
      parts = v5 ? [Buffer.from([p.reason]), propsBytes(p.props)] : [];
      break;
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([(CODE[p.type] << 4) | ((headerFlags ?? flags) & 0x0f)]), varint(body.length), body]);
}
