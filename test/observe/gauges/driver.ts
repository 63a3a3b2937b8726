// Runs model.ts's steps against a real broker (in-process, real sockets on 127.0.0.1, MQTT.js
// clients of 3.1.1 and 5) and the model side by side; after every step, once the broker has
// settled, every figure of /metrics, $SYS and the admin API must equal the model's.
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { endClient, whenConnected } from '../../helpers/mqttjs.js';
import { describeStep, IDS, LONG, Model, TOPICS, type Figures, type Plan, type Step } from './model.js';
import { admin, ADMIN_TOKEN, readFigures, SysWatcher } from './views.js';

/** How long the figures may take to come true after a step (a loaded machine; a session expiring takes a second of it). */
const SETTLE_MS = 5000;

interface Live {
  client: MqttClient;
  version: 4 | 5;
  /** The Session Expiry Interval of its CONNECT (MQTT 5 may not raise it from 0 at DISCONNECT). */
  expiry: number;
  /** Acknowledging nothing: the acknowledgement MQTT.js is held at (it reads no further until it is given). */
  stalled: boolean;
  held?: () => void;
}

/** Every path where two Figures differ, as `path: broker X, model Y` lines. */
export function differences(broker: unknown, model: unknown, path = ''): string[] {
  if (typeof broker === 'object' && broker !== null && typeof model === 'object' && model !== null) {
    if (Array.isArray(broker) && Array.isArray(model)) {
      // Rows: name the ones only one side has, or that differ, by their JSON.
      const b = new Set(broker.map((r) => JSON.stringify(r)));
      const m = new Set(model.map((r) => JSON.stringify(r)));
      return [...[...b].filter((r) => !m.has(r)).map((r) => `${path}: broker has ${r}`), ...[...m].filter((r) => !b.has(r)).map((r) => `${path}: model has ${r}`)];
    }
    const keys = new Set([...Object.keys(broker), ...Object.keys(model)]);
    return [...keys].flatMap((k) => differences((broker as any)[k], (model as any)[k], path ? `${path}.${k}` : k));
  }
  return broker === model ? [] : [`${path}: broker ${JSON.stringify(broker)}, model ${JSON.stringify(model)}`];
}

export interface RunStats {
  /** Step kinds carried out (not skipped as impossible in the state reached). */
  kinds: Map<string, number>;
  /** Comparisons of all three views with the model that held. */
  comparisons: number;
  /** What the steps led to in the model (model.ts Event), over all runs. */
  events: Map<string, number>;
}

export class GaugesRun {
  private t!: TestServer;
  private sys!: SysWatcher;
  private readonly model: Model;
  private readonly clients = new Map<string, Live>();
  /** The steps so far, as the assertion message shows them. */
  private readonly log: string[] = [];

  private constructor(
    private readonly flags: Record<string, string>,
    private readonly stats: RunStats,
  ) {
    this.model = new Model({ clientId: 'sys-watch', filter: '$SYS/broker/#', connection: 'ws 3.1.1' });
  }

  static async start(flags: Record<string, string>, stats: RunStats): Promise<GaugesRun> {
    const run = new GaugesRun(flags, stats);
    await run.open();
    await run.settle('start');
    return run;
  }

  private async open(): Promise<void> {
    this.t = await startTestServer({ sysIntervalSec: '0', httpAdminToken: ADMIN_TOKEN, ...this.flags });
    this.sys = await SysWatcher.start(this.t);
  }

  /** Fails with `what` and the steps carried out so far (those that found nothing to act on are only counted). */
  private fail(what: string): never {
    const done = this.log.filter((l) => !l.startsWith('(skipped'));
    const skipped = this.log.length - done.length;
    const steps = done.map((l, i) => `  ${i + 1}. ${l}`).join('\n');
    assert.fail(`${what}\nafter these steps${skipped ? ` (and ${skipped} planned that found no client to act on)` : ''}:\n${steps}`);
  }

  private check(ok: boolean, what: string): void {
    if (!ok) this.fail(what);
  }

  async step(plan: Plan): Promise<void> {
    const steps = this.resolve(plan);
    if (steps.length === 0) this.log.push(`(skipped: no client ${plan.kind === 'comeBack' ? 'offline' : 'connected'}) ${plan.kind}`);
    for (const s of steps) {
      const done = await this.carryOut(s);
      this.log.push(done ? describeStep(s) : `(skipped) ${describeStep(s)}`);
      if (!done) continue;
      this.stats.kinds.set(s.kind, (this.stats.kinds.get(s.kind) ?? 0) + 1);
      await this.settle(describeStep(s));
    }
  }

