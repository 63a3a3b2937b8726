// Connecting `starling pub`/`sub` to a broker with MQTT.js: -d packet tracing, the reason code of a
// refusal or of the broker's DISCONNECT in words, and when the connection fails, a look at what the
// port really speaks, so "wrong transport for this port" and "TLS without a CA" are said as such.
import net from 'node:net';
import tls from 'node:tls';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { ReasonCode } from '../protocol/reason-codes.js';
import { brokerUrl, clientOptions, type ConnectionFlags } from './client-options.js';

/** "0x87 Not authorized" from the MQTT 5 reason codes table (section 2.4). */
export function describeReason(code: number): string {
  const name = Object.entries(ReasonCode).find(([, v]) => v === code && v >= 0x80)?.[0] ?? Object.entries(ReasonCode).find(([, v]) => v === code)?.[0];
  const words = name ? name.replace(/([a-z])([A-Z0-9])/g, '$1 $2').replace(/Qo S/g, 'QoS') : 'unknown reason code';
  return `0x${code.toString(16).padStart(2, '0')} ${words}`;
}

/** An MQTT 3.1.1 CONNACK return code in words (section 3.2.2.3 of 3.1.1). */
const CONNACK_V3: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

export interface Connection {
  client: MqttClient;
  /** Rejects with the reason once the connection ends without our asking (DISCONNECT, socket closed). */
  lost: Promise<never>;
  /** Ends the connection cleanly (DISCONNECT); `lost` no longer fires. */
  end(): Promise<void>;
}

type Say = (text: string) => void;

export async function connect(f: ConnectionFlags, debug: Say): Promise<Connection> {
  const url = brokerUrl(f);
  const opts = clientOptions(f);
  // Connected by hand, so that -d sees the CONNECT packet too.
  const client = mqtt.connect(url, { ...opts, manualConnect: true });
  const id = String(opts.clientId);
  if (f.debug) {
    client.on('packetsend', (p: Packet) => debug(`Client ${id} sending ${describePacket(p)}\n`));
    client.on('packetreceive', (p: Packet) => debug(`Client ${id} received ${describePacket(p)}\n`));
  }
  let disconnect: Packet | undefined;
  client.on('disconnect', (p: Packet) => (disconnect = p));
  client.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (err: Error & { code?: unknown }) => reject(err));
      client.once('close', () => reject(new Error(`connection to ${url} closed before the broker answered CONNECT`)));
    });
  } catch (err) {
    client.end(true);
    throw new Error(await explainConnectFailure(url, err as Error & { code?: unknown }, f, opts.protocolVersion ?? 4));
  }
  client.removeAllListeners('error');
  client.on('error', () => {}); // after CONNACK, errors end in 'close', reported through `lost`
  let ending = false;
  const lost = new Promise<never>((_, reject) => {
    client.once('close', () => {
      if (ending) return;
      const code = (disconnect as { reasonCode?: number } | undefined)?.reasonCode;
      const reason = (disconnect as { properties?: { reasonString?: string } } | undefined)?.properties?.reasonString;
      reject(new Error(code !== undefined ? `the broker disconnected: DISCONNECT ${describeReason(code)}${reason ? ` (${reason})` : ''}` : 'the broker closed the connection'));
    });
  });
  lost.catch(() => {});
  return {
    client,
    lost,
    end: async () => {
      ending = true;
      await client.endAsync();
    },
  };
}

