// Turns a generated step into bytes: with mqtt-packet (an encoder we did not write) whenever it can
// express the packet, with raw-encoder.ts only for what it refuses (invalid UTF-8, wrong flags,
// byte properties outside 0/1, repeated properties, reserved option bits…).
import mqttPacket from 'mqtt-packet';
import { PROPERTY_TABLE } from '../../src/protocol/properties.js';
import { expandProps, materialize, materializeBin, type FuzzPacket, type FuzzStep, type PropSpec, type StrSpec, type BinSpec } from './model.js';
import { rawEncode } from './raw-encoder.js';

const DEF_BY_ID = new Map(PROPERTY_TABLE.map((d) => [d.id, d]));

/** The string as JS text, or undefined when it is not valid UTF-8 or too long for a 2-byte length. */
function text(s: StrSpec): string | undefined {
  const b = materialize(s);
  if (b.length > 0xffff) return undefined;
  const t = b.toString('utf8');
  return Buffer.byteLength(t) === b.length && Buffer.from(t, 'utf8').equals(b) ? t : undefined;
}

function binary(b: BinSpec): Buffer | undefined {
  return b.bytes > 0xffff ? undefined : materializeBin(b);
}

/** mqtt-packet's properties object, or undefined when it cannot say the same thing. */
function properties(list: readonly PropSpec[]): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const user: Record<string, string[]> = Object.create(null);
  let users = 0;
  for (const p of expandProps(list)) {
    const d = DEF_BY_ID.get(p.id);
    if (!d) return undefined;
    const key = d.key === 'subscriptionIdentifiers' ? 'subscriptionIdentifier' : d.key;
    if (d.type === 'pair') {
      const [k, v] = p.value as readonly [StrSpec, StrSpec];
      const kt = text(k);
      const vt = text(v);
      if (kt === undefined || vt === undefined || kt === '__proto__') return undefined;
      (user[kt] ??= []).push(vt);
      users++;
      continue;
    }
    let value: unknown;
    if (d.type === 'utf8') value = text(p.value as StrSpec);
    else if (d.type === 'binary') value = binary(p.value as BinSpec);
    else if (d.type === 'byte') value = p.value === 0 ? false : p.value === 1 ? true : undefined;
    else value = p.value;
    if (value === undefined) return undefined;
    if (key === 'subscriptionIdentifier') {
      ((out[key] ??= []) as unknown[]).push(value);
      continue;
    }
    if (key in out) return undefined; // a repeated property: only the raw encoder writes it twice
    out[key] = value;
  }
  if (users > 0) out.userProperties = user;
  return out;
}

/** The packet as mqtt-packet's object, or undefined when it cannot be expressed that way. */
export function toMqttPacket(p: FuzzPacket, version: 4 | 5): Record<string, unknown> | undefined {
  const v5 = version === 5;
  const props = (list: readonly PropSpec[]): Record<string, unknown> | undefined => (v5 ? properties(list) : {});
  switch (p.type) {
    case 'raw':
      return undefined;
    case 'connect': {
      if (p.flags !== undefined || p.protocolName !== undefined) return undefined;
      const clientId = text(p.clientId);
      const properties = props(p.props);
      if (clientId === undefined || properties === undefined) return undefined;
      let will: Record<string, unknown> | undefined;
      if (p.will) {
        const topic = text(p.will.topic);
        const payload = binary(p.will.payload);
        const wp = props(p.will.props);
        if (topic === undefined || payload === undefined || wp === undefined || p.will.qos > 2) return undefined;
        will = { topic, payload, qos: p.will.qos, retain: p.will.retain, ...(v5 ? { properties: wp } : {}) };
      }
      const username = p.username ? text(p.username) : undefined;
      const password = p.password ? binary(p.password) : undefined;
      if ((p.username && username === undefined) || (p.password && password === undefined)) return undefined;
      return {
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: p.version, clean: p.clean, keepalive: p.keepalive, clientId,
        ...(will ? { will } : {}), ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}),
        ...(v5 ? { properties } : {}),
      };
    }
    case 'publish': {
      const topic = text(p.topic);
      const properties = props(p.props);
      if (topic === undefined || properties === undefined || p.qos > 2 || p.payload.bytes > 0x0fffffff) return undefined;
      return {
        cmd: 'publish', topic, payload: materializeBin(p.payload), qos: p.qos, dup: p.dup, retain: p.retain,
        ...(p.qos > 0 ? { messageId: p.packetId } : {}), ...(v5 ? { properties } : {}),
      };
    }
    case 'subscribe': {
      const properties = props(p.props);
      const subscriptions = p.subs.map((s) => {
        const topic = text(s.filter);
        const o = s.options;
        if (topic === undefined || (o & 0xc0) !== 0 || (o & 3) === 3 || ((o >> 4) & 3) === 3 || (!v5 && o > 2)) return undefined;
        return { topic, qos: o & 3, ...(v5 ? { nl: (o & 4) !== 0, rap: (o & 8) !== 0, rh: (o >> 4) & 3 } : {}) };
      });
      if (properties === undefined || subscriptions.some((s) => s === undefined) || subscriptions.length === 0) return undefined;
      return { cmd: 'subscribe', messageId: p.packetId, subscriptions, ...(v5 ? { properties } : {}) };
    }
    case 'unsubscribe': {
      const properties = props(p.props);
      const unsubscriptions = p.filters.map(text);
      if (properties === undefined || unsubscriptions.some((s) => s === undefined) || unsubscriptions.length === 0) return undefined;
      return { cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions, ...(v5 ? { properties } : {}) };
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const properties = props(p.props);
      if (properties === undefined) return undefined;
      return { cmd: p.type, messageId: p.packetId, ...(v5 ? { reasonCode: p.reason, properties } : {}) };
    }
    case 'pingreq':
      return { cmd: 'pingreq' };
    case 'disconnect':
    case 'auth': {
      if (!v5 && p.type === 'auth') return undefined;
      const properties = props(p.props);
      if (properties === undefined) return undefined;
      return { cmd: p.type, ...(v5 ? { reasonCode: p.reason, properties } : {}) };
    }
  }
}

export type Encoder = 'mqtt-packet' | 'raw';

/** The step's bytes and which encoder wrote them. */
export function encodeStep(step: FuzzStep, version: 4 | 5): { bytes: Buffer; encoder: Encoder } {
  if (step.headerFlags === undefined) {
    const obj = toMqttPacket(step.packet, version);
    if (obj) {
      try {
        return { bytes: mqttPacket.generate(obj as unknown as mqttPacket.Packet, { protocolVersion: version }), encoder: 'mqtt-packet' };
      } catch {
        // mqtt-packet refuses it (e.g. a CONNECT without client id and clean=false): fall through.
      }
    }
  }
  return { bytes: rawEncode(step.packet, version, step.headerFlags), encoder: 'raw' };
}
