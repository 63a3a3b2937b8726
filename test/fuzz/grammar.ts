// fast-check arbitraries for the boundary fuzzer: MQTT 3.1.1 and 5 packets from the grammar, with
// strings and binaries at the sizes where encoders and limits break (0, 1, 255, 256, 65,534,
// 65,535 bytes and their neighbours, multi-byte UTF-8), every property a client may send in every
// packet that may carry it (read from PROPERTY_TABLE), maximum property counts, and a catalogue of
// violations, each labelled with what the spec makes the broker do.
import fc from 'fast-check';
import { PROPERTY_TABLE, type PropertyContext, type PropertyDef } from '../../src/protocol/properties.js';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import { varint } from './raw-encoder.js';
import type { BinSpec, Fill, FuzzPacket, FuzzStep, PropSpec, StrSpec, SubSpec, WillSpec } from './model.js';

export const BOUNDARY_LENGTHS = [0, 1, 255, 256, 65_534, 65_535] as const;
/** Lengths that cross the boundaries by one. */
const CROSSING_LENGTHS = [2, 254, 257, 65_533] as const;
const MAX_FIELD = 65_535;

const length: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...BOUNDARY_LENGTHS) },
  { weight: 2, arbitrary: fc.constantFrom(...CROSSING_LENGTHS) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 64 }) },
);
const fill = fc.constantFrom<Fill>('ascii', 'utf8-2', 'utf8-3', 'utf8-4');
const lit = (literal: string): StrSpec => ({ bytes: 0, fill: 'ascii', literal });

/** Any valid UTF-8 string (no U+0000) at a boundary length. */
export const boundaryStr: fc.Arbitrary<StrSpec> = fc.record({ bytes: length, fill });
const nonEmptyStr = fc.record({ bytes: length.map((n) => Math.max(1, n)), fill });
const smallStr: fc.Arbitrary<StrSpec> = fc.record({ bytes: fc.integer({ min: 0, max: 8 }), fill });
const binSpec: fc.Arbitrary<BinSpec> = fc.record({ bytes: length, byte: fc.constantFrom(0x00, 0x61, 0xff) });

/** Topic names a client may publish to: no wildcards, not empty; long, short, and with many levels. */
export const topicName: fc.Arbitrary<StrSpec> = fc.oneof(
  { weight: 4, arbitrary: nonEmptyStr.map((s) => ({ ...s, prefix: 'fuzz/', bytes: Math.min(s.bytes, MAX_FIELD - 5) })) },
  { weight: 2, arbitrary: fc.constantFrom('fuzz/a', 'fuzz/b/c', 'fuzz', '/', 'fuzz/é/€/😀').map(lit) },
  // Around the default maxTopicLevels (128), and as many levels as 65,535 bytes hold.
  { weight: 1, arbitrary: fc.constantFrom(127, 128, 129, 32_767).map((n) => lit('l/'.repeat(n) + 'l')) },
);

/** Topic filters a client may subscribe to (wildcards where they are allowed, shared subscriptions). */
export const topicFilter: fc.Arbitrary<StrSpec> = fc.oneof(
  { weight: 3, arbitrary: topicName },
  { weight: 1, arbitrary: nonEmptyStr.map((s) => ({ ...s, bytes: Math.min(s.bytes, MAX_FIELD - 2), suffix: '/#' })) },
  { weight: 1, arbitrary: nonEmptyStr.map((s) => ({ ...s, bytes: Math.min(s.bytes, MAX_FIELD - 2), prefix: '+/' })) },
  { weight: 1, arbitrary: fc.constantFrom('#', '+', '+/+/#', 'fuzz/#').map(lit) },
  // $share/<group>/<filter>, the group up to the longest a 65,535-byte filter holds.
  { weight: 2, arbitrary: nonEmptyStr.map((s) => ({ ...s, bytes: Math.min(s.bytes, MAX_FIELD - 9), prefix: '$share/', suffix: '/#' })) },
);

/**
 * Filters the spec lets a broker either refuse in SUBACK (0x8F, 0x80) or answer by closing:
 * wildcards inside a level, `$share/<group>` without a filter, a wildcard in the share name.
 */
