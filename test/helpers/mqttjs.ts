// MQTT.js helpers for integration tests: every wait is bounded in time.
import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Connects and resolves on CONNACK; rejects on error or after the time limit. */
export function connectClient(url: string, options: IClientOptions = {}, timeoutMs = 5000): Promise<MqttClient> {
  return whenConnected(mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: timeoutMs, ...options }), url, timeoutMs);
}

/** Resolves with `client` on CONNACK; rejects on error, on a close before CONNACK, or after the time limit. */
export function whenConnected(client: MqttClient, where: string, timeoutMs: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.end(true);
      reject(new Error(`no CONNACK from ${where} within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      client.end(true);
      reject(err);
    });
    // A server that refuses at the transport level (e.g. a TLS alert) closes without an error event.
    client.once('close', () => {
      clearTimeout(timer);
      if (!client.connected) reject(new Error(`connection to ${where} closed before CONNACK`));
    });
  });
}

/** SUBACK codes for these filters, also when MQTT.js rejects because one of them is a failure. */
export async function subackCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters)).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw err;
    return granted;
  }
}

/** Collects messages from the moment it is called. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: Array<() => void> = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet });
      for (const w of this.waiters) w();
    });
  }

  /** Resolves once `count` messages have arrived; rejects after the time limit. */
  waitFor(count: number, timeoutMs = 5000): Promise<Received[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages.slice(0, count));
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.messages.length < count) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(this.messages.slice(0, count));
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`expected ${count} messages, got ${this.messages.length} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(check);
    });
  }
}

export function endClient(client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => client.end(force, {}, () => resolve()));
}

/** Waits for the given ms (for "nothing else arrives" checks; keep short). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Records every packet the client receives, from the moment it is called. */
export function recordPackets(client: MqttClient): Array<Record<string, any>> {
  const seen: Array<Record<string, any>> = [];
  client.on('packetreceive', (p) => seen.push(p as unknown as Record<string, any>));
  return seen;
}

/**
 * Connects with an Inbox listening from the start: a resumed session's queued messages may arrive
 * right behind the CONNACK, before code after an awaited connect could attach a listener.
 */
export async function connectWithInbox(url: string, options: IClientOptions = {}, timeoutMs = 5000): Promise<{ client: MqttClient; inbox: Inbox }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: timeoutMs, ...options });
  const inbox = new Inbox(client);
  await whenConnected(client, url, timeoutMs);
  return { client, inbox };
}

/** The CONNACK code MQTT.js reports: 0 when it connected (the client is closed again), else the refusal. */
export async function connackCode(url: string, options: IClientOptions = {}, timeoutMs = 5000): Promise<number> {
  try {
    await endClient(await connectClient(url, options, timeoutMs), true);
    return 0;
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}