  /** The steps a plan makes in the state reached (model.ts Plan); none when no client is connected to act. */
  private resolve(p: Plan): Step[] {
    const on = this.model.connected();
    switch (p.kind) {
      case 'connect':
      case 'adminPublish':
      case 'restart':
        return [p];
      case 'park':
        return [
          { kind: 'connect', id: p.id, version: p.version, clean: false, expiry: p.version === 5 ? LONG : 0 },
          { kind: 'subscribe', id: p.id, filter: p.filter, qos: p.qos },
          { kind: 'disconnect', id: p.id, how: 'normal' },
        ];
      case 'comeBack': {
        const off = this.model.offline();
        if (off.length === 0) return [];
        const { id, version } = off[p.which % off.length];
        return [{ kind: 'connect', id, version, clean: false, expiry: version === 5 ? LONG : 0 }];
      }
      case 'stall': {
        const them = this.model.connected(false);
        if (them.length === 0) return [];
        const id = them[p.who % them.length];
        return [{ kind: 'subscribe', id, filter: '#', qos: p.qos }, { kind: 'stall', id }];
      }
      case 'unstall': {
        const them = this.model.connected(true);
        return them.length === 0 ? [] : [{ kind: 'unstall', id: them[p.who % them.length] }];
      }
      case 'kick': {
        const off = IDS.find((id) => !on.includes(id));
        const choices = off === undefined ? on : [...on, off];
        return [{ kind: 'kick', id: choices[p.who % choices.length] }];
      }
      case 'adminDelete': {
        const held = TOPICS.filter((t) => this.model.retained.has(t));
        const none = TOPICS.find((t) => !held.includes(t));
        const choices = none === undefined ? held : [...held, none];
        return [{ kind: 'adminDelete', topic: choices[p.which % choices.length] }];
      }
      default: {
        // A client that reads nothing more can only be cut off (or kicked, or taken over, above).
        const able = p.kind === 'disconnect' && p.how === 'drop' ? on : this.model.connected(false);
        if (able.length === 0) return [];
        const { who, ...rest } = p;
        return [{ ...rest, id: able[who % able.length] } as Step];
      }
    }
  }