const doubtfulFilter: fc.Arbitrary<StrSpec> = fc.oneof(
  nonEmptyStr.map((s) => ({ ...s, bytes: Math.min(s.bytes, MAX_FIELD - 1), suffix: '#' })),
  nonEmptyStr.map((s) => ({ ...s, bytes: Math.min(s.bytes, MAX_FIELD - 2), insert: { at: 'mid' as const, text: '+' } })),
  nonEmptyStr.map((s) => ({ ...s, bytes: Math.min(s.bytes, MAX_FIELD - 7), prefix: '$share/' })),
  fc.constantFrom('$share/+/x', '$share//x', '#/a', '$share/g').map(lit),
);

// --- Properties, straight from the table

/** Property contexts a client sends. */
export type ClientContext = Extract<PropertyContext, 'connect' | 'will' | 'publish' | 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' | 'subscribe' | 'unsubscribe' | 'disconnect' | 'auth'>;

/** Properties the table allows in a context but a client must not send there. */
const CLIENT_MUST_NOT: Partial<Record<ClientContext, readonly string[]>> = {
  // "A PUBLISH packet sent from a Client to a Server MUST NOT contain a Subscription Identifier" [MQTT-3.3.4-6].
  publish: ['subscriptionIdentifiers'],
};

const u16Values = [1, 2, 255, 256, 65_534, 65_535];
const u32Values = [0, 1, 20, 24, 255, 256, 65_535, 65_536, 0xffff_ffff];
const varintValues = [1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455];

function valueFor(d: PropertyDef): fc.Arbitrary<PropSpec['value']> {
  switch (d.type) {
    case 'byte':
      return fc.constantFrom(0, 1);
    case 'u16':
      return fc.constantFrom(...u16Values.filter((v) => v >= (d.min ?? 0)));
    case 'u32':
      return fc.constantFrom(...u32Values.filter((v) => v >= (d.min ?? 0)));
    case 'varint':
      return fc.constantFrom(...varintValues);
    case 'utf8':
      return d.key === 'responseTopic' ? topicName : boundaryStr;
    case 'binary':
      return binSpec;
    case 'pair':
      return fc.tuple(boundaryStr, boundaryStr);
  }
}

/** User properties: none, a few of any size, or the most a packet can hold (repeated pairs). */
const userProperties: fc.Arbitrary<PropSpec[]> = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.tuple(smallStr, smallStr), { maxLength: 3 }).map((a) => a.map((value) => ({ id: 0x26, value }))) },
  { weight: 2, arbitrary: fc.array(fc.tuple(boundaryStr, boundaryStr), { minLength: 1, maxLength: 4 }).map((a) => a.map((value) => ({ id: 0x26, value }))) },
  {
    weight: 1,
    arbitrary: fc
      .record({ times: fc.constantFrom(16, 255, 256, 4096, 65_535, 100_000), k: smallStr, v: smallStr })
      .map(({ times, k, v }) => [{ id: 0x26, value: [k, v] as const, times }]),
  },
);

/** Which properties of the table a client may put in `ctx`. */
export function clientProperties(ctx: ClientContext): PropertyDef[] {
  return PROPERTY_TABLE.filter((d) => d.allowedIn.includes(ctx) && !(CLIENT_MUST_NOT[ctx] ?? []).includes(d.key));
}

/** A legal property block for `ctx`: any subset of its properties at boundary values, user properties included. */
export function propertiesFor(ctx: ClientContext, exclude: readonly string[] = []): fc.Arbitrary<PropSpec[]> {
  const defs = clientProperties(ctx).filter((d) => d.type !== 'pair' && !exclude.includes(d.key));
  const record: Record<string, fc.Arbitrary<PropSpec['value']>> = {};
  for (const d of defs) record[d.key] = valueFor(d);
  return fc.tuple(fc.record(record, { requiredKeys: [] }), userProperties).map(([values, users]) => {
    const out: PropSpec[] = defs.filter((d) => values[d.key] !== undefined).map((d) => ({ id: d.id, value: values[d.key]! }));
    // "It is a Protocol Error to include Authentication Data if there is no Authentication Method" (3.1.2.11.10).
    const hasMethod = out.some((p) => p.id === 0x15);
    return [...out.filter((p) => p.id !== 0x16 || hasMethod), ...users];
  });
}

