// A raw MQTT client for wire-level tests. Packets are built and parsed with mqtt-packet, an
// encoder we did not write, so these tests do not take our codec's word for anything.
import { connect as tcpConnect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';

export type WirePacket = mqttPacket.Packet & Record<string, any>;

export class WireClient {
  /** A TCP socket, or the byte stream of a WebSocket (openWs: only the Duplex part is there). */
  readonly socket: Socket;
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private readonly queue: WirePacket[] = [];
  private waiters: Array<(p: WirePacket | undefined) => void> = [];
  private closedFlag = false;
  private closeWaiters: Array<() => void> = [];
  parseError?: Error;
  readonly version: number;

  private constructor(socket: Socket, version: number) {
    this.socket = socket;
    this.version = version;
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p: WirePacket) => {
      const w = this.waiters.shift();
      if (w) w(p);
      else this.queue.push(p);
    });
    this.parser.on('error', (err: Error) => (this.parseError = err));
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedFlag = true;
      for (const w of this.waiters) w(undefined);
      this.waiters = [];
      for (const c of this.closeWaiters) c();
      this.closeWaiters = [];
    });
  }

  /** `localAddress` (127.0.0.2, ...) lets one test be several client addresses. */
  static open(port: number, version = 4, localAddress?: string): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => resolve(new WireClient(s, version)));
      s.once('error', reject);
    });
  }

  /** Opens an MQTT-over-WebSocket connection (`ws://host:port/path`); packets travel as binary messages. */
  static openWs(url: string, version = 4): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'mqtt', { maxPayload: 1 << 28 });
      ws.once('open', () => resolve(new WireClient(new WsBytes(ws) as unknown as Socket, version)));
      ws.once('error', reject);
    });
  }

  /** Opens a socket and completes CONNECT/CONNACK; returns the client and its CONNACK. */
  static async connect(port: number, connect: Record<string, any> = {}, version = 4): Promise<{ client: WireClient; connack: WirePacket }> {
    return WireClient.handshake(await WireClient.open(port, version), connect);
  }

  /** Sends CONNECT (with a random client id unless given) and waits for the answer. */
  static async handshake(client: WireClient, connect: Record<string, any> = {}): Promise<{ client: WireClient; connack: WirePacket }> {
    const version = client.version;
    client.send({
      cmd: 'connect',
      protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      clean: true,
      keepalive: 60,
      clientId: `wire-${Math.random().toString(16).slice(2, 10)}`,
      ...connect,
    });
    const connack = await client.next();
    return { client, connack };
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  send(packet: Record<string, any>): void {
    this.socket.write(mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: this.version }));
  }

  sendRaw(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** The next packet from the broker; throws if none arrives in time or the socket closes. */
  async next(timeoutMs = 2000): Promise<WirePacket> {
    const p = await this.nextOrClose(timeoutMs);
    if (!p) throw new Error('connection closed while waiting for a packet');
    return p;
  }

  /** The next packet, or undefined when the broker closed the connection. */
  nextOrClose(timeoutMs = 2000): Promise<WirePacket | undefined> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedFlag) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no packet within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (p: WirePacket | undefined): void => {
        clearTimeout(timer);
        resolve(p);
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves true when the broker closes the connection within the time, false otherwise. */
  waitClosed(timeoutMs = 2000): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Asserts nothing arrives for a while (used sparingly: it costs its full duration). */
  async expectSilence(ms = 200): Promise<void> {
    try {
      const p = await this.next(ms);
      throw new Error(`expected no packet, got ${p.cmd}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('expected no packet')) throw err;
    }
  }

  end(): void {
    this.socket.destroy();
  }
}

/** The part of a Socket WireClient uses, over a WebSocket: binary messages in, one message per write. */
class WsBytes extends EventEmitter {
  private readonly ws: WebSocket;
  constructor(ws: WebSocket) {
    super();
    this.ws = ws;
    ws.on('message', (data: Buffer) => this.emit('data', data));
    ws.on('error', (err) => this.emit('error', err));
    ws.on('close', () => this.emit('close'));
  }
  write(bytes: Buffer): boolean {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
    return true;
  }
  destroy(): void {
    this.ws.terminate();
  }
  /** Resets the TCP connection under the WebSocket (ws keeps it as `_socket`; it has no public reset). */
  resetAndDestroy(): void {
    (this.ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
  }
}
