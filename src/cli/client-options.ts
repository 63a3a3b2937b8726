// Connection flags shared by `starling pub` and `starling sub`, turned into MQTT.js options.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { IClientOptions } from 'mqtt';
import { DIAL_PORTS, type DialScheme } from '../transport/kinds.js';

export interface ConnectionFlags {
  url?: string;
  host: string;
  port?: string;
  transport: string;
  path: string;
  id?: string;
  username?: string;
  password?: string;
  protocol: string;
  keepalive: string;
  clean: boolean;
  sessionExpiry?: string;
  cafile?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  psk?: string;
  pskIdentity?: string;
  /** -c: keep the session (clean session 0), as mosquitto_pub/sub's -c. */
  disableCleanSession?: boolean;
  /** -d: print every packet sent and received on standard error. */
  debug?: boolean;
}

/** What -L gives: the URL to connect to, and for mqtt(s):// URLs the topic and credentials in it. */
export interface ParsedUrl {
  url: string;
  topic?: string;
  username?: string;
  password?: string;
}

/** The client schemes and their usual ports, from the listener kinds (transport/kinds.ts). */
const isDial = (s: string): s is DialScheme => Object.hasOwn(DIAL_PORTS, s);
const overWebSocket = (s: DialScheme): boolean => s === 'ws' || s === 'wss';
const PROTOCOLS: Record<string, 3 | 4 | 5> = {
  '3.1': 3, '31': 3, mqttv31: 3, '3.1.1': 4, '311': 4, '4': 4, mqttv311: 4, '5': 5, '5.0': 5, mqttv5: 5,
};

export function addConnectionFlags(cmd: Command): Command {
  return cmd
    .option('-L, --url <url>', 'broker URL: mqtt[s]://[user[:password]@]host[:port]/topic as mosquitto takes it, or ws[s]://host[:port][/path] (path default /mqtt); overrides -h/-p/-T')
    .option('-h, --host <host>', 'broker host', '127.0.0.1')
    .option('-p, --port <port>', 'broker port (default by transport: 1883, 8883, 8083, 8084)')
    .option('-T, --transport <t>', 'mqtt | mqtts | ws | wss', 'mqtt')
    .option('--path <path>', 'WebSocket path', '/mqtt')
    .option('-i, --id <clientId>', 'client id (default: generated)')
    .option('-u, --username <name>', 'user name')
    .option('-P, --password <password>', 'password (or a JWT)')
    .option('-V, --protocol <version>', 'MQTT version: 3.1, 3.1.1 or 5 (also mqttv31, mqttv311, mqttv5, 31, 311)', '5')
    .option('-k, --keepalive <seconds>', 'keepalive', '60')
    .option('-c, --disable-clean-session', 'resume a persistent session (clean session 0 / clean start 0), as mosquitto\'s -c')
    .option('--no-clean', 'the same as -c')
    .option('-d, --debug', 'print every packet sent and received on standard error')
    .option('-x, --session-expiry <seconds>', 'MQTT 5 session expiry interval')
    .option('--cafile <file>', 'CA certificate(s) to trust (PEM)')
    .option('--cert <file>', 'client certificate (PEM) for mutual TLS')
    .option('--key <file>', 'client key (PEM) for mutual TLS')
    .option('--insecure', 'do not verify the server certificate')
    .option('--psk <hex>', 'TLS-PSK key in hex, as mosquitto_pub takes it (mqtts:// to an mqtt+ssl+psk:// listener)')
    .option('--psk-identity <id>', 'TLS-PSK identity sent with --psk');
}

/**
 * -L as mosquitto_pub/sub read it: mqtt:// and mqtts:// carry user, password and topic; MQTT.js
 * takes ws:// and wss:// as they are, and a WebSocket URL without a path gets Starling's /mqtt.
 */
export function parseUrl(text: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`-L ${text}: not a URL like mqtt://host:1883/topic or ws://host:8083`);
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (!isDial(scheme)) throw new Error(`-L ${text}: unknown scheme "${scheme}://" (use mqtt, mqtts, ws or wss)`);
  const port = u.port || String(DIAL_PORTS[scheme]);
  const out: ParsedUrl = { url: '' };
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  if (overWebSocket(scheme)) {
    const path = u.pathname === '' || u.pathname === '/' ? '/mqtt' : u.pathname;
    out.url = `${scheme}://${u.host.replace(/:\d+$/, '')}:${port}${path}${u.search}`;
  } else {
    const topic = decodeURIComponent(u.pathname.slice(1));
    if (topic) out.topic = topic;
    out.url = `${scheme}://${u.host.replace(/:\d+$/, '')}:${port}`;
  }
  return out;
}

