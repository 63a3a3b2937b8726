// Hand-built MQTT bytes for the packets a well-behaved encoder refuses to produce (empty client id
// without clean session, QoS 3, reserved flags, duplicate properties...). Deliberately independent of
// src/protocol: these tests must not take our own codec's word for what the bytes mean.

export type Part = Buffer | number[] | string;

const toBuf = (p: Part): Buffer => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p));

/** A Variable Byte Integer (section 1.5.5 of MQTT 5, 2.2.3 of 3.1.1), minimally encoded. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A two-byte length prefix followed by the bytes (strings are taken as UTF-8). */
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u16(b.length), b]);
}

export function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A whole packet: first byte, minimal Remaining Length, then the parts. */
export function packet(first: number, ...parts: Part[]): Buffer {
  const body = Buffer.concat(parts.map(toBuf));
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

/** MQTT 5 properties block: length then the raw property bytes. */
export function props(...parts: Part[]): Buffer {
  const body = Buffer.concat(parts.map(toBuf));
  return Buffer.concat([varint(body.length), body]);
}

export interface RawConnect {
  name?: string;
  level?: number;
  /** The Connect Flags byte exactly as sent; computed from the fields below when omitted. */
  flags?: number;
  clean?: boolean;
  keepalive?: number;
  clientId?: string | Buffer;
  /** MQTT 5 CONNECT properties, already encoded with props(); defaults to none for level 5. */
  properties?: Buffer;
  will?: { topic: string | Buffer; payload: Buffer; qos?: number; retain?: boolean; properties?: Buffer };
  username?: string | Buffer;
  password?: Buffer;
  /** Fixed header flags (low nibble of the first byte); must be 0. */
  headerFlags?: number;
}

/** A CONNECT, with every field under the caller's control. */
export function connect(c: RawConnect = {}): Buffer {
  const level = c.level ?? 4;
  let flags = c.flags;
  if (flags === undefined) {
    flags = c.clean === false ? 0 : 0x02;
    if (c.will) flags |= 0x04 | ((c.will.qos ?? 0) << 3) | (c.will.retain ? 0x20 : 0);
    if (c.username !== undefined) flags |= 0x80;
    if (c.password !== undefined) flags |= 0x40;
  }
  const parts: Part[] = [str(c.name ?? (level === 3 ? 'MQIsdp' : 'MQTT')), [level, flags], u16(c.keepalive ?? 60)];
  if (level === 5) parts.push(c.properties ?? props());
  parts.push(str(c.clientId ?? 'raw'));
  if (c.will) {
    if (level === 5) parts.push(c.will.properties ?? props());
    parts.push(str(c.will.topic), str(c.will.payload));
  }
  if (c.username !== undefined) parts.push(str(c.username));
  if (c.password !== undefined) parts.push(str(c.password));
  return packet(0x10 | (c.headerFlags ?? 0), ...parts);
}

/** PUBLISH with any flags; `props5` set means an MQTT 5 properties block is written. */
export function publish(opts: {
  topic: string | Buffer;
  payload?: Part;
  qos?: number;
  dup?: boolean;
  retain?: boolean;
  packetId?: number;
  props5?: Buffer;
}): Buffer {
  const qos = opts.qos ?? 0;
  const first = 0x30 | (opts.dup ? 0x08 : 0) | (qos << 1) | (opts.retain ? 0x01 : 0);
  const parts: Part[] = [str(opts.topic)];
  if (qos > 0 || opts.packetId !== undefined) parts.push(u16(opts.packetId ?? 1));
  if (opts.props5) parts.push(opts.props5);
  parts.push(opts.payload ?? []);
  return packet(first, ...parts);
}

/** SUBSCRIBE with raw option bytes; `props5` set means an MQTT 5 properties block is written. */
export function subscribe(packetId: number, subs: Array<[string | Buffer, number]>, opts: { flags?: number; props5?: Buffer } = {}): Buffer {
  const parts: Part[] = [u16(packetId)];
  if (opts.props5) parts.push(opts.props5);
  for (const [filter, options] of subs) parts.push(str(filter), [options]);
  return packet(0x80 | (opts.flags ?? 0x02), ...parts);
}

/** UNSUBSCRIBE; `props5` set means an MQTT 5 properties block is written. */
export function unsubscribe(packetId: number, filters: Array<string | Buffer>, opts: { flags?: number; props5?: Buffer } = {}): Buffer {
  const parts: Part[] = [u16(packetId)];
  if (opts.props5) parts.push(opts.props5);
  for (const f of filters) parts.push(str(f));
  return packet(0xa0 | (opts.flags ?? 0x02), ...parts);
}

/** MQTT 5 property encoders for the identifiers the tests use (section 2.2.2.2). */
export const prop = {
  payloadFormatIndicator: (v: number) => Buffer.from([0x01, v]),
  messageExpiryInterval: (v: number) => Buffer.concat([Buffer.from([0x02]), u32(v)]),
  subscriptionIdentifier: (v: number) => Buffer.concat([Buffer.from([0x0b]), varint(v)]),
  sessionExpiryInterval: (v: number) => Buffer.concat([Buffer.from([0x11]), u32(v)]),
  authenticationMethod: (s: string) => Buffer.concat([Buffer.from([0x15]), str(s)]),
  receiveMaximum: (v: number) => Buffer.concat([Buffer.from([0x21]), u16(v)]),
  topicAliasMaximum: (v: number) => Buffer.concat([Buffer.from([0x22]), u16(v)]),
  topicAlias: (v: number) => Buffer.concat([Buffer.from([0x23]), u16(v)]),
  userProperty: (k: string | Buffer, v: string | Buffer) => Buffer.concat([Buffer.from([0x26]), str(k), str(v)]),
  contentType: (s: string | Buffer) => Buffer.concat([Buffer.from([0x03]), str(s)]),
  responseTopic: (s: string | Buffer) => Buffer.concat([Buffer.from([0x08]), str(s)]),
  requestProblemInformation: (v: number) => Buffer.from([0x17, v]),
  maximumPacketSize: (v: number) => Buffer.concat([Buffer.from([0x27]), u32(v)]),
};

/** Bytes that are not well-formed UTF-8: a lone continuation byte, and an encoded surrogate (U+D800). */
export const BAD_UTF8 = Buffer.from([0x61, 0x80, 0x62]);
export const SURROGATE_UTF8 = Buffer.from([0x61, 0xed, 0xa0, 0x80]);
