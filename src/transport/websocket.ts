// ws:// and ws+ssl:// listeners: an HTTP(S) server of our own, the `ws` library in noServer mode
// for the upgrade (ws-upgrade.ts), and plain HTTP requests offered to the plug-in hook, then to our fallback page.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer } from 'node:tls';
import { clientUrl, LISTENER_KINDS } from './kinds.js';
import type { AcceptTransport, ListenerInfo, ListenerSpec } from './transport.js';
import { boundUrl, gateSockets, listenOn, watchTlsFailures, siblingsOf, stopAccepting, type ListenerOptions, type OpenListener } from './listen.js';
import { adviceFor } from './mistakes.js';
import { logLimited, OncePerWindow } from './log-limit.js';
import { answerPlainHttp, type EndpointDescription } from './http-fallback.js';
import { describeOrigins } from './ws-handshake.js';
import { webSocketUpgrade } from './ws-upgrade.js';
import { WsPinger } from './ws-transport.js';
import { certificateServerOptions, checkKeyPair, readTlsFiles, secureContextOptions } from './tls-options.js';
import { watchTlsFiles } from './tls-reload.js';

export async function openWebSocketListener(addr: ListenerSpec, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const { log } = opts;
  const { webSocket, tls } = opts.transport;
  const url = addr.url;
  const secure = LISTENER_KINDS[addr.scheme].tls !== 'none';
  const path = addr.path ?? webSocket.path;
  const info: ListenerInfo = { url, scheme: addr.scheme, host: addr.host, port: addr.port, path };
  const describe: EndpointDescription = { path, secure, fallbackUrl: clientUrl(info) };

  const files = secure ? readTlsFiles(tls, false) : undefined;
  const server: HttpServer = files ? createHttpsServer(certificateServerOptions(tls, files)) : createHttpServer();

  // Counted and timed from accept, through the TLS handshake and the upgrade. Behind a trusted proxy
  // the socket's address is the proxy's: the client's address is counted once the upgrade names it.
  const tickets = gateSockets(server, info, opts.gate, { byAddress: !webSocket.trustForwardedFor, http: true });

  server.on('request', (req, res) => {
    // Plain HTTP (console, /metrics, admin API) is not an MQTT connection: Node's HTTP timeouts govern
    // it, and it keeps the place it took at accept until it closes. One let in over a limit only to
    // show it is HTTP holds none: it is answered and closed, not kept alive.
    if (!tickets.leave(req.socket as Socket)) res.shouldKeepAlive = false;
    try {
      if (opts.http?.(req, res)) return;
    } catch (err) {
      log.error({ err, listener: url, path: req.url }, 'HTTP handler failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal error\n');
      }
      return;
    }
    answerPlainHttp(req, res, describe);
  });

  // One ping interval for the listener's connections, not one per connection.
  const pinger = webSocket.pingIntervalSec > 0 ? new WsPinger(webSocket.pingIntervalSec * 1000) : undefined;
  server.on('upgrade', webSocketUpgrade({ info: () => info, describe, webSocket, log, otherPaths: 'refuse', tickets, pinger }, accept));

  // Bytes that are not HTTP at all: a raw MQTT client or a TLS client on a plain port. The advice is
  // logged once a minute per address: a client retrying every second cannot flood the log.
  const adviceLines = new OncePerWindow();
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    const raw = err.rawPacket;
    if (err.code === 'HPE_INVALID_METHOD' && raw && raw.length > 0) {
      const spoken = !secure && raw[0] === 0x16 ? 'tls' : 'mqtt';
      const remote = (socket as Socket).remoteAddress;
      logLimited(adviceLines, log, 'warn', remote ?? '', { listener: url, remote }, adviceFor(info, spoken, siblingsOf(opts), path));
      socket.destroy();
      return;
    }
    if ((socket as Socket).writable && !(socket as Socket).writableEnded) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      setTimeout(() => socket.destroy(), 1000).unref();
    } else socket.destroy();
  });
  if (secure) watchTlsFailures(server, info, opts);

  info.port = await listenOn(server, addr.host, addr.port, url, log);
  info.url = boundUrl(url, info.port);
  info.origins = describeOrigins(webSocket.allowedOrigins, addr.host);
  // `*` lets any site's pages ride a visitor's browser in; it must be chosen, and it is said aloud.
  if (webSocket.allowedOrigins.includes('*')) {
    log.warn({ listener: info.url }, 'WebSocket listener accepts pages from any origin (webSocketAllowedOrigins=*); list your web apps\' origins to keep other sites out');
  }
  describe.fallbackUrl = clientUrl(info);
  const stopWatching = files
    ? watchTlsFiles(files, {
        intervalSec: tls.refreshCheckSec,
        listener: url,
        log,
        read: () => readTlsFiles(tls, false),
        apply: (next) => {
          checkKeyPair(next, tls);
          (server as unknown as TlsServer).setSecureContext(secureContextOptions(tls, next, false));
        },
      })
    : () => {};
  return {
    info,
    close: () => {
      stopWatching();
      pinger?.stop();
      return stopAccepting(server);
    },
  };
}
