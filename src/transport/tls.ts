// mqtt+ssl:// (certificates, optionally mutual) and mqtt+ssl+psk:// (pre-shared keys) listeners.
import { logLimited, OncePerWindow } from './log-limit.js';
import { capUtf8 } from '../protocol/reason-string.js';
import { createServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { AcceptTransport, ListenerInfo, ListenerSpec } from './transport.js';
import { boundUrl, gateSockets, listenOn, watchTlsFailures, peerOf, siblingsOf, stopAccepting, type ListenerOptions, type OpenListener } from './listen.js';
import { SocketTransport } from './socket-transport.js';
import { adviceFor, httpRefusal } from './mistakes.js';
import { certificateServerOptions, checkKeyPair, pskTable, readTlsFiles, secureContextOptions } from './tls-options.js';
import { watchTlsFiles } from './tls-reload.js';
import { LISTENER_KINDS } from './kinds.js';
import type { PskTable } from './options.js';

export async function openTlsListener(addr: ListenerSpec, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const { log } = opts;
  const { tls } = opts.transport;
  const url = addr.url;
  const info: ListenerInfo = { url, scheme: addr.scheme, host: addr.host, port: addr.port };
  // Lines a client provokes at will, once a minute per address (OncePerWindow).
  const pskLines = new OncePerWindow();
  const adviceLines = new OncePerWindow();
  const psk = LISTENER_KINDS[addr.scheme].tls === 'psk';
  const files = readTlsFiles(tls, psk);

  // PSK identities live in a table the refresh timer may replace; the callback reads it per handshake.
  let keys: PskTable = psk ? pskTable(tls, files) : new Map();
  const identityOf = new WeakMap<TLSSocket, string>();
  let options: TlsOptions;
  if (psk) {
    if (keys.size === 0) throw new Error(`listener ${url}: mqtt+ssl+psk needs mqttTlsPskIdentity or mqttTlsPskIdentityFile`);
    options = {
      ...secureContextOptions(tls, files, true),
      pskIdentityHint: tls.pskIdentityHint || undefined,
      pskCallback: (socket: TLSSocket, identity: string) => {
        const key = keys.get(identity);
        if (key) identityOf.set(socket, identity);
        else logLimited(pskLines, log, 'info', socket.remoteAddress ?? '', { listener: url, remote: socket.remoteAddress, identity: capUtf8(identity) }, 'unknown PSK identity');
        return key ?? null;
      },
    };
  } else {
    options = certificateServerOptions(tls, files);
  }

  const server = createServer(options, (socket) => {
    // Allowed in by mqttTlsAllowInsecureConnection, yet mutual TLS still requires *a* certificate.
    if (options.requestCert && tls.requireTrustedClientCert && !options.rejectUnauthorized) {
      const cert = socket.getPeerCertificate();
      if (!cert || Object.keys(cert).length === 0) {
        log.info({ listener: url, remote: socket.remoteAddress }, 'TLS client without a certificate refused (mqttTlsRequireTrustedClientCertOnConnect)');
        socket.destroy();
        return;
      }
    }
    accept(
      new SocketTransport(socket, info, 'tls', {
        peer: peerOf(socket, identityOf.get(socket)),
        admission: tickets.take(socket),
        detectTls: false,
        onMistake: (spoken, t) => {
          const advice = adviceFor(info, spoken, siblingsOf(opts), opts.transport.webSocket.path);
          logLimited(adviceLines, log, 'warn', t.remoteAddress, { listener: info.url, remote: t.remoteAddress }, advice);
          t.refuse(httpRefusal(advice));
        },
      }),
    );
  });
  watchTlsFailures(server, info, opts);
  // Counted and timed from accept: a socket that never finishes its handshake holds a place too.
  const tickets = gateSockets(server, info, opts.gate, { byAddress: true, http: false });

  info.port = await listenOn(server, addr.host, addr.port, url, log);
  info.url = boundUrl(url, info.port);
  const stopWatching = watchTlsFiles(files, {
    intervalSec: tls.refreshCheckSec,
    listener: url,
    log,
    read: () => readTlsFiles(tls, psk),
    apply: (next) => {
      if (psk) keys = pskTable(tls, next);
      else {
        checkKeyPair(next, tls);
        server.setSecureContext(secureContextOptions(tls, next, false));
      }
    },
  });
  return {
    info,
    close: () => {
      stopWatching();
      return stopAccepting(server);
    },
  };
}
