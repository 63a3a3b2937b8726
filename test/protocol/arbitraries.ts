// fast-check arbitraries for every packet type, in the canonical shape decode produces for each
// version (MQTT 5 acks always carry reasonCode, empty property blocks are absent, and so on), so a
// round trip can be compared with deepStrictEqual.
import fc from 'fast-check';
import type { ProtocolVersion, QoS } from '../../src/protocol/constants.js';
import type { Packet, Properties, SubscriptionRequest, UserProperty } from '../../src/protocol/packets.js';
import type { PropertyContext } from '../../src/protocol/properties.js';

/** Any Unicode text without U+0000 (the one code point an MQTT string may not hold [MQTT-1.5.3-2]). */
export const text = (maxLength = 12): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'grapheme-ascii', maxLength }),
    fc.string({ unit: 'binary', maxLength }),
  ).map((s) => s.replace(/\u0000/g, ''));

const bytes = (maxLength = 40): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/** A topic level: any text without '/', '+', '#'. */
const level = text(6).map((s) => s.replace(/[/+#]/g, ''));

export const topicName: fc.Arbitrary<string> = fc
  .array(level, { minLength: 1, maxLength: 4 })
  .map((l) => l.join('/'))
  .filter((t) => t.length > 0);

const plainFilter: fc.Arbitrary<string> = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0);

export const topicFilter: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: plainFilter },
  { weight: 1, arbitrary: fc.constantFrom('#', '+', '+/#', '$SYS/#') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(level.filter((g) => g.length > 0), plainFilter)
      .map(([g, f]) => `$share/${g}/${f}`),
  },
);

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const flag = fc.integer({ min: 0, max: 1 });
const packetId = fc.integer({ min: 1, max: 0xffff });
const qos = fc.constantFrom<QoS>(0, 1, 2);
const userProperties: fc.Arbitrary<UserProperty[]> = fc.array(fc.tuple(text(6), text(6)), { minLength: 1, maxLength: 4 });

/** Values for each property that a receiver accepts. */
const VALUES: { [K in keyof Properties]-?: fc.Arbitrary<NonNullable<Properties[K]>> } = {
  payloadFormatIndicator: flag,
  messageExpiryInterval: u32,
  contentType: text(),
  responseTopic: topicName,
  correlationData: bytes(16),
  subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }),
  sessionExpiryInterval: u32,
  assignedClientIdentifier: text(),
  serverKeepAlive: u16,
  authenticationMethod: text(),
  authenticationData: bytes(16),
  requestProblemInformation: flag,
  willDelayInterval: u32,
  requestResponseInformation: flag,
  responseInformation: text(),
  serverReference: text(),
  reasonString: text(),
  receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
  topicAliasMaximum: u16,
  topicAlias: fc.integer({ min: 1, max: 0xffff }),
  maximumQoS: flag,
  retainAvailable: flag,
  userProperties,
  maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
  wildcardSubscriptionAvailable: flag,
  subscriptionIdentifiersAvailable: flag,
  sharedSubscriptionAvailable: flag,
};

const KEYS_BY_CONTEXT: Record<string, (keyof Properties)[]> = {
  connect: ['sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum', 'requestResponseInformation', 'requestProblemInformation', 'userProperties', 'authenticationMethod', 'authenticationData'],
  connack: [
    'sessionExpiryInterval', 'receiveMaximum', 'maximumQoS', 'retainAvailable', 'maximumPacketSize', 'assignedClientIdentifier', 'topicAliasMaximum', 'reasonString',
    'userProperties', 'wildcardSubscriptionAvailable', 'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable', 'serverKeepAlive', 'responseInformation',
    'serverReference', 'authenticationMethod', 'authenticationData',
  ],
  publish: ['payloadFormatIndicator', 'messageExpiryInterval', 'topicAlias', 'responseTopic', 'correlationData', 'userProperties', 'subscriptionIdentifiers', 'contentType'],
  will: ['willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties'],
  ack: ['reasonString', 'userProperties'],
  subscribe: ['subscriptionIdentifiers', 'userProperties'],
  unsubscribe: ['userProperties'],
  disconnect: ['sessionExpiryInterval', 'reasonString', 'userProperties', 'serverReference'],
  auth: ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties'],
};

