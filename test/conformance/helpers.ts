// Shared steps of the wire-level conformance suites (test/conformance/NN-*.test.ts). Every packet
// is built and parsed by mqtt-packet (via WireClient) or by hand (./raw.ts), never by our codec.
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { WireClient, type WirePacket } from '../helpers/wire.js';

export type Version = 3 | 4 | 5;

let seq = 0;
/** A client id unique within this process, readable in logs. */
export const uid = (prefix: string): string => `${prefix}-${process.pid}-${++seq}`;

/** The CONNACK code whatever the version: mqtt-packet calls it returnCode before 5.0. */
export const connackCode = (p: WirePacket): number | undefined => (p.reasonCode ?? p.returnCode) as number | undefined;

/** Connects and asserts a successful CONNACK. */
export async function online(port: number, version: Version, connect: Record<string, unknown> = {}): Promise<WireClient> {
  const { client, connack } = await WireClient.connect(port, { clientId: uid('c'), ...connect }, version);
  assert.equal(connack.cmd, 'connack', `expected CONNACK, got ${connack.cmd}`);
  assert.equal(connackCode(connack), 0, 'CONNACK code');
  return client;
}

/** Connects and returns the CONNACK too. */
export async function onlineWith(
  port: number,
  version: Version,
  connect: Record<string, unknown> = {},
): Promise<{ client: WireClient; connack: WirePacket }> {
  const r = await WireClient.connect(port, { clientId: uid('c'), ...connect }, version);
  assert.equal(r.connack.cmd, 'connack');
  assert.equal(connackCode(r.connack), 0, 'CONNACK code');
  return r;
}

/** Opens a socket and writes bytes before anything else: for CONNECTs built by hand. */
export async function openRaw(port: number, version: Version, bytes: Buffer): Promise<WireClient> {
  const c = await WireClient.open(port, version);
  c.sendRaw(bytes);
  return c;
}

/**
 * The broker closes the connection without sending anything (MQTT 3.1.1 has no packet for most
 * errors; before CONNACK neither version owes one).
 */
export async function expectSilentClose(c: WireClient, timeoutMs = 3000): Promise<void> {
  let p: WirePacket | undefined;
  try {
    p = await c.nextOrClose(timeoutMs);
  } catch {
    c.end();
    assert.fail(`the connection is still open after ${timeoutMs} ms`);
  }
  assert.equal(p, undefined, `expected the connection to close without a packet, got ${p?.cmd} ${JSON.stringify(code(p))}`);
}

const code = (p: WirePacket | undefined): unknown => (p ? (p.reasonCode ?? p.returnCode) : undefined);

/**
 * MQTT 5 after CONNACK: the broker sends DISCONNECT with one of `codes` and closes [MQTT-4.13.1-1],
 * [MQTT-3.14.4-2]. Returns the DISCONNECT.
 */
export async function expectDisconnect(c: WireClient, codes: number | number[], timeoutMs = 3000): Promise<WirePacket> {
  const allowed = Array.isArray(codes) ? codes : [codes];
  let p: WirePacket | undefined;
  try {
    p = await c.nextOrClose(timeoutMs);
  } catch {
    c.end();
    assert.fail(`no DISCONNECT and the connection is still open after ${timeoutMs} ms`);
  }
  assert.ok(p, `the connection closed without DISCONNECT (expected reason ${hex(allowed)})`);
  assert.equal(p.cmd, 'disconnect', `expected DISCONNECT, got ${p.cmd}`);
  assert.ok(allowed.includes(p.reasonCode as number), `DISCONNECT reason 0x${Number(p.reasonCode).toString(16)}, expected ${hex(allowed)}`);
  // The server never sends a Session Expiry Interval on DISCONNECT [MQTT-3.14.2-2].
  assert.equal(p.properties?.sessionExpiryInterval, undefined, 'no Session Expiry Interval on a server DISCONNECT');
  // Nothing follows a DISCONNECT, and the connection closes [MQTT-3.14.4-1], [MQTT-3.14.4-2].
  let after: WirePacket | undefined;
  try {
    after = await c.nextOrClose(timeoutMs);
  } catch {
    c.end();
    assert.fail(`the connection is still open ${timeoutMs} ms after DISCONNECT`);
  }
  assert.equal(after, undefined, `a ${after?.cmd} followed the DISCONNECT`);
  return p;
}

