// mqtt:// listeners: MQTT over plain TCP.
import { createServer } from 'node:net';
import type { ListenerAddress } from '../config/listener-url.js';
import type { AcceptTransport, ListenerInfo } from './transport.js';
import { boundUrl, listenOn, siblingsOf, stopAccepting, type ListenerOptions, type OpenListener } from './listen.js';
import { SocketTransport, type SocketTransportOptions } from './socket-transport.js';
import { adviceFor, httpRefusal } from './mistakes.js';

export async function openTcpListener(url: string, addr: ListenerAddress, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const info: ListenerInfo = { url, scheme: addr.scheme, host: addr.host, port: addr.port };
  // One options object for every socket of the listener (it holds nothing per socket).
  const transportOptions: SocketTransportOptions = {
    detectTls: true,
    onMistake: (spoken, t) => {
      const advice = adviceFor(info, spoken, siblingsOf(opts), opts.config.webSocketPath);
      opts.log.warn({ listener: info.url, remote: t.remoteAddress }, advice);
      t.refuse(spoken === 'http' || spoken === 'websocket' ? httpRefusal(advice) : undefined);
    },
  };
  const server = createServer((socket) => {
    accept(new SocketTransport(socket, info, 'tcp', transportOptions));
  });
  info.port = await listenOn(server, addr.host, addr.port, url, opts.log);
  info.url = boundUrl(url, info.port);
  return { info, close: () => stopAccepting(server) };
}
