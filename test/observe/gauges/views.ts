// The three views an operator reads, read the way an operator reads them: GET /metrics, the
// `$SYS/broker/...` topics over an MQTT subscription, and the admin API's JSON. Each is turned into
// the Figures shape of model.ts, so the broker's figures and the model's compare with deepEqual.
import type { MqttClient } from 'mqtt';
import { startSysPublisher, type SysPublisher } from '../../../src/observe/sys-topics.js';
import type { TestServer } from '../../helpers/server.js';
import { connectClient, endClient } from '../../helpers/mqttjs.js';
import { scrape } from '../../helpers/metrics.js';
import { http, sampleValue } from '../helpers.js';
import { normalise, SYS_KEYS, type Figures, type Observer, type SysRetained } from './model.js';

export const ADMIN_TOKEN = 'gauges-admin-token-0123456789';
const SYS = '$SYS/broker/';

/** An admin API request with the token; the answer's status and JSON body. */
export async function admin(t: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await http(t.port('ws'), path, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: r.text ? r.json() : undefined };
}

/**
 * The test's $SYS reader: an MQTT 3.1.1 client on the WebSocket listener subscribed to
 * `$SYS/broker/#`, as the console is. The server runs with `sysIntervalSec=0`; this starts the same
 * publisher (startSysPublisher over the server's own broker view) with an interval that never comes
 * within a test, and `sample()` takes one sample when the test says, so a figure read is one
 * published after the step it checks, never a sample half a step old.
 */
export class SysWatcher {
  readonly observer: Observer = { clientId: 'sys-watch', filter: `${SYS}#`, connection: 'ws 3.1.1' };
  /** The tree as received: topic (full) → payload. Every value is retained, so this is also the tree's share of the retained messages. */
  readonly latest = new Map<string, string>();
  private uptimes = 0;

  private constructor(
    private readonly client: MqttClient,
    private readonly publisher: SysPublisher,
  ) {
    client.on('message', (topic, payload) => {
      if (payload.length === 0) this.latest.delete(topic);
      else this.latest.set(topic, payload.toString('utf8'));
      if (topic === `${SYS}uptime`) this.uptimes++;
    });
  }

  static async start(t: TestServer): Promise<SysWatcher> {
    const publisher = startSysPublisher(t.server.source, 24 * 3600);
    const client = await connectClient(t.url('ws'), { clientId: 'sys-watch', protocolVersion: 4, clean: true });
    const w = new SysWatcher(client, publisher);
    await client.subscribeAsync(w.observer.filter, { qos: 0 });
    await w.waitUptime(0, 'the retained $SYS tree');
    return w;
  }

  /** Takes one $SYS sample and waits until all of it has arrived (uptime comes last); returns the tree then. */
  async sample(): Promise<SysRetained> {
    const seen = this.uptimes;
    this.publisher.tick();
    await this.waitUptime(seen, 'a $SYS sample');
    return new Map(this.latest);
  }

  private async waitUptime(seen: number, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.uptimes <= seen) {
      if (Date.now() > deadline || !this.client.connected) throw new Error(`no ${what} within 5 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** This sample's values of the compared keys. */
  values(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of SYS_KEYS) out[k] = this.latest.get(SYS + k) ?? '(not published)';
    return out;
  }

  async stop(): Promise<void> {
    this.publisher.stop();
    await endClient(this.client, true);
  }
}

/** What the broker's three views show now, with the $SYS sample taken first. */
export async function readFigures(t: TestServer, sys: SysWatcher): Promise<{ figures: Figures; tree: SysRetained }> {
  const tree = await sys.sample();
  const p = await scrape(t);
  const connections: Record<string, number> = {};
  for (const s of p.samples) {
    if (s.name !== 'starling_connections') continue;
    const key = `${s.labels.listener.split('://')[0]} ${s.labels.protocol}`;
    connections[key] = (connections[key] ?? 0) + s.value;
  }
  const g = (name: string, labels: Record<string, string> = {}): number => sampleValue(p, name, labels);
  const get = async (path: string): Promise<any> => {
    const r = await admin(t, 'GET', path);
    if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}`);
    return r.json;
  };
  const row = (c: any) => ({ clientId: c.clientId, protocol: c.protocol, queued: c.queued, inflight: c.inflight, subscriptions: c.subscriptions });
  const [overview, clients, subscriptions, retained] = await Promise.all(['/api/v1/broker', '/api/v1/clients', '/api/v1/subscriptions', '/api/v1/retained?filter=%23'].map(get));
  // Every client id with a session: those the subscription list names, and every connected one.
  const ids = [...new Set([...subscriptions.subscriptions.map((s: any) => s.clientId), ...clients.clients.map((c: any) => c.clientId)])] as string[];
  const figures: Figures = {
    metrics: {
      connections,
      sessions: { online: g('starling_sessions', { state: 'online' }), offline: g('starling_sessions', { state: 'offline' }) },
      subscriptions: g('starling_subscriptions'),
      queuedMessages: g('starling_queued_messages'),
      inflightMessages: g('starling_inflight_messages'),
      queuedBytes: g('starling_queued_bytes'),
      sessionStateBytes: g('starling_session_state_bytes'),
      retainedMessages: g('starling_retained_messages'),
      retainedBytes: g('starling_retained_bytes'),
      connectionsAccepted: g('starling_connections_accepted_total'),
      willsPublished: g('starling_wills_published_total'),
    },
    sys: sys.values(),
    admin: {
      overview: {
        clients: overview.clients,
        sessions: overview.sessions,
        retained: overview.retained,
        connectionsTotal: overview.stats.connectionsTotal,
        willsPublished: overview.stats.willsPublished,
      },
      client: Object.fromEntries(await Promise.all(clients.clients.map(async (c: any) => [c.clientId, row(await get(`/api/v1/clients/${encodeURIComponent(c.clientId)}`))]))),
      subscriptionsOf: Object.fromEntries(
        await Promise.all(ids.map(async (id) => [id, (await get(`/api/v1/subscriptions?clientId=${encodeURIComponent(id)}`)).subscriptions.map((s: any) => `${s.filter} q${s.qos}`).sort()])),
      ),
      retainedTopic: Object.fromEntries(await Promise.all(retained.messages.map(async (m: any) => [m.topic, (await get(`/api/v1/retained?topic=${encodeURIComponent(m.topic)}`)).size]))),
      clients: { total: clients.total, rows: clients.clients.map(row) },
      subscriptions: {
        total: subscriptions.total,
        rows: subscriptions.subscriptions.map((s: any) => ({ clientId: s.clientId, filter: s.filter, qos: s.qos, online: s.online })),
      },
      retained: { total: retained.total, rows: retained.messages.map((m: any) => ({ topic: m.topic, size: m.size })) },
    },
  };
  return { figures: normalise(figures), tree };
}