export function brokerUrl(f: ConnectionFlags): string {
  if (f.url) return parseUrl(f.url).url;
  const scheme = f.transport;
  if (!isDial(scheme)) throw new Error(`unknown transport "${scheme}" (use mqtt, mqtts, ws or wss)`);
  const port = f.port ?? String(DIAL_PORTS[scheme]);
  const path = overWebSocket(scheme) ? f.path : '';
  const host = f.host.includes(':') ? `[${f.host}]` : f.host;
  return `${scheme}://${host}:${port}${path}`;
}

export function clientOptions(f: ConnectionFlags): IClientOptions {
  const version = PROTOCOLS[f.protocol.toLowerCase()];
  if (!version) throw new Error(`unknown protocol version "${f.protocol}" (use 3.1, 3.1.1 or 5; mosquitto's mqttv31, mqttv311, mqttv5 also work)`);
  const fromUrl = f.url ? parseUrl(f.url) : undefined;
  const o: IClientOptions = {
    protocolVersion: version as 3 | 4 | 5,
    keepalive: Number(f.keepalive),
    clean: f.clean && !f.disableCleanSession,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    clientId: f.id ?? `starling-cli-${Math.random().toString(16).slice(2, 10)}`,
  };
  if (version === 3) o.protocolId = 'MQIsdp';
  o.transformWsUrl = bracketIpv6;
  const username = f.username ?? fromUrl?.username;
  const password = f.password ?? fromUrl?.password;
  if (username !== undefined) o.username = username;
  if (password !== undefined) o.password = password;
  // As mosquitto's -c: a kept session does not expire unless -x says when [MQTT-3.1.2-23].
  const keep = f.disableCleanSession || !f.clean;
  const expiry = f.sessionExpiry !== undefined ? Number(f.sessionExpiry) : keep ? 0xffffffff : undefined;
  if (version === 5 && expiry !== undefined) o.properties = { sessionExpiryInterval: expiry };
  if (f.cafile) o.ca = readFileSync(f.cafile);
  if (f.cert) o.cert = readFileSync(f.cert);
  if (f.key) o.key = readFileSync(f.key);
  if (f.insecure) o.rejectUnauthorized = false;
  if (f.psk !== undefined || f.pskIdentity !== undefined) Object.assign(o, pskOptions(f));
  return o;
}

/**
 * TLS-PSK through MQTT.js: its mqtts:// transport hands its options to Node's tls.connect, which
 * takes `pskCallback`. PSK replaces the certificate, so there is no server name to check; 'PSK'
 * enables the TLS 1.2 PSK cipher suites (TLS 1.3 PSK needs none). Only mqtts://: MQTT.js's wss://
 * goes through the `ws` package, which has no PSK.
 */
function pskOptions(f: ConnectionFlags): Record<string, unknown> {
  if (f.psk === undefined || f.pskIdentity === undefined) throw new Error('--psk and --psk-identity go together');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(f.psk)) throw new Error('--psk is the key in hex (e.g. 736563726574 for "secret")');
  const scheme = /^([a-z+]+):/i.exec(brokerUrl(f))?.[1]?.toLowerCase();
  if (scheme !== 'mqtts') throw new Error('--psk needs an mqtts:// connection (-T mqtts) to an mqtt+ssl+psk:// listener');
  const psk = Buffer.from(f.psk, 'hex');
  const identity = f.pskIdentity;
  return { ciphers: 'PSK', checkServerIdentity: () => undefined, pskCallback: () => ({ psk, identity }) };
}

/**
 * MQTT.js builds its WebSocket URL as `ws://${hostname}:${port}` from a parsed URL whose IPv6
 * hostname has lost its brackets (ws://::1:8083/mqtt, which no WebSocket accepts); put them back.
 */
export function bracketIpv6(url: string, opts: { hostname?: string }): string {
  const h = opts.hostname;
  return h && h.includes(':') && !h.startsWith('[') ? url.replace(`//${h}:`, `//[${h}]:`) : url;
}
