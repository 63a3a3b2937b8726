// What Node recorded on a socket of what it asked of the kernel (setNoDelay, setKeepAlive and its
// delay), read from the socket's own symbols: the transports keep no copy of their own to test.
import type { TestServer } from './server.js';

/** The value Node keeps under the symbol described as `name` (kSetNoDelay, kSetKeepAlive, ...) on a transport's socket. */
export function socketFlag(transport: unknown, name: string): unknown {
  const socket = (transport as { socket: Record<symbol, unknown> }).socket;
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === name);
  // A Node that renamed its symbol fails the test that reads it, rather than reading `undefined`.
  if (key === undefined) throw new Error(`no ${name} on the socket (has Node renamed it?)`);
  return socket[key];
}

/** Whether the server asked the OS for TCP keepalive on the connection of `clientId`. */
export function keepAliveOf(t: TestServer, clientId: string): unknown {
  const c = [...t.server.connections].find((x) => x.channel.clientId === clientId);
  if (c === undefined) throw new Error(`no connection of ${clientId}`);
  return socketFlag((c as unknown as { transport: unknown }).transport, 'kSetKeepAlive');
}
