// CONNECT (3.1 of both specs). It carries its own protocol version, so it decodes before any version
// is known; an unknown protocol name or level still decodes far enough for the broker to answer.
import type { ProtocolVersion, QoS } from '../constants.js';
import { Reader, Writer, binarySize, checkUint, stringSize, varintSize } from '../bytes.js';
import { MqttError, malformed } from '../errors.js';
import type { ConnectPacket, Will } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { ReasonCode } from '../reason-codes.js';
import { validateTopicName } from '../topic.js';
import { checkFlags, type PacketCodec } from './common.js';

const USERNAME = 0x80;
const PASSWORD = 0x40;
const WILL_RETAIN = 0x20;
const WILL_QOS_SHIFT = 3;
const WILL_FLAG = 0x04;
const CLEAN = 0x02;
const RESERVED = 0x01;

/**
 * A CONNECT refused for a reason a CONNACK can give, found while decoding (before the channel knows
 * the version): `answerVersion` is the CONNACK layout to answer in.
 */
export class ConnectRefusedError extends MqttError {
  constructor(
    reasonCode: number,
    message: string,
    readonly answerVersion: ProtocolVersion,
  ) {
    super(reasonCode, message);
    this.name = 'ConnectRefusedError';
  }
}

/**
 * A CONNECT whose protocol name or level this broker does not speak. The broker answers with
 * CONNACK 0x01 (3.1.1, [MQTT-3.1.2-2]) or 0x84 (5.0) in `answerVersion`, then closes. The layout is
 * the one the client most likely understands: 5.0 for level 5 and above, 3.1 for level 3, otherwise
 * 3.1.1 (its CONNACK layout is also 3.1's).
 */
export class UnsupportedProtocolError extends ConnectRefusedError {
  constructor(
    readonly protocolName: string,
    readonly protocolLevel: number,
  ) {
    const answer = protocolLevel >= 5 ? 5 : protocolLevel === 3 ? 3 : 4;
    super(ReasonCode.UnsupportedProtocolVersion, `unsupported protocol "${protocolName}" level ${protocolLevel}`, answer);
    this.name = 'UnsupportedProtocolError';
  }
}

/**
 * The protocol version of a CONNECT from the start of its variable header, without decoding the rest
 * (for answering one too large to read); undefined when those bytes are not there or not known.
 */
export function peekConnectVersion(buf: Buffer, start: number): ProtocolVersion | undefined {
  if (start + 2 > buf.length) return undefined;
  const nameLen = buf.readUInt16BE(start);
  const levelAt = start + 2 + nameLen;
  if (nameLen > 6 || levelAt >= buf.length) return undefined;
  const name = buf.toString('latin1', start + 2, levelAt);
  const level = buf[levelAt];
  return (name === 'MQTT' && (level === 4 || level === 5)) || (name === 'MQIsdp' && level === 3) ? level : undefined;
}

/** The protocol name each version sends: "MQIsdp" for 3.1, "MQTT" after [MQTT-3.1.2-1]. */
export function protocolNameFor(version: ProtocolVersion): string {
  return version === 3 ? 'MQIsdp' : 'MQTT';
}

function versionOf(name: string, level: number): ProtocolVersion {
  if (name === 'MQTT' && (level === 4 || level === 5)) return level;
  if (name === 'MQIsdp' && level === 3) return 3;
  throw new UnsupportedProtocolError(name, level);
}

