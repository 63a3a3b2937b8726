// A raw byte pipe to a broker: a TCP socket, or a WebSocket (subprotocol `mqtt`, binary frames, no
// compression) [MQTT-6.0.0-1, MQTT-6.0.0-3]. The generator writes whole batches of packets; over
// WebSocket one batch is one frame, which receivers must accept [MQTT-6.0.0-2].
import { connect as tcpConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';

export type TransportName = 'tcp' | 'ws';

export interface Target {
  transport: TransportName;
  host: string;
  port: number;
  /** WebSocket path, e.g. `/mqtt`. */
  path: string;
}

export interface RawConn {
  write(bytes: Buffer): void;
  /** Bytes written but not yet handed to the kernel; `drain` fires when they have been. */
  readonly buffered: number;
  close(): void;
}

export interface RawHandlers {
  data(chunk: Buffer): void;
  drain(): void;
  close(err?: Error): void;
}

/** Opens a connection; resolves once bytes can be written (TCP connected, WebSocket upgraded). */
export function openConn(target: Target, localAddress: string | undefined, h: RawHandlers): Promise<RawConn> {
  return target.transport === 'tcp' ? openTcp(target, localAddress, h) : openWs(target, localAddress, h);
}

function openTcp(target: Target, localAddress: string | undefined, h: RawHandlers): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket: Socket = tcpConnect({ host: target.host, port: target.port, ...(localAddress ? { localAddress } : {}) });
    socket.setNoDelay(true);
    let open = false;
    socket.once('connect', () => {
      open = true;
      resolve({
        // No per-write callback: the generator watches writableLength and `drain` instead.
        write: (bytes) => void socket.write(bytes),
        get buffered() {
          return socket.writableLength;
        },
        close: () => socket.destroy(),
      });
    });
    socket.on('data', (chunk: Buffer) => h.data(chunk));
    socket.on('drain', () => h.drain());
    socket.on('error', (err) => {
      if (!open) reject(err);
    });
    socket.on('close', () => {
      if (open) h.close();
    });
  });
}

function openWs(target: Target, localAddress: string | undefined, h: RawHandlers): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${target.host}:${target.port}${target.path}`, 'mqtt', {
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
    });
    ws.binaryType = 'nodebuffer';
    let open = false;
    ws.once('open', () => {
      open = true;
      // ws has no drain event of its own; its socket (an internal but long-stable field) has.
      (ws as unknown as { _socket?: Socket })._socket?.on('drain', () => h.drain());
      resolve({
        write: (bytes) => ws.send(bytes, { binary: true, compress: false }),
        get buffered() {
          return ws.bufferedAmount;
        },
        close: () => ws.terminate(),
      });
    });
    ws.on('message', (data: Buffer) => h.data(data));
    ws.on('error', (err) => {
      if (!open) reject(err);
    });
    ws.on('close', () => {
      if (open) h.close();
    });
  });
}