// --- Packets

const qos = fc.constantFrom(0, 1, 2);
const packetId = fc.constantFrom(1, 2, 255, 256, 65_534, 65_535);
const reasonCodes = [0x00, 0x10, 0x80, 0x83, 0x87, 0x97];

const will = (version: 4 | 5): fc.Arbitrary<WillSpec> =>
  fc.record({
    topic: topicName,
    payload: binSpec,
    qos,
    retain: fc.boolean(),
    props: version === 5 ? propertiesFor('will') : fc.constant([]),
  });

export function connectPacket(version: 4 | 5): fc.Arbitrary<Extract<FuzzPacket, { type: 'connect' }>> {
  return fc.record({
    type: fc.constant('connect' as const),
    version: fc.constant(version),
    // Client ids at the boundaries; a random tail keeps concurrent connections from taking each other over.
    clientId: fc.oneof(boundaryStr, fc.integer({ min: 0, max: 1e9 }).map((n) => lit(`fuzz-${n}`))),
    keepalive: fc.constantFrom(0, 60, 65_535),
    clean: fc.boolean(),
    will: fc.option(will(version), { nil: undefined, freq: 3 }),
    username: fc.option(boundaryStr, { nil: undefined, freq: 3 }),
    password: fc.option(binSpec, { nil: undefined, freq: 3 }),
    props: version === 5 ? propertiesFor('connect') : fc.constant([]),
  }).map((c) => (version === 4 && c.password && !c.username ? { ...c, password: undefined } : c));
}

const publish = (version: 4 | 5): fc.Arbitrary<Extract<FuzzPacket, { type: 'publish' }>> =>
  fc.record({
    type: fc.constant('publish' as const),
    qos,
    dup: fc.boolean(),
    // Retained rarely: every later '#' subscriber is sent what is retained.
    retain: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    topic: topicName,
    packetId,
    props: version === 5 ? propertiesFor('publish') : fc.constant([]),
    payload: binSpec,
  });

const subOptions = (version: 4 | 5): fc.Arbitrary<number> =>
  version === 4 ? qos : fc.tuple(qos, fc.boolean(), fc.boolean(), fc.constantFrom(0, 1, 2)).map(([q, nl, rap, rh]) => q | (nl ? 4 : 0) | (rap ? 8 : 0) | (rh << 4));

const subscribe = (version: 4 | 5): fc.Arbitrary<Extract<FuzzPacket, { type: 'subscribe' }>> =>
  fc.record({
    type: fc.constant('subscribe' as const),
    packetId,
    subs: fc.array(
      fc.record({ filter: fc.oneof({ weight: 4, arbitrary: topicFilter }, { weight: 1, arbitrary: doubtfulFilter }), options: subOptions(version) }),
      { minLength: 1, maxLength: 4 },
    ).map((subs) => subs.map((s): SubSpec => (isShared(s.filter) ? { ...s, options: s.options & ~4 } : s))),
    props: version === 5 ? propertiesFor('subscribe') : fc.constant([]),
  });

const isShared = (s: StrSpec): boolean => (s.prefix ?? s.literal ?? '').startsWith('$share/');

const unsubscribe = (version: 4 | 5): fc.Arbitrary<Extract<FuzzPacket, { type: 'unsubscribe' }>> =>
  fc.record({
    type: fc.constant('unsubscribe' as const),
    packetId,
    filters: fc.array(fc.oneof(topicFilter, doubtfulFilter), { minLength: 1, maxLength: 4 }),
    props: version === 5 ? propertiesFor('unsubscribe') : fc.constant([]),
  });

const ack = (version: 4 | 5): fc.Arbitrary<FuzzPacket> =>
  fc.constantFrom('puback' as const, 'pubrec' as const, 'pubrel' as const, 'pubcomp' as const).chain((type) =>
    fc.record({
      type: fc.constant(type),
      packetId,
      reason: fc.constantFrom(...reasonCodes),
      props: version === 5 ? propertiesFor(type) : fc.constant([]),
    }),
  );

