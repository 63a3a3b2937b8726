// persistence=nats: a node keeps its sessions, queues and retained messages in the cluster's
// JetStream (under a name derived from its node id), and the cluster connection takes NATS
// credentials. Real nats-server processes, real Starling nodes, MQTT.js clients.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { generateDevCertificates } from '../../src/transport/dev-certs.js';
import { ConfigError } from '../../src/config/errors.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox, whenConnected } from '../helpers/mqttjs.js';

const v5 = { protocolVersion: 5 as const };

describe('persistence=nats', () => {
  let nats: NatsServerHandle;
  let guarded: NatsServerHandle;
  const open: TestServer[] = [];
  const clients: MqttClient[] = [];

  before(async () => {
    nats = await startNatsServer();
    guarded = await startNatsServer({ args: ['--user', 'starling', '--pass', 's3cret'] });
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    for (const t of open) await t.close();
    await nats.stop();
    await guarded.stop();
  });

  it('keeps a persistent session and its queued messages in JetStream across a restart of the node', async () => {
    const flags = { persistence: 'nats', clusterNatsUrl: nats.url, clusterNodeId: 'keeper', clusterSubjectPrefix: 'np' };
    const first = await startTestServer(flags);
    const options = { ...v5, clientId: 'durable', clean: false, properties: { sessionExpiryInterval: 3600 } };
    const sub = await connectClient(first.url(), options);
    await sub.subscribeAsync('np/#', { qos: 1 });
    await endClient(sub);
    const pub = await connectClient(first.url(), v5);
    for (let i = 0; i < 3; i++) await pub.publishAsync('np/t', String(i), { qos: 1 });
    await pub.publishAsync('np/state', 'kept', { qos: 1, retain: true });
    await endClient(pub);
    await first.close();

    // A new process of the same node: everything comes back from JetStream, not from local files.
    const second = await startTestServer(flags);
    open.push(second);
    const again = mqtt.connect(second.url(), { ...options, reconnectPeriod: 0 });
    clients.push(again);
    const inbox = new Inbox(again);
    await whenConnected(again, second.url(), 5000);
    assert.equal((again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent, true);
    const got = await inbox.waitFor(4);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['0', '1', '2', 'kept']);
    assert.equal(second.server.broker.retained.get('np/state')?.payload.toString(), 'kept', 'the retained message too');
  });

  it('connects to NATS with clusterNatsUser and clusterNatsPassword, and refuses to start with wrong ones', async () => {
    const base = { clusterNatsUrl: guarded.url, clusterSubjectPrefix: 'auth' };
    const node = await startTestServer({ ...base, clusterNodeId: 'ok', clusterNatsUser: 'starling', clusterNatsPassword: 's3cret', persistence: 'nats' });
    open.push(node);
    assert.deepEqual(node.server.cluster?.members(), ['ok']);
    const c = await connectClient(node.url(), v5);
    clients.push(c);
    await assert.rejects(
      startTestServer({ ...base, clusterNodeId: 'bad', clusterNatsUser: 'starling', clusterNatsPassword: 'wrong' }),
      /cannot connect to NATS|Authorization|authorization/i,
      'a wrong password stops start-up with the reason',
    );
  });

  it('connects to NATS over TLS, verifying the server with clusterNatsTlsCaFile and presenting a client certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-nats-tls-'));
    const certs = await generateDevCertificates(dir);
    // The server requires TLS and verifies client certificates against the same CA.
    const tlsNats = await startNatsServer({ args: ['--tls', '--tlscert', certs.certFile, '--tlskey', certs.keyFile, '--tlsverify', '--tlscacert', certs.caFile] });
    try {
      const base = { clusterNatsUrl: `tls://127.0.0.1:${tlsNats.port}`, clusterSubjectPrefix: 'tls', clusterNatsTlsCaFile: certs.caFile };
      const node = await startTestServer({ ...base, clusterNodeId: 'secure', clusterNatsTlsCertFile: certs.clientCertFile, clusterNatsTlsKeyFile: certs.clientKeyFile });
      assert.deepEqual(node.server.cluster?.members(), ['secure']);
      const c = await connectClient(node.url(), v5);
      const inbox = new Inbox(c);
      await c.subscribeAsync('tls/t', { qos: 1 });
      await c.publishAsync('tls/t', 'over tls', { qos: 1 });
      assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'over tls');
      await endClient(c);
      await node.close();
      await assert.rejects(startTestServer({ ...base, clusterNodeId: 'no-cert' }), /cannot connect to NATS/, 'without a client certificate the server refuses the node');
    } finally {
      await tlsNats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies clusterStreamMaxAgeSec and clusterStreamMaxBytes to the message stream, also to one that exists', async () => {
    const flags = { persistence: 'nats', clusterNatsUrl: nats.url, clusterNodeId: 'limits', clusterSubjectPrefix: 'lim' };
    const streamConfig = async () => {
      const nc = await connect({ servers: nats.url });
      try {
        return (await (await jetstreamManager(nc)).streams.info('lim_msgs')).config;
      } finally {
        await nc.close();
      }
    };
    const first = await startTestServer({ ...flags, clusterStreamMaxAgeSec: '3600', clusterStreamMaxBytes: '64MiB' });
    await first.close();
    let config = await streamConfig();
    assert.equal(config.max_age, 3600 * 1e9, 'max_age in nanoseconds');
    assert.equal(config.max_bytes, 64 * 1024 * 1024);
    // Started again with other limits: the stream follows the configuration.
    const second = await startTestServer({ ...flags, clusterStreamMaxAgeSec: '7200', clusterStreamMaxBytes: '128MiB' });
    await second.close();
    config = await streamConfig();
    assert.equal(config.max_age, 7200 * 1e9);
    assert.equal(config.max_bytes, 128 * 1024 * 1024);
  });

  it('refuses persistence=nats without the cluster URL or a fixed node id, naming the key', () => {
    const load = (flags: Record<string, string>) => () => loadConfig({ env: {}, flags: { mqttListeners: 'mqtt://127.0.0.1:0', ...flags } });
    assert.throws(load({ persistence: 'nats' }), (err: unknown) => err instanceof ConfigError && /persistence: nats needs clusterNatsUrl/.test(String(err)) && /needs a fixed clusterNodeId/.test(String(err)));
    assert.throws(load({ clusterNatsTlsCertFile: '/nonexistent.pem' }), (err: unknown) => err instanceof ConfigError && /clusterNatsTlsCertFile and clusterNatsTlsKeyFile together/.test(String(err)));
  });
});