/** Properties for a context, or undefined when none were drawn (decode leaves empty blocks out). */
export function properties(ctx: PropertyContext | 'ack'): fc.Arbitrary<Properties | undefined> {
  const keys = KEYS_BY_CONTEXT[ctx];
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const k of keys) model[k] = VALUES[k];
  if (ctx === 'subscribe') model.subscriptionIdentifiers = VALUES.subscriptionIdentifiers.map((a) => a.slice(0, 1));
  return fc.record(model, { requiredKeys: [] }).map((p) => {
    // fast-check records have a null prototype; decode returns plain objects.
    const props: Properties = { ...(p as Properties) };
    // Authentication Data only travels with an Authentication Method (3.1.2.11.10).
    if (props.authenticationData !== undefined && props.authenticationMethod === undefined) props.authenticationMethod = 'm';
    return Object.keys(props).length === 0 ? undefined : props;
  });
}

/** Adds `properties` only when present, as decode does. */
function withProps<T extends object>(p: T, props: Properties | undefined): T {
  return props === undefined ? p : { ...p, properties: props };
}

const REASONS = {
  connack5: [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f],
  puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrel: [0x00, 0x92],
  suback4: [0x00, 0x01, 0x02, 0x80],
  suback5: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  disconnect: [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2],
  auth: [0x00, 0x18, 0x19],
};

function connect(v: ProtocolVersion): fc.Arbitrary<Packet> {
  const will = fc.record({ topic: topicName, payload: bytes(), qos, retain: fc.boolean(), props: v === 5 ? properties('will') : fc.constant(undefined) })
    .map(({ props, ...w }) => withProps(w, props));
  return fc
    .record({
      clean: fc.boolean(),
      keepalive: u16,
      // mqtt-packet will not write a 3.1 CONNECT without a client id (3.1 asks for 1 to 23 characters).
      clientId: v === 3 ? text(23).filter((id) => id.length > 0) : text(23),
      username: fc.option(text(), { nil: undefined }),
      password: fc.option(bytes(16), { nil: undefined }),
      will: fc.option(will, { nil: undefined }),
      props: v === 5 ? properties('connect') : fc.constant(undefined),
    })
    .map(({ username, password, will: w, props, ...rest }) => {
      const p: Packet = { type: 'connect', protocolName: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, ...rest };
      if (username !== undefined) p.username = username;
      // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22].
      if (password !== undefined && (v === 5 || username !== undefined)) p.password = password;
      if (w !== undefined) p.will = w;
      return withProps(p, props);
    });
}

function subscription(v: ProtocolVersion): fc.Arbitrary<SubscriptionRequest> {
  if (v !== 5) return fc.record({ filter: topicFilter, qos }).map((s) => ({ ...s, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }));
  return fc
    .record({ filter: topicFilter, qos, noLocal: fc.boolean(), retainAsPublished: fc.boolean(), retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2) })
    // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
    .map((s) => (s.filter.startsWith('$share/') ? { ...s, noLocal: false } : { ...s }));
}

type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';
function ack(type: AckType, v: ProtocolVersion): fc.Arbitrary<Packet> {
  if (v !== 5) return packetId.map((id) => ({ type, packetId: id }) as Packet);
  const codes = type === 'puback' || type === 'pubrec' ? REASONS.puback : REASONS.pubrel;
  return fc
    .record({ packetId, reasonCode: fc.constantFrom(...codes), props: properties('ack') })
    .map(({ props, ...a }) => withProps({ type, ...a } as Packet, props));
}

