// mqtt:// listeners: MQTT over plain TCP.
import { logLimited, OncePerWindow } from './log-limit.js';
import { createServer } from 'node:net';
import type { AcceptTransport, ListenerInfo, ListenerSpec } from './transport.js';
import { boundUrl, listenOn, siblingsOf, stopAccepting, type ListenerOptions, type OpenListener } from './listen.js';
import { SocketTransport, type SocketTransportOptions } from './socket-transport.js';
import { adviceFor, httpRefusal } from './mistakes.js';

export async function openTcpListener(addr: ListenerSpec, opts: ListenerOptions, accept: AcceptTransport): Promise<OpenListener> {
  const url = addr.url;
  const info: ListenerInfo = { url, scheme: addr.scheme, host: addr.host, port: addr.port };
  // Advice to a client on the wrong port, once a minute per address (a retrying client cannot flood the log).
  const adviceLines = new OncePerWindow();
  // One options object for every socket of the listener (it holds nothing per socket).
  const transportOptions: SocketTransportOptions = {
    detectTls: true,
    noDelaySet: true,
    onMistake: (spoken, t) => {
      const advice = adviceFor(info, spoken, siblingsOf(opts), opts.transport.webSocket.path);
      logLimited(adviceLines, opts.log, 'warn', t.remoteAddress, { listener: info.url, remote: t.remoteAddress }, advice);
      t.refuse(spoken === 'http' || spoken === 'websocket' ? httpRefusal(advice) : undefined);
    },
  };
  // Nagle off (MQTT is request/response with small packets), set on each accepted handle in C++
  // before its net.Socket exists. TCP keepalive is not set here: only a connection whose keepalive
  // watchdog is off or slower than the OS's probes needs it (SocketTransport.silenceLimit).
  const server = createServer({ noDelay: true }, (socket) => {
    accept(new SocketTransport(socket, info, 'tcp', transportOptions));
  });
  info.port = await listenOn(server, addr.host, addr.port, url, opts.log);
  info.url = boundUrl(url, info.port);
  return { info, close: () => stopAccepting(server) };
}
