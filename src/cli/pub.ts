// `starling pub`: publish one message, a file, stdin, or stdin line by line (-l), over any
// transport, with MQTT 5 properties. Built on MQTT.js.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { IClientPublishOptions } from 'mqtt';
import type { CliIO } from './io.js';
import { addConnectionFlags, parseUrl, type ConnectionFlags } from './client-options.js';
import { connect, describeReason, type Connection } from './connection.js';
import { checkPublishTopic } from './topic-check.js';

interface PubFlags extends ConnectionFlags {
  topic?: string;
  message?: string;
  file?: string;
  stdin?: boolean;
  lines?: boolean;
  nullMessage?: boolean;
  qos: string;
  retain?: boolean;
  count?: string;
  repeat?: string;
  interval: string;
  repeatDelay?: string;
  quiet?: boolean;
  progress?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: string;
  userProperty: string[];
  messageExpiry?: string;
  payloadFormat?: string;
}

const collect = (v: string, all: string[]): string[] => [...all, v];
/** Progress is shown unasked only from this many messages on, and only on a terminal. */
const LONG_RUN = 1000;

/** What `pub` reads beyond CliIO: its standard input, and whether standard error is a terminal. */
export type PubIO = CliIO & { stdin?: NodeJS.ReadableStream; stderrIsTTY?: boolean };

export function registerPub(program: Command, io: PubIO): void {
  // -h is the host, as in mosquitto_pub; help is --help only.
  const cmd = program.command('pub').description('publish messages (like mosquitto_pub)').helpOption('--help', 'show help');
  addConnectionFlags(cmd)
    .option('-t, --topic <topic>', 'topic to publish to (or the path of an mqtt:// -L URL)')
    .option('-m, --message <text>', 'message payload')
    .option('-f, --file <file>', 'send the contents of a file as the message')
    .option('-s, --stdin', 'send all of standard input as one message')
    .option('-l, --lines', 'send each line of standard input as a message')
    .option('-n, --null-message', 'send an empty message (clears a retained message with -r)')
    .option('-q, --qos <0|1|2>', 'quality of service', '0')
    .option('-r, --retain', 'retain the message')
    .option('--repeat <n>', 'publish the message n times (as mosquitto_pub)')
    .option('--count <n>', 'the same as --repeat')
    .option('--repeat-delay <seconds>', 'pause between repeated messages, seconds (may be fractional)')
    .option('--interval <ms>', 'pause between repeated messages, milliseconds', '0')
    .option('--quiet', 'print no error messages (the exit code still tells)')
    .option('--progress', 'show progress on standard error (on by default for long runs on a terminal)')
    .option('--content-type <type>', 'MQTT 5 content type')
    .option('--response-topic <topic>', 'MQTT 5 response topic')
    .option('--correlation-data <text>', 'MQTT 5 correlation data')
    .option('-D, --user-property <key=value>', 'MQTT 5 user property (repeatable)', collect, [])
    .option('-e, --message-expiry <seconds>', 'MQTT 5 message expiry interval')
    .option('--payload-format <utf8|bytes>', 'MQTT 5 payload format indicator')
    .action(async (flags: PubFlags) => {
      io.exit(await runPub(flags, io));
    });
}

function publishOptions(f: PubFlags): IClientPublishOptions {
  const qos = Number(f.qos);
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new Error(`QoS must be 0, 1 or 2, not "${f.qos}"`);
  const o: IClientPublishOptions = { qos, retain: Boolean(f.retain) };
  const p: NonNullable<IClientPublishOptions['properties']> = {};
  if (f.contentType) p.contentType = f.contentType;
  if (f.responseTopic) p.responseTopic = f.responseTopic;
  if (f.correlationData) p.correlationData = Buffer.from(f.correlationData);
  if (f.messageExpiry) p.messageExpiryInterval = Number(f.messageExpiry);
  if (f.payloadFormat) p.payloadFormatIndicator = f.payloadFormat === 'utf8';
  if (f.userProperty.length > 0) {
    const up: Record<string, string | string[]> = {};
    for (const kv of f.userProperty) {
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`user property "${kv}" is not key=value`);
      const [k, v] = [kv.slice(0, eq), kv.slice(eq + 1)];
      up[k] = k in up ? [up[k]].flat().concat(v) : v;
    }
    p.userProperties = up;
  }
  if (Object.keys(p).length > 0) o.properties = p;
  return o;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A positive whole number of messages from --repeat/--count. */
