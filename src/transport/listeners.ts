// openListener: one configured URL → a bound listener that hands each new connection, as a
// Transport, to `accept`.
import { clientUrl, parseListenerUrl, type ListenerAddress } from '../config/listener-url.js';
import type { AcceptTransport, ListenerScheme } from './transport.js';
import type { ListenerOptions, OpenListener } from './listen.js';
import { openTcpListener } from './tcp.js';
import { openTlsListener } from './tls.js';
import { openWebSocketListener } from './websocket.js';

export type { HttpHandler, ListenerOptions, OpenListener } from './listen.js';

/** What each scheme carries, in words, for the start-up lines. */
export const SCHEME_WORDS: Record<ListenerScheme, string> = {
  mqtt: 'MQTT over TCP',
  'mqtt+ssl': 'MQTT over TLS',
  'mqtt+ssl+psk': 'MQTT over TLS-PSK',
  ws: 'MQTT over WebSocket',
  'ws+ssl': 'MQTT over secure WebSocket',
};

export async function openListener(url: string, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const given = url.trim();
  let addr;
  try {
    addr = parseListenerUrl(given);
  } catch (err) {
    throw new Error(`listener ${given}: ${(err as Error).message}`);
  }
  const l = await openByScheme(given, addr, opts, accept);
  // Logged as well as printed: under a supervisor or in JSON logs stdout may go nowhere, and port 0
  // is only known once bound.
  const dial = clientUrl(l.info, opts.config.webSocketPath);
  // One line per listener, with the browser origins a WebSocket listener admits.
  const origins = l.info.origins ? `; browser pages from: ${l.info.origins.join(', ')}` : '';
  opts.log.info(
    { listener: l.info.url, url: dial, scheme: l.info.scheme, host: l.info.host, port: l.info.port, ...(l.info.origins ? { origins: l.info.origins } : {}) },
    `listening on ${dial} (${SCHEME_WORDS[l.info.scheme]}${origins})`,
  );
  return l;
}

function openByScheme(url: string, addr: ListenerAddress, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  switch (addr.scheme) {
    case 'mqtt':
      return openTcpListener(url, addr, opts, accept);
    case 'mqtt+ssl':
    case 'mqtt+ssl+psk':
      return openTlsListener(url, addr, opts, accept);
    case 'ws':
    case 'ws+ssl':
      return openWebSocketListener(url, addr, opts, accept);
  }
}