/** One arbitrary per packet type that exists in `v`, keyed by type. */
export function packetArbitraries(v: ProtocolVersion): Record<string, fc.Arbitrary<Packet>> {
  const arbs: Record<string, fc.Arbitrary<Packet>> = {
    connect: connect(v),
    connack:
      v !== 5
        ? fc.record({ sessionPresent: fc.boolean(), reasonCode: fc.integer({ min: 0, max: 5 }) }).map((c) => ({
            // 3.1 has no Session Present flag: that byte of its CONNACK is reserved.
            type: 'connack' as const, reasonCode: c.reasonCode, sessionPresent: v === 4 && c.reasonCode === 0 && c.sessionPresent,
          }))
        : fc.record({ sessionPresent: fc.boolean(), reasonCode: fc.constantFrom(...REASONS.connack5), props: properties('connack') }).map(({ props, ...c }) =>
            withProps({ type: 'connack' as const, reasonCode: c.reasonCode, sessionPresent: c.reasonCode === 0 && c.sessionPresent }, props)),
    publish: fc
      .record({
        topic: topicName, payload: bytes(64), qos, retain: fc.boolean(), dup: fc.boolean(), packetId,
        props: v === 5 ? properties('publish') : fc.constant(undefined), aliasOnly: fc.boolean(),
      })
      .map(({ packetId: id, props, aliasOnly, ...p }) => {
        // MQTT 5 may send the topic as a Topic Alias alone, with an empty name (3.3.2.3.4).
        if (aliasOnly && props?.topicAlias !== undefined) p.topic = '';
        // DUP is never set on QoS 0 [MQTT-3.3.1-2]; a packet id exists exactly when QoS > 0 [MQTT-2.2.1-2].
        const pub: Packet = p.qos === 0 ? { type: 'publish', ...p, dup: false } : { type: 'publish', ...p, packetId: id };
        return withProps(pub, props);
      }),
    puback: ack('puback', v),
    pubrec: ack('pubrec', v),
    pubrel: ack('pubrel', v),
    pubcomp: ack('pubcomp', v),
    subscribe: fc
      .record({ packetId, subscriptions: fc.array(subscription(v), { minLength: 1, maxLength: 4 }), props: v === 5 ? properties('subscribe') : fc.constant(undefined) })
      .map(({ props, ...s }) => withProps({ type: 'subscribe' as const, ...s }, props)),
    suback: fc
      .record({ packetId, reasonCodes: fc.array(fc.constantFrom(...(v === 5 ? REASONS.suback5 : REASONS.suback4)), { minLength: 1, maxLength: 5 }), props: v === 5 ? properties('ack') : fc.constant(undefined) })
      .map(({ props, ...s }) => withProps({ type: 'suback' as const, ...s }, props)),
    unsubscribe: fc
      .record({ packetId, filters: fc.array(topicFilter, { minLength: 1, maxLength: 4 }), props: v === 5 ? properties('unsubscribe') : fc.constant(undefined) })
      .map(({ props, ...u }) => withProps({ type: 'unsubscribe' as const, ...u }, props)),
    unsuback:
      v !== 5
        ? packetId.map((id) => ({ type: 'unsuback' as const, packetId: id }))
        : fc
            .record({ packetId, reasonCodes: fc.array(fc.constantFrom(...REASONS.unsuback), { minLength: 1, maxLength: 5 }), props: properties('ack') })
            .map(({ props, ...u }) => withProps({ type: 'unsuback' as const, ...u }, props)),
    pingreq: fc.constant({ type: 'pingreq' as const }),
    pingresp: fc.constant({ type: 'pingresp' as const }),
    disconnect:
      v !== 5
        ? fc.constant({ type: 'disconnect' as const })
        : fc
            .record({ reasonCode: fc.constantFrom(...REASONS.disconnect), props: properties('disconnect') })
            .map(({ props, ...d }) => withProps({ type: 'disconnect' as const, ...d }, props)),
  };
  if (v === 5) {
    arbs.auth = fc
      .record({ reasonCode: fc.constantFrom(...REASONS.auth), props: properties('auth') })
      .map(({ props, ...a }) => withProps({ type: 'auth' as const, ...a }, props));
  }
  return arbs;
}

/** How test names spell each protocol level. */
export const VERSION_NAMES: Record<ProtocolVersion, string> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

/** Any packet of `v`. */
export function anyPacket(v: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.oneof(...Object.values(packetArbitraries(v)));
}

/** The version a receiver decodes with: CONNECT before any version is known. */
export function decodeVersion(p: Packet, v: ProtocolVersion): ProtocolVersion | undefined {
  return p.type === 'connect' ? undefined : v;
}
