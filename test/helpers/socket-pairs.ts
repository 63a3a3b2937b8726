// Server-side transports over real loopback sockets, built directly rather than through a
// listener, so a test holds the very socket a transport writes to and can watch what reaches it.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SocketTransport } from '../../src/transport/socket-transport.js';
import { WsTransport } from '../../src/transport/ws-transport.js';
import { answerHandshake, checkHandshake } from '../../src/transport/ws-accept.js';
import type { ListenerInfo } from '../../src/transport/transport.js';

export interface Accepted<T> {
  transport: T;
  /** The server side's socket: what the transport writes to. */
  socket: Duplex;
}

export interface PairServer<T> {
  port: number;
  /** The next accepted connection, in order. */
  next(): Promise<Accepted<T>>;
  close(): Promise<void>;
}

function queue<T>() {
  const ready: T[] = [];
  const waiting: Array<(v: T) => void> = [];
  return {
    push: (v: T) => (waiting.length > 0 ? waiting.shift()!(v) : ready.push(v)),
    next: () => (ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise<T>((r) => waiting.push(r))),
  };
}

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** WebSocket transports (the listener's handshake, subprotocol mqtt). */
export async function wsServer(): Promise<PairServer<WsTransport>> {
  const http = createHttpServer();
  const accepted = queue<Accepted<WsTransport>>();
  const sockets = new Set<Duplex>();
  const port = await listen(http);
  const info: ListenerInfo = { url: `ws://127.0.0.1:${port}`, scheme: 'ws', host: '127.0.0.1', port, path: '/mqtt' };
  http.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    const handshake = checkHandshake(req);
    if (!handshake.ok || !answerHandshake(socket, handshake.key, 'mqtt')) {
      socket.destroy();
      return;
    }
    const transport = new WsTransport(socket as Socket, info, { remoteAddress: '127.0.0.1', remotePort: 0, maxMessage: 1 << 20, head });
    accepted.push({ transport, socket });
  });
  return {
    port,
    next: accepted.next,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => http.close(r));
    },
  };
}

/** Plain TCP transports. */
export async function tcpServer(): Promise<PairServer<SocketTransport>> {
  const accepted = queue<Accepted<SocketTransport>>();
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    const transport = new SocketTransport(socket, info, 'tcp', { detectTls: false, onMistake: () => {} });
    accepted.push({ transport, socket });
  });
  const port = await listen(server);
  const info: ListenerInfo = { url: `mqtt://127.0.0.1:${port}`, scheme: 'mqtt', host: '127.0.0.1', port };
  return {
    port,
    next: accepted.next,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Records every hand-over of `socket` to the kernel: one entry per `_writev` (its chunks) or
 * `_write` (one chunk), the Buffers themselves, so a test can count system calls and compare
 * buffers by identity.
 */
export function spyWrites(socket: Duplex): Buffer[][] {
  const calls: Buffer[][] = [];
  type Chunk = { chunk: Buffer };
  const s = socket as unknown as {
    _writev(chunks: Chunk[], cb: (err?: Error) => void): void;
    _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error) => void): void;
  };
  const writev = s._writev;
  const write = s._write;
  s._writev = function (chunks, cb) {
    calls.push(chunks.map((c) => c.chunk));
    writev.call(this, chunks, cb);
  };
  s._write = function (chunk, enc, cb) {
    calls.push([chunk]);
    write.call(this, chunk, enc, cb);
  };
  return calls;
}
