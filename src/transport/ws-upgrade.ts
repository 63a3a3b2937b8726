// The WebSocket upgrade of an MQTT endpoint: path, Origin and subprotocol checks, then the
// handshake (ws-accept.ts) and a WsTransport handed to `accept`. Used by our own ws/ws+ssl listeners and by the
// library's attachWebSocket on an application's HTTP server (src/api/attach-websocket.ts).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AcceptTransport, ListenerInfo } from './transport.js';
import type { WebSocketOptions } from './options.js';
import { peerOf, type SocketTickets } from './listen.js';
import { endpointUrl, type EndpointDescription } from './http-fallback.js';
import { admitOrigin, chooseSubprotocol, clientAddress, offeredSubprotocols, originAdvice, refuseUpgrade, requestPath, MQTT_SUBPROTOCOLS } from './ws-handshake.js';
import { clip, OncePerWindow } from './log-limit.js';
import { WsPinger, WsTransport } from './ws-transport.js';
import { answerHandshake, checkHandshake } from './ws-accept.js';

/** Room beyond one maximum-size packet for small packets a client coalesces into the same message. */
const FRAME_SLACK = 64 * 1024;

export interface UpgradeOptions {
  /** The endpoint as clients see it; read at each upgrade (an attached server may bind later). */
  info: () => ListenerInfo;
  describe: EndpointDescription;
  webSocket: WebSocketOptions;
  log: Logger;
  /**
   * An upgrade for another path: `refuse` it with 404 (the server is ours), or `ignore` it and
   * leave it to the application's other upgrade handlers (an attached server).
   */
  otherPaths: 'refuse' | 'ignore';
  /** The admission tickets of the listener's sockets (counted from accept); none on an attached server. */
  tickets?: SocketTickets;
  /** The endpoint's WebSocket pinger; without one, the endpoint makes its own (webSocketPingIntervalSec). */
  pinger?: WsPinger;
}

/** A function of its own, not a closure: a closure in the upgrade handler would keep the upgrade
 * request and its headers (about 1 KiB) alive for as long as the socket is open. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/** Returns the `upgrade` listener of one MQTT endpoint. */
export function webSocketUpgrade(opts: UpgradeOptions, accept: AcceptTransport): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { webSocket, log, describe } = opts;
  const maxMessage = webSocket.maxFrameSize || webSocket.maxPacketSize + FRAME_SLACK;
  const pinger = opts.pinger ?? (webSocket.pingIntervalSec > 0 ? new WsPinger(webSocket.pingIntervalSec * 1000) : undefined);
  // A refused origin is logged once a minute with the line that admits it: a page retrying every
  // second must not fill the log, and a flood of made-up origins must not fill memory.
  const refusals = new OncePerWindow();
  // Wrong paths and subprotocols: one line per client address a minute, with its text clipped.
  const oddUpgrades = new OncePerWindow();
  const refusedOrigin = (origin: string, listener: string, remote: string | undefined): void => {
    const held = refusals.take(origin);
    if (held === undefined) {
      log.debug({ listener, remote, origin }, 'WebSocket upgrade refused (HTTP 403): browser origin not allowed');
      return;
    }
    const { fix, line } = originAdvice(origin, webSocket.allowedOrigins);
    log.warn(
      { listener, remote, origin, ...(line ? { configLine: line } : {}), ...(held > 0 ? { refusedSinceLastLine: held } : {}) },
      `WebSocket upgrade refused (HTTP 403): browser origin ${origin} is not allowed; ${fix}`,
    );
  };
  return (req, socket, head) => {
    const { path, secure } = describe;
    const reqPath = requestPath(req.url);
    if (reqPath !== path && opts.otherPaths === 'ignore') return;
    const info = opts.info();
    const url = info.url;
    socket.on('error', destroySocket);
    // Over a connection limit since accept (it was let in to show whether it is plain HTTP).
    const refused = opts.tickets?.of(req.socket as Socket)?.refused;
    if (refused) {
      refuseUpgrade(socket, 503, 'Service Unavailable', `The broker is at its connection limit (${refused}); try again later\n`, { 'Retry-After': '5' });
      return;
    }
    const where = endpointUrl(req, describe);
    if (reqPath !== path) {
      const shown = clip(reqPath);
      if (oddUpgrades.take(`path ${req.socket.remoteAddress}`) !== undefined) {
        log.info({ listener: url, remote: req.socket.remoteAddress, path: shown }, `WebSocket upgrade on wrong path; the MQTT endpoint is ${path}`);
      }
      refuseUpgrade(socket, 404, 'Not Found', `No MQTT endpoint at "${shown}". Starling serves MQTT over WebSocket at path "${path}": ${where}\n`);
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      refuseUpgrade(socket, 400, 'Bad Request', `Only WebSocket upgrades are served here: ${where}\n`);
      return;
    }
    const origin = req.headers.origin === undefined ? undefined : clip(req.headers.origin);
    const grant = admitOrigin(origin, {
      allowed: webSocket.allowedOrigins,
      listener: { secure, host: info.host, port: info.port },
      // Read only when an Origin is checked against the listener's own: reading it makes Node keep
      // the socket's local address (an object and strings) for as long as the socket is open.
      get localAddress() {
        return req.socket.localAddress;
      },
    });
    if (grant === undefined) {
      refusedOrigin(origin!, url, req.socket.remoteAddress);
      refuseUpgrade(socket, 403, 'Forbidden', `Origin ${origin} is not allowed (webSocketAllowedOrigins)\n`);
      return;
    }
    const choice = chooseSubprotocol(offeredSubprotocols(req.headers['sec-websocket-protocol']));
    if (!choice.ok) {
      if (oddUpgrades.take(`protocol ${req.socket.remoteAddress}`) !== undefined) {
        log.info({ listener: url, remote: req.socket.remoteAddress, offered: clip(choice.offered.join(', ')) }, 'WebSocket client offered no MQTT subprotocol');
      }
      refuseUpgrade(
        socket,
        400,
        'Bad Request',
        `Unsupported WebSocket subprotocol ${clip(choice.offered.map((p) => `"${p}"`).join(', '))}; Starling speaks ${MQTT_SUBPROTOCOLS.join(', ')} (offer "mqtt")\n`,
      );
      return;
    }
    const handshake = checkHandshake(req);
    if (!handshake.ok) {
      refuseUpgrade(socket, handshake.status, handshake.reason, handshake.body, handshake.headers);
      return;
    }
    if (!answerHandshake(socket, handshake.key, choice.protocol)) return;
    // The transport handles the socket's errors from here on.
    socket.removeListener('error', destroySocket);
    const raw = socket as Socket;
    // Node's HTTP server may have set an idle timeout; MQTT keep-alive and our pings govern now.
    raw.setTimeout(0);
    raw.setNoDelay(true);
    const tcp = req.socket as Socket;
    accept(
      new WsTransport(raw, info, {
        remoteAddress: clientAddress(req, webSocket.trustForwardedFor, webSocket.trustedProxyHops),
        remotePort: tcp.remotePort ?? 0,
        peer: secure ? peerOf(tcp as TLSSocket) : undefined,
        admission: opts.tickets?.take(tcp),
        pinger,
        maxMessage,
        head,
      }),
    );
  };
}
