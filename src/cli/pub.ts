// `starling pub`: publish one message, a file, stdin, or stdin line by line (-l), over any
// transport, with MQTT 5 properties. Built on MQTT.js.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { CliIO } from './io.js';
import { addConnectionFlags, brokerUrl, clientOptions, type ConnectionFlags } from './client-options.js';

interface PubFlags extends ConnectionFlags {
  topic: string;
  message?: string;
  file?: string;
  stdin?: boolean;
  lines?: boolean;
  nullMessage?: boolean;
  qos: string;
  retain?: boolean;
  count: string;
  interval: string;
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
    .requiredOption('-t, --topic <topic>', 'topic to publish to')
    .option('-m, --message <text>', 'message payload')
    .option('-f, --file <file>', 'send the contents of a file as the message')
    .option('-s, --stdin', 'send all of standard input as one message')
    .option('-l, --lines', 'send each line of standard input as a message')
    .option('-n, --null-message', 'send an empty message (clears a retained message with -r)')
    .option('-q, --qos <0|1|2>', 'quality of service', '0')
    .option('-r, --retain', 'retain the message')
    .option('-c, --count <n>', 'publish the message n times', '1')
    .option('--interval <ms>', 'pause between repeated messages', '0')
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

export async function runPub(f: PubFlags, io: PubIO): Promise<number> {
  let client: MqttClient | undefined;
  try {
    const opts = publishOptions(f);
    const stdin = io.stdin ?? process.stdin;
    const sources = [f.message !== undefined, f.file, f.stdin, f.lines, f.nullMessage].filter(Boolean).length;
    if (sources !== 1) throw new Error('give exactly one of -m, -f, -s, -l or -n');
    client = await connect(brokerUrl(f), f);
    const send = (payload: Buffer | string): Promise<void> => client!.publishAsync(f.topic, payload, opts).then(() => undefined);
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
      const count = Number(f.count);
      const progress = f.progress ?? (count >= LONG_RUN && terminal);
      for (let i = 1; i <= count; i++) {
        await send(payload);
        if (progress && (i % LONG_RUN === 0 || i === count)) io.err(`\r${i}/${count} messages`);
        if (Number(f.interval) > 0 && i < count) await new Promise((r) => setTimeout(r, Number(f.interval)));
      }
      if (progress) io.err('\n');
    }
    await client.endAsync();
    return 0;
  } catch (err) {
    io.err(`starling pub: ${err instanceof Error ? err.message : String(err)}\n`);
    client?.end(true);
    return 1;
  }
}

export function connect(url: string, f: ConnectionFlags): Promise<MqttClient> {
  const client = mqtt.connect(url, clientOptions(f));
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error(`connection to ${url} closed`)));
  });
}
