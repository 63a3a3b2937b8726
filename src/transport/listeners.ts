// openListener: one configured listener (its URL parsed by config/listener-url.ts) → a bound
// listener that hands each new connection, as a Transport, to `accept`.
import { clientUrl, LISTENER_KINDS, type ListenerKind } from './kinds.js';
import type { AcceptTransport, ListenerSpec } from './transport.js';
import type { ListenerOptions, OpenListener } from './listen.js';
import { openTcpListener } from './tcp.js';
import { openTlsListener } from './tls.js';
import { openWebSocketListener } from './websocket.js';

export type { HttpHandler, ListenerOptions, OpenListener } from './listen.js';

type Opener = (spec: ListenerSpec, opts: ListenerOptions, accept: AcceptTransport) => Promise<OpenListener>;

/** Which listener each kind's transport opens. */
const OPENERS: Record<ListenerKind['transport'], Opener> = {
  tcp: openTcpListener,
  tls: openTlsListener,
  ws: openWebSocketListener,
  wss: openWebSocketListener,
};

export async function openListener(spec: ListenerSpec, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const kind: ListenerKind = LISTENER_KINDS[spec.scheme];
  const l = await OPENERS[kind.transport]({ ...spec, url: spec.url.trim() }, opts, accept);
  // Logged as well as printed: under a supervisor or in JSON logs stdout may go nowhere, and port 0
  // is only known once bound.
  const dial = clientUrl(l.info, opts.transport.webSocket.path);
  // One line per listener, with the browser origins a WebSocket listener admits.
  const origins = l.info.origins ? `; browser pages from: ${l.info.origins.join(', ')}` : '';
  opts.log.info(
    { listener: l.info.url, url: dial, scheme: l.info.scheme, host: l.info.host, port: l.info.port, ...(l.info.origins ? { origins: l.info.origins } : {}) },
    `listening on ${dial} (${kind.label}${origins})`,
  );
  return l;
}
