// Plays one generated connection against a broker over TCP or WebSocket and checks what the spec
// requires of the broker's side:
//  - every connection is answered or closed within a bound (CONNACK, then PINGRESP to a final
//    PINGREQ, or a close): nothing hangs;
//  - a connection that sent a violation is closed, and in MQTT 5 after CONNACK the broker sends a
//    DISCONNECT with a reason code >= 0x80 first [MQTT-4.13.1-1]; any close by the broker of a
//    connected MQTT 5 client is preceded by a DISCONNECT;
//  - a CONNACK refusing the connection is followed by a close [MQTT-3.2.2-7];
//  - nothing the broker sends is larger than the client's Maximum Packet Size [MQTT-3.1.2-24];
//  - everything the broker sends parses (mqtt-packet).
import { connect as tcpConnect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import { encodeStep, type Encoder } from './encode.js';
import type { FuzzConnection } from './grammar.js';
import { describeStep, materialize, type FuzzStep, type StrSpec } from './model.js';

export interface Ports {
  tcp: number;
  ws: number;
}

export interface RunOptions {
  /** The broker's mqttMessageMaxLength: a packet over it is a violation (0x95). */
  maxPacket: number;
  /** How long the broker has to answer or close, ms. */
  boundMs: number;
}

export interface Outcome {
  failures: string[];
  /** Violation sent → the MQTT 5 reason code the broker gave (for the summary). */
  codes: Array<{ violation: string; version: 4 | 5; expected?: number; got?: number }>;
  encoders: Encoder[];
  violations: number;
  connected: boolean;
  /** The connection was closed (by the broker) before the runner let go of it. */
  closed: boolean;
}

interface Received {
  cmd: string;
  reasonCode?: number;
  returnCode?: number;
  size: number;
  properties?: Record<string, unknown>;
}

/** A connection to the broker that records what comes back. */
class Peer {
  readonly packets: Received[] = [];
  parseError?: string;
  closed = false;
  private listeners: Array<() => void> = [];
  private constructor(
    private readonly sendFn: (b: Buffer) => void,
    readonly destroy: () => void,
  ) {}

  static open(transport: 'tcp' | 'ws', ports: Ports, version: 4 | 5, boundMs: number): Promise<Peer> {
    const parser = mqttPacket.parser({ protocolVersion: version });
    let peer: Peer;
    parser.on('packet', (p: mqttPacket.Packet & Record<string, any>) => {
      const length = p.length as number;
      const size = 1 + (length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4) + length;
      peer.packets.push({ cmd: p.cmd, reasonCode: p.reasonCode, returnCode: p.returnCode, size, properties: p.properties });
      peer.notify();
    });
    parser.on('error', (err: Error) => {
      peer.parseError ??= err.message;
    });
    return new Promise<Peer>((resolve, reject) => {
      let abort = (): void => {};
      const timer = setTimeout(() => {
        abort();
        reject(new Error(`no ${transport === 'tcp' ? 'TCP connection' : 'WebSocket upgrade'} within ${boundMs} ms`));
      }, boundMs);
      const done = (p: Peer): void => {
        clearTimeout(timer);
        resolve(p);
      };
      if (transport === 'tcp') {
        const s = tcpConnect({ host: '127.0.0.1', port: ports.tcp });
        abort = () => s.destroy();
        s.on('error', () => {});
        s.once('error', reject);
        s.on('data', (d) => parser.parse(d));
        s.on('close', () => peer?.onClose());
        s.once('connect', () => {
          peer = new Peer((b) => void (s.writable && s.write(b)), () => s.destroy());
          done(peer);
        });
      } else {
        const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, 'mqtt');
        abort = () => ws.terminate();
        ws.on('error', () => {});
        ws.once('error', reject);
        ws.on('message', (d: Buffer) => parser.parse(d));
        ws.on('close', () => peer?.onClose());
        ws.once('open', () => {
          peer = new Peer(
            (b) => {
              // Cut into messages of at most 16 KiB: MQTT over WebSocket is a byte stream [MQTT-6.0.0-2].
              for (let i = 0; i < b.length && ws.readyState === ws.OPEN; i += 16_384) ws.send(b.subarray(i, i + 16_384), { binary: true });
            },
            () => ws.terminate(),
          );
          done(peer);
        });
      }
    });
  }

  send(b: Buffer): void {
    if (!this.closed) this.sendFn(b);
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  private onClose(): void {
    this.closed = true;
    this.notify();
  }

  /** Waits until `cond` holds or the time passes; returns whether it held. */
  until(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve(cond());
      }, ms);
      this.listeners.push(check);
    });
  }

  has(cmd: string): Received | undefined {
    return this.packets.find((p) => p.cmd === cmd);
  }
}

