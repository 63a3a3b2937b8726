// A STAND-IN for Starling's ws:// listener, used only until Starling's server is ready: Aedes speaks
// MQTT over WebSocket at /mqtt and createHttpHandler (the real one) answers plain HTTP on the same
// port, as Starling's listener will. An adapter turns Aedes's events into the observation ports so
// the $SYS publisher and the admin API run for real. To switch the browser test to Starling,
// replace startStandIn() with a Starling server whose ws listener has the HTTP hook installed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { Aedes, type Client } from 'aedes';
import { createHttpHandler } from '../../src/observe/http.js';
import { startSysPublisher, type SysPublisher } from '../../src/observe/sys-topics.js';
import type { AdminSource, ClientView, SessionView } from '../../src/observe/ports.js';
import type { StoredMessage, SubscriptionRecord } from '../../src/store/ports.js';
import type { ListenerInfo } from '../../src/transport/transport.js';
import { repoRoot } from '../helpers/paths.js';

export interface StandIn {
  /** http://127.0.0.1:PORT/ — the page a person opens. */
  httpUrl: string;
  /** ws://127.0.0.1:PORT/<path> — what the console's default URL must be. */
  wsUrl: string;
  adminToken: string;
  /** Protocol the MQTT side speaks: Aedes has no MQTT 5. */
  protocolVersion: 4 | 5;
  close(): Promise<void>;
}

class AedesView implements AdminSource {
  readonly stats = {
    startedAt: Date.now(),
    messagesReceived: 0,
    messagesSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    willsPublished: 0,
    connectionsTotal: 0,
    authFailures: 0,
    drops: {} as Record<string, number>,
  };
  readonly sessions = new Map<string, SessionView & { subscriptions: Map<string, SubscriptionRecord> }>();
  private readonly views = new Map<string, ClientView>();
  private readonly retainedMap = new Map<string, StoredMessage>();
  private n = 0;
  readonly ids = { next: () => `standin-${this.n++}` };
  readonly retained = {
    size: 0,
    get: (topic: string) => this.retainedMap.get(topic),
    match: () => [...this.retainedMap.values()],
  };

  constructor(
    private readonly aedes: Aedes,
    private readonly listener: () => ListenerInfo,
  ) {
    aedes.on('clientReady', (c: Client) => {
      this.stats.connectionsTotal++;
      const req = c.req;
      this.views.set(c.id, {
        clientId: c.id,
        address: req?.socket.remoteAddress ?? '?',
        ...(req?.socket.remotePort ? { remotePort: req.socket.remotePort } : {}),
        protocolVersion: c.version === 5 ? 5 : c.version === 3 ? 3 : 4,
        transport: 'ws',
        listener: this.listener().url,
        connectedAt: Date.now(),
      });
      this.sessions.set(c.id, { clientId: c.id, online: true, protocolVersion: c.version, queuedCount: 0, inflight: { size: 0 }, subscriptions: new Map() });
    });
    aedes.on('clientDisconnect', (c: Client) => {
      this.views.delete(c.id);
      this.sessions.delete(c.id);
    });
    aedes.on('subscribe', (subs, c: Client) => {
      for (const s of subs) {
        this.sessions.get(c.id)?.subscriptions.set(s.topic, { filter: s.topic, qos: s.qos, noLocal: false, retainAsPublished: false, retainHandling: 0 });
      }
    });
    aedes.on('unsubscribe', (topics: string[], c: Client) => {
      for (const t of topics) this.sessions.get(c.id)?.subscriptions.delete(t);
    });
    aedes.on('publish', (packet, c) => {
      if (!c) return;
      this.stats.publishReceived++;
      this.stats.messagesReceived++;
      this.stats.bytesReceived += packet.payload.length + packet.topic.length;
      if (packet.retain) {
        if (packet.payload.length === 0) this.retainedMap.delete(packet.topic);
        else this.retainedMap.set(packet.topic, { id: this.ids.next(), topic: packet.topic, payload: Buffer.from(packet.payload), qos: packet.qos, retain: true, createdAt: Date.now() });
        this.retained.size = this.retainedMap.size;
      }
    });
  }

  get clients() {
    return { size: this.views.size };
  }
  now(): number {
    return Date.now();
  }
  publish(m: StoredMessage): number {
    this.aedes.publish({ cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: false }, () => {});
    return 0;
  }
  connectedClients(): Iterable<ClientView> {
    return this.views.values();
  }
  kick(clientId: string): boolean {
    const client = (this.aedes as unknown as { clients: Record<string, Client> }).clients[clientId];
    if (!client) return false;
    client.close();
    return true;
  }
  listeners(): readonly ListenerInfo[] {
    return [this.listener()];
  }
}

export async function startStandIn(options: { sysIntervalSec: number; adminToken: string; webSocketPath?: string }): Promise<StandIn> {
  const wsPath = options.webSocketPath ?? '/mqtt';
  const aedes = await Aedes.createBroker();
  let info: ListenerInfo = { url: 'ws://127.0.0.1:0', scheme: 'ws', host: '127.0.0.1', port: 0 };
  const view = new AedesView(aedes, () => info);
  const handler = createHttpHandler({
    consoleDir: join(repoRoot, 'web', 'dist'),
    admin: { source: view, token: options.adminToken },
    ready: () => true,
    webSocketPath: wsPath,
  });
  const server: Server = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
  const wss = new WebSocketServer({ server, path: wsPath });
  wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  info = { url: `ws://127.0.0.1:${port}`, scheme: 'ws', host: '127.0.0.1', port };
  const sys: SysPublisher = startSysPublisher(view, options.sysIntervalSec, { publishCounted: false });
  return {
    httpUrl: `http://127.0.0.1:${port}/`,
    wsUrl: `ws://127.0.0.1:${port}${wsPath}`,
    adminToken: options.adminToken,
    protocolVersion: 4,
    close: async () => {
      sys.stop();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
