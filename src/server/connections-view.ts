// The server's open connections as observation (admin API, /metrics) sees them.
import type { ClientView, ConnectionsView } from '../observe/ports.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { ListenerInfo } from '../transport/transport.js';
import { clientUrl } from '../transport/kinds.js';
import type { Connection } from './connection.js';

/** Each listener's client URL, worked out once: /metrics lists every connection on each scrape. */
const dialUrls = new WeakMap<ListenerInfo, string>();
function dialUrl(l: ListenerInfo): string {
  let url = dialUrls.get(l);
  if (url === undefined) {
    // A stream the application handed to the library (port 0) has no address to dial: its name stands.
    url = l.port ? clientUrl(l) : l.url;
    dialUrls.set(l, url);
  }
  return url;
}

export function connectionsView(connections: ReadonlySet<Connection>, listeners: () => readonly ListenerInfo[]): ConnectionsView {
  const connected = function* (): Iterable<Connection> {
    for (const c of connections) if (c.channel.state === 'connected') yield c;
  };
  return {
    *connectedClients(): Iterable<ClientView> {
      for (const c of connected()) {
        const ch = c.channel;
        const view: ClientView = {
          clientId: ch.clientId,
          address: c.remoteAddress,
          remotePort: c.remotePort,
          protocolVersion: ch.version,
          transport: c.kind,
          listener: c.listener.url,
          listenerUrl: dialUrl(c.listener),
          connectedAt: ch.connectedAt,
        };
        if (ch.username !== undefined) view.username = ch.username;
        yield view;
      }
    },
    kick(clientId: string): boolean {
      for (const c of connected()) {
        if (c.channel.clientId !== clientId) continue;
        // MQTT 5 clients are told why (Administrative action); the will is published as for any
        // server-side close [MQTT-3.1.2-8].
        if (c.channel.version === 5) c.channel.send({ type: 'disconnect', reasonCode: ReasonCode.AdministrativeAction });
        c.channel.end('abnormal', { reason: 'kicked through the admin API', reasonCode: ReasonCode.AdministrativeAction });
        return true;
      }
      return false;
    },
    listeners,
  };
}
