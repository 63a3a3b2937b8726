// The MQTT 5 properties table (section 2.2.2.2): identifier, name, data type, which packets may carry
// each property and which values are legal. Decoding and encoding both walk this one table, so a
// property's rules live in exactly one place.
import { PacketTypeCode, type PacketType } from './constants.js';
import { Reader, Writer, binarySize, checkUint, stringSize, varintSize } from './bytes.js';
import { MqttError, malformed, protocolError } from './errors.js';
import type { Properties, UserProperty } from './packets.js';
import { ReasonCode } from './reason-codes.js';

export type PropertyType = 'byte' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';

/** Where properties appear: a packet type, or the will properties inside CONNECT. */
export type PropertyContext = PacketType | 'will';

export interface PropertyDef {
  readonly id: number;
  readonly key: keyof Properties;
  /** The spec's name for it. */
  readonly name: string;
  readonly type: PropertyType;
  /** Contexts that may carry it. */
  readonly allowedIn: readonly PropertyContext[];
  /** Contexts in which it may appear more than once (user property everywhere, subscription id in PUBLISH). */
  readonly repeatableIn: readonly PropertyContext[];
  /** Smallest legal value for numeric properties (e.g. receive maximum 0 is a protocol error). */
  readonly min?: number;
  /** Largest legal value for byte properties that are flags (0 or 1) or Maximum QoS. */
  readonly max?: number;
  /** Reason code for a value outside [min, max]; Protocol Error unless the spec says otherwise. */
  readonly invalidReason?: number;
}

const ALL_WITH_USER_PROPS: readonly PropertyContext[] = [
  'connect', 'connack', 'publish', 'will', 'puback', 'pubrec', 'pubrel', 'pubcomp',
  'subscribe', 'suback', 'unsubscribe', 'unsuback', 'disconnect', 'auth',
];

const def = (d: Omit<PropertyDef, 'repeatableIn'> & { repeatableIn?: readonly PropertyContext[] }): PropertyDef => ({
  repeatableIn: [],
  ...d,
});