function repeatCount(f: PubFlags): number {
  const text = f.repeat ?? f.count ?? '1';
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--repeat must be a whole number of at least 1, not "${text}"`);
  return n;
}

/** Milliseconds between repeated messages: --repeat-delay in seconds, or --interval in ms. */
function repeatDelayMs(f: PubFlags): number {
  const ms = f.repeatDelay !== undefined ? Number(f.repeatDelay) * 1000 : Number(f.interval);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`the repeat delay must be a number of seconds, not "${f.repeatDelay ?? f.interval}"`);
  return ms;
}

export async function runPub(f: PubFlags, io: PubIO): Promise<number> {
  let conn: Connection | undefined;
  try {
    const opts = publishOptions(f);
    const topic = f.topic ?? (f.url ? parseUrl(f.url).topic : undefined);
    if (topic === undefined) throw new Error('give the topic with -t (or as the path of an mqtt:// URL given with -L)');
    checkPublishTopic(topic);
    const count = repeatCount(f);
    const delay = repeatDelayMs(f);
    const stdin = io.stdin ?? process.stdin;
    const sources = [f.message !== undefined, f.file, f.stdin, f.lines, f.nullMessage].filter(Boolean).length;
    if (sources !== 1) throw new Error('give exactly one of -m, -f, -s, -l or -n');
    conn = await connect(f, (t) => io.err(t));
    const c = conn;
    // At QoS 1 and 2 this waits for PUBACK / PUBCOMP; a refusal carries its reason code [MQTT-3.4.2-1].
    const send = (payload: Buffer | string): Promise<void> =>
      Promise.race([
        c.client.publishAsync(topic, payload, opts).then(
          () => undefined,
          (err: Error & { code?: unknown }) => {
            throw typeof err.code === 'number' ? new Error(`the broker refused the message on "${topic}": ${describeReason(err.code)}`) : err;
          },
        ),
        c.lost,
      ]);
    const terminal = io.stderrIsTTY ?? Boolean((process.stderr as { isTTY?: boolean }).isTTY);
    if (f.lines) {
      // The length of standard input is unknown: on a terminal, progress appears once the run is long.
      const progress = f.progress ?? terminal;
      let n = 0;
      for await (const line of createInterface({ input: stdin, crlfDelay: Infinity })) {
        await send(line);
        n++;
        if (progress && n % LONG_RUN === 0) io.err(`\r${n} messages`);
      }
      if (f.progress || (progress && n >= LONG_RUN)) io.err(`\r${n} messages\n`);
    } else {
      const payload = f.nullMessage ? Buffer.alloc(0) : f.file ? readFileSync(f.file) : f.stdin ? await readAll(stdin) : f.message!;
      const progress = f.progress ?? (count >= LONG_RUN && terminal);
      for (let i = 1; i <= count; i++) {
        await send(payload);
        if (progress && (i % LONG_RUN === 0 || i === count)) io.err(`\r${i}/${count} messages`);
        if (delay > 0 && i < count) await Promise.race([new Promise((r) => setTimeout(r, delay)), c.lost]);
      }
      if (progress) io.err('\n');
    }
    await conn.end();
    return 0;
  } catch (err) {
    if (!f.quiet) io.err(`starling pub: ${err instanceof Error ? err.message : String(err)}\n`);
    conn?.client.end(true);
    return 1;
  }
}
