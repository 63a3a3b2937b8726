// `starling sub -F '<format>'`: mosquitto_sub's format strings (man mosquitto_sub, OUTPUT FORMAT).
// The string is compiled once into pieces; each message is then printed by joining them.
import type { IPublishPacket } from 'mqtt';

type Field = (m: Message) => string;

export interface Message {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

const props = (m: Message): NonNullable<IPublishPacket['properties']> => m.packet.properties ?? {};
const opt = (v: unknown): string => (v === undefined ? '' : String(v));

/** ISO 8601 with the offset as mosquitto prints it: 2016-08-10T09:47:38+0000. */
const isoNow = (): string => new Date().toISOString().replace(/\.\d+Z$/, '+0000');

function json(m: Message, rawPayload: boolean): string {
  const text = m.payload.toString('utf8');
  const head = { tst: new Date().toISOString(), topic: m.topic, qos: m.packet.qos, retain: m.packet.retain ? 1 : 0, payloadlen: m.payload.length };
  const start = JSON.stringify(head).slice(0, -1);
  if (rawPayload) {
    try {
      JSON.parse(text);
    } catch {
      throw new Error(`the payload on ${m.topic} is not valid JSON (%J)`);
    }
    return `${start},"payload":${text}}`;
  }
  return `${start},"payload":${JSON.stringify(text)}}`;
}

/** The % parameters; `pad` says whether width and the 0 flag apply (as in mosquitto). */
const PARAMS: Record<string, { get: Field; numeric?: boolean; max?: boolean }> = {
  t: { get: (m) => m.topic, max: true },
  p: { get: (m) => m.payload.toString('utf8') },
  q: { get: (m) => String(m.packet.qos) },
  r: { get: (m) => (m.packet.retain ? '1' : '0') },
  m: { get: (m) => String(m.packet.messageId ?? 0), numeric: true },
  // Not in mosquitto_sub (which refuses %i): the packet identifier, the same as %m.
  i: { get: (m) => String(m.packet.messageId ?? 0), numeric: true },
  l: { get: (m) => String(m.payload.length), numeric: true },
  x: { get: (m) => m.payload.toString('hex'), numeric: true },
  X: { get: (m) => m.payload.toString('hex').toUpperCase(), numeric: true },
  A: { get: (m) => opt(props(m).topicAlias), numeric: true },
  C: { get: (m) => opt(props(m).contentType), max: true },
  D: { get: (m) => (props(m).correlationData ? Buffer.from(props(m).correlationData!).toString('utf8') : '') },
  E: { get: (m) => opt(props(m).messageExpiryInterval), numeric: true },
  F: { get: (m) => (props(m).payloadFormatIndicator === undefined ? '' : props(m).payloadFormatIndicator ? '1' : '0'), numeric: true },
  P: {
    get: (m) =>
      Object.entries(props(m).userProperties ?? {})
        .flatMap(([k, v]) => [v].flat().map((x) => `${k}:${x}`))
        .join(' '),
  },
  R: { get: (m) => opt(props(m).responseTopic), max: true },
  S: { get: (m) => [opt(props(m).subscriptionIdentifier)].flat().join(','), numeric: true },
  I: { get: () => isoNow(), max: true },
  U: { get: () => (Date.now() / 1000).toFixed(9) },
  j: { get: (m) => json(m, false) },
  J: { get: (m) => json(m, true) },
};

const WIDTH = 'ACEFIilmpRStxX';
const ESCAPES: Record<string, string> = { '\\': '\\', '0': '\0', a: '\x07', e: '\x1b', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Compiles a format string; throws a user-facing Error naming a specifier it does not know. */
export function compileFormat(format: string): (m: Message) => string {
  const pieces: Field[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal) {
      const text = literal;
      pieces.push(() => text);
    }
    literal = '';
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c === '\\') {
      const e = format[++i];
      if (e === undefined || !(e in ESCAPES)) throw new Error(`-F: unknown escape '\\${e ?? ''}' (use \\\\ \\0 \\a \\e \\n \\r \\t \\v)`);
      literal += ESCAPES[e];
    } else if (c === '@') {
      if (format[i + 1] !== '@') throw new Error(`-F: time sequences (@${format[i + 1] ?? ''}) are not supported; use %I (ISO 8601) or %U (Unix time), or @@ for a literal @`);
      literal += '@';
      i++;
    } else if (c === '%') {
      const spec = /^(%)|^([-0]*)(\d*)(?:\.(\d+))?([A-Za-z])/.exec(format.slice(i + 1));
      if (!spec) throw new Error(`-F: incomplete % sequence at the end of "${format}"`);
      i += spec[0].length;
      if (spec[1]) {
        literal += '%';
        continue;
      }
      const [, , flags, width, max, letter] = spec;
      const param = PARAMS[letter];
      if (!param) throw new Error(`-F: unknown format specifier '%${letter}' (see man mosquitto_sub, OUTPUT FORMAT)`);
      flush();
      // mosquitto applies widths to these parameters only and ignores them elsewhere.
      const w = width && WIDTH.includes(letter) ? Number(width) : 0;
      const left = flags.includes('-');
      const zero = !left && flags.includes('0') && param.numeric;
      const cut = max !== undefined && param.max ? Number(max) : undefined;
      pieces.push((m) => {
        let v = param.get(m);
        if (cut !== undefined) v = v.slice(0, cut);
        return left ? v.padEnd(w) : v.padStart(w, zero ? '0' : ' ');
      });
    } else literal += c;
  }
  flush();
  return (m) => pieces.map((p) => p(m)).join('');
}
