// ws:// and ws+ssl:// listeners: an HTTP(S) server of our own, the `ws` library in noServer mode
// for the upgrade, and plain HTTP requests offered to the plug-in hook, then to our fallback page.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { clientUrl, type ListenerAddress } from '../config/listener-url.js';
import type { AcceptTransport, ListenerInfo } from './transport.js';
import { boundUrl, listenOn, onTlsClientError, peerOf, siblingsOf, stopAccepting, type ListenerOptions, type OpenListener } from './listen.js';
import { adviceFor } from './mistakes.js';
import { answerPlainHttp, endpointUrl, type EndpointDescription } from './http-fallback.js';
import { chooseSubprotocol, clientAddress, isOwnOrigin, offeredSubprotocols, originAllowed, refuseUpgrade, requestPath, MQTT_SUBPROTOCOLS } from './ws-handshake.js';
import { WsPinger, WsTransport } from './ws-transport.js';
import { certificateServerOptions, checkKeyPair, readTlsFiles, secureContextOptions } from './tls-options.js';
import { watchTlsFiles } from './tls-reload.js';

/** Room beyond one maximum-size packet for small packets a client coalesces into the same message. */
const FRAME_SLACK = 64 * 1024;

export async function openWebSocketListener(url: string, addr: ListenerAddress, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const { config, log } = opts;
  const secure = addr.scheme === 'ws+ssl';
  const path = addr.path ?? config.webSocketPath;
  const info: ListenerInfo = { url, scheme: addr.scheme, host: addr.host, port: addr.port, path };
  const describe: EndpointDescription = { path, secure, fallbackUrl: clientUrl(info) };

  const files = secure ? readTlsFiles(config, false) : undefined;
  const server: HttpServer = files ? createHttpsServer(certificateServerOptions(config, files)) : createHttpServer();

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // Compression costs CPU and memory per connection and MQTT payloads are often compressed already.
    perMessageDeflate: false,
    maxPayload: config.webSocketMaxFrameSize || config.mqttMessageMaxLength + FRAME_SLACK,
    // Only called with a set containing a known subprotocol (the upgrade handler refused the rest).
    handleProtocols: (protocols: Set<string>) => {
      const choice = chooseSubprotocol([...protocols]);
      return (choice.ok && choice.protocol) || false;
    },
  });

  server.on('request', (req, res) => {
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
  const pinger = config.webSocketPingIntervalSec > 0 ? new WsPinger(config.webSocketPingIntervalSec * 1000) : undefined;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A function of its own, not a closure in this scope: a closure here would keep this scope (the
    // upgrade request and its headers, about 1 KiB) alive for as long as the socket is open.
    socket.on('error', destroySocket);
    const where = endpointUrl(req, describe);
    const reqPath = requestPath(req.url);
    if (reqPath !== path) {
      log.info({ listener: url, remote: req.socket.remoteAddress, path: reqPath }, `WebSocket upgrade on wrong path; the MQTT endpoint is ${path}`);
      refuseUpgrade(socket, 404, 'Not Found', `No MQTT endpoint at "${reqPath}". Starling serves MQTT over WebSocket at path "${path}": ${where}\n`);
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      refuseUpgrade(socket, 400, 'Bad Request', `Only WebSocket upgrades are served here: ${where}\n`);
      return;
    }
    const origin = req.headers.origin;
    const own = origin !== undefined && isOwnOrigin(origin, { secure, host: addr.host, port: info.port }, req.socket.localAddress);
    if (!own && !originAllowed(origin, config.webSocketAllowedOrigins)) {
      log.info({ listener: url, remote: req.socket.remoteAddress, origin: req.headers.origin }, 'WebSocket origin not in webSocketAllowedOrigins');
      refuseUpgrade(socket, 403, 'Forbidden', `Origin ${req.headers.origin} is not allowed (webSocketAllowedOrigins)\n`);
      return;
    }
    const choice = chooseSubprotocol(offeredSubprotocols(req.headers['sec-websocket-protocol']));
    if (!choice.ok) {
      log.info({ listener: url, remote: req.socket.remoteAddress, offered: choice.offered }, 'WebSocket client offered no MQTT subprotocol');
      refuseUpgrade(
        socket,
        400,
        'Bad Request',
        `Unsupported WebSocket subprotocol ${choice.offered.map((p) => `"${p}"`).join(', ')}; Starling speaks ${MQTT_SUBPROTOCOLS.join(', ')} (offer "mqtt")\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const raw = req.socket as Socket;
      accept(
        new WsTransport(ws, socket, info, {
          remoteAddress: clientAddress(req, config.webSocketTrustForwardedFor, config.webSocketTrustedProxyHops),
          remotePort: raw.remotePort ?? 0,
          peer: secure ? peerOf(raw as TLSSocket) : undefined,
          pinger,
        }),
      );
    });
  });

  // Bytes that are not HTTP at all: a raw MQTT client or a TLS client on a plain port.
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    const raw = err.rawPacket;
    if (err.code === 'HPE_INVALID_METHOD' && raw && raw.length > 0) {
      const spoken = !secure && raw[0] === 0x16 ? 'tls' : 'mqtt';
      log.warn({ listener: url, remote: (socket as Socket).remoteAddress }, adviceFor(info, spoken, siblingsOf(opts), path));
      socket.destroy();
      return;
    }
    if ((socket as Socket).writable && !(socket as Socket).writableEnded) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      setTimeout(() => socket.destroy(), 1000).unref();
    } else socket.destroy();
  });
  if (secure) server.on('tlsClientError', onTlsClientError(info, opts));

  info.port = await listenOn(server, addr.host, addr.port, url, log);
  info.url = boundUrl(url, info.port);
  // `*` lets any site's pages ride a visitor's browser in; it must be chosen, and it is said aloud.
  if (config.webSocketAllowedOrigins.includes('*')) {
    log.warn({ listener: info.url }, 'WebSocket listener accepts pages from any origin (webSocketAllowedOrigins=*); list your web apps\' origins to keep other sites out');
  }
  describe.fallbackUrl = clientUrl(info);
  const stopWatching = files
    ? watchTlsFiles(files, {
        intervalSec: config.mqttTlsCertRefreshCheckDurationSec,
        listener: url,
        log,
        read: () => readTlsFiles(config, false),
        apply: (next) => {
          checkKeyPair(next);
          (server as unknown as TlsServer).setSecureContext(secureContextOptions(config, next, false));
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

function destroySocket(this: Duplex): void {
  this.destroy();
}