/** A one-line summary of a packet, in the spirit of mosquitto's -d output. */
function describePacket(p: Packet): string {
  const a = p as unknown as Record<string, unknown>;
  const parts: string[] = [];
  if (p.cmd === 'publish') {
    parts.push(`d${a.dup ? 1 : 0}`, `q${a.qos}`, `r${a.retain ? 1 : 0}`, `m${a.messageId ?? 0}`, `'${a.topic}'`, `... (${(a.payload as Buffer | string | undefined)?.length ?? 0} bytes)`);
  } else if (p.cmd === 'connect') {
    parts.push(`p${a.protocolVersion}`, `c${a.clean ? 1 : 0}`, `k${a.keepalive}`, `i'${a.clientId}'`);
  } else {
    if (a.messageId !== undefined) parts.push(`Mid: ${a.messageId}`);
    if (typeof a.reasonCode === 'number') parts.push(`rc${a.reasonCode}`);
    if (typeof a.returnCode === 'number') parts.push(`rc${a.returnCode}`);
    if (Array.isArray(a.granted)) parts.push(`granted ${a.granted.join(',')}`);
  }
  return `${p.cmd.toUpperCase()}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

/** The connection attempt's error, with what to do about it when the cause can be told. */
async function explainConnectFailure(url: string, err: Error & { code?: unknown }, f: ConnectionFlags, version: number): Promise<string> {
  const code = typeof err.code === 'string' ? err.code : undefined;
  const reasonCode = typeof err.code === 'number' ? err.code : undefined;
  if (reasonCode !== undefined) {
    const what = version === 5 ? describeReason(reasonCode) : `${reasonCode} ${CONNACK_V3[reasonCode] ?? 'refused'}`;
    return `the broker refused the connection: CONNACK ${what}`;
  }
  if (code === 'ECONNREFUSED') return `${err.message}: nothing listens on ${hostPort(url)} (is the broker running, on this port?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${err.message}: the host name does not resolve`;
  const untrusted = ['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT'];
  if (code && untrusted.includes(code)) {
    return (
      `${err.message}: the server's certificate is not signed by a CA this client trusts; ` +
      `give the CA with --cafile (Starling's development CA is <dataDir>/certs/ca.crt)${f.cafile ? ', the right one' : ''}, or --insecure to skip the check (testing only)`
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${err.message}: connect with the host name the certificate was made for (-h), or use --insecure (testing only)`;
  const wanted = /^([a-z]+):/.exec(url)?.[1] ?? '';
  const [host, port] = hostAndPort(url);
  const speaks = await probe(host, port);
  if (speaks && speaks !== wanted) {
    return `${err.message}: ${host}:${port} is ${SPEAKS[speaks]}, not ${wanted}://; use -L ${speaks}://${host.includes(':') ? `[${host}]` : host}:${port} (or -T ${speaks} -p ${port})`;
  }
  return err.message;
}

const SPEAKS: Record<string, string> = {
  mqtt: 'a plain MQTT listener (no TLS, no HTTP)',
  mqtts: 'an MQTT over TLS listener',
  ws: 'a WebSocket listener (plain HTTP)',
  wss: 'a secure WebSocket listener (HTTPS)',
};

function hostAndPort(url: string): [string, number] {
  const u = new URL(url);
  return [u.hostname.replace(/^\[|\]$/g, ''), Number(u.port)];
}
const hostPort = (url: string): string => new URL(url).host;

/**
 * What the port speaks: a TLS handshake that completes means TLS (then HTTP inside it means wss);
 * otherwise an HTTP answer to a GET means ws, and a connection that takes the GET without one
 * means plain MQTT. Each step is bounded; undefined when nothing can be told.
 */
async function probe(host: string, port: number): Promise<string | undefined> {
  const TIMEOUT = 3000;
  const overTls = await new Promise<tls.TLSSocket | undefined>((resolve) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, servername: net.isIP(host) ? undefined : host });
    const t = setTimeout(() => (s.destroy(), resolve(undefined)), TIMEOUT);
    s.once('secureConnect', () => (clearTimeout(t), resolve(s)));
    s.once('error', () => (clearTimeout(t), s.destroy(), resolve(undefined)));
  });
  if (overTls) return httpKind(await answerToGet(overTls, TIMEOUT), 'wss', 'mqtts');
  const plain = await new Promise<net.Socket | undefined>((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => (s.destroy(), resolve(undefined)), TIMEOUT);
    s.once('connect', () => (clearTimeout(t), resolve(s)));
    s.once('error', () => (clearTimeout(t), s.destroy(), resolve(undefined)));
  });
  if (!plain) return undefined;
  return httpKind(await answerToGet(plain, TIMEOUT), 'ws', 'mqtt');
}

/** Starling's MQTT listeners answer HTTP with a 400 that says so (src/server/refusal.ts). */
const httpKind = (answer: string, web: string, mqttKind: string): string =>
  answer.startsWith('HTTP/') && !answer.includes('this port speaks MQTT') ? web : mqttKind;

/** What the socket answers to an HTTP GET (up to 4 KiB), '' when it only closes. */
function answerToGet(s: net.Socket, timeout: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(got);
    };
    const t = setTimeout(done, timeout);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= 4096) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.write('GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n');
  });
}