/** A packet the spec allows after CONNACK (limits may still make the broker refuse or close). */
export const legalPacket = (version: 4 | 5): fc.Arbitrary<FuzzStep> =>
  fc.oneof(
    { weight: 5, arbitrary: publish(version) },
    { weight: 3, arbitrary: subscribe(version) },
    { weight: 1, arbitrary: unsubscribe(version) },
    { weight: 2, arbitrary: ack(version) },
    { weight: 1, arbitrary: fc.constant<FuzzPacket>({ type: 'pingreq' }) },
  ).map((packet) => ({ packet }));

// --- Violations: each must close the connection; MQTT 5 gets a DISCONNECT with a reason code first.

const violation = (name: string, reason?: number) => ({ name, ...(reason !== undefined ? { reason } : {}) });
const invalidUtf8 = fc.constantFrom([0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]);
const at = fc.constantFrom('start' as const, 'mid' as const, 'end' as const);

/** A topic holding what no topic name may hold: a wildcard [MQTT-3.3.2-2], U+0000 or bad UTF-8 [MQTT-1.5.4-1/2]. */
const badTopic = (what: 'wildcard' | 'null' | 'utf8'): fc.Arbitrary<StrSpec> =>
  fc.tuple(boundaryStr, at, what === 'wildcard' ? fc.constantFrom('+', '#', 'a/+/b', '/#') : fc.constant('\u0000'), invalidUtf8).map(([s, where, text, raw]) => ({
    ...s,
    prefix: 'fuzz/',
    bytes: Math.min(s.bytes, MAX_FIELD - 16),
    insert: what === 'utf8' ? { at: where, raw } : { at: where, text },
  }));

const withTopic = (version: 4 | 5, topic: fc.Arbitrary<StrSpec>) => fc.tuple(publish(version), topic).map(([p, t]) => ({ ...p, topic: t }));

