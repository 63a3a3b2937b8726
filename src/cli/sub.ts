// `starling sub`: subscribe and print messages as text, with their topics, as JSON lines, hex or
// base64; stop after -C messages or -W seconds. Built on MQTT.js.
import type { Command } from 'commander';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { CliIO } from './io.js';
import { addConnectionFlags, brokerUrl, type ConnectionFlags } from './client-options.js';
import { connect } from './pub.js';

interface SubFlags extends ConnectionFlags {
  topic: string[];
  qos: string;
  count?: string;
  timeout?: string;
  format: string;
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
    .requiredOption('-t, --topic <filter>', 'topic filter (repeatable)', collect, [])
    .option('-q, --qos <0|1|2>', 'maximum QoS', '0')
    .option('-C, --count <n>', 'exit after n messages')
    .option('-W, --timeout <seconds>', 'exit after this many seconds')
    .option('-F, --format <format>', `output: ${FORMATS.join(', ')}`, 'text')
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

export async function runSub(f: SubFlags, io: CliIO): Promise<number> {
  let client: MqttClient | undefined;
  try {
    if (!(FORMATS as readonly string[]).includes(f.format)) throw new Error(`unknown format "${f.format}" (use ${FORMATS.join(', ')})`);
    const qos = Number(f.qos);
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new Error(`QoS must be 0, 1 or 2, not "${f.qos}"`);
    const rh = Number(f.retainHandling);
    if (rh !== 0 && rh !== 1 && rh !== 2) throw new Error('retain handling must be 0, 1 or 2');
    client = await connect(brokerUrl(f), f);
    const c = client;
    const limit = f.count !== undefined ? Number(f.count) : Infinity;
    let seen = 0;
    let finished = false;
    const done = new Promise<number>((resolve) => {
      const finish = (code: number): void => {
        finished = true;
        resolve(code);
      };
      if (f.timeout !== undefined) setTimeout(() => finish(seen > 0 || limit === Infinity ? 0 : 27), Number(f.timeout) * 1000).unref();
      c.on('close', () => finish(1));
      c.on('message', (topic, payload, packet) => {
        // Messages already on the way while the client disconnects are not part of the -C count.
        if (finished) return;
        if (f.retainedOnly && !packet.retain) return finish(0);
        seen++;
        io.out(`${formatMessage(f.format, topic, payload, packet)}\n`);
        if (f.progress) io.err(`\r${seen} messages`);
        if (seen >= limit) finish(0);
      });
    });
    await c.subscribeAsync(f.topic, { qos, nl: f.local === false, rap: Boolean(f.retainAsPublished), rh });
    const code = await done;
    if (f.progress && seen > 0) io.err('\n');
    c.removeAllListeners('close');
    await c.endAsync();
    return code;
  } catch (err) {
    io.err(`starling sub: ${err instanceof Error ? err.message : String(err)}\n`);
    client?.end(true);
    return 1;
  }
}
