// `starling sub`: subscribe and print messages as text, with their topics, as JSON lines, hex or
// base64; stop after -C messages or -W seconds. Built on MQTT.js.
import type { Command } from 'commander';
import type { IPublishPacket } from 'mqtt';
import type { CliIO } from './io.js';
import { addConnectionFlags, parseUrl, type ConnectionFlags } from './client-options.js';
import { connect, describeReason, type Connection } from './connection.js';
import { compileFormat } from './format.js';
import { checkTopicFilter } from './topic-check.js';

interface SubFlags extends ConnectionFlags {
  topic: string[];
  qos: string;
  count?: string;
  timeout?: string;
  format?: string;
  verbose?: boolean;
  /** `-N, --no-eol` sets this to false (commander's negated option). */
  eol?: boolean;
  /** `-R, --no-retained` sets this to false. */
  retained?: boolean;
  exitAfterSubscribe?: boolean;
  quiet?: boolean;
  /** `--no-local` sets this to false (commander's negated option). */
  local?: boolean;
  retainAsPublished?: boolean;
  retainHandling: string;
  retainedOnly?: boolean;
  progress?: boolean;
}

const collect = (v: string, all: string[]): string[] => [...all, v];
const FORMATS = ['text', 'verbose', 'json', 'hex', 'base64'] as const;

export function registerSub(program: Command, io: CliIO): void {
  // -h is the host, as in mosquitto_sub; help is --help only.
  const cmd = program.command('sub').description('subscribe and print messages (like mosquitto_sub)').helpOption('--help', 'show help');
  addConnectionFlags(cmd)
    .option('-t, --topic <filter>', 'topic filter (repeatable; or the path of an mqtt:// -L URL)', collect, [])
    .option('-q, --qos <0|1|2>', 'maximum QoS', '0')
    .option('-C, --count <n>', 'exit after n messages')
    .option('-W, --timeout <seconds>', 'exit after this many seconds (exit code 27 if no message came)')
    .option('-v, --verbose', 'print the topic and the payload (the verbose format)')
    .option('-F, --format <format>', `output: ${FORMATS.join(', ')}, or a mosquitto_sub format string such as '%t %p' (%t %p %q %r %m %l %x %I %j …)`)
    .option('-N, --no-eol', 'print no newline after each message')
    .option('-R, --no-retained', 'do not print retained (stale) messages')
    .option('-E, --exit-after-subscribe', 'exit once the subscription is acknowledged')
    .option('--quiet', 'print no error messages (the exit code still tells)')
    .option('--no-local', 'MQTT 5: do not receive own messages')
    .option('--retain-as-published', 'MQTT 5: keep the retain flag of forwarded messages')
    .option('--retain-handling <0|1|2>', 'MQTT 5: 0 send retained, 1 only if new, 2 never', '0')
    .option('--retained-only', 'print only retained messages, then exit when a live one arrives')
    .option('--progress', 'show a running message count on standard error')
    .action(async (flags: SubFlags) => {
      io.exit(await runSub(flags, io));
    });
}

/** One message in the chosen format, without the trailing newline. */
export function formatMessage(format: string, topic: string, payload: Buffer, packet: IPublishPacket): string {
  switch (format) {
    case 'verbose':
      return `${topic} ${payload.toString()}`;
    case 'hex':
      return payload.toString('hex');
    case 'base64':
      return payload.toString('base64');
    case 'json': {
      const text = payload.toString('utf8');
      const utf8 = Buffer.from(text, 'utf8').equals(payload);
      const o: Record<string, unknown> = { topic, qos: packet.qos, retain: packet.retain };
      if (utf8) o.payload = text;
      else o.payloadBase64 = payload.toString('base64');
      if (packet.properties && Object.keys(packet.properties).length > 0) o.properties = packet.properties;
      return JSON.stringify(o, (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('base64') : v));
    }
    default:
      return payload.toString();
  }
}