export function violationStep(version: 4 | 5): fc.Arbitrary<FuzzStep> {
  const v5 = version === 5;
  const M = ReasonCode.MalformedPacket;
  const P = ReasonCode.ProtocolError;
  const common: Array<fc.Arbitrary<FuzzStep>> = [
    withTopic(version, badTopic('wildcard')).map((packet) => ({ packet, violation: violation('wildcard in PUBLISH topic [MQTT-3.3.2-2]', ReasonCode.TopicNameInvalid) })),
    withTopic(version, badTopic('null')).map((packet) => ({ packet, violation: violation('U+0000 in topic [MQTT-1.5.4-2]', M) })),
    withTopic(version, badTopic('utf8')).map((packet) => ({ packet, violation: violation('ill-formed UTF-8 in topic [MQTT-1.5.4-1]', M) })),
    fc.tuple(subscribe(version), fc.oneof(badTopic('null'), badTopic('utf8'))).map(([p, f]) => ({
      packet: { ...p, subs: [...p.subs, { filter: f, options: 0 }] },
      violation: violation('U+0000 or ill-formed UTF-8 in topic filter [MQTT-1.5.4-1]', M),
    })),
    subscribe(version).map((packet) => ({ packet, headerFlags: 0, violation: violation('SUBSCRIBE fixed-header flags not 0010 [MQTT-3.8.1-1]', M) })),
    unsubscribe(version).map((packet) => ({ packet, headerFlags: 0, violation: violation('UNSUBSCRIBE fixed-header flags not 0010 [MQTT-3.10.1-1]', M) })),
    fc.constant<FuzzStep>({ packet: { type: 'pubrel', packetId: 1, reason: 0, props: [] }, headerFlags: 0, violation: violation('PUBREL fixed-header flags not 0010 [MQTT-3.6.1-1]', M) }),
    fc.constant<FuzzStep>({ packet: { type: 'puback', packetId: 1, reason: 0, props: [] }, headerFlags: 1, violation: violation('PUBACK reserved flags set [MQTT-2.1.3-1]', M) }),
    subscribe(version).map((p) => ({ packet: { ...p, subs: [] }, violation: violation('SUBSCRIBE without a filter [MQTT-3.8.3-2]', P) })),
    unsubscribe(version).map((p) => ({ packet: { ...p, filters: [] }, violation: violation('UNSUBSCRIBE without a filter [MQTT-3.10.3-2]', P) })),
    fc.tuple(subscribe(version), fc.constantFrom(0x03, 0x40, 0x80, 0xc0, ...(v5 ? [0x30] : [0x04]))).map(([p, o]) => ({
      packet: { ...p, subs: [{ filter: lit('fuzz/x'), options: o }, ...p.subs] },
      violation: violation('reserved subscription options [MQTT-3.8.3-5]', M),
    })),
    publish(version).map((p) => ({ packet: { ...p, qos: 3, packetId: 1 }, violation: violation('PUBLISH QoS 3 [MQTT-3.3.1-4]', M) })),
    connectPacket(version).map((packet) => ({ packet, violation: violation('a second CONNECT [MQTT-3.1.0-2]', P) })),
    fc.constantFrom(
      { name: 'CONNACK', bytes: [0x20, 0x02, 0x00, 0x00] },
      { name: 'SUBACK', bytes: [0x90, 0x03, 0x00, 0x01, 0x00] },
      { name: 'UNSUBACK', bytes: [0xb0, 0x02, 0x00, 0x01] },
      { name: 'PINGRESP', bytes: [0xd0, 0x00] },
      { name: 'reserved type 0', bytes: [0x00, 0x00] },
    ).map(({ name, bytes }) => ({ packet: { type: 'raw' as const, name, bytes }, violation: violation(`${name} from a client`) })),
    // A Remaining Length of five bytes [MQTT-1.5.5]; a packet longer than the broker's maximum [MQTT-3.1.2-24's mirror, 3.2.2.3.6].
    fc.constant<FuzzStep>({ packet: { type: 'raw', name: 'five-byte Remaining Length', bytes: [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f] }, violation: violation('Remaining Length over four bytes', M) }),
    // A topic length that runs past the packet's end.
    fc.constant<FuzzStep>({ packet: { type: 'raw', name: 'topic length past the end', bytes: [0x30, 0x04, 0xff, 0xff, 0x61, 0x61] }, violation: violation('string length past the end of the packet', M) }),
    withTopic(version, fc.constant(lit(''))).map((packet) => ({ packet: { ...packet, props: packet.props.filter((p) => p.id !== 0x23) }, violation: violation('empty topic without a Topic Alias [MQTT-3.3.2-1]', P) })),
    publish(version).map((p) => ({ packet: { ...p, qos: 1, packetId: 0 }, violation: violation('packet identifier 0 [MQTT-2.2.1-3]') })),
    subscribe(version).map((p) => ({ packet: { ...p, packetId: 0 }, violation: violation('packet identifier 0 [MQTT-2.2.1-3]') })),
  ];
  if (!v5) {
    return fc.oneof(
      ...common,
      fc.constant<FuzzStep>({ packet: { type: 'raw', name: 'AUTH in 3.1.1', bytes: [0xf0, 0x00] }, violation: violation('AUTH (reserved type 15 in 3.1.1)') }),
    );
  }
  const misplaced = PROPERTY_TABLE.filter((d) => !d.allowedIn.includes('publish'));
  const single = PROPERTY_TABLE.filter((d) => d.allowedIn.includes('publish') && !d.repeatableIn.includes('publish'));
  return fc.oneof(
    ...common,
    fc.tuple(publish(5), fc.constantFrom(...misplaced)).chain(([p, d]) =>
      valueFor(d).map((value) => ({ packet: { ...p, props: [...p.props, { id: d.id, value }] }, violation: violation(`${d.name} in PUBLISH (2.2.2.2)`, M) })),
    ),
    fc.tuple(subscribe(5), fc.constantFrom(...PROPERTY_TABLE.filter((d) => !d.allowedIn.includes('subscribe')))).chain(([p, d]) =>
      valueFor(d).map((value) => ({ packet: { ...p, props: [{ id: d.id, value }, ...p.props] }, violation: violation(`${d.name} in SUBSCRIBE (2.2.2.2)`, M) })),
    ),
    fc.tuple(publish(5), fc.constantFrom(...single)).chain(([p, d]) =>
      fc.tuple(valueFor(d), valueFor(d)).map(([a, b]) => ({
        packet: { ...p, props: [...p.props.filter((x) => x.id !== d.id), { id: d.id, value: a }, { id: d.id, value: b }] },
        violation: violation(`${d.name} twice (2.2.2.2)`, d.id === 0x23 ? undefined : P),
      })),
    ),
    publish(5).map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x23), { id: 0x23, value: 0 }] }, violation: violation('Topic Alias 0 [MQTT-3.3.2-8]', ReasonCode.TopicAliasInvalid) })),
    fc.tuple(publish(5), badTopic('wildcard')).map(([p, t]) => ({
      packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x08), { id: 0x08, value: t }] },
      violation: violation('wildcard in Response Topic [MQTT-3.3.2-14]'),
    })),
    fc.tuple(publish(5), fc.constantFrom(1, 100, 65_535, 268_435_455), fc.constantFrom(1, 2, 1000, 30_000)).map(([p, value, times]) => ({
      packet: { ...p, props: [...p.props, { id: 0x0b, value, times }] },
      violation: violation('Subscription Identifier from a client [MQTT-3.3.4-6]', P),
    })),
    subscribe(5).map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x0b), { id: 0x0b, value: 0 }] }, violation: violation('Subscription Identifier 0 (3.8.2.1.2)', P) })),
    publish(5).map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x01), { id: 0x01, value: 2 }] }, violation: violation('Payload Format Indicator 2 (3.3.2.3.2)', P) })),
    subscribe(5).map((p) => ({
      packet: { ...p, subs: [{ filter: lit('$share/g/fuzz/#'), options: 0x04 }] },
      violation: violation('No Local on a shared subscription [MQTT-3.8.3-4]', P),
    })),
    // Property Length runs past the end of the packet.
    fc.constant<FuzzStep>({ packet: { type: 'raw', name: 'property length past the end', bytes: [0x30, 0x04, 0x00, 0x01, 0x61, 0x7f] }, violation: violation('Property Length past the end of the packet', M) }),
    fc.constant<FuzzStep>({ packet: { type: 'auth', reason: 0x18, props: [{ id: 0x15, value: lit('SCRAM-SHA-1') }] }, violation: violation('AUTH after a CONNECT without Authentication Method (4.12)') }),
  );
}

