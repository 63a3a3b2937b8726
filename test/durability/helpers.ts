// Shared by the durability tests: data directories, broker flags, a windowed publisher that
// counts acknowledgements, and collecting what a subscriber receives.
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { Inbox, sleep } from '../helpers/mqttjs.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

export function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'starling-crash-'));
  dirs.push(d);
  return d;
}

export const flags = (dir: string, port = 0) => ({ mqttListeners: `mqtt://127.0.0.1:${port}`, persistence: 'sqlite', dataDir: dir });

/** A broker process on SQLite in a fresh data directory; `restart` starts it again on the same directory and port. */
export async function crashBroker(): Promise<{ broker: BrokerProcess; url: string; port: number; restart(): Promise<BrokerProcess> }> {
  const dir = dataDir();
  const broker = await startBrokerProcess(flags(dir));
  const port = broker.port();
  return { broker, port, url: `mqtt://127.0.0.1:${port}`, restart: () => startBrokerProcess(flags(dir, port)) };
}

/**
 * Publishes `total` messages (payload = sequence number) with at most `window` unacknowledged,
 * recording which were acknowledged; calls `onAcked` as acknowledgements arrive. Stops when the
 * connection drops. `topic` may depend on the sequence number (e.g. retained values per topic).
 */
export async function stream(
  client: MqttClient,
  topic: string | ((seq: number) => string),
  qos: 1 | 2,
  total: number,
  onAcked: (n: number) => void,
  retain = false,
): Promise<Set<number>> {
  const topicOf = typeof topic === 'string' ? () => topic : topic;
  const acked = new Set<number>();
  const window = 50;
  let next = 0;
  let outstanding = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (client.connected && outstanding < window && next < total) {
        const seq = next++;
        outstanding++;
        client.publish(topicOf(seq), String(seq), { qos, retain }, (err) => {
          outstanding--;
          if (!err) {
            acked.add(seq);
            onAcked(acked.size);
          }
          if (next >= total && outstanding === 0) resolve();
          // MQTT.js fails queued publishes synchronously when the socket dies: do not recurse.
          else setImmediate(pump);
        });
      }
    };
    client.once('close', () => resolve());
    pump();
  });
  return acked;
}

/** Collects payloads as sequence numbers until `expected` are all present or no more arrive. */
export async function collect(inbox: Inbox, expected: Set<number>, timeoutMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let lastCount = -1;
  let quietSince = Date.now();
  for (;;) {
    const got = new Set(inbox.messages.map((m) => Number(m.payload.toString())));
    if ([...expected].every((s) => got.has(s))) break;
    if (inbox.messages.length !== lastCount) {
      lastCount = inbox.messages.length;
      quietSince = Date.now();
    }
    if (Date.now() > deadline || Date.now() - quietSince > 3000) break;
    await sleep(25);
  }
  await sleep(200); // let stragglers (duplicates) arrive so they are counted
  return inbox.messages.map((m) => Number(m.payload.toString()));
}

export function missing(expected: Set<number>, got: number[]): number[] {
  const have = new Set(got);
  return [...expected].filter((s) => !have.has(s));
}

export function duplicates(got: number[]): number {
  return got.length - new Set(got).size;
}

