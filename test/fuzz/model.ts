// What the boundary fuzzer generates: packets described by the sizes and shapes of their fields,
// not by their bytes. A 65,535-byte string is kept as {bytes: 65535, fill: ...} so that fast-check
// generates, prints and shrinks it cheaply; `materialize` turns it into bytes when it is encoded.

/** How a string's bytes are filled: ASCII, or UTF-8 characters of 2, 3 or 4 bytes. */
export type Fill = 'ascii' | 'utf8-2' | 'utf8-3' | 'utf8-4';

/** A string of exactly `bytes` UTF-8 bytes (padded with ASCII), with an optional insert. */
export interface StrSpec {
  readonly bytes: number;
  readonly fill: Fill;
  /** Text or raw bytes put at the start, middle or end (the total stays `bytes` when it fits). */
  readonly insert?: { readonly at: 'start' | 'mid' | 'end'; readonly text?: string; readonly raw?: readonly number[] };
  /** Literal text instead of a generated fill (short topics like `fuzz/a`). */
  readonly literal?: string;
  /** Text before and after the `bytes` of fill (`$share/` + group + `/#`), not counted in `bytes`. */
  readonly prefix?: string;
  readonly suffix?: string;
}

/** Binary data of exactly `bytes` bytes. */
export interface BinSpec {
  readonly bytes: number;
  readonly byte: number;
}

export type PropValue = number | StrSpec | BinSpec | readonly [StrSpec, StrSpec];

/** One property as written on the wire: any identifier, any value (repeats allowed). */
export interface PropSpec {
  readonly id: number;
  readonly value: PropValue;
  /** Written this many times in a row (maximum property counts without 100,000 generated values). */
  readonly times?: number;
}

/** The properties one by one, repeats expanded. */
export const expandProps = (list: readonly PropSpec[]): PropSpec[] =>
  list.flatMap((p) => (p.times === undefined ? [p] : Array.from({ length: p.times }, () => ({ id: p.id, value: p.value }))));

export interface WillSpec {
  readonly topic: StrSpec;
  readonly payload: BinSpec;
  readonly qos: number;
  readonly retain: boolean;
  readonly props: readonly PropSpec[];
}

export interface SubSpec {
  readonly filter: StrSpec;
  /** The subscription options byte (QoS, No Local, Retain As Published, Retain Handling, reserved bits). */
  readonly options: number;
}