/** The printer chosen by -F / -v: a named format, or a format string. */
function printer(f: SubFlags): (topic: string, payload: Buffer, packet: IPublishPacket) => string {
  const format = f.format ?? (f.verbose ? 'verbose' : 'text');
  if ((FORMATS as readonly string[]).includes(format)) return (topic, payload, packet) => formatMessage(format, topic, payload, packet);
  if (!format.includes('%') && !format.includes('\\') && !format.includes('@')) {
    throw new Error(`unknown format "${format}" (use ${FORMATS.join(', ')}, or a format string such as '%t %p')`);
  }
  const compiled = compileFormat(format);
  return (topic, payload, packet) => compiled({ topic, payload, packet });
}

export async function runSub(f: SubFlags, io: CliIO): Promise<number> {
  let conn: Connection | undefined;
  let finished = false;
  try {
    const print = printer(f);
    const qos = Number(f.qos);
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new Error(`QoS must be 0, 1 or 2, not "${f.qos}"`);
    const rh = Number(f.retainHandling);
    if (rh !== 0 && rh !== 1 && rh !== 2) throw new Error('retain handling must be 0, 1 or 2');
    const fromUrl = f.url ? parseUrl(f.url).topic : undefined;
    const topics = f.topic.length > 0 ? f.topic : fromUrl !== undefined ? [fromUrl] : [];
    if (topics.length === 0) throw new Error('give at least one topic filter with -t (or as the path of an mqtt:// URL given with -L)');
    for (const t of topics) checkTopicFilter(t);
    const eol = f.eol === false ? '' : '\n';
    const skipRetained = f.retained === false;
    conn = await connect(f, (t) => io.err(t));
    const c = conn.client;
    const limit = f.count !== undefined ? Number(f.count) : Infinity;
    let seen = 0;
    const done = new Promise<number>((resolve) => {
      const finish = (code: number): void => {
        finished = true;
        resolve(code);
      };
      // 27 (ETIMEDOUT, mosquitto_sub's code) tells a script that nothing came, with or without -C.
      if (f.timeout !== undefined) setTimeout(() => finish(seen > 0 ? 0 : 27), Number(f.timeout) * 1000).unref();
      conn!.lost.catch((err: Error) => {
        if (!finished && !f.quiet) io.err(`starling sub: ${err.message}\n`);
        finish(1);
      });
      c.on('message', (topic, payload, packet) => {
        // Messages already on the way while the client disconnects are not part of the -C count.
        if (finished) return;
        if (f.retainedOnly && !packet.retain) return finish(0);
        if (skipRetained && packet.retain) return;
        seen++;
        try {
          io.out(`${print(topic, payload, packet)}${eol}`);
        } catch (err) {
          if (!f.quiet) io.err(`starling sub: ${(err as Error).message}\n`);
        }
        if (f.progress) io.err(`\r${seen} messages`);
        if (seen >= limit) finish(0);
      });
    });
    try {
      const granted = await Promise.race([c.subscribeAsync(topics, { qos, nl: f.local === false, rap: Boolean(f.retainAsPublished), rh }), conn.lost]);
      for (const g of granted) if (g.qos >= 0x80) throw new Error(`the broker refused the subscription to "${g.topic}": SUBACK ${describeReason(g.qos)}`);
    } catch (err) {
      // MQTT.js rejects with the SUBACK attached: name each refused filter with its reason code [MQTT-3.9.3-1].
      const granted = (err as { packet?: { granted?: unknown } }).packet?.granted;
      if (!Array.isArray(granted)) throw err;
      const refused = topics.flatMap((t, i) => (typeof granted[i] === 'number' && granted[i] >= 0x80 ? [`"${t}": SUBACK ${describeReason(granted[i])}`] : []));
      throw new Error(`the broker refused the subscription to ${refused.join(', ')}`);
    }
    const code = f.exitAfterSubscribe ? 0 : await done;
    finished = true;
    if (f.progress && seen > 0) io.err('\n');
    await conn.end();
    return code;
  } catch (err) {
    finished = true;
    if (!f.quiet) io.err(`starling sub: ${err instanceof Error ? err.message : String(err)}\n`);
    conn?.client.end(true);
    return 1;
  }
}