  /** Does the step to the broker and the model; false when it cannot be done in this state. */
  private async carryOut(s: Step): Promise<boolean> {
    const live = 'id' in s ? this.clients.get(s.id) : undefined;
    switch (s.kind) {
      case 'connect': {
        const expected = this.model.connect(s);
        const l: Live = { client: undefined as unknown as MqttClient, version: s.version, expiry: s.version === 5 ? s.expiry : 0, stalled: false };
        const options: IClientOptions = {
          clientId: s.id,
          protocolVersion: s.version,
          clean: s.clean,
          reconnectPeriod: 0,
          connectTimeout: 5000,
          // No PINGREQ: a stalled client would read no PINGRESP and give up on the connection.
          keepalive: 0,
        };
        if (s.version === 5) options.properties = { sessionExpiryInterval: s.expiry };
        if (s.will) {
          const w = s.will;
          options.will = { topic: w.topic, payload: Buffer.alloc(w.size, 'w'), qos: w.qos, retain: w.retain, ...(w.delay ? { properties: { willDelayInterval: w.delay } } : {}) };
        }
        const client = (l.client = mqtt.connect(this.t.url(), options));
        // MQTT.js hands every message to handleMessage and sends its PUBACK (QoS 1) or PUBCOMP (QoS 2)
        // once that calls back; it reads no further packet meanwhile. A stalled client holds the call.
        client.handleMessage = (_packet, done) => {
          if (l.stalled) l.held = () => done();
          else done();
        };
        const connack = new Promise<boolean>((resolve) => client.once('connect', (p) => resolve(p.sessionPresent)));
        try {
          await whenConnected(client, this.t.url(), 5000);
        } catch (err) {
          this.fail(`${describeStep(s)}: ${(err as Error).message}`);
        }
        // Taken over: the broker closed the old connection.
        if (live) await endClient(live.client, true);
        this.clients.set(s.id, l);
        const present = await connack;
        this.check(present === expected, `${describeStep(s)}: CONNACK Session Present ${present}, the model says ${expected}`);
        return true;
      }
      case 'disconnect': {
        if (!live) return false;
        if (s.how === 'withWill' && live.version !== 5) return false;
        if (s.how === 'endSession' && (live.version !== 5 || live.expiry === 0)) return false;
        this.clients.delete(s.id);
        if (s.how === 'drop') {
          // The socket goes without DISCONNECT: an abnormal close, the will is published.
          live.client.stream.destroy();
          await endClient(live.client, true);
        } else if (s.how === 'withWill') await live.client.endAsync(false, { reasonCode: 0x04 });
        else if (s.how === 'endSession') await live.client.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
        else await endClient(live.client);
        this.model.disconnected(s.id, s.how === 'drop' || s.how === 'withWill', s.how === 'endSession');
        return true;
      }
      case 'kick': {
        const r = await admin(this.t, 'POST', `/api/v1/clients/${encodeURIComponent(s.id)}/kick`);
        this.check(r.status === (live ? 200 : 404), `${describeStep(s)}: answered ${r.status}, the client is ${live ? '' : 'not '}connected`);
        if (!live) return true;
        this.clients.delete(s.id);
        await endClient(live.client, true);
        this.model.disconnected(s.id, true);
        return true;
      }
      case 'subscribe': {
        if (!live) return false;
        const granted = await live.client.subscribeAsync(s.filter, { qos: s.qos });
        this.check(granted[0]?.qos === s.qos, `${describeStep(s)}: granted ${JSON.stringify(granted)}`);
        this.model.subscribe(s.id, s.filter, s.qos);
        return true;
      }
      case 'unsubscribe': {
        if (!live) return false;
        await live.client.unsubscribeAsync(s.filter);
        this.model.unsubscribe(s.id, s.filter);
        return true;
      }
      case 'publish': {
        if (!live) return false;
        await live.client.publishAsync(s.topic, Buffer.alloc(s.size, 'p'), { qos: s.qos, retain: s.retain });
        // A QoS 0 PUBLISH has no answer: a QoS 1 one behind it on the same connection (to a topic no
        // filter here matches) is acknowledged only once the broker has handled it.
        if (s.qos === 0) await live.client.publishAsync('$sync', '', { qos: 1 });
        this.model.route({ topic: s.topic, size: s.size, qos: s.qos, retain: s.retain });
        return true;
      }
      case 'adminPublish': {
        const r = await admin(this.t, 'POST', '/api/v1/publish', { topic: s.topic, payload: 'a'.repeat(s.size), qos: s.qos, retain: s.retain });
        this.check(r.status === 200, `${describeStep(s)}: answered ${r.status} ${JSON.stringify(r.json)}`);
        this.model.route({ topic: s.topic, size: s.size, qos: s.qos, retain: s.retain });
        return true;
      }
      case 'adminDelete': {
        const held = this.model.retained.has(s.topic);
        const r = await admin(this.t, 'DELETE', `/api/v1/retained?topic=${encodeURIComponent(s.topic)}`);
        this.check(r.status === (held ? 200 : 404), `${describeStep(s)}: answered ${r.status}; the model ${held ? 'holds' : 'holds no'} retained message there`);
        if (!held) return true;
        this.model.route({ topic: s.topic, size: 0, qos: 0, retain: true });
        return true;
      }
      case 'stall':
      case 'unstall': {
        live!.stalled = s.kind === 'stall';
        if (s.kind === 'unstall') {
          const held = live!.held;
          live!.held = undefined;
          held?.();
        }
        this.model.stall(s.id, s.kind === 'stall');
        return true;
      }
      case 'restart':
        await this.restart();
        return true;
    }
  }

  /** Stops the server with its clients connected and starts it again on the same data directory. */
  private async restart(): Promise<void> {
    this.model.shutdown();
    await this.sys.stop();
    await this.t.close();
    for (const l of this.clients.values()) await endClient(l.client, true);
    this.clients.clear();
    await this.open();
    this.model.restarted();
    // A will or a session due a second after its connection ended goes after the restart.
    this.model.aSecondLater();
  }

  /**
   * Waits (bounded) until every view equals the model; fails with the differences and the steps.
   * Figures that lag a step (acknowledgements on their way, a session expiring) come true within
   * SETTLE_MS; a figure that is wrong stays wrong.
   */
  private async settle(after: string): Promise<void> {
    const deadline = Date.now() + SETTLE_MS;
    let diff: string[] = [];
    for (;;) {
      const { figures, tree } = await readFigures(this.t, this.sys);
      const expected: Figures = this.model.figures(tree);
      diff = differences(figures, expected);
      if (diff.length === 0) break;
      if (Date.now() > deadline) this.fail(`after "${after}" the figures differ from the model for ${SETTLE_MS} ms:\n    ${diff.join('\n    ')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    this.stats.comparisons++;
  }

  async close(): Promise<void> {
    if (process.env.GAUGES_VERBOSE === '1') process.stderr.write(`run:\n${this.log.map((l) => `  ${l}`).join('\n')}\n`);
    for (const [e, n] of this.model.events) this.stats.events.set(e, (this.stats.events.get(e) ?? 0) + n);
    for (const l of this.clients.values()) await endClient(l.client, true);
    this.clients.clear();
    await this.sys.stop();
    await this.t.close();
  }
}
