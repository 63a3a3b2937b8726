// The fault barrier per connection (issue 12, item 1): a throw at any point while serving one
// connection (its bytes, a handler, a hook, a store callback, encoding or writing a packet for it,
// fail itself, a delivery from another client's publish, its timers) ends that connection only:
// MQTT 5 DISCONNECT 0x83 where a packet can still be written, counted in
// starling_connection_faults_total and $SYS/broker/clients/faults. Throws are injected per
// connection (a hook that throws for one client id or topic, or a method replaced on one
// connection's own objects), never through global state. Over real sockets, with a healthy MQTT.js
// client that must be served and never dropped throughout.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../src/server/connection.js';
import type { Channel } from '../../src/channel/channel.js';
import type { ChannelContext } from '../../src/channel/context.js';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import { connectClient, endClient, sleep } from '../helpers/mqttjs.js';
import { scrape } from '../helpers/metrics.js';
import { sampleValue } from '../observe/helpers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { healthyClient, type HealthyClient } from '../helpers/healthy.js';
import { WireClient, type WirePacket } from '../helpers/wire.js';

class Injected extends Error {
  constructor(where: string) {
    super(`injected fault: ${where}`);
  }
}

describe('fault barrier: a throw while serving one connection ends that connection only', () => {
  let t: TestServer;
  let healthy: HealthyClient;

  before(async () => {
    t = await startTestServer(
      { connectTimeoutSec: '1', sysIntervalSec: '1', slowConsumerTimeoutSec: '1' },
      {
        hooks: {
          authenticate: (info) => {
            if (info.clientId === 'throws-in-authenticate') throw new Injected('authenticate');
            if (info.clientId === 'rejects-in-authenticate') return Promise.reject(new Injected('authenticate, async'));
            return ReasonCode.Success;
          },
          authorizePublish: (_info, topic) => {
            if (topic === 'boom/publish-hook') throw new Injected('authorizePublish');
            return ReasonCode.Success;
          },
          authorizeSubscribe: (_info, filter) => {
            if (filter === 'boom/subscribe-hook') throw new Injected('authorizeSubscribe');
            return ReasonCode.Success;
          },
        },
      },
    );
    healthy = await healthyClient(t);
  });
  after(async () => {
    await endClient(healthy.client, true);
    await t.close();
  });

  const faults = async (): Promise<number> => sampleValue(await scrape(t), 'starling_connection_faults_total');

  /** The broker's connection for a client id (after CONNECT) or for a wire client's socket. */
  function connectionOf(match: string | WireClient): Connection {
    for (const c of t.server.connections) {
      if (typeof match === 'string' ? c.channel.clientId === match : c.remotePort === match.socket.localPort) return c;
    }
    throw new Error(`no connection for ${typeof match === 'string' ? match : 'that socket'}`);
  }

  /** Runs `inject` then `trigger`; asserts the offender's last packet, its close, one more fault, and the healthy client served. */
  async function expectFault(
    name: string,
    setup: () => Promise<WireClient>,
    trigger: (wire: WireClient) => void,
    expected: { code?: number; silent?: boolean },
  ): Promise<WirePacket | undefined> {
    const before = await faults();
    const wire = await setup();
    let last: WirePacket | undefined;
    try {
      trigger(wire);
      // Read to the close: the last packet before it says why.
      for (let i = 0; i < 50; i++) {
        const p = await wire.nextOrClose(10_000);
        if (!p) break;
        last = p;
      }
      assert.equal(wire.closed, true, `${name}: the faulty connection is closed`);
    } finally {
      wire.end();
    }
    if (expected.code !== undefined) {
      assert.ok(last, `${name}: a packet before the close`);
      assert.equal(last.reasonCode, expected.code, `${name}: reason code`);
    }
    if (expected.silent) assert.equal(last, undefined, `${name}: nothing could be sent`);
    assert.equal((await faults()) - before, 1, `${name}: counted once in starling_connection_faults_total`);
    await healthy.check(name);
    return last;
  }

  const connected = async (clientId: string, version = 5, extra: Record<string, unknown> = {}): Promise<WireClient> => {
    const { client, connack } = await WireClient.connect(t.port(), { clientId, ...extra }, version);
    assert.equal(connack.reasonCode ?? connack.returnCode, 0);
    return client;
  };

  it('its bytes: Channel.receive throwing inside Connection.data gives DISCONNECT 0x83', async () => {
    await expectFault(
      'data',
      async () => {
        const w = await connected('throws-in-receive');
        connectionOf('throws-in-receive').channel.receive = () => {
          throw new Injected('receive');
        };
        return w;
      },
      (w) => w.send({ cmd: 'pingreq' }),
      { code: 0x83 },
    );
  });

  it('its bytes over WebSocket: the same throw, reached through the WebSocket transport, gives DISCONNECT 0x83', async () => {
    await expectFault(
      'data over WebSocket',
      async () => {
        const { client: w, connack } = await WireClient.handshake(await WireClient.openWs(t.url('ws'), 5), { clientId: 'ws-throws-in-receive' });
        assert.equal(connack.reasonCode, 0);
        connectionOf('ws-throws-in-receive').channel.receive = () => {
          throw new Injected('receive over WebSocket');
        };
        return w;
      },
      (w) => w.send({ cmd: 'pingreq' }),
      { code: 0x83 },
    );
  });

  it('a hook: authorizePublish throwing gives DISCONNECT 0x83 (MQTT 5), the close (3.1.1)', async () => {
    const pub = { cmd: 'publish', topic: 'boom/publish-hook', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false };
    await expectFault('authorizePublish v5', () => connected('hook-v5'), (w) => w.send(pub), { code: 0x83 });
    await expectFault('authorizePublish v4', () => connected('hook-v4', 4), (w) => w.send(pub), { silent: true });
  });

  it('a hook: authorizeSubscribe throwing gives DISCONNECT 0x83', async () => {
    await expectFault('authorizeSubscribe', () => connected('sub-hook'), (w) => w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'boom/subscribe-hook', qos: 0 }] }), { code: 0x83 });
  });

  it('a hook before CONNACK: authenticate throwing, or rejecting, gives CONNACK 0x88 (MQTT 5) / 3 (3.1.1)', async () => {
    for (const [clientId, version, code] of [
      ['throws-in-authenticate', 5, 0x88],
      ['rejects-in-authenticate', 5, 0x88],
      ['throws-in-authenticate', 4, 3],
    ] as const) {
      const last = await expectFault(
        `authenticate ${clientId} v${version}`,
        () => WireClient.open(t.port(), version),
        (w) => w.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, keepalive: 30, clientId }),
        {},
      );
      assert.equal(last?.cmd, 'connack');
      assert.equal(last?.reasonCode ?? last?.returnCode, code);
    }
  });

  it('a store callback: a throw in the continuation after the store answered (SUBACK path) gives DISCONNECT 0x83', async () => {
    await expectFault(
      'store continuation',
      async () => {
        const w = await connected('store-continuation');
        const ch = connectionOf('store-continuation').channel;
        // This connection's own view of the broker: subscribe answers through a Promise (as a
        // persistent session's does), and what runs after it throws.
        const real = ch.broker;
        const stub: ChannelContext = Object.create(real);
        stub.subscribe = (session, subs) => Promise.resolve(real.subscribe(session, subs));
        stub.deliverRetained = () => {
          throw new Injected('after the store');
        };
        (ch as { broker: ChannelContext }).broker = stub;
        return w;
      },
      (w) => w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'continuation/x', qos: 1 }] }),
      { code: 0x83 },
    );
  });

  it('a store callback: a rejected store promise gives DISCONNECT 0x83', async () => {
    await expectFault(
      'store rejection',
      async () => {
        const w = await connected('store-rejects');
        const ch = connectionOf('store-rejects').channel;
        const stub: ChannelContext = Object.create(ch.broker);
        stub.subscribe = () => Promise.reject(new Injected('store write'));
        (ch as { broker: ChannelContext }).broker = stub;
        return w;
      },
      (w) => w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rejects/x', qos: 1 }] }),
      { code: 0x83 },
    );
  });

  it('encoding or writing a packet for it (Channel.send): nothing more can be written, so it is closed silently, without recursing', async () => {
    await expectFault(
      'write',
      async () => {
        const w = await connected('write-throws');
        connectionOf('write-throws').write = () => {
          throw new Injected('write');
        };
        return w;
      },
      (w) => w.send({ cmd: 'pingreq' }),
      { silent: true },
    );
  });

  it('fail itself: answering a protocol error with a packet that cannot be written ends only this connection', async () => {
    await expectFault(
      'fail',
      async () => {
        const w = await connected('fail-throws');
        connectionOf('fail-throws').write = () => {
          throw new Injected('write in fail');
        };
        return w;
      },
      // A second CONNECT is a protocol error [MQTT-3.1.0-2]: fail() sends DISCONNECT 0x82.
      (w) => w.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: 'fail-throws' }),
      { silent: true },
    );
  });

  it('encoding a delivery for a subscriber (Channel.deliver) ends the subscriber, not the publisher', async () => {
    const publisher = await connected('innocent-publisher');
    let acks = 0;
    await expectFault(
      'deliver',
      async () => {
        const w = await connected('deliver-throws');
        w.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'deliver/#', qos: 0 }] });
        assert.equal((await w.next(5000)).cmd, 'suback');
        // The encoding inside Channel.deliver (its barrier stays in place around it).
        const ch = connectionOf('deliver-throws').channel as unknown as { writePublish: () => void };
        ch.writePublish = () => {
          throw new Injected('deliver');
        };
        return w;
      },
      () => publisher.send({ cmd: 'publish', topic: 'deliver/x', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false }),
      { code: 0x83 },
    );
    const ack = await publisher.next(5000);
    if (ack.cmd === 'puback') acks++;
    assert.equal(acks, 1, 'the publisher got its PUBACK');
    assert.equal(publisher.closed, false, 'the publisher is still connected');
    publisher.end();
  });

  it('its keepalive timer: a throw in it gives DISCONNECT 0x83', async () => {
    await expectFault(
      'keepalive',
      async () => {
        const w = await connected('keepalive-throws', 5, { keepalive: 1 });
        (connectionOf('keepalive-throws').channel as Channel).keepaliveExpired = () => {
          throw new Injected('keepalive timer');
        };
        return w;
      },
      () => {},
      { code: 0x83 },
    );
  });

  it('its connect timeout timer: a throw in it still closes the socket', async () => {
    await expectFault(
      'connect timeout',
      async () => {
        const w = await WireClient.open(t.port());
        await sleep(50);
        const ch = connectionOf(w).channel;
        const end = ch.end.bind(ch);
        ch.end = () => {
          ch.end = end;
          throw new Injected('connect timeout');
        };
        return w;
      },
      () => {},
      { silent: true },
    );
  });

  it('its slow-consumer timer: a throw in it still ends the connection, and only it', async () => {
    await expectFault(
      'slow consumer',
      async () => {
        const w = await connected('slow-throws');
        const conn = connectionOf('slow-throws');
        (conn.channel as Channel).quotaExceeded = () => {
          throw new Injected('slow consumer timer');
        };
        // This connection's transport reports a full outgoing buffer (how full the kernel's buffers
        // get on loopback is not for a test to depend on): its next write arms the timer.
        const transport = (conn as unknown as { transport: object }).transport;
        Object.defineProperty(transport, 'bufferedBytes', { get: () => 1 << 30 });
        return w;
      },
      (w) => w.send({ cmd: 'pingreq' }),
      { code: 0x83 },
    );
  });

  it('counts faults in $SYS/broker/clients/faults as well', async () => {
    const expected = String(t.server.broker.stats.connectionFaults);
    assert.ok(t.server.broker.stats.connectionFaults >= 14, 'every fault above was counted');
    const sys = await connectClient(t.url(), { clientId: 'sys-reader' });
    try {
      // The retained value first, then each change ($SYS publishes every second here).
      let last = 'none';
      const got = new Promise<string>((resolve) =>
        sys.on('message', (_t, p) => {
          last = p.toString();
          if (last === expected) resolve(last);
        }),
      );
      await sys.subscribeAsync('$SYS/broker/clients/faults');
      const value = await Promise.race([got, sleep(10_000).then(() => `${last} after 10 s`)]);
      assert.equal(value, expected);
    } finally {
      await endClient(sys, true);
    }
  });
});