const PINGREQ = { 4: mqttPacket.generate({ cmd: 'pingreq' } as mqttPacket.Packet), 5: mqttPacket.generate({ cmd: 'pingreq' } as mqttPacket.Packet, { protocolVersion: 5 }) };

const hex = (n: number | undefined): string => (n === undefined ? '-' : `0x${n.toString(16).padStart(2, '0')}`);

function propNumber(step: FuzzStep, id: number): number | undefined {
  const p = 'props' in step.packet ? step.packet.props.find((x) => x.id === id) : undefined;
  return typeof p?.value === 'number' ? p.value : undefined;
}

/** Plays `conn` and returns what broke the rules (an empty list when nothing did). */
export async function runConnection(conn: FuzzConnection, ports: Ports, o: RunOptions): Promise<Outcome> {
  const out: Outcome = { failures: [], codes: [], encoders: [], violations: 0, connected: false, closed: false };
  const v5 = conn.version === 5;
  let peer: Peer;
  try {
    peer = await Peer.open(conn.transport, ports, conn.version, o.boundMs);
  } catch (err) {
    out.failures.push(`could not connect over ${conn.transport}: ${(err as Error).message}`);
    return out;
  }
  const what = (s: FuzzStep): string => `${conn.transport} v${conn.version === 5 ? 5 : '3.1.1'}: ${describeStep(s)}`;
  const fail = (msg: string): void => void out.failures.push(msg);
  // A CONNECT over mqttMessageMaxLength is refused from its fixed header, unread: the broker cannot
  // know the Maximum Packet Size inside it, so it is not held to it.
  let unread = false;
  try {
    const mps = v5 && conn.connect.packet.type === 'connect' ? propNumber(conn.connect, 0x27) : undefined;
    const send = (s: FuzzStep): number => {
      const { bytes, encoder } = encodeStep(s, conn.version);
      out.encoders.push(encoder);
      peer.send(bytes);
      return bytes.length;
    };

    // CONNECT
    const connectSize = send(conn.connect);
    unread = connectSize > o.maxPacket;
    const answered = await peer.until(() => peer.closed || peer.has('connack') !== undefined, o.boundMs);
    const connack = peer.has('connack');
    const rc = connack ? (v5 ? connack.reasonCode : connack.returnCode) ?? 0 : undefined;
    if (conn.connect.violation || connectSize > o.maxPacket) {
      out.violations++;
      const closed = await peer.until(() => peer.closed, o.boundMs);
      if (!closed) fail(`not closed after ${conn.connect.violation?.name ?? 'an oversized CONNECT'} (${what(conn.connect)})`);
      if (rc === 0) fail(`CONNACK 0x00 (accepted) for ${conn.connect.violation?.name ?? 'an oversized CONNECT'} (${what(conn.connect)})`);
      return out;
    }
    if (!answered) {
      fail(`no CONNACK and no close within ${o.boundMs} ms (${what(conn.connect)})`);
      return out;
    }
    if (!connack || rc !== 0) {
      if (!(await peer.until(() => peer.closed, o.boundMs))) fail(`CONNACK ${hex(rc)} refused the connection but it was not closed [MQTT-3.2.2-7] (${what(conn.connect)})`);
      return out;
    }
    out.connected = true;

    // Connected: legal packets at the limits, then maybe a violation.
    const aliasMax = Number(connack.properties?.topicAliasMaximum ?? 0);
    const aliases = new Set<number>();
    const steps = conn.final ? [...conn.steps, conn.final] : [...conn.steps];
    let violation: { name: string; reason?: number; step: FuzzStep } | undefined;
    let clientDisconnect = false;
    let disconnectedBefore = false;
    for (const s of steps) {
      // Closed by the broker already (a limit, a refused filter): nothing more to send.
      if (peer.closed) break;
      violation = runtimeViolation(s, v5, aliasMax, aliases);
      const { bytes, encoder } = encodeStep(s, conn.version);
      out.encoders.push(encoder);
      if (!violation && bytes.length > o.maxPacket) violation = { name: `packet of ${bytes.length} bytes over mqttMessageMaxLength`, reason: ReasonCode.PacketTooLarge, step: s };
      if (violation) {
        // A PINGREQ round trip first, so that a DISCONNECT after the violation answers the violation.
        peer.send(PINGREQ[conn.version]);
        const pings = peer.packets.filter((p) => p.cmd === 'pingresp').length;
        await peer.until(() => peer.closed || peer.packets.filter((p) => p.cmd === 'pingresp').length > pings, o.boundMs);
        if (peer.closed) {
          // Closed for an earlier packet: the violation was never sent.
          disconnectedBefore = true;
          break;
        }
      }
      disconnectedBefore = peer.has('disconnect') !== undefined;
      peer.send(bytes);
      if (violation || s.packet.type === 'disconnect') {
        clientDisconnect = s.packet.type === 'disconnect' && !violation;
        break;
      }
    }
    if (violation) {
      out.violations++;
      const closed = await peer.until(() => peer.closed, o.boundMs);
      if (!closed) fail(`not closed within ${o.boundMs} ms after ${violation.name} (${what(violation.step)})`);
      const disconnect = peer.has('disconnect');
      if (!disconnectedBefore) out.codes.push({ violation: violation.name, version: conn.version, expected: violation.reason, got: disconnect?.reasonCode });
      if (v5 && closed && (mps === undefined || mps >= 3) && (disconnect?.reasonCode ?? 0) < 0x80) {
        fail(`closed without a DISCONNECT reason code >= 0x80 after ${violation.name} (got ${disconnect ? hex(disconnect.reasonCode) : 'no DISCONNECT'}) (${what(violation.step)})`);
      }
    } else if (clientDisconnect) {
      if (!(await peer.until(() => peer.closed, o.boundMs))) fail(`not closed within ${o.boundMs} ms after the client's DISCONNECT [MQTT-3.14.4-1]`);
    } else if (!peer.closed) {
      // Nothing broke the rules: the broker must still answer.
      const pings = peer.packets.filter((p) => p.cmd === 'pingresp').length;
      peer.send(PINGREQ[conn.version]);
      const ok = await peer.until(() => peer.closed || peer.packets.filter((p) => p.cmd === 'pingresp').length > pings, o.boundMs);
      if (!ok) fail(`neither PINGRESP nor close within ${o.boundMs} ms after ${conn.steps.length} packets (last: ${conn.steps.length ? what(conn.steps[conn.steps.length - 1]) : 'CONNECT'})`);
    }
    if (v5 && peer.closed && !clientDisconnect && (mps === undefined || mps >= 3) && !peer.has('disconnect')) {
      fail(`the broker closed an MQTT 5 connection without a DISCONNECT (after ${steps.map((s) => s.packet.type).join(', ')})`);
    }
    return out;
  } finally {
    const mpsBroken = unread ? undefined : mpsViolation(peer, conn);
    if (mpsBroken) fail(mpsBroken);
    if (peer.parseError) fail(`mqtt-packet cannot parse what the broker sent: ${peer.parseError}`);
    out.closed = peer.closed;
    peer.destroy();
  }
}