/** A Remaining Length above the broker's maximum, and the start of the body: refused from the header. */
export function oversizeStep(maxPacket: number): FuzzStep {
  const bytes = [0x30, ...varint(maxPacket + 1), 0x00, 0x01, 0x61];
  return { packet: { type: 'raw', name: `Remaining Length ${maxPacket + 1}`, bytes }, violation: { name: 'packet over the Maximum Packet Size (3.2.2.3.6)', reason: ReasonCode.PacketTooLarge } };
}

/** CONNECTs the broker must refuse by closing (a CONNACK with an error code first is allowed). */
export function connectViolation(version: 4 | 5): fc.Arbitrary<FuzzStep> {
  const c = connectPacket(version);
  const flagsOf = (p: Extract<FuzzPacket, { type: 'connect' }>): number =>
    (p.clean ? 2 : 0) | (p.will ? 4 | (p.will.qos << 3) | (p.will.retain ? 0x20 : 0) : 0) | (p.password ? 0x40 : 0) | (p.username ? 0x80 : 0);
  const list: Array<fc.Arbitrary<FuzzStep>> = [
    c.map((p) => ({ packet: { ...p, flags: flagsOf(p) | 1 }, violation: violation('CONNECT reserved flag set [MQTT-3.1.2-3]') })),
    c.map((p) => ({ packet: { ...p, will: undefined, flags: (flagsOf({ ...p, will: undefined }) | 0x10) & ~4 }, violation: violation('Will QoS without Will Flag [MQTT-3.1.2-11]') })),
    fc.tuple(c, will(version)).map(([p, w]) => ({ packet: { ...p, will: { ...w, qos: 3 } }, violation: violation('Will QoS 3 [MQTT-3.1.2-12]') })),
    c.map((p) => ({ packet: { ...p, protocolName: 'MQTX' }, violation: violation('protocol name not MQTT [MQTT-3.1.2-1]') })),
    fc.tuple(c, invalidUtf8).map(([p, raw]) => ({ packet: { ...p, clientId: { bytes: 8, fill: 'ascii' as const, insert: { at: 'mid' as const, raw } } }, violation: violation('ill-formed UTF-8 client id [MQTT-1.5.4-1]') })),
    // The case: a will topic of ~65,500 bytes holding '+'.
    fc.tuple(c, will(version), badTopic('wildcard')).map(([p, w, topic]) => ({ packet: { ...p, will: { ...w, topic } }, violation: violation('wildcard in Will Topic (3.1.3.3)') })),
    fc.tuple(legalPacket(version)).map(([s]) => ({ ...s, violation: violation('first packet not CONNECT [MQTT-3.1.0-1]') })),
  ];
  if (version === 4) {
    list.push(fc.tuple(c, binSpec).map(([p, password]) => ({ packet: { ...p, username: undefined, password }, violation: violation('password without user name [MQTT-3.1.2-22]') })));
  } else {
    list.push(
      c.map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x21), { id: 0x21, value: 0 }] }, violation: violation('Receive Maximum 0 (3.1.2.11.3)') })),
      c.map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x27), { id: 0x27, value: 0 }] }, violation: violation('Maximum Packet Size 0 (3.1.2.11.4)') })),
      c.map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x15 && x.id !== 0x16), { id: 0x16, value: { bytes: 4, byte: 1 } }] }, violation: violation('Authentication Data without Method (3.1.2.11.10)') })),
      c.map((p) => ({ packet: { ...p, props: [...p.props.filter((x) => x.id !== 0x17), { id: 0x17, value: 2 }] }, violation: violation('Request Problem Information 2 (3.1.2.11.7)') })),
      c.map((p) => ({ packet: { ...p, props: [...p.props, { id: 0x1f, value: lit('why') }] }, violation: violation('Reason String in CONNECT (2.2.2.2)') })),
      fc.tuple(c, will(5), badTopic('wildcard')).map(([p, w, t]) => ({
        packet: { ...p, will: { ...w, props: [...w.props.filter((x) => x.id !== 0x08), { id: 0x08, value: t }] } },
        violation: violation('wildcard in the will\'s Response Topic [MQTT-3.3.2-14]'),
      })),
    );
  }
  return fc.oneof(...list);
}

