// A load-generator process (started with child_process.fork by the benchmark). It owns a range of
// clients, connects them, publishes by a plan and answers the parent's commands over IPC; see
// protocol.ts. Nothing here decides what a scenario is: the parent does.
import { BenchClient, WorkerStats } from './client.js';
import { Pacer } from './pacer.js';
import type { Command, ConnectResult, Counts, GroupSpec, Reply, Request, Snapshot } from './protocol.js';
import { DISCONNECT, PINGREQ, connectPacket, publishTemplate, subscribePacket } from './wire.js';

const stats = new WorkerStats();
/** By client id: a worker may hold publishers and subscribers numbered alike. */
const clients = new Map<string, BenchClient>();
let pacer: Pacer | undefined;
let pinger: NodeJS.Timeout | undefined;

const fill = (pattern: string, i: number): string => pattern.replaceAll('{i}', String(i));

async function connectGroup(g: GroupSpec): Promise<ConnectResult> {
  const started = Date.now();
  const result: ConnectResult = { connected: 0, failed: 0, sessionPresent: 0, ms: 0 };
  const v = g.protocolVersion ?? 4;
  const template = g.publish ? publishTemplate(fill(g.publish.topic, g.first), g.publish.qos, g.publish.payloadSize, v) : undefined;
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < g.count) {
      const k = next++;
      const i = g.first + k;
      const id = g.clientIdPrefix + i;
      let c = clients.get(id);
      if (!c) {
        c = new BenchClient(i, stats);
        clients.set(id, c);
      }
      if (c.connected) continue;
      c.subscribed = g.subscribe !== undefined;
      c.protocol = v;
      if (g.publish) {
        // One encode per distinct topic; clients sharing a topic share the template.
        c.template = g.publish.topic.includes('{i}') ? publishTemplate(fill(g.publish.topic, i), g.publish.qos, g.publish.payloadSize, v) : template;
        c.qos = g.publish.qos;
      }
      const local = g.localAddresses?.length ? g.localAddresses[k % g.localAddresses.length] : undefined;
      const sub = g.subscribe ? subscribePacket(1, fill(g.subscribe.filter, i), g.subscribe.qos, v) : undefined;
      try {
        if (await c.open(g.target, local, connectPacket(id, g.clean, g.keepalive, v), sub)) result.sessionPresent++;
        result.connected++;
      } catch (err) {
        result.failed++;
        result.firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, g.concurrency) }, one));
  result.ms = Date.now() - started;
  startPinger(g.keepalive);
  return result;
}

/** Keeps idle connections alive: a PINGREQ on every connection that wrote nothing for keepalive/2. */
function startPinger(keepalive: number): void {
  if (pinger || keepalive <= 0) return;
  const every = (keepalive * 1000) / 2;
  pinger = setInterval(() => {
    const quiet = Date.now() - every;
    for (const c of clients.values()) if (c.connected && c.lastWriteAt < quiet) c.write(PINGREQ);
  }, every);
}

function snapshot(): Snapshot {
  return {
    elapsedMs: Number(process.hrtime.bigint() - stats.windowStart) / 1e6,
    received: stats.received,
    sent: stats.sent,
    acked: stats.acked,
    latency: stats.latency.toData(),
  };
}

function counts(): Counts {
  let sent = 0;
  let acked = 0;
  let inflight = 0;
  let connected = 0;
  let minPerSubscriber = Infinity;
  let subscribers = 0;
  for (const c of clients.values()) {
    sent += c.sent;
    acked += c.acked;
    inflight += c.inflight;
    if (c.connected) connected++;
    if (c.subscribed) {
      subscribers++;
      minPerSubscriber = Math.min(minPerSubscriber, c.unique);
    }
  }
  return {
    sent,
    acked,
    inflight,
    received: stats.totalReceived,
    duplicates: stats.duplicates,
    gaps: stats.gaps,
    forgiven: stats.forgiven,
    dropped: stats.dropped,
    subscribers,
    minPerSubscriber: subscribers === 0 ? 0 : minPerSubscriber,
    connected,
    done: pacer?.done ?? true,
  };
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'connect':
      return connectGroup(cmd.group);
    case 'publish': {
      pacer?.stop();
      pacer = new Pacer([...clients.values()].filter((c) => c.template !== undefined), cmd.plan, stats);
      pacer.start();
      return null;
    }
    case 'reset':
      stats.reset();
      return null;
    case 'snapshot':
      return snapshot();
    case 'stop':
      pacer?.stop();
      return null;
    case 'counts':
      return counts();
    case 'disconnect':
      pacer?.stop();
      for (const [id, c] of clients) if (cmd.prefix === undefined || id.startsWith(cmd.prefix)) c.close(DISCONNECT);
      return null;
    case 'exit':
      pacer?.stop();
      if (pinger) clearInterval(pinger);
      for (const c of clients.values()) c.close(undefined);
      setTimeout(() => process.exit(0), 50);
      return null;
  }
}

process.on('message', (msg: Request) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies Reply),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
  );
});
// The parent going away (Ctrl-C, crash) ends the worker: its connections must not outlive the run.
process.on('disconnect', () => process.exit(0));