function mpsViolation(peer: Peer, conn: FuzzConnection): string | undefined {
  if (conn.version !== 5 || conn.connect.violation) return undefined;
  const mps = propNumber(conn.connect, 0x27);
  const big = mps === undefined ? undefined : peer.packets.find((p) => p.size > mps);
  return big ? `sent a ${big.cmd} of ${big.size} bytes to a client whose Maximum Packet Size is ${mps} [MQTT-3.1.2-24]` : undefined;
}

/** Violations that depend on the session: topic aliases [MQTT-3.3.2-8..10], an empty topic. */
function runtimeViolation(s: FuzzStep, v5: boolean, aliasMax: number, aliases: Set<number>): { name: string; reason?: number; step: FuzzStep } | undefined {
  if (s.violation) return { ...s.violation, step: s };
  const p = s.packet;
  if (p.type !== 'publish') return undefined;
  const topic = materialize(p.topic as StrSpec);
  const alias = v5 ? propNumber(s, 0x23) : undefined;
  if (alias !== undefined && alias > aliasMax) return { name: `Topic Alias ${alias} over the granted ${aliasMax} [MQTT-3.3.2-9]`, reason: ReasonCode.TopicAliasInvalid, step: s };
  if (topic.length === 0 && (alias === undefined || !aliases.has(alias))) return { name: 'empty topic without a known Topic Alias', reason: ReasonCode.ProtocolError, step: s };
  if (alias !== undefined && topic.length > 0) aliases.add(alias);
  return undefined;
}