/** Before CONNACK: either a refusing CONNACK with one of `codes`, or a silent close; then closed. */
export async function expectRefused(c: WireClient, codes: number[], timeoutMs = 3000): Promise<WirePacket | undefined> {
  let p: WirePacket | undefined;
  try {
    p = await c.nextOrClose(timeoutMs);
  } catch {
    c.end();
    assert.fail(`the connection is still open after ${timeoutMs} ms`);
  }
  if (p) {
    assert.equal(p.cmd, 'connack', `expected CONNACK or a close, got ${p.cmd}`);
    assert.ok(codes.includes(connackCode(p) as number), `CONNACK code 0x${Number(connackCode(p)).toString(16)}, expected ${hex(codes)}`);
    assert.equal(p.sessionPresent, false, 'a refusing CONNACK has Session Present 0');
    assert.equal(await c.waitClosed(timeoutMs), true, 'the connection is closed after a refusing CONNACK');
  }
  return p;
}

const hex = (codes: number[]): string => codes.map((x) => `0x${x.toString(16)}`).join(' or ');

/**
 * PINGREQ → PINGRESP: the connection is alive, and everything the server wrote to it before
 * processing the PINGREQ has arrived. Returns the packets that came before the PINGRESP.
 */
export async function ping(c: WireClient, max = 1000): Promise<WirePacket[]> {
  c.send({ cmd: 'pingreq' });
  const before: WirePacket[] = [];
  for (let i = 0; i < max; i++) {
    const p = await c.next();
    if (p.cmd === 'pingresp') return before;
    before.push(p);
  }
  assert.fail(`no PINGRESP within ${max} packets`);
}

/** PINGREQ → PINGRESP with nothing else in between. */
export async function pingOnly(c: WireClient): Promise<void> {
  const before = await ping(c);
  assert.deepEqual(before.map((p) => `${p.cmd} ${p.topic ?? ''}`), [], 'nothing else arrived before the PINGRESP');
}

/**
 * SUBSCRIBE and its SUBACK: the next packet, as Starling sends retained messages after it (3.8.4
 * would let a server send matching PUBLISH packets before the SUBACK).
 */
export async function subscribe(
  c: WireClient,
  subs: Array<{ topic: string; qos: number; nl?: boolean; rap?: boolean; rh?: number }> | string,
  qos = 0,
  messageId = 1,
  properties?: Record<string, unknown>,
): Promise<WirePacket> {
  const subscriptions = typeof subs === 'string' ? [{ topic: subs, qos }] : subs;
  c.send({ cmd: 'subscribe', messageId, subscriptions, ...(properties ? { properties } : {}) });
  const ack = await c.next();
  assert.equal(ack.cmd, 'suback', `expected SUBACK, got ${ack.cmd}`);
  assert.equal(ack.messageId, messageId, 'SUBACK packet id');
  return ack;
}

/** QoS 1 PUBLISH and its PUBACK: after it, the message has been routed. */
export async function publish1(c: WireClient, topic: string, payload: string | Buffer, messageId = 1, extra: Record<string, unknown> = {}): Promise<WirePacket> {
  c.send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false, ...extra });
  const ack = await c.next();
  assert.equal(ack.cmd, 'puback', `expected PUBACK, got ${ack.cmd}`);
  assert.equal(ack.messageId, messageId, 'PUBACK packet id');
  return ack;
}

/** Reads packets until none arrives for `quietMs` (bounded by `max`). */
export async function drain(c: WireClient, quietMs = 150, max = 1000): Promise<WirePacket[]> {
  const out: WirePacket[] = [];
  for (let i = 0; i < max; i++) {
    let p: WirePacket | undefined;
    try {
      p = await c.nextOrClose(quietMs);
    } catch {
      break;
    }
    if (!p) break;
    out.push(p);
  }
  return out;
}

/** The next `n` packets (each within `timeoutMs`). */
export async function take(c: WireClient, n: number, timeoutMs = 2000): Promise<WirePacket[]> {
  const out: WirePacket[] = [];
  for (let i = 0; i < n; i++) out.push(await c.next(timeoutMs));
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ends a client politely (DISCONNECT then close), so no will fires. */
export function bye(c: WireClient): void {
  if (c.closed) return;
  // end() flushes the DISCONNECT before the FIN; destroy() could drop it and fire the will.
  c.socket.end(mqttPacket.generate({ cmd: 'disconnect' } as mqttPacket.Packet, { protocolVersion: c.version }));
}

/** A received packet's whole size in bytes, from mqtt-packet's Remaining Length. */
export const packetSize = (p: WirePacket): number => {
  const n = p.length as number;
  return 1 + (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4) + n;
};
