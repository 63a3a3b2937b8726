// MQTT over WebSocket on the application's own HTTP(S) server (plain node:http, Express, Fastify,
// Koa): one `upgrade` listener for the MQTT path, the same checks as our own ws/ws+ssl listeners.
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Server as TlsServer } from 'node:tls';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { AcceptTransport, ListenerInfo } from '../transport/transport.js';
import type { EndpointDescription } from '../transport/http-fallback.js';
import { webSocketUpgrade } from '../transport/ws-upgrade.js';
import type { WebSocketOptions } from '../transport/options.js';
import { clientUrl, LISTENER_KINDS } from '../transport/kinds.js';

/** Adds the MQTT endpoint at `path` to `server`; returns what removes it again. */
export function attachWebSocket(server: HttpServer | HttpsServer, path: string, webSocket: WebSocketOptions, log: Logger, accept: AcceptTransport): () => void {
  if (typeof server?.on !== 'function' || typeof server.address !== 'function') throw new TypeError('attachWebSocket needs a node:http or node:https server');
  if (!/^\/[^\s?#]*$/.test(path)) throw new TypeError(`"${path}" must be a path starting with / (e.g. /mqtt)`);
  // An https server is a tls.Server underneath.
  const secure = server instanceof TlsServer;
  const scheme = secure ? 'ws+ssl' : 'ws';
  const dial = LISTENER_KINDS[scheme].dial;
  /** The endpoint as bound now: an application may attach before it listens. */
  const info = (): ListenerInfo => {
    const a = server.address();
    const host = a && typeof a === 'object' ? a.address : '';
    const port = a && typeof a === 'object' ? a.port : 0;
    return { url: `${dial}://${isIPv6(host) ? `[${host}]` : host}:${port}`, scheme, host, port, path };
  };
  // Read when a refusal is written: an application may attach before its server is bound.
  const describe: EndpointDescription = {
    path,
    secure,
    get fallbackUrl() {
      return clientUrl(info(), path);
    },
  };
  // Upgrades for other paths are the application's (its own WebSocket routes): left alone.
  const upgrade = webSocketUpgrade({ info, describe, webSocket, log, otherPaths: 'ignore' }, accept);
  server.on('upgrade', upgrade);
  log.info({ path, secure }, 'MQTT over WebSocket attached to the application\'s HTTP server');
  return () => void server.off('upgrade', upgrade);
}