export type FuzzPacket =
  | {
      readonly type: 'connect';
      readonly version: 4 | 5;
      readonly clientId: StrSpec;
      readonly keepalive: number;
      readonly clean: boolean;
      readonly will?: WillSpec;
      readonly username?: StrSpec;
      readonly password?: BinSpec;
      readonly props: readonly PropSpec[];
      /** Overrides the connect flags byte (reserved bit, will QoS without will…). */
      readonly flags?: number;
      /** Overrides the protocol name. */
      readonly protocolName?: string;
    }
  | {
      readonly type: 'publish';
      readonly qos: number;
      readonly dup: boolean;
      readonly retain: boolean;
      readonly topic: StrSpec;
      readonly packetId: number;
      readonly props: readonly PropSpec[];
      readonly payload: BinSpec;
    }
  | { readonly type: 'subscribe'; readonly packetId: number; readonly subs: readonly SubSpec[]; readonly props: readonly PropSpec[] }
  | { readonly type: 'unsubscribe'; readonly packetId: number; readonly filters: readonly StrSpec[]; readonly props: readonly PropSpec[] }
  | { readonly type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'; readonly packetId: number; readonly reason: number; readonly props: readonly PropSpec[] }
  | { readonly type: 'pingreq' }
  | { readonly type: 'disconnect'; readonly reason: number; readonly props: readonly PropSpec[] }
  | { readonly type: 'auth'; readonly reason: number; readonly props: readonly PropSpec[] }
  /** Bytes no encoder would produce: a reserved packet type, a server-only packet, bad flags. */
  | { readonly type: 'raw'; readonly name: string; readonly bytes: readonly number[] };

/** A packet and, when it breaks the spec on purpose, what the broker must do about it. */
export interface FuzzStep {
  readonly packet: FuzzPacket;
  /** Fixed-header flags override (SUBSCRIBE not 0x2, PUBREL not 0x2, …). */
  readonly headerFlags?: number;
  /**
   * The violation this packet carries, by name, and the MQTT 5 reason code the spec gives it
   * (undefined: any code >= 0x80). A violation must close the connection.
   */
  readonly violation?: { readonly name: string; readonly reason?: number };
}

const FILL_CHAR: Record<Fill, string> = { ascii: 'a', 'utf8-2': 'é', 'utf8-3': '€', 'utf8-4': '😀' };

/** The bytes of a string spec: prefix, exactly `bytes` of fill (longer only if the insert is), suffix. */
export function materialize(s: StrSpec): Buffer {
  if (s.prefix !== undefined || s.suffix !== undefined) {
    return Buffer.concat([Buffer.from(s.prefix ?? ''), materialize({ ...s, prefix: undefined, suffix: undefined }), Buffer.from(s.suffix ?? '')]);
  }
  if (s.literal !== undefined) return Buffer.from(s.literal, 'utf8');
  const ins = s.insert ? (s.insert.raw ? Buffer.from(s.insert.raw) : Buffer.from(s.insert.text ?? '', 'utf8')) : Buffer.alloc(0);
  const room = Math.max(0, s.bytes - ins.length);
  const unit = Buffer.from(FILL_CHAR[s.fill], 'utf8');
  const whole = Math.floor(room / unit.length);
  // Whole multi-byte characters, then ASCII padding: the string stays valid UTF-8.
  const body = Buffer.alloc(room, 'a');
  for (let i = 0; i < whole; i++) unit.copy(body, i * unit.length);
  if (!s.insert) return body;
  const cut = s.insert.at === 'start' ? 0 : s.insert.at === 'end' ? room : whole > 0 ? Math.floor(whole / 2) * unit.length : 0;
  return Buffer.concat([body.subarray(0, cut), ins, body.subarray(cut)]);
}

export const materializeBin = (b: BinSpec): Buffer => Buffer.alloc(b.bytes, b.byte);

/** A short description for failure messages (never the 65,535 bytes themselves). */
export function describeStr(s: StrSpec): string {
  if (s.literal !== undefined) return JSON.stringify(s.literal.length > 40 ? `${s.literal.slice(0, 40)}…(${s.literal.length})` : s.literal);
  const ins = s.insert ? `+${s.insert.raw ? `raw[${s.insert.raw.join(',')}]` : JSON.stringify(s.insert.text)}@${s.insert.at}` : '';
  return `${s.prefix ?? ''}${s.fill}×${s.bytes}B${ins}${s.suffix ?? ''}`;
}

export function describeStep(step: FuzzStep): string {
  const p = step.packet;
  const props = 'props' in p ? ` props[${p.props.map((x) => `0x${x.id.toString(16)}${sizeOf(x.value)}${x.times !== undefined ? `×${x.times}` : ''}`).join(' ')}]` : '';
  let body = '';
  switch (p.type) {
    case 'connect':
      body = ` v${p.version} id=${describeStr(p.clientId)}${p.will ? ` will(${describeStr(p.will.topic)} q${p.will.qos} props ${p.will.props.length})` : ''}${p.username ? ` user=${describeStr(p.username)}` : ''}${p.flags !== undefined ? ` flags=0x${p.flags.toString(16)}` : ''}${p.protocolName !== undefined ? ` proto=${p.protocolName}` : ''}`;
      break;
    case 'publish':
      body = ` q${p.qos}${p.retain ? ' retain' : ''} id=${p.packetId} topic=${describeStr(p.topic)} payload=${p.payload.bytes}B`;
      break;
    case 'subscribe':
      body = ` id=${p.packetId} [${p.subs.map((s) => `${describeStr(s.filter)}/0x${s.options.toString(16)}`).join(', ')}]`;
      break;
    case 'unsubscribe':
      body = ` id=${p.packetId} [${p.filters.map(describeStr).join(', ')}]`;
      break;
    case 'raw':
      body = ` ${p.name}`;
      break;
    case 'pingreq':
      break;
    default:
      body = ` rc=0x${p.reason.toString(16)}${'packetId' in p ? ` id=${p.packetId}` : ''}`;
  }
  const flags = step.headerFlags !== undefined ? ` hdr=0x${step.headerFlags.toString(16)}` : '';
  const v = step.violation ? ` VIOLATION ${step.violation.name}` : '';
  return `${p.type}${body}${props}${flags}${v}`;
}

function sizeOf(v: PropValue): string {
  if (typeof v === 'number') return `=${v}`;
  if (Array.isArray(v)) return `(${(v as readonly [StrSpec, StrSpec]).map(describeStr).join(':')})`;
  return 'fill' in (v as object) || 'literal' in (v as object) ? `(${describeStr(v as StrSpec)})` : `(bin ${(v as BinSpec).bytes}B)`;
}
