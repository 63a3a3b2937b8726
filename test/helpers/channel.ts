// Drives a Channel without sockets: a recorder stands in for the connection.
import { pino } from 'pino';
import { Broker } from '../../src/broker/broker.js';
import { defaultBrokerLimits, type BrokerOptions } from '../../src/broker/options.js';
import { Channel } from '../../src/channel/channel.js';
import type { ChannelIO } from '../../src/channel/io.js';
import { PacketParser } from '../../src/protocol/parser.js';
import type { ConnectPacket, Packet } from '../../src/protocol/packets.js';
import type { ProtocolVersion } from '../../src/protocol/constants.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store } from '../../src/store/ports.js';

export const silentLog = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

export function makeBroker(options: Partial<BrokerOptions> & { store?: Store } = {}): Promise<Broker> {
  return Broker.open({ ...defaultBrokerLimits, log: silentLog, store: options.store ?? new MemoryStore(), ...options });
}

export class RecorderIO implements ChannelIO {
  readonly remoteAddress = '127.0.0.1';
  readonly listener = { url: 'mqtt://127.0.0.1:0', scheme: 'mqtt' as const, host: '127.0.0.1', port: 0 };
  readonly packets: Packet[] = [];
  closed = false;
  bufferedBytes = 0;
  partialBytes = 0;
  keepalive = -1;
  paused = false;
  private parser?: PacketParser;
  private waiters: Array<() => void> = [];

  write(bytes: Buffer): void {
    // Server packets are read back with the version the channel settled on.
    this.parser ??= new PacketParser({ maxPacketSize: 1 << 28, version: this.version() });
    this.packets.push(...this.parser.push(bytes));
    for (const w of this.waiters.splice(0)) w();
  }
  version: () => ProtocolVersion = () => 4;
  close(): void {
    this.closed = true;
  }
  setKeepalive(seconds: number): void {
    this.keepalive = seconds;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }

  /** Removes and returns every packet recorded so far. */
  take(): Packet[] {
    return this.packets.splice(0);
  }

  /** Waits (bounded) until at least `n` packets are recorded, and removes and returns the first `n`. */
  async waitFor(n: number, timeoutMs = 1000): Promise<Packet[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.packets.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} packets, have ${this.packets.length}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 20);
      });
    }
    return this.packets.splice(0, n);
  }
}

export function connectPacket(clientId: string, extra: Partial<ConnectPacket> = {}): ConnectPacket {
  return {
    type: 'connect',
    protocolName: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    clientId,
    ...extra,
  };
}

/** Opens a channel, sends CONNECT and waits for the CONNACK. */
export async function openChannel(broker: Broker, connect: ConnectPacket): Promise<{ ch: Channel; io: RecorderIO; connack: Packet }> {
  const io = new RecorderIO();
  const ch = new Channel(broker, io);
  io.version = () => ch.version;
  ch.receive(connect);
  const [connack] = await io.waitFor(1);
  return { ch, io, connack };
}

/** Lets pending promises and immediates (store batches) run. */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));