/** Decodes a CONNECT body by its own protocol level; no prior version is needed. */
export function decodeConnect(flags: number, body: Buffer): ConnectPacket {
  const r = new Reader(body);
  const protocolName = r.utf8();
  const version = versionOf(protocolName, r.u8());
  checkFlags(flags, 0, version, 'CONNECT');
  const cf = r.u8();
  // 3.1 left bit 0 unused rather than reserved; 3.1.1 and 5.0 require it to be zero [MQTT-3.1.2-3].
  if ((cf & RESERVED) !== 0 && version !== 3) throw malformed('CONNECT reserved flag must be 0 [MQTT-3.1.2-3]');
  const hasWill = (cf & WILL_FLAG) !== 0;
  const willQos = (cf >> WILL_QOS_SHIFT) & 3;
  const willRetain = (cf & WILL_RETAIN) !== 0;
  if (!hasWill && willQos !== 0) throw malformed('will QoS set without will flag [MQTT-3.1.2-13]');
  if (!hasWill && willRetain) throw malformed('will retain set without will flag [MQTT-3.1.2-15]');
  if (willQos === 3) throw malformed('will QoS 3 [MQTT-3.1.2-14]');
  const hasUsername = (cf & USERNAME) !== 0;
  const hasPassword = (cf & PASSWORD) !== 0;
  // MQTT 5 allows a password alone (3.1.2.9); 3.x does not.
  if (hasPassword && !hasUsername && version !== 5) throw malformed('password flag without username flag [MQTT-3.1.2-22]');
  const keepalive = r.u16();
  const properties = version === 5 ? readProperties(r, 'connect') : undefined;
  const clientId = r.utf8();
  let will: Will | undefined;
  if (hasWill) {
    const willProps = version === 5 ? readProperties(r, 'will') : undefined;
    const topic = r.utf8();
    // Well-formed but not a valid Topic Name (a wildcard): a refusal the CONNACK can state (0x90).
    try {
      validateTopicName(topic);
      if (willProps?.responseTopic !== undefined) validateTopicName(willProps.responseTopic);
    } catch (err) {
      throw new ConnectRefusedError((err as MqttError).reasonCode, (err as Error).message, version);
    }
    const payload = r.binary();
    will = { topic, payload, qos: willQos as QoS, retain: willRetain };
    if (willProps !== undefined) will.properties = willProps;
  }
  const username = hasUsername ? r.utf8() : undefined;
  const password = hasPassword ? r.binary() : undefined;
  r.expectEnd('CONNECT payload');

  const p: ConnectPacket = { type: 'connect', protocolName, protocolVersion: version, clean: (cf & CLEAN) !== 0, keepalive, clientId };
  if (username !== undefined) p.username = username;
  if (password !== undefined) p.password = password;
  if (will !== undefined) p.will = will;
  if (properties !== undefined) p.properties = properties;
  return p;
}

export const connect: PacketCodec<ConnectPacket> = {
  decode: (flags: number, body: Buffer): ConnectPacket => decodeConnect(flags, body),

  encode(p: ConnectPacket, version: ProtocolVersion): Buffer {
    if (p.protocolVersion !== version) {
      throw malformed(`CONNECT says protocol version ${p.protocolVersion} but is encoded as ${version}`);
    }
    checkUint(p.keepalive, 0xffff, 'keep alive');
    const v5 = version === 5;
    let size = stringSize(p.protocolName) + 1 + 1 + 2 + stringSize(p.clientId);
    const ps = v5 ? propertiesSize(p.properties, 'connect') : 0;
    if (v5) size += varintSize(ps) + ps;
    const will = p.will;
    let wps = 0;
    if (will !== undefined) {
      if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) throw malformed(`will QoS ${will.qos}`);
      if (v5) {
        wps = propertiesSize(will.properties, 'will');
        size += varintSize(wps) + wps;
      }
      size += stringSize(will.topic) + binarySize(will.payload);
    }
    if (p.username !== undefined) size += stringSize(p.username);
    if (p.password !== undefined) size += binarySize(p.password);

    let cf = p.clean ? CLEAN : 0;
    if (will !== undefined) cf |= WILL_FLAG | (will.qos << WILL_QOS_SHIFT) | (will.retain ? WILL_RETAIN : 0);
    if (p.username !== undefined) cf |= USERNAME;
    if (p.password !== undefined) cf |= PASSWORD;

    const w = Writer.packet(0x10, size);
    w.utf8(p.protocolName);
    w.u8(version);
    w.u8(cf);
    w.u16(p.keepalive);
    if (v5) writeProperties(w, p.properties, ps);
    w.utf8(p.clientId);
    if (will !== undefined) {
      if (v5) writeProperties(w, will.properties, wps);
      w.utf8(will.topic);
      w.binary(will.payload);
    }
    if (p.username !== undefined) w.utf8(p.username);
    if (p.password !== undefined) w.binary(p.password);
    return w.finish();
  },
};
