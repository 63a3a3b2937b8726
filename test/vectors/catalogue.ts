// A named catalogue of MQTT byte vectors: valid packets of every type in every version they exist in,
// and invalid ones with the reason code a receiver must answer. Codec tests check each vector four
// ways; channel and conformance tests reuse them by name.
import type { ProtocolVersion } from '../../src/protocol/constants.js';
import type { Packet } from '../../src/protocol/packets.js';
import { bin, bytes, hex, pkt, props, rawStr, str, u16, u32, vbi } from './build.js';

export interface ValidVector {
  name: string;
  version: ProtocolVersion;
  /** The whole packet, fixed header included. */
  bytes: Buffer;
  /** What decoding the bytes gives. */
  packet: Packet;
  /**
   * Set when `bytes` is a legal form our encoder does not produce (for example an MQTT 5 PUBACK that
   * spells out Success and an empty property length): encoding `packet` gives these bytes instead.
   */
  encodesAs?: Buffer;
  /** Spec statement or section it illustrates. */
  spec?: string;
}

export interface InvalidVector {
  name: string;
  /** Version the receiver has negotiated; undefined before CONNECT. */
  version: ProtocolVersion | undefined;
  bytes: Buffer;
  /** MQTT 5 reason code of the MqttError the decoder must throw. */
  reasonCode: number;
  spec?: string;
}

// Property identifiers (MQTT 5 section 2.2.2.2), named here so vectors read like the spec.
const P = {
  payloadFormat: 0x01,
  messageExpiry: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  subscriptionId: 0x0b,
  sessionExpiry: 0x11,
  assignedClientId: 0x12,
  serverKeepAlive: 0x13,
  authMethod: 0x15,
  authData: 0x16,
  requestProblem: 0x17,
  willDelay: 0x18,
  requestResponse: 0x19,
  responseInfo: 0x1a,
  serverReference: 0x1c,
  reasonString: 0x1f,
  receiveMaximum: 0x21,
  topicAliasMaximum: 0x22,
  topicAlias: 0x23,
  maximumQoS: 0x24,
  retainAvailable: 0x25,
  userProperty: 0x26,
  maximumPacketSize: 0x27,
  wildcardAvailable: 0x28,
  subIdsAvailable: 0x29,
  sharedAvailable: 0x2a,
} as const;

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const MQTT = str('MQTT');

function v(name: string, version: ProtocolVersion, b: Buffer, packet: Packet, opts: { encodesAs?: Buffer; spec?: string } = {}): ValidVector {
  const vec: ValidVector = { name, version, bytes: b, packet };
  if (opts.encodesAs !== undefined) vec.encodesAs = opts.encodesAs;
  if (opts.spec !== undefined) vec.spec = opts.spec;
  return vec;
}

function bad(name: string, version: ProtocolVersion | undefined, b: Buffer, reasonCode: number, spec?: string): InvalidVector {
  return { name, version, bytes: b, reasonCode, spec };
}

