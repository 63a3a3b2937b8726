// A Transport over any Node Duplex stream: what the library's broker.handle(stream) serves (an
// in-memory pair, a socket made elsewhere, a stream from another framework).
import type { Duplex } from 'node:stream';
import type { ListenerInfo, Transport, TransportHandlers } from './transport.js';

export interface StreamTransportOptions {
  remoteAddress?: string;
  remotePort?: number;
}

export class StreamTransport implements Transport {
  readonly listener: ListenerInfo;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly kind = 'stream' as const;
  private readonly stream: Duplex;
  private error?: Error;
  private closed = false;
  private handlers?: TransportHandlers;

  constructor(stream: Duplex, listener: ListenerInfo, opts: StreamTransportOptions = {}) {
    this.stream = stream;
    this.listener = listener;
    this.remoteAddress = opts.remoteAddress ?? '';
    this.remotePort = opts.remotePort ?? 0;
    // Errors before start() must not crash the process; they are reported through close().
    stream.on('error', (err: Error) => {
      this.error ??= err;
      // A stream that errs may never emit 'close' (autoDestroy off): end the connection here.
      if (!stream.destroyed) stream.destroy();
    });
  }

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const s = this.stream;
    s.on('data', (chunk: Buffer | string) => handlers.data(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    s.on('drain', () => handlers.drain());
    s.once('close', () => this.onClose());
    // The other side ended: nothing more will come, and MQTT has no half-open state.
    s.once('end', () => s.destroy());
    if (s.destroyed) queueMicrotask(() => this.onClose());
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.close(this.error);
  }

  write(data: Buffer): boolean {
    if (this.stream.destroyed || this.stream.writableEnded) return false;
    return this.stream.write(data);
  }

  get bufferedBytes(): number {
    return this.stream.writableLength;
  }

  cork(): void {
    this.stream.cork();
  }

  uncork(): void {
    this.stream.uncork();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  end(): void {
    this.stream.end();
    // A peer that never reads or closes must not hold the connection open.
    setTimeout(() => this.stream.destroy(), 1000).unref();
  }

  destroy(): void {
    this.stream.destroy();
  }
}
