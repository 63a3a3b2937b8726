// The broker under fuzz, in its own process so that an exit is seen rather than taking the test
// runner with it, and a healthy MQTT.js pair (subscriber over TCP, publisher over WebSocket) whose
// round trip is checked between fuzz runs. After a crash the broker is started again, so that
// fast-check can go on (shrinking needs a live broker).
import type { MqttClient } from 'mqtt';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';

/** mqttMessageMaxLength of the fuzzed broker (its default, 1 MiB). */
export const FUZZ_MAX_PACKET = 1024 * 1024;

/**
 * The broker's configuration: defaults, except an in-memory store and smaller per-session queues,
 * so that thousands of fuzz sessions left behind (clean=false) stay small in the test.
 */
export const FUZZ_FLAGS: Record<string, string> = {
  mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0',
  persistence: 'memory',
  connectTimeoutSec: '5',
  maxQueuedMessages: '100',
  maxQueuedBytes: '1MiB',
  sysIntervalSec: '0',
};

export class FuzzTarget {
  private broker!: BrokerProcess;
  private sub!: MqttClient;
  private pub!: MqttClient;
  private inbox!: Inbox;
  private sent = 0;
  private stopped = false;
  /** Settles when the current broker process exits. */
  private exited!: Promise<void>;
  /** Broker exits seen (each followed by a restart). */
  readonly exits: string[] = [];
  /** Healthy round trips, ms. */
  readonly roundTrips: number[] = [];

  static async start(): Promise<FuzzTarget> {
    const t = new FuzzTarget();
    await t.boot();
    return t;
  }

  private async boot(): Promise<void> {
    this.broker = await startBrokerProcess(FUZZ_FLAGS);
    const child = this.broker.child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const url = (scheme: string, path = ''): string => `${scheme}://127.0.0.1:${this.broker.port(scheme)}${path}`;
    this.sub = await connectClient(url('mqtt'), { protocolVersion: 5, clientId: 'fuzz-healthy-sub' });
    this.inbox = new Inbox(this.sub);
    await this.sub.subscribeAsync('health/#', { qos: 1 });
    this.pub = await connectClient(url('ws', '/mqtt'), { protocolVersion: 5, clientId: 'fuzz-healthy-pub' });
    this.sent = 0;
  }

  get ports(): { tcp: number; ws: number } {
    return { tcp: this.broker.port('mqtt'), ws: this.broker.port('ws') };
  }

  alive(): boolean {
    return this.broker.child.exitCode === null && this.broker.child.signalCode === null;
  }

  /**
   * Checks the broker process is up and the healthy pair still round-trips a QoS 1 message.
   * Returns what went wrong (undefined when all is well); on a crash, restarts the broker.
   */
  async check(boundMs: number): Promise<string | undefined> {
    if (!this.alive()) return this.recordExit();
    const t0 = Date.now();
    const n = ++this.sent;
    const before = this.inbox.messages.length;
    let timer: NodeJS.Timeout | undefined;
    try {
      // MQTT.js keeps a QoS 1 publish waiting across a lost connection: bound it, and stop at an exit.
      await Promise.race([
        this.pub.publishAsync(`health/${n}`, String(n), { qos: 1 }).then(() => this.inbox.waitFor(before + 1, boundMs)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no round trip within ${boundMs} ms`)), boundMs);
          void this.exited.then(() => reject(new Error('broker exited')));
        }),
      ]);
      this.roundTrips.push(Date.now() - t0);
    } catch (err) {
      clearTimeout(timer);
      // A broker that crashed closes its sockets before its exit is reported: give the exit time to arrive.
      const deadline = Date.now() + 3000;
      while (this.alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!this.alive()) return this.recordExit();
      return `the healthy client was not served: ${(err as Error).message} (publisher connected: ${this.pub.connected}, subscriber connected: ${this.sub.connected})`;
    }
    clearTimeout(timer);
    if (!this.sub.connected || !this.pub.connected) return 'a healthy client was disconnected';
    return undefined;
  }

  private async recordExit(): Promise<string> {
    const c = this.broker.child;
    const msg = `the broker process exited (code ${c.exitCode}, signal ${c.signalCode}):\n${this.broker.stderrTail()}`;
    this.exits.push(msg);
    this.sub.end(true);
    this.pub.end(true);
    if (!this.stopped) await this.boot();
    return msg;
  }

  /** Median and worst healthy round trip, ms. */
  roundTripSummary(): string {
    const s = [...this.roundTrips].sort((a, b) => a - b);
    return s.length ? `median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms over ${s.length}` : 'none';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([endClient(this.sub, true), endClient(this.pub, true)]);
    await this.broker.kill('SIGTERM');
  }
}
