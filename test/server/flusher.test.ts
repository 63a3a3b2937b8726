// Write batching per event-loop turn: a subscriber fed by several publishers in one turn gets one
// write (one buffer; over WebSocket, one frame) for all of it. The subscriber is a real Connection
// over a real loopback socket whose hand-overs to the kernel are counted; the publishers are
// Connections over stub transports, fed as the poll phase would feed several ready sockets.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { Connection, type ConnectionOptions } from '../../src/server/connection.js';
import { WriteFlusher } from '../../src/server/flusher.js';
import { DeadlineWheel } from '../../src/server/deadlines.js';
import type { Broker } from '../../src/broker/broker.js';
import type { Transport, TransportHandlers } from '../../src/transport/transport.js';
import { makeBroker, silentLog } from '../helpers/channel.js';
import { spyWrites, tcpServer, wsServer, type PairServer } from '../helpers/socket-pairs.js';

/** A transport with no socket behind it: the test calls its data handler. */
class StubTransport implements Transport {
  readonly listener = { url: 'mqtt://127.0.0.1:0', scheme: 'mqtt' as const, host: '127.0.0.1', port: 0 };
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly kind = 'tcp' as const;
  readonly bufferedBytes = 0;
  handlers?: TransportHandlers;
  written: Buffer[] = [];
  start(h: TransportHandlers): void {
    this.handlers = h;
  }
  write(data: Buffer): boolean {
    this.written.push(data);
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {}
}

const generate = (p: Record<string, unknown>): Buffer => mqttPacket.generate(p as unknown as mqttPacket.Packet);
const connectBytes = (clientId: string) => generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 });
const publishBytes = (topic: string, payload: string) => generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false });

/** Lets nextTick callbacks and microtasks run, as they do between two I/O callbacks, but not immediates. */
const betweenCallbacks = () => new Promise<void>((r) => process.nextTick(r));
const turn = () => new Promise<void>((r) => setImmediate(r));

async function until(check: () => boolean, label: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function options(flusher: WriteFlusher): ConnectionOptions {
  const deadlines = new DeadlineWheel<Connection>((c) => c.deadlineDue());
  return { maxPacketSize: 1 << 20, connectTimeoutMs: 10_000, maxPublishRate: 0, maxBytesRate: 0, maxOutgoingBytes: 1 << 24, slowConsumerTimeoutMs: 0, flusher, deadlines, log: silentLog };
}

/** A subscriber client that parses what reaches it; `chunks` counts socket reads or WebSocket messages. */
interface SubscriberClient {
  packets: Array<Record<string, any>>;
  chunks: Buffer[];
  send(b: Buffer): void;
  close(): void;
}

function parsing(): { parser: ReturnType<typeof mqttPacket.parser>; packets: Array<Record<string, any>>; chunks: Buffer[] } {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: Array<Record<string, any>> = [];
  parser.on('packet', (p) => packets.push(p as Record<string, any>));
  return { parser, packets, chunks: [] };
}

async function tcpClient(port: number): Promise<SubscriberClient> {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const { parser, packets, chunks } = parsing();
  s.on('data', (d: Buffer) => {
    chunks.push(d);
    parser.parse(d);
  });
  return { packets, chunks, send: (b) => s.write(b), close: () => s.destroy() };
}

async function wsClient(port: number): Promise<SubscriberClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const { parser, packets, chunks } = parsing();
  ws.on('message', (d: Buffer) => {
    chunks.push(d);
    parser.parse(d);
  });
  return { packets, chunks, send: (b) => ws.send(b), close: () => ws.terminate() };
}

const kinds: Array<{ name: string; server: () => Promise<PairServer<Transport>>; client: (port: number) => Promise<SubscriberClient>; framed: boolean }> = [
  { name: 'TCP', server: tcpServer, client: tcpClient, framed: false },
  { name: 'WebSocket', server: wsServer, client: wsClient, framed: true },
];