export const validVectors: readonly ValidVector[] = [
  // ---------------------------------------------------------------- CONNECT
  v('connect v3.1 minimal', 3, pkt(0x10, str('MQIsdp'), 3, 0x02, u16(60), str('c1')), {
    type: 'connect', protocolName: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 60, clientId: 'c1',
  }),
  v('connect v3.1 with will, username and password', 3,
    pkt(0x10, str('MQIsdp'), 3, 0xee, u16(10), str('c31'), str('w'), bin(1, 2), str('user'), bin(0x70, 0x77)), {
      type: 'connect', protocolName: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 10, clientId: 'c31',
      username: 'user', password: buf('pw'), will: { topic: 'w', payload: Buffer.from([1, 2]), qos: 1, retain: true },
    }),
  // A literal 3.1.1 CONNECT: clean session, keep alive 60, empty client id [MQTT-3.1.3-6].
  v('connect v4 minimal, empty client id', 4, hex('10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00'), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: '',
  }, { spec: 'MQTT-3.1.3-6' }),
  v('connect v4 persistent session', 4, pkt(0x10, MQTT, 4, 0x00, u16(0), str('dev-1')), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: false, keepalive: 0, clientId: 'dev-1',
  }),
  v('connect v4 full: will qos 2 retain, username, password', 4,
    pkt(0x10, MQTT, 4, 0xf6, u16(30), str('client'), str('last/will'), bin(0x62, 0x79, 0x65), str('alice'), bin(0x73, 0x33, 0x63)), {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'client',
      username: 'alice', password: buf('s3c'), will: { topic: 'last/will', payload: buf('bye'), qos: 2, retain: true },
    }),
  v('connect v4 username without password', 4, pkt(0x10, MQTT, 4, 0x82, u16(60), str('c'), str('bob')), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'c', username: 'bob',
  }),
  v('connect v4 will qos 0, empty payload', 4, pkt(0x10, MQTT, 4, 0x06, u16(60), str('c'), str('t'), bin()), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'c',
    will: { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false },
  }),
  v('connect v5 minimal', 5, hex('10 0d 00 04 4d 51 54 54 05 02 00 3c 00 00 00'), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: '',
  }),
  v('connect v5 every connect and will property', 5,
    pkt(0x10, MQTT, 5, 0xce, u16(45),
      props(
        P.sessionExpiry, u32(3600), P.receiveMaximum, u16(20), P.maximumPacketSize, u32(65536), P.topicAliasMaximum, u16(10),
        P.requestResponse, 1, P.requestProblem, 0, P.userProperty, str('k'), str('v'), P.userProperty, str('k'), str('v2'),
        P.authMethod, str('SCRAM'), P.authData, bin(9, 8),
      ),
      str('c5'),
      props(
        P.willDelay, u32(5), P.payloadFormat, 1, P.messageExpiry, u32(60), P.contentType, str('text/plain'),
        P.responseTopic, str('reply/to'), P.correlationData, bin(0xca, 0xfe), P.userProperty, str('w'), str('x'),
      ),
      str('will/t'), bin(0x68, 0x69), str('u'), bin(0x70)), {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 45, clientId: 'c5',
      username: 'u', password: buf('p'),
      will: {
        topic: 'will/t', payload: buf('hi'), qos: 1, retain: false,
        properties: {
          willDelayInterval: 5, payloadFormatIndicator: 1, messageExpiryInterval: 60, contentType: 'text/plain',
          responseTopic: 'reply/to', correlationData: Buffer.from([0xca, 0xfe]), userProperties: [['w', 'x']],
        },
      },
      properties: {
        sessionExpiryInterval: 3600, receiveMaximum: 20, maximumPacketSize: 65536, topicAliasMaximum: 10,
        requestResponseInformation: 1, requestProblemInformation: 0, userProperties: [['k', 'v'], ['k', 'v2']],
        authenticationMethod: 'SCRAM', authenticationData: Buffer.from([9, 8]),
      },
    }),
  // MQTT 5 lets a password travel without a user name (3.1.2.9).
  v('connect v5 password without username', 5, pkt(0x10, MQTT, 5, 0x42, u16(60), props(), str('c'), bin(0x74, 0x6f, 0x6b)), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'c', password: buf('tok'),
  }),
  v('connect v5 unicode client id', 5, pkt(0x10, MQTT, 5, 0x02, u16(60), props(), str('cliënt-東京-😀')), {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'cliënt-東京-😀',
  }),

  // ---------------------------------------------------------------- CONNACK
  v('connack v3.1 accepted', 3, hex('20 02 00 00'), { type: 'connack', sessionPresent: false, reasonCode: 0 }),
  v('connack v4 accepted, session present', 4, hex('20 02 01 00'), { type: 'connack', sessionPresent: true, reasonCode: 0 }),
  v('connack v4 refused: unacceptable protocol version', 4, hex('20 02 00 01'), { type: 'connack', sessionPresent: false, reasonCode: 1 }),
  v('connack v4 refused: not authorized', 4, hex('20 02 00 05'), { type: 'connack', sessionPresent: false, reasonCode: 5 }),
  v('connack v5 success, no properties', 5, hex('20 03 00 00 00'), { type: 'connack', sessionPresent: false, reasonCode: 0 }),
  v('connack v5 refused 0x84', 5, hex('20 03 00 84 00'), { type: 'connack', sessionPresent: false, reasonCode: 0x84 }),
  v('connack v5 every connack property', 5,
    pkt(0x20, 0x01, 0x00, props(
      P.sessionExpiry, u32(120), P.receiveMaximum, u16(100), P.maximumQoS, 1, P.retainAvailable, 0, P.maximumPacketSize, u32(1048576),
      P.assignedClientId, str('auto-1'), P.topicAliasMaximum, u16(16), P.reasonString, str('welcome'), P.userProperty, str('a'), str('b'),
      P.wildcardAvailable, 1, P.subIdsAvailable, 1, P.sharedAvailable, 0, P.serverKeepAlive, u16(30), P.responseInfo, str('resp/'),
      P.serverReference, str('other:1883'), P.authMethod, str('m'), P.authData, bin(1),
    )), {
      type: 'connack', sessionPresent: true, reasonCode: 0,
      properties: {
        sessionExpiryInterval: 120, receiveMaximum: 100, maximumQoS: 1, retainAvailable: 0, maximumPacketSize: 1048576,
        assignedClientIdentifier: 'auto-1', topicAliasMaximum: 16, reasonString: 'welcome', userProperties: [['a', 'b']],
        wildcardSubscriptionAvailable: 1, subscriptionIdentifiersAvailable: 1, sharedSubscriptionAvailable: 0, serverKeepAlive: 30,
        responseInformation: 'resp/', serverReference: 'other:1883', authenticationMethod: 'm', authenticationData: Buffer.from([1]),
      },
    }),

  // ---------------------------------------------------------------- PUBLISH
  v('publish v4 qos 0', 4, pkt(0x30, str('a/b'), buf('hello')), {
    type: 'publish', topic: 'a/b', payload: buf('hello'), qos: 0, retain: false, dup: false,
  }),
  v('publish v4 qos 0 retained, empty payload (clears retained)', 4, pkt(0x31, str('a/b')), {
    type: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false,
  }),
  v('publish v4 qos 1 dup', 4, pkt(0x3a, str('x'), u16(1), 0xff, 0x00), {
    type: 'publish', topic: 'x', payload: Buffer.from([0xff, 0x00]), qos: 1, retain: false, dup: true, packetId: 1,
  }),
  v('publish v4 qos 2 retain, max packet id', 4, pkt(0x35, str('sensors/t'), u16(65535), buf('21.5')), {
    type: 'publish', topic: 'sensors/t', payload: buf('21.5'), qos: 2, retain: true, dup: false, packetId: 65535,
  }),
  v('publish v4 unicode topic, $ topic', 4, pkt(0x30, str('$SYS/ünï/€')), {
    type: 'publish', topic: '$SYS/ünï/€', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false,
  }),
  v('publish v4 topic of one slash', 4, pkt(0x30, str('/'), 0x01), {
    type: 'publish', topic: '/', payload: Buffer.from([1]), qos: 0, retain: false, dup: false,
  }),
  v('publish v4 payload over 127 bytes (two-byte remaining length)', 4, pkt(0x30, str('big'), Buffer.alloc(200, 0x61)), {
    type: 'publish', topic: 'big', payload: Buffer.alloc(200, 0x61), qos: 0, retain: false, dup: false,
  }),
  v('publish v3.1 qos 1', 3, pkt(0x32, str('t'), u16(9), buf('31')), {
    type: 'publish', topic: 't', payload: buf('31'), qos: 1, retain: false, dup: false, packetId: 9,
  }),
  v('publish v5 qos 0, no properties', 5, pkt(0x30, str('a'), 0x00, buf('p')), {
    type: 'publish', topic: 'a', payload: buf('p'), qos: 0, retain: false, dup: false,
  }),
  v('publish v5 qos 1, every publish property', 5,
    pkt(0x32, str('req/1'), u16(42), props(
      P.payloadFormat, 1, P.messageExpiry, u32(30), P.topicAlias, u16(4), P.responseTopic, str('res/1'), P.correlationData, bin(7, 7),
      P.userProperty, str('a'), str('1'), P.userProperty, str('b'), str('2'), P.userProperty, str('a'), str('3'),
      P.subscriptionId, vbi(1), P.subscriptionId, vbi(268435455), P.contentType, str('application/json'),
    ), buf('{}')), {
      type: 'publish', topic: 'req/1', payload: buf('{}'), qos: 1, retain: false, dup: false, packetId: 42,
      properties: {
        payloadFormatIndicator: 1, messageExpiryInterval: 30, topicAlias: 4, responseTopic: 'res/1', correlationData: Buffer.from([7, 7]),
        userProperties: [['a', '1'], ['b', '2'], ['a', '3']], subscriptionIdentifiers: [1, 268435455], contentType: 'application/json',
      },
    }),
  // An empty topic is legal only with a Topic Alias; the receiver maps it (3.3.2.3.4).
  v('publish v5 empty topic with topic alias', 5, pkt(0x30, str(''), props(P.topicAlias, u16(4)), buf('x')), {
    type: 'publish', topic: '', payload: buf('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 4 },
  }),
  v('publish v5 qos 2 retain dup', 5, pkt(0x3d, str('q2'), u16(7), props()), {
    type: 'publish', topic: 'q2', payload: Buffer.alloc(0), qos: 2, retain: true, dup: true, packetId: 7,
  }),

  // ---------------------------------------------------------------- PUBACK / PUBREC / PUBREL / PUBCOMP
  v('puback v4', 4, hex('40 02 00 01'), { type: 'puback', packetId: 1 }),
  v('pubrec v4', 4, hex('50 02 12 34'), { type: 'pubrec', packetId: 0x1234 }),
  v('pubrel v4', 4, hex('62 02 ff ff'), { type: 'pubrel', packetId: 0xffff }, { spec: 'MQTT-3.6.1-1' }),
  v('pubcomp v4', 4, hex('70 02 00 07'), { type: 'pubcomp', packetId: 7 }),
  v('puback v3.1', 3, hex('40 02 00 02'), { type: 'puback', packetId: 2 }),
  v('pubrec v3.1', 3, hex('50 02 00 02'), { type: 'pubrec', packetId: 2 }),
  v('pubrel v3.1', 3, hex('62 02 00 02'), { type: 'pubrel', packetId: 2 }),
  v('pubcomp v3.1', 3, hex('70 02 00 02'), { type: 'pubcomp', packetId: 2 }),
  v('puback v5 success, short form', 5, hex('40 02 00 01'), { type: 'puback', packetId: 1, reasonCode: 0 }),
  v('puback v5 no matching subscribers, reason only', 5, hex('40 03 00 01 10'), { type: 'puback', packetId: 1, reasonCode: 0x10 }),
  v('puback v5 success spelled out', 5, hex('40 04 00 01 00 00'), { type: 'puback', packetId: 1, reasonCode: 0 }, { encodesAs: hex('40 02 00 01') }),
  v('puback v5 success, reason code without property length', 5, hex('40 03 00 01 00'), { type: 'puback', packetId: 1, reasonCode: 0 }, { encodesAs: hex('40 02 00 01') }),
  v('puback v5 not authorized with reason string', 5, pkt(0x40, u16(5), 0x87, props(P.reasonString, str('denied'))), {
    type: 'puback', packetId: 5, reasonCode: 0x87, properties: { reasonString: 'denied' },
  }),
  v('pubrec v5 quota exceeded with user property', 5, pkt(0x50, u16(6), 0x97, props(P.userProperty, str('q'), str('full'))), {
    type: 'pubrec', packetId: 6, reasonCode: 0x97, properties: { userProperties: [['q', 'full']] },
  }),
  v('pubrel v5 packet identifier not found', 5, hex('62 03 00 08 92'), { type: 'pubrel', packetId: 8, reasonCode: 0x92 }),
  v('pubrel v5 success', 5, hex('62 02 00 08'), { type: 'pubrel', packetId: 8, reasonCode: 0 }),
  v('pubcomp v5 success with reason string', 5, pkt(0x70, u16(9), 0x00, props(P.reasonString, str('ok'))), {
    type: 'pubcomp', packetId: 9, reasonCode: 0, properties: { reasonString: 'ok' },
  }),

  // ---------------------------------------------------------------- SUBSCRIBE
  v('subscribe v4 one filter', 4, pkt(0x82, u16(1), str('a/+/c'), 0x01), {
    type: 'subscribe', packetId: 1,
    subscriptions: [{ filter: 'a/+/c', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  }, { spec: 'MQTT-3.8.1-1' }),
  v('subscribe v4 three filters, qos 0/1/2', 4, pkt(0x82, u16(10), str('#'), 0x00, str('a/#'), 0x01, str('+/+'), 0x02), {
    type: 'subscribe', packetId: 10,
    subscriptions: [
      { filter: '#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { filter: '+/+', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
    ],
  }),
  v('subscribe v3.1', 3, pkt(0x82, u16(3), str('t/#'), 0x02), {
    type: 'subscribe', packetId: 3,
    subscriptions: [{ filter: 't/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  }),
  v('subscribe v5 options, subscription identifier, user property', 5,
    pkt(0x82, u16(2), props(P.subscriptionId, vbi(300), P.userProperty, str('x'), str('y')),
      str('a/b'), 0x2e, str('c'), 0x10, str('$share/g1/d/#'), 0x09), {
      type: 'subscribe', packetId: 2,
      properties: { subscriptionIdentifiers: [300], userProperties: [['x', 'y']] },
      subscriptions: [
        { filter: 'a/b', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { filter: 'c', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
        { filter: '$share/g1/d/#', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 0 },
      ],
    }),

  // ---------------------------------------------------------------- SUBACK
  v('suback v4 granted and failure', 4, hex('90 06 00 0a 00 01 02 80'), { type: 'suback', packetId: 10, reasonCodes: [0, 1, 2, 0x80] }),
  v('suback v3.1', 3, hex('90 03 00 03 02'), { type: 'suback', packetId: 3, reasonCodes: [2] }),
  v('suback v5 with reason string', 5, pkt(0x90, u16(2), props(P.reasonString, str('partly')), 0x02, 0x87, 0x9e, 0xa2), {
    type: 'suback', packetId: 2, reasonCodes: [2, 0x87, 0x9e, 0xa2], properties: { reasonString: 'partly' },
  }),
  v('suback v5 no properties', 5, hex('90 04 00 02 00 01'), { type: 'suback', packetId: 2, reasonCodes: [1] }),

  // ---------------------------------------------------------------- UNSUBSCRIBE
  v('unsubscribe v4 one filter', 4, pkt(0xa2, u16(4), str('a/b')), { type: 'unsubscribe', packetId: 4, filters: ['a/b'] }, { spec: 'MQTT-3.10.1-1' }),
  v('unsubscribe v4 two filters', 4, pkt(0xa2, u16(5), str('a/#'), str('$share/g/x')), { type: 'unsubscribe', packetId: 5, filters: ['a/#', '$share/g/x'] }),
  v('unsubscribe v3.1', 3, pkt(0xa2, u16(6), str('t')), { type: 'unsubscribe', packetId: 6, filters: ['t'] }),
  v('unsubscribe v5 with user property', 5, pkt(0xa2, u16(7), props(P.userProperty, str('why'), str('done')), str('+')), {
    type: 'unsubscribe', packetId: 7, filters: ['+'], properties: { userProperties: [['why', 'done']] },
  }),

  // ---------------------------------------------------------------- UNSUBACK
  v('unsuback v4', 4, hex('b0 02 00 04'), { type: 'unsuback', packetId: 4 }),
  v('unsuback v3.1', 3, hex('b0 02 00 06'), { type: 'unsuback', packetId: 6 }),
  v('unsuback v5 codes', 5, hex('b0 05 00 07 00 00 11'), { type: 'unsuback', packetId: 7, reasonCodes: [0, 0x11] }),
  v('unsuback v5 with reason string', 5, pkt(0xb0, u16(8), props(P.reasonString, str('nope')), 0x87), {
    type: 'unsuback', packetId: 8, reasonCodes: [0x87], properties: { reasonString: 'nope' },
  }),

  // ---------------------------------------------------------------- PINGREQ / PINGRESP
  v('pingreq v4', 4, hex('c0 00'), { type: 'pingreq' }),
  v('pingresp v4', 4, hex('d0 00'), { type: 'pingresp' }),
  v('pingreq v3.1', 3, hex('c0 00'), { type: 'pingreq' }),
  v('pingresp v3.1', 3, hex('d0 00'), { type: 'pingresp' }),
  v('pingreq v5', 5, hex('c0 00'), { type: 'pingreq' }),
  v('pingresp v5', 5, hex('d0 00'), { type: 'pingresp' }),

  // ---------------------------------------------------------------- DISCONNECT
  v('disconnect v4', 4, hex('e0 00'), { type: 'disconnect' }),
  v('disconnect v3.1', 3, hex('e0 00'), { type: 'disconnect' }),
  v('disconnect v5 normal, empty', 5, hex('e0 00'), { type: 'disconnect', reasonCode: 0 }),
  v('disconnect v5 with will message', 5, hex('e0 02 04 00'), { type: 'disconnect', reasonCode: 0x04 }),
  v('disconnect v5 reason code only', 5, hex('e0 01 04'), { type: 'disconnect', reasonCode: 0x04 }, { encodesAs: hex('e0 02 04 00') }),
  v('disconnect v5 server moved with properties', 5,
    pkt(0xe0, 0x9d, props(P.sessionExpiry, u32(0), P.reasonString, str('moved'), P.serverReference, str('b:1883'), P.userProperty, str('k'), str('v'))), {
      type: 'disconnect', reasonCode: 0x9d,
      properties: { sessionExpiryInterval: 0, reasonString: 'moved', serverReference: 'b:1883', userProperties: [['k', 'v']] },
    }),

  // ---------------------------------------------------------------- AUTH
  v('auth v5 continue authentication', 5, pkt(0xf0, 0x18, props(P.authMethod, str('SCRAM-SHA-1'), P.authData, bin(1, 2, 3))), {
    type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from([1, 2, 3]) },
  }),
  v('auth v5 re-authenticate with reason string', 5, pkt(0xf0, 0x19, props(P.authMethod, str('m'), P.reasonString, str('again'), P.userProperty, str('a'), str('b'))), {
    type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'm', reasonString: 'again', userProperties: [['a', 'b']] },
  }),
  v('auth v5 success', 5, hex('f0 02 00 00'), { type: 'auth', reasonCode: 0 }),
  // Remaining Length 0 means Success without properties (3.15.2.1); we always write the full form.
  v('auth v5 success, empty', 5, hex('f0 00'), { type: 'auth', reasonCode: 0 }, { encodesAs: hex('f0 02 00 00') }),
];

const M = 0x81; // Malformed Packet
const PE = 0x82; // Protocol Error
const MP = 0x81; // Malformed Packet

const connect4 = (flags: number, ...rest: Parameters<typeof bytes>): Buffer => pkt(0x10, MQTT, 4, flags, u16(60), ...rest);
const connect5 = (flags: number, connectProps: number[], ...rest: Parameters<typeof bytes>): Buffer =>
  pkt(0x10, MQTT, 5, flags, u16(60), connectProps, ...rest);
const publish5 = (propBlock: number[], topic = str('t')): Buffer => pkt(0x30, topic, propBlock);
const subscribe5 = (...rest: Parameters<typeof bytes>): Buffer => pkt(0x82, u16(1), ...rest);

export const invalidVectors: readonly InvalidVector[] = [
  // ---------------------------------------------------------------- framing and fixed header
  bad('remaining length of five bytes', 4, hex('30 ff ff ff ff 7f'), M, 'MQTT-1.5.5'),
  bad('remaining length not minimally encoded', 5, hex('c0 80 00'), M, 'MQTT-1.5.5-1'),
  bad('reserved packet type 0', 4, hex('00 00'), M),
  bad('packet before CONNECT', undefined, hex('c0 00'), PE, 'MQTT-3.1.0-1'),
  bad('PUBLISH before CONNECT', undefined, pkt(0x30, str('t')), PE, 'MQTT-3.1.0-1'),
  bad('AUTH in 3.1.1 (reserved type 15)', 4, hex('f0 00'), M),
  bad('PUBREL with flags 0000', 4, hex('60 02 00 01'), M, 'MQTT-3.6.1-1'),
  bad('SUBSCRIBE with flags 0000', 4, pkt(0x80, u16(1), str('a'), 0), M, 'MQTT-3.8.1-1'),
  bad('UNSUBSCRIBE with flags 0000', 4, pkt(0xa0, u16(1), str('a')), M, 'MQTT-3.10.1-1'),
  bad('PUBACK with flags 0010', 5, hex('42 02 00 01'), M, 'MQTT-2.2.2-1'),
  bad('PINGREQ with flags 0001', 4, hex('c1 00'), M, 'MQTT-2.2.2-1'),
  bad('CONNECT with flags 0010', undefined, pkt(0x12, MQTT, 4, 0x02, u16(60), str('c')), M, 'MQTT-2.2.2-1'),
  bad('DISCONNECT with flags 1000', 5, hex('e8 00'), M, 'MQTT-2.2.2-1'),

  // ---------------------------------------------------------------- CONNECT
  bad('connect reserved flag bit 0', undefined, connect4(0x03, str('c')), M, 'MQTT-3.1.2-3'),
  bad('connect will QoS without will flag', undefined, connect4(0x0a, str('c')), M, 'MQTT-3.1.2-13'),
  bad('connect will retain without will flag', undefined, connect4(0x22, str('c')), M, 'MQTT-3.1.2-15'),
  bad('connect will QoS 3', undefined, connect4(0x1e, str('c'), str('w'), bin()), M, 'MQTT-3.1.2-14'),
  bad('connect v4 password without username', undefined, connect4(0x42, str('c'), bin(1)), M, 'MQTT-3.1.2-22'),
  bad('connect v4 trailing byte', undefined, connect4(0x02, str('c'), 0x00), M),
  bad('connect missing client id', undefined, connect4(0x02), M),
  bad('connect username flag but no username', undefined, connect4(0x82, str('c')), M),
  bad('connect client id invalid UTF-8', undefined, connect4(0x02, rawStr(0xc3, 0x28)), M, 'MQTT-1.5.3-1'),
  bad('connect will topic with wildcard', undefined, connect4(0x06, str('c'), str('a/#'), bin()), 0x90, 'MQTT-3.3.2-2'),
  bad('connect protocol level 6', undefined, pkt(0x10, MQTT, 6, 0x02, u16(60), str('c')), 0x84, 'MQTT-3.1.2-2'),
  bad('connect protocol name MQTX', undefined, pkt(0x10, str('MQTX'), 4, 0x02, u16(60), str('c')), 0x84, 'MQTT-3.1.2-1'),
  bad('connect protocol name MQIsdp with level 4', undefined, pkt(0x10, str('MQIsdp'), 4, 0x02, u16(60), str('c')), 0x84),
  bad('connect v5 receive maximum 0', undefined, connect5(0x02, props(0x21, u16(0)), str('c')), PE),
  bad('connect v5 maximum packet size 0', undefined, connect5(0x02, props(0x27, u32(0)), str('c')), PE),
  bad('connect v5 request problem information 2', undefined, connect5(0x02, props(0x17, 2), str('c')), PE),
  bad('connect v5 request response information 2', undefined, connect5(0x02, props(0x19, 2), str('c')), PE),
  bad('connect v5 duplicate session expiry', undefined, connect5(0x02, props(0x11, u32(1), 0x11, u32(2)), str('c')), PE),
  bad('connect v5 authentication data without method', undefined, connect5(0x02, props(0x16, bin(1)), str('c')), PE),
  bad('connect v5 topic alias not allowed', undefined, connect5(0x02, props(0x23, u16(1)), str('c')), MP),
  bad('connect v5 will delay outside will properties', undefined, connect5(0x02, props(0x18, u32(1)), str('c')), MP),
  bad('connect v5 session expiry in will properties', undefined, connect5(0x06, props(), str('c'), props(0x11, u32(1)), str('w'), bin()), MP),
  bad('connect v5 will payload format 2', undefined, connect5(0x06, props(), str('c'), props(0x01, 2), str('w'), bin()), PE),
  bad('connect v5 property length past the end', undefined, connect5(0x02, [0x10, 0x11]), M),
  bad('connect v5 unknown property 0x7f', undefined, connect5(0x02, props(0x7f, 0), str('c')), M),

  // ---------------------------------------------------------------- CONNACK
  bad('connack reserved acknowledge flags', 4, hex('20 02 02 00'), M, 'MQTT-3.2.2-1'),
  bad('connack v4 reserved return code 6', 4, hex('20 02 00 06'), PE),
  bad('connack session present with error code', 4, hex('20 02 01 05'), PE, 'MQTT-3.2.2-4'),
  bad('connack v4 too long', 4, hex('20 03 00 00 00'), M),
  bad('connack v5 missing property length', 5, hex('20 02 00 00'), M),
  bad('connack v5 maximum QoS 2', 5, pkt(0x20, 0, 0, props(0x24, 2)), PE),
  bad('connack v5 retain available 2', 5, pkt(0x20, 0, 0, props(0x25, 2)), PE),
  bad('connack v5 reason code 0x01', 5, hex('20 03 00 01 00'), PE),

  // ---------------------------------------------------------------- PUBLISH
  bad('publish QoS 3', 4, pkt(0x36, str('t'), u16(1)), M, 'MQTT-3.3.1-4'),
  bad('publish DUP on QoS 0', 4, pkt(0x38, str('t')), M, 'MQTT-3.3.1-2'),
  bad('publish QoS 1 packet id 0', 4, pkt(0x32, str('t'), u16(0)), PE, 'MQTT-2.3.1-1'),
  bad('publish topic with +', 4, pkt(0x30, str('a/+')), 0x90, 'MQTT-3.3.2-2'),
  bad('publish topic with #', 5, pkt(0x30, str('#'), props()), 0x90, 'MQTT-3.3.2-2'),
  bad('publish v4 empty topic', 4, pkt(0x30, str('')), 0x90, 'MQTT-4.7.3-1'),
  bad('publish v5 empty topic without alias', 5, pkt(0x30, str(''), props()), PE),
  bad('publish topic invalid UTF-8', 4, pkt(0x30, rawStr(0x61, 0xff)), M, 'MQTT-1.5.3-1'),
  bad('publish topic with U+0000', 4, pkt(0x30, rawStr(0x61, 0x00, 0x62)), M, 'MQTT-1.5.3-2'),
  bad('publish topic with a UTF-16 surrogate encoded as UTF-8', 4, pkt(0x30, rawStr(0x61, 0xed, 0xa0, 0x80)), M, 'MQTT-1.5.3-1'),
  bad('publish topic with an overlong encoding', 4, pkt(0x30, rawStr(0xc0, 0xaf)), M, 'MQTT-1.5.3-1'),
  bad('publish topic length past the end', 4, pkt(0x30, u16(10), 0x61), M),
  bad('publish QoS 1 without packet id', 4, pkt(0x32, str('t'), 0x01), M),
  bad('publish v5 topic alias 0', 5, publish5(props(0x23, u16(0))), 0x94, 'MQTT-3.3.2-8'),
  bad('publish v5 subscription identifier 0', 5, publish5(props(0x0b, 0)), PE),
  bad('publish v5 duplicate message expiry', 5, publish5(props(0x02, u32(1), 0x02, u32(1))), PE),
  bad('publish v5 duplicate topic alias', 5, publish5(props(0x23, u16(1), 0x23, u16(2))), PE),
  bad('publish v5 session expiry not allowed', 5, publish5(props(0x11, u32(1))), MP),
  bad('publish v5 unknown property', 5, publish5(props(0x00)), M),
  bad('publish v5 payload format indicator 2', 5, publish5(props(0x01, 2)), PE),
  bad('publish v5 response topic with wildcard', 5, publish5(props(0x08, str('r/#'))), 0x90, 'MQTT-3.3.2-14'),
  bad('publish v5 subscription identifier not minimally encoded', 5, publish5(props(0x0b, 0x81, 0x00)), M, 'MQTT-1.5.5-1'),
  bad('publish v5 user property value invalid UTF-8', 5, publish5(props(0x26, str('k'), rawStr(0xfe))), M, 'MQTT-1.5.4-1'),
  bad('publish v5 property length past the end', 5, pkt(0x30, str('t'), 0x05, 0x01), M),
  bad('publish v5 content type runs past its property block', 5, pkt(0x30, str('t'), 0x03, 0x03, u16(5), buf('abcde')), M),

  // ---------------------------------------------------------------- acks
  bad('puback packet id 0', 4, hex('40 02 00 00'), PE, 'MQTT-2.3.1-1'),
  bad('puback v4 with reason code byte', 4, hex('40 03 00 01 00'), M),
  bad('puback too short', 4, hex('40 01 00'), M),
  bad('puback v5 invalid reason code 0x05', 5, hex('40 03 00 01 05'), PE),
  bad('pubrel v5 invalid reason code 0x10', 5, hex('62 03 00 01 10'), PE),
  bad('pubcomp v5 invalid reason code 0x80', 5, hex('70 03 00 01 80'), PE),
  bad('puback v5 topic alias not allowed', 5, pkt(0x40, u16(1), 0, props(0x23, u16(1))), MP),
  bad('pubrec v5 trailing byte after properties', 5, pkt(0x50, u16(1), 0, props(), 0), M),

  // ---------------------------------------------------------------- SUBSCRIBE
  bad('subscribe v4 without filters', 4, pkt(0x82, u16(1)), M, 'MQTT-3.8.3-3'),
  bad('subscribe v5 without filters', 5, pkt(0x82, u16(1), props()), PE, 'MQTT-3.8.3-2'),
  bad('subscribe packet id 0', 4, pkt(0x82, u16(0), str('a'), 0), PE, 'MQTT-2.3.1-1'),
  bad('subscribe v4 reserved option bits', 4, pkt(0x82, u16(1), str('a'), 0x04), M, 'MQTT-3-8.3-4'),
  bad('subscribe v5 reserved option bits 6-7', 5, subscribe5(props(), str('a'), 0x40), M, 'MQTT-3.8.3-5'),
  bad('subscribe QoS 3', 4, pkt(0x82, u16(1), str('a'), 0x03), M, 'MQTT-3-8.3-4'),
  bad('subscribe v5 retain handling 3', 5, subscribe5(props(), str('a'), 0x30), PE),
  bad('subscribe missing options byte', 4, pkt(0x82, u16(1), str('a')), M),
  bad('subscribe filter # not last', 4, pkt(0x82, u16(1), str('a/#/b'), 0), 0x8f, 'MQTT-4.7.1-2'),
  bad('subscribe filter a+', 4, pkt(0x82, u16(1), str('a+'), 0), 0x8f, 'MQTT-4.7.1-3'),
  bad('subscribe filter a/b#', 4, pkt(0x82, u16(1), str('a/b#'), 0), 0x8f, 'MQTT-4.7.1-2'),
  bad('subscribe empty filter', 4, pkt(0x82, u16(1), str(''), 0), 0x8f, 'MQTT-4.7.3-1'),
  bad('subscribe filter with U+0000', 4, pkt(0x82, u16(1), rawStr(0x61, 0x00), 0), M, 'MQTT-1.5.3-2'),
  bad('subscribe shared with empty share name', 5, subscribe5(props(), str('$share//a'), 0), 0x8f, 'MQTT-4.8.2-1'),
  bad('subscribe shared without filter', 5, subscribe5(props(), str('$share/g'), 0), 0x8f, 'MQTT-4.8.2-2'),
  bad('subscribe shared with empty filter', 5, subscribe5(props(), str('$share/g/'), 0), 0x8f, 'MQTT-4.8.2-2'),
  bad('subscribe shared name with wildcard', 5, subscribe5(props(), str('$share/g+/a'), 0), 0x8f, 'MQTT-4.8.2-2'),
  bad('subscribe shared with No Local', 5, subscribe5(props(), str('$share/g/a'), 0x04), PE, 'MQTT-3.8.3-4'),
  bad('subscribe v5 subscription identifier 0', 5, subscribe5(props(0x0b, 0), str('a'), 0), PE),
  bad('subscribe v5 two subscription identifiers', 5, subscribe5(props(0x0b, 1, 0x0b, 2), str('a'), 0), PE),
  bad('subscribe v5 reason string not allowed', 5, subscribe5(props(0x1f, str('x')), str('a'), 0), MP),

  // ---------------------------------------------------------------- SUBACK
  bad('suback without codes', 4, hex('90 02 00 01'), M),
  bad('suback v4 reserved code 3', 4, hex('90 03 00 01 03'), PE, 'MQTT-3.9.3-2'),
  bad('suback v5 invalid code 0x05', 5, hex('90 04 00 01 00 05'), PE),
  bad('suback packet id 0', 4, hex('90 03 00 00 00'), PE),

  // ---------------------------------------------------------------- UNSUBSCRIBE / UNSUBACK
  bad('unsubscribe v4 without filters', 4, pkt(0xa2, u16(1)), M, 'MQTT-3.10.3-2'),
  bad('unsubscribe v5 without filters', 5, pkt(0xa2, u16(1), props()), PE, 'MQTT-3.10.3-2'),
  bad('unsubscribe packet id 0', 4, pkt(0xa2, u16(0), str('a')), PE),
  bad('unsubscribe invalid filter', 4, pkt(0xa2, u16(1), str('#/a')), 0x8f, 'MQTT-4.7.1-2'),
  bad('unsubscribe v5 subscription identifier not allowed', 5, pkt(0xa2, u16(1), props(0x0b, 1), str('a')), MP),
  bad('unsuback v4 with reason codes', 4, hex('b0 03 00 01 00'), M),
  bad('unsuback v5 without codes', 5, hex('b0 03 00 01 00'), M),
  bad('unsuback v5 invalid code 0x01', 5, hex('b0 04 00 01 00 01'), PE),

  // ---------------------------------------------------------------- PINGREQ / PINGRESP / DISCONNECT / AUTH
  bad('pingreq with a body', 4, hex('c0 01 00'), M),
  bad('pingresp with a body', 5, hex('d0 01 00'), M),
  bad('disconnect v4 with a body', 4, hex('e0 01 00'), M),
  bad('disconnect v5 invalid reason code 0x01', 5, hex('e0 01 01'), PE),
  bad('disconnect v5 trailing byte', 5, hex('e0 03 00 00 00'), M),
  bad('disconnect v5 topic alias not allowed', 5, pkt(0xe0, 0, props(0x23, u16(1))), MP),
  bad('auth v5 invalid reason code 0x01', 5, hex('f0 02 01 00'), PE),
  bad('auth v5 session expiry not allowed', 5, pkt(0xf0, 0x18, props(0x11, u32(1))), MP),
  bad('auth v5 data without method', 5, pkt(0xf0, 0x18, props(0x16, bin(1))), PE),
];

/** A valid vector by name; throws if there is none, so a renamed vector fails loudly. */
export function validVector(name: string): ValidVector {
  const found = validVectors.find((x) => x.name === name);
  if (found === undefined) throw new Error(`no valid vector named "${name}"`);
  return found;
}

/** An invalid vector by name; throws if there is none. */
export function invalidVector(name: string): InvalidVector {
  const found = invalidVectors.find((x) => x.name === name);
  if (found === undefined) throw new Error(`no invalid vector named "${name}"`);
  return found;
}