/** One fuzz connection: a CONNECT (hostile or not), legal packets at the limits, maybe a violation. */
export interface FuzzConnection {
  readonly version: 4 | 5;
  readonly transport: 'tcp' | 'ws';
  readonly connect: FuzzStep;
  readonly steps: readonly FuzzStep[];
  /** The last packet: a violation the broker must close the connection for, or a DISCONNECT. */
  readonly final?: FuzzStep;
}

export function fuzzConnection(transport: 'tcp' | 'ws', maxPacket: number): fc.Arbitrary<FuzzConnection> {
  return fc.constantFrom<4 | 5>(4, 5).chain((version) =>
    fc.record({
      version: fc.constant(version),
      transport: fc.constant(transport),
      connect: fc.oneof({ weight: 5, arbitrary: connectPacket(version).map((packet): FuzzStep => ({ packet })) }, { weight: 1, arbitrary: connectViolation(version) }),
      steps: fc.array(legalPacket(version), { maxLength: 6 }),
      final: fc.option(
        fc.oneof(
          { weight: 6, arbitrary: violationStep(version) },
          { weight: 1, arbitrary: fc.constant(oversizeStep(maxPacket)) },
          {
            weight: 1,
            arbitrary: fc.record({ reason: fc.constantFrom(0, 4), props: version === 5 ? propertiesFor('disconnect', ['sessionExpiryInterval']) : fc.constant([]) }).map(
              (d): FuzzStep => ({ packet: { type: 'disconnect', ...d } }),
            ),
          },
        ),
        { nil: undefined, freq: 2 },
      ),
    }),
  );
}