describe('write batching per event-loop turn (server/flusher.ts)', () => {
  const cleanup: Array<() => unknown> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  for (const kind of kinds) {
    it(`a ${kind.name} subscriber fed by several publishers in one turn gets one write`, async () => {
      const broker: Broker = await makeBroker();
      cleanup.push(() => broker.close());
      const server = await kind.server();
      cleanup.push(() => server.close());
      const flusher = new WriteFlusher();

      const client = await kind.client(server.port);
      cleanup.push(() => client.close());
      const accepted = await server.next();
      const sub = new Connection(accepted.transport, broker, options(flusher), () => {});
      sub.start();
      client.send(connectBytes('sub'));
      client.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'in/+', qos: 0 }] }));
      await until(() => client.packets.some((p) => p.cmd === 'suback'), 'SUBACK');

      const publishers = ['p0', 'p1', 'p2'].map((id) => {
        const t = new StubTransport();
        new Connection(t, broker, options(flusher), () => {}).start();
        t.handlers!.data(connectBytes(id));
        return t;
      });
      await until(() => publishers.every((t) => t.written.length > 0), 'CONNACKs');
      await turn();

      const writes = spyWrites(accepted.socket);
      const before = client.packets.length;
      const chunksBefore = client.chunks.length;
      // Three ready publisher sockets in one poll phase: ticks run between their callbacks.
      for (const [i, t] of publishers.entries()) {
        t.handlers!.data(publishBytes(`in/${i}`, `m${i}`));
        await betweenCallbacks();
      }
      assert.equal(writes.length, 0, 'nothing written before the turn ends');
      await turn();
      await until(() => client.packets.length === before + 3, 'three deliveries');

      assert.equal(writes.length, 1, 'one hand-over to the kernel for the turn');
      // Both copy the turn's small packets into one buffer (SocketTransport.pending; WebSocket
      // behind its frame header): one buffer holding the three PUBLISHes.
      assert.equal(writes[0]!.length, 1, 'the three PUBLISHes in one buffer');
      assert.deepEqual(
        client.packets.slice(before).map((p) => [p.topic, p.payload.toString()]),
        [['in/0', 'm0'], ['in/1', 'm1'], ['in/2', 'm2']],
      );
      if (kind.framed) assert.equal(client.chunks.length - chunksBefore, 1, 'one WebSocket frame for the turn');
    });
  }
});

describe('the CONNACK is not held for the end of the turn', () => {
  /** Records, in order, what the connection asks of its transport. */
  class RecordingTransport extends StubTransport {
    calls: string[] = [];
    override write(data: Buffer): boolean {
      this.calls.push(`write ${data[0] >> 4}`);
      return super.write(data);
    }
    override cork(): void {
      this.calls.push('cork');
    }
    override uncork(): void {
      this.calls.push('uncork');
    }
  }

  it('writes a connection\'s first packet (CONNACK) at once, and batches what follows in the turn', async () => {
    const broker = await makeBroker();
    const flusher = new WriteFlusher();
    const t = new RecordingTransport();
    const c = new Connection(t, broker as unknown as Broker, options(flusher), () => {});
    c.start();
    t.handlers!.data(connectBytes('first-write'));
    await until(() => t.calls.length > 0, 'CONNACK');
    // CONNACK (type 2) reached the transport uncorked, within the turn that read the CONNECT.
    assert.deepEqual(t.calls, ['write 2']);
    // A PINGREQ's answer in a later read of the same turn is batched as before: cork, write, and
    // the uncork only at the end of the turn.
    t.handlers!.data(generate({ cmd: 'pingreq' }));
    assert.deepEqual(t.calls, ['write 2', 'cork', 'write 13']);
    await turn();
    assert.deepEqual(t.calls, ['write 2', 'cork', 'write 13', 'uncork']);
    c.close();
    await broker.close();
  });
});
