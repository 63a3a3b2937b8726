// openListener: one configured URL → a bound listener that hands each new connection, as a
// Transport, to `accept`.
import { parseListenerUrl } from '../config/listener-url.js';
import type { AcceptTransport } from './transport.js';
import type { ListenerOptions, OpenListener } from './listen.js';
import { openTcpListener } from './tcp.js';
import { openTlsListener } from './tls.js';
import { openWebSocketListener } from './websocket.js';

export type { HttpHandler, ListenerOptions, OpenListener } from './listen.js';

export async function openListener(url: string, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const given = url.trim();
  let addr;
  try {
    addr = parseListenerUrl(given);
  } catch (err) {
    throw new Error(`listener ${given}: ${(err as Error).message}`);
  }
  switch (addr.scheme) {
    case 'mqtt':
      return openTcpListener(given, addr, opts, accept);
    case 'mqtt+ssl':
    case 'mqtt+ssl+psk':
      return openTlsListener(given, addr, opts, accept);
    case 'ws':
    case 'ws+ssl':
      return openWebSocketListener(given, addr, opts, accept);
  }
}
