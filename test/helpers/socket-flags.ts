// What Node recorded on a socket of what it asked of the kernel (setNoDelay, setKeepAlive and its
// delay), read from the socket's own symbols: the transports keep no copy of their own to test. And
// what the kernel did with it: whether it runs a keepalive timer on the connection (/proc/net/tcp),
// so that a setKeepAlive that never reached the TCP socket (under TLS, say) cannot pass.
import { readFileSync } from 'node:fs';
import type { Transport } from '../../src/transport/transport.js';
import type { TestServer } from './server.js';

/** The value Node keeps under the symbol described as `name` (kSetNoDelay, kSetKeepAlive, ...) on a transport's socket. */
export function socketFlag(transport: unknown, name: string): unknown {
  const socket = (transport as { socket: Record<symbol, unknown> }).socket;
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === name);
  // A Node that renamed its symbol fails the test that reads it, rather than reading `undefined`.
  if (key === undefined) throw new Error(`no ${name} on the socket (has Node renamed it?)`);
  return socket[key];
}

/** The kernel's timer on a connection: keepalive's, none, or one that hides it (retransmit, zero-window probe). */
export type KernelTimer = 'keepalive' | 'none' | 'other';

/**
 * The timer the kernel runs on the server's end of the loopback connection between `serverPort`
 * and `clientPort`: the `tr` column of /proc/net/tcp (and tcp6) is 2 while SO_KEEPALIVE's timer is
 * armed and nothing else is pending, 0 with no timer, 1 or 4 while sent data awaits its ACK (which
 * shows instead of keepalive's). Throws when the connection is not listed (or there is no /proc),
 * so a test cannot pass by reading nothing.
 */
export function kernelTimer(serverPort: number, clientPort: number): KernelTimer {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = readFileSync(file, 'utf8').trim().split('\n').slice(1);
    for (const row of rows) {
      const [, local, remote, state, , timer] = row.trim().split(/\s+/);
      // 01: ESTABLISHED.
      if (state !== '01' || !local!.endsWith(`:${hex(serverPort)}`) || !remote!.endsWith(`:${hex(clientPort)}`)) continue;
      return timer!.startsWith('02:') ? 'keepalive' : timer!.startsWith('00:') ? 'none' : 'other';
    }
  }
  throw new Error(`no established connection ${serverPort} <- ${clientPort} in /proc/net/tcp`);
}

/**
 * Whether the server's end of the connection of `clientId` has TCP keepalive: what Node recorded it
 * asked for, checked against what the kernel does (they must agree). Waits (at most 3 s) while the
 * kernel shows another timer: the client's delayed ACK of our last packet (up to 40 ms) hides it.
 */
export async function keepAliveOf(t: TestServer, clientId: string): Promise<boolean> {
  const c = [...t.server.connections].find((x) => x.channel.clientId === clientId);
  if (c === undefined) throw new Error(`no connection of ${clientId}`);
  const transport = (c as unknown as { transport: Transport }).transport;
  const asked = socketFlag(transport, 'kSetKeepAlive') === true;
  let timer = kernelTimer(transport.listener.port, transport.remotePort);
  for (let i = 0; i < 150 && timer === 'other'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    timer = kernelTimer(transport.listener.port, transport.remotePort);
  }
  if (timer === 'other') throw new Error(`${clientId}: the kernel's keepalive timer stayed hidden by another for 3 s`);
  const kernel = timer === 'keepalive';
  if (asked !== kernel) throw new Error(`${clientId}: Node asked for keepalive ${asked}, the kernel has it ${kernel}`);
  return kernel;
}
