// Translation between our packet model and mqtt-packet's, plus a normal form for comparing them.
// mqtt-packet differs in representation only: field names (messageId, granted, unsubscriptions,
// protocolId), flag properties as booleans, one subscription identifier as a number, and user
// properties as an object (key → value | values), which keeps the order of values per key but not the
// order across keys. The normal form drops exactly that cross-key order and nothing else.
import type { ProtocolVersion } from '../../src/protocol/constants.js';
import type { Packet, Properties, UserProperty } from '../../src/protocol/packets.js';

export type MpPacket = Record<string, any>;

const BOOLEAN_PROPS = new Set([
  'payloadFormatIndicator', 'requestResponseInformation', 'requestProblemInformation', 'retainAvailable',
  'wildcardSubscriptionAvailable', 'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable',
]);

function propsToMp(props: Properties | undefined): MpPacket | undefined {
  if (props === undefined) return undefined;
  const out: MpPacket = {};
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (k === 'userProperties') {
      const o: Record<string, string | string[]> = Object.create(null);
      for (const [name, value] of v as UserProperty[]) {
        const prev = o[name];
        o[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
      }
      out.userProperties = o;
    } else if (k === 'subscriptionIdentifiers') {
      const ids = v as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (BOOLEAN_PROPS.has(k)) {
      out[k] = v === 1;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function propsFromMp(o: MpPacket | undefined): Properties | undefined {
  if (o === undefined || Object.keys(o).length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'userProperties') {
      const list: UserProperty[] = [];
      for (const name of Object.keys(v)) for (const value of [v[name]].flat()) list.push([name, value]);
      out.userProperties = list;
    } else if (k === 'subscriptionIdentifier') {
      out.subscriptionIdentifiers = [v].flat();
    } else if (BOOLEAN_PROPS.has(k)) {
      out[k] = v ? 1 : 0;
    } else {
      out[k] = v;
    }
  }
  return out as Properties;
}

function withProps<T extends object>(p: T, props: Properties | undefined): T {
  return props === undefined ? p : { ...p, properties: props };
}

/** Our packet as mqtt-packet's `generate` wants it. */
export function toMp(p: Packet, v: ProtocolVersion): MpPacket {
  const props = v === 5 && 'properties' in p ? propsToMp(p.properties) : undefined;
  const base: MpPacket = { cmd: p.type };
  if (props !== undefined) base.properties = props;
  switch (p.type) {
    case 'connect': {
      const o: MpPacket = { ...base, protocolId: p.protocolName, protocolVersion: p.protocolVersion, clean: p.clean, keepalive: p.keepalive, clientId: p.clientId };
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = p.password;
      if (p.will !== undefined) {
        o.will = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
        const wp = v === 5 ? propsToMp(p.will.properties) : undefined;
        if (wp !== undefined) o.will.properties = wp;
      }
      return o;
    }
    case 'connack':
      return v === 5 ? { ...base, sessionPresent: p.sessionPresent, reasonCode: p.reasonCode } : { ...base, sessionPresent: p.sessionPresent, returnCode: p.reasonCode };
    case 'publish': {
      const o: MpPacket = { ...base, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
      if (p.packetId !== undefined) o.messageId = p.packetId;
      return o;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return v === 5 ? { ...base, messageId: p.packetId, reasonCode: p.reasonCode ?? 0 } : { ...base, messageId: p.packetId };
    case 'subscribe':
      return {
        ...base, messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({ topic: s.filter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling })),
      };
    case 'suback':
      return { ...base, messageId: p.packetId, granted: p.reasonCodes };
    case 'unsubscribe':
      return { ...base, messageId: p.packetId, unsubscriptions: p.filters };
    case 'unsuback':
      return v === 5 ? { ...base, messageId: p.packetId, granted: p.reasonCodes } : { ...base, messageId: p.packetId };
    case 'pingreq':
    case 'pingresp':
      return base;
    case 'disconnect':
    case 'auth':
      return v === 5 ? { ...base, reasonCode: p.reasonCode ?? 0 } : base;
  }
}

/** A packet mqtt-packet's parser emitted, in our model (canonical for `v`). */
export function fromMp(o: MpPacket, v: ProtocolVersion): Packet {
  const props = propsFromMp(o.properties);
  switch (o.cmd) {
    case 'connect': {
      const p: Packet = { type: 'connect', protocolName: o.protocolId, protocolVersion: o.protocolVersion, clean: o.clean, keepalive: o.keepalive, clientId: o.clientId };
      if (o.username !== undefined) p.username = o.username;
      if (o.password !== undefined) p.password = o.password;
      if (o.will !== undefined) {
        p.will = withProps({ topic: o.will.topic, payload: o.will.payload, qos: o.will.qos, retain: o.will.retain }, propsFromMp(o.will.properties));
      }
      return withProps(p, props);
    }
    case 'connack':
      return withProps({ type: 'connack', sessionPresent: o.sessionPresent, reasonCode: v === 5 ? o.reasonCode : o.returnCode }, props);
    case 'publish': {
      const p: Packet = { type: 'publish', topic: o.topic, payload: o.payload, qos: o.qos, retain: o.retain, dup: o.dup };
      if (o.qos > 0) p.packetId = o.messageId;
      return withProps(p, props);
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return v === 5 ? withProps({ type: o.cmd, packetId: o.messageId, reasonCode: o.reasonCode }, props) : { type: o.cmd, packetId: o.messageId };
    case 'subscribe':
      return withProps({
        type: 'subscribe', packetId: o.messageId,
        subscriptions: o.subscriptions.map((s: MpPacket) => ({
          filter: s.topic, qos: s.qos, noLocal: v === 5 ? s.nl : false, retainAsPublished: v === 5 ? s.rap : false, retainHandling: v === 5 ? s.rh : 0,
        })),
      }, props);
    case 'suback':
      return withProps({ type: 'suback', packetId: o.messageId, reasonCodes: o.granted }, props);
    case 'unsubscribe':
      return withProps({ type: 'unsubscribe', packetId: o.messageId, filters: o.unsubscriptions }, props);
    case 'unsuback':
      return v === 5 ? withProps({ type: 'unsuback', packetId: o.messageId, reasonCodes: o.granted }, props) : { type: 'unsuback', packetId: o.messageId };
    case 'pingreq':
    case 'pingresp':
      return { type: o.cmd };
    case 'disconnect':
    case 'auth':
      return v === 5 ? withProps({ type: o.cmd, reasonCode: o.reasonCode }, props) : ({ type: o.cmd } as Packet);
    default:
      throw new Error(`unexpected mqtt-packet cmd ${o.cmd}`);
  }
}

/**
 * Normal form for comparison: Buffers as hex, user properties grouped by key (values in order) with
 * keys sorted, since mqtt-packet's object form cannot keep the order across keys.
 */
export function normalize(x: unknown, key?: string): unknown {
  if (Buffer.isBuffer(x)) return `hex:${x.toString('hex')}`;
  if (Array.isArray(x)) {
    if (key === 'userProperties') {
      const groups = new Map<string, string[]>();
      for (const [k, v] of x as UserProperty[]) groups.set(k, [...(groups.get(k) ?? []), v]);
      return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    }
    return x.map((e) => normalize(e));
  }
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = normalize(v, k);
    return out;
  }
  return x;
}