/** Every MQTT 5 property, in identifier order. */
export const PROPERTY_TABLE: readonly PropertyDef[] = [
  def({ id: 0x01, key: 'payloadFormatIndicator', name: 'Payload Format Indicator', type: 'byte', allowedIn: ['publish', 'will'], max: 1 }),
  def({ id: 0x02, key: 'messageExpiryInterval', name: 'Message Expiry Interval', type: 'u32', allowedIn: ['publish', 'will'] }),
  def({ id: 0x03, key: 'contentType', name: 'Content Type', type: 'utf8', allowedIn: ['publish', 'will'] }),
  def({ id: 0x08, key: 'responseTopic', name: 'Response Topic', type: 'utf8', allowedIn: ['publish', 'will'] }),
  def({ id: 0x09, key: 'correlationData', name: 'Correlation Data', type: 'binary', allowedIn: ['publish', 'will'] }),
  // "It is a Protocol Error if the Subscription Identifier has a value of 0" (3.8.2.1.2).
  def({ id: 0x0b, key: 'subscriptionIdentifiers', name: 'Subscription Identifier', type: 'varint', allowedIn: ['publish', 'subscribe'], repeatableIn: ['publish'], min: 1 }),
  def({ id: 0x11, key: 'sessionExpiryInterval', name: 'Session Expiry Interval', type: 'u32', allowedIn: ['connect', 'connack', 'disconnect'] }),
  def({ id: 0x12, key: 'assignedClientIdentifier', name: 'Assigned Client Identifier', type: 'utf8', allowedIn: ['connack'] }),
  def({ id: 0x13, key: 'serverKeepAlive', name: 'Server Keep Alive', type: 'u16', allowedIn: ['connack'] }),
  def({ id: 0x15, key: 'authenticationMethod', name: 'Authentication Method', type: 'utf8', allowedIn: ['connect', 'connack', 'auth'] }),
  def({ id: 0x16, key: 'authenticationData', name: 'Authentication Data', type: 'binary', allowedIn: ['connect', 'connack', 'auth'] }),
  def({ id: 0x17, key: 'requestProblemInformation', name: 'Request Problem Information', type: 'byte', allowedIn: ['connect'], max: 1 }),
  def({ id: 0x18, key: 'willDelayInterval', name: 'Will Delay Interval', type: 'u32', allowedIn: ['will'] }),
  def({ id: 0x19, key: 'requestResponseInformation', name: 'Request Response Information', type: 'byte', allowedIn: ['connect'], max: 1 }),
  def({ id: 0x1a, key: 'responseInformation', name: 'Response Information', type: 'utf8', allowedIn: ['connack'] }),
  def({ id: 0x1c, key: 'serverReference', name: 'Server Reference', type: 'utf8', allowedIn: ['connack', 'disconnect'] }),
  def({
    id: 0x1f, key: 'reasonString', name: 'Reason String', type: 'utf8',
    allowedIn: ['connack', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback', 'disconnect', 'auth'],
  }),
  // "It is a Protocol Error to include the Receive Maximum value more than once or for it to have the value 0."
  def({ id: 0x21, key: 'receiveMaximum', name: 'Receive Maximum', type: 'u16', allowedIn: ['connect', 'connack'], min: 1 }),
  def({ id: 0x22, key: 'topicAliasMaximum', name: 'Topic Alias Maximum', type: 'u16', allowedIn: ['connect', 'connack'] }),
  // A Topic Alias of 0 is not permitted [MQTT-3.3.2-8]; the receiver answers 0x94 (section 3.3.2.3.4).
  def({ id: 0x23, key: 'topicAlias', name: 'Topic Alias', type: 'u16', allowedIn: ['publish'], min: 1, invalidReason: ReasonCode.TopicAliasInvalid }),
  def({ id: 0x24, key: 'maximumQoS', name: 'Maximum QoS', type: 'byte', allowedIn: ['connack'], max: 1 }),
  def({ id: 0x25, key: 'retainAvailable', name: 'Retain Available', type: 'byte', allowedIn: ['connack'], max: 1 }),
  def({ id: 0x26, key: 'userProperties', name: 'User Property', type: 'pair', allowedIn: ALL_WITH_USER_PROPS, repeatableIn: ALL_WITH_USER_PROPS }),
  // "It is a Protocol Error to include the Maximum Packet Size more than once, or for the value to be set to zero."
  def({ id: 0x27, key: 'maximumPacketSize', name: 'Maximum Packet Size', type: 'u32', allowedIn: ['connect', 'connack'], min: 1 }),
  def({ id: 0x28, key: 'wildcardSubscriptionAvailable', name: 'Wildcard Subscription Available', type: 'byte', allowedIn: ['connack'], max: 1 }),
  def({ id: 0x29, key: 'subscriptionIdentifiersAvailable', name: 'Subscription Identifier Available', type: 'byte', allowedIn: ['connack'], max: 1 }),
  def({ id: 0x2a, key: 'sharedSubscriptionAvailable', name: 'Shared Subscription Available', type: 'byte', allowedIn: ['connack'], max: 1 }),
];

/** Bit per context: packet type code (1..15), and 16 for will properties. */
const WILL_BIT = 16;
const contextBit = (ctx: PropertyContext): number => 1 << (ctx === 'will' ? WILL_BIT : PacketTypeCode[ctx]);

interface Compiled {
  readonly def: PropertyDef;
  readonly allowed: number;
  readonly repeatable: number;
}

const compile = (d: PropertyDef): Compiled => ({
  def: d,
  allowed: d.allowedIn.reduce((m, c) => m | contextBit(c), 0),
  repeatable: d.repeatableIn.reduce((m, c) => m | contextBit(c), 0),
});

const BY_ID: readonly (Compiled | undefined)[] = (() => {
  const a: (Compiled | undefined)[] = new Array(0x2b).fill(undefined);
  for (const d of PROPERTY_TABLE) a[d.id] = compile(d);
  return a;
})();

const BY_KEY: ReadonlyMap<string, Compiled> = new Map(PROPERTY_TABLE.map((d) => [d.key, compile(d)]));

/** The definition of a property by identifier, if MQTT 5 defines one. */
export function propertyById(id: number): PropertyDef | undefined {
  return BY_ID[id]?.def;
}

/** Whether `key` may be carried in `ctx`. */
export function propertyAllowed(key: keyof Properties, ctx: PropertyContext): boolean {
  const c = BY_KEY.get(key);
  return c !== undefined && (c.allowed & contextBit(ctx)) !== 0;
}

/**
 * Reads a property length and the properties after it. Returns undefined when there are none, so
 * packets without properties carry no empty object.
 */
export function readProperties(r: Reader, ctx: PropertyContext): Properties | undefined {
  const len = r.varint();
  if (len === 0) return undefined;
  const end = r.pos + len;
  if (end > r.end) throw malformed('property length runs past the end of the packet');
  const bit = contextBit(ctx);
  const out: Properties = {};
  const sub = new Reader(r.buf, r.pos, end);
  while (sub.pos < end) {
    const id = sub.u8();
    const c = BY_ID[id];
    if (c === undefined) throw malformed(`unknown property identifier 0x${id.toString(16)}`);
    const d = c.def;
    // An identifier not valid for the packet type makes it a Malformed Packet (2.2.2.2).
    if ((c.allowed & bit) === 0) throw malformed(`property ${d.name} is not allowed in ${ctx}`);
    const repeatable = (c.repeatable & bit) !== 0;
    const o = out as Record<string, unknown>;
    if (!repeatable && o[d.key] !== undefined) throw protocolError(`property ${d.name} included more than once`);
    if (d.type === 'pair') {
      const pair: UserProperty = [sub.utf8(), sub.utf8()];
      (out.userProperties ??= []).push(pair);
      continue;
    }
    const v = readValue(sub, d.type);
    if (typeof v === 'number') checkRange(d, v);
    if (d.key === 'subscriptionIdentifiers') (out.subscriptionIdentifiers ??= []).push(v as number);
    else o[d.key] = v;
  }
  r.pos = end;
  // "It is a Protocol Error to include Authentication Data if there is no Authentication Method" (3.1.2.11.10).
  if (out.authenticationData !== undefined && out.authenticationMethod === undefined) {
    throw protocolError('authentication data without authentication method');
  }
  return out;
}

function readValue(r: Reader, type: PropertyType): number | string | Buffer {
  switch (type) {
    case 'byte':
      return r.u8();
    case 'u16':
      return r.u16();
    case 'u32':
      return r.u32();
    case 'varint':
      return r.varint();
    case 'utf8':
      return r.utf8();
    case 'binary':
      return r.binary();
    case 'pair':
      throw malformed('string pair read as a single value');
  }
}

function checkRange(d: PropertyDef, v: number): void {
  if ((d.min !== undefined && v < d.min) || (d.max !== undefined && v > d.max)) {
    throw new MqttError(d.invalidReason ?? ReasonCode.ProtocolError, `property ${d.name} has invalid value ${v}`);
  }
}

const TYPE_MAX: Record<PropertyType, number> = {
  byte: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  varint: 268_435_455,
  utf8: 0,
  binary: 0,
  pair: 0,
};

/**
 * Size in bytes of the encoded properties (without the property-length prefix). Throws if a property
 * is unknown, not allowed in `ctx`, repeated where it may not be, or out of its type's range.
 */
export function propertiesSize(props: Properties | undefined, ctx: PropertyContext): number {
  if (props === undefined) return 0;
  const bit = contextBit(ctx);
  let size = 0;
  for (const key in props) {
    const v = (props as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const c = BY_KEY.get(key);
    if (c === undefined) throw malformed(`unknown property ${key}`);
    const d = c.def;
    if ((c.allowed & bit) === 0) throw protocolError(`property ${d.name} is not allowed in ${ctx}`);
    if (d.type === 'pair') {
      for (const [k, val] of v as UserProperty[]) size += 1 + stringSize(k) + stringSize(val);
    } else if (d.key === 'subscriptionIdentifiers') {
      const ids = v as number[];
      if (ids.length > 1 && (c.repeatable & bit) === 0) throw protocolError(`only one ${d.name} allowed in ${ctx}`);
      for (const id of ids) {
        checkUint(id, TYPE_MAX.varint, d.name);
        size += 1 + varintSize(id);
      }
    } else {
      size += 1 + valueSize(d, v);
    }
  }
  return size;
}

function valueSize(d: PropertyDef, v: unknown): number {
  switch (d.type) {
    case 'byte':
    case 'u16':
    case 'u32':
    case 'varint':
      checkUint(v as number, TYPE_MAX[d.type], d.name);
      return d.type === 'byte' ? 1 : d.type === 'u16' ? 2 : d.type === 'u32' ? 4 : varintSize(v as number);
    case 'utf8':
      return stringSize(v as string);
    case 'binary':
      return binarySize(v as Buffer);
    case 'pair':
      throw malformed('user properties sized as a single value');
  }
}

/** Writes the property length `size` (from propertiesSize) followed by the properties. */
export function writeProperties(w: Writer, props: Properties | undefined, size: number): void {
  w.varint(size);
  if (props === undefined || size === 0) return;
  for (const key in props) {
    const v = (props as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const d = (BY_KEY.get(key) as Compiled).def;
    switch (d.type) {
      case 'pair':
        for (const [k, val] of v as UserProperty[]) {
          w.u8(d.id);
          w.utf8(k);
          w.utf8(val);
        }
        break;
      case 'varint':
        for (const id of v as number[]) {
          w.u8(d.id);
          w.varint(id);
        }
        break;
      case 'byte':
        w.u8(d.id);
        w.u8(v as number);
        break;
      case 'u16':
        w.u8(d.id);
        w.u16(v as number);
        break;
      case 'u32':
        w.u8(d.id);
        w.u32(v as number);
        break;
      case 'utf8':
        w.u8(d.id);
        w.utf8(v as string);
        break;
      case 'binary':
        w.u8(d.id);
        w.binary(v as Buffer);
        break;
    }
  }
}
