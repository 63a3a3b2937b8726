// The server's listeners as a user meets them: every bound address logged through pino once open,
// the default start's development certificate (made in <dataDir>/certs, warned about, trusted by an
// MQTT.js client over mqtts and wss), and hosts 0.0.0.0 and [::1] bound for real over TCP and WS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { bracketIpv6 } from '../../src/cli/client-options.js';
import { captureLog } from './helpers.js';

async function start(flags: Record<string, string>) {
  const cap = captureLog();
  const server = await startServer(loadConfig({ env: {}, flags: { persistence: 'memory', ...flags } }), cap.log);
  return { server, lines: cap.lines };
}

/** Subscribes and publishes QoS 1 on one client: the broker behind `url` really serves MQTT. */
async function roundTrip(url: string, options: IClientOptions = {}): Promise<void> {
  const c = await connectClient(url, { clientId: `rt-${Math.random().toString(16).slice(2, 8)}`, ...options });
  try {
    const inbox = new Inbox(c);
    await c.subscribeAsync('rt/x', { qos: 1 });
    await c.publishAsync('rt/x', `via ${url}`, { qos: 1 });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.payload.toString(), `via ${url}`);
  } finally {
    await endClient(c, true);
  }
}

const port = (s: RunningServer, scheme: string): number => s.listeners.find((l) => l.scheme === scheme)!.port;

describe('server listeners', () => {
  const servers: RunningServer[] = [];
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'starling-listeners-'));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs each bound listener address with pino once it is open, with the port the system chose', async () => {
    const { server, lines } = await start({ mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0/custom' });
    servers.push(server);
    const listening = lines.filter((l) => l.level === 30 && /^listening on /.test(l.msg));
    const tcp = port(server, 'mqtt');
    const ws = port(server, 'ws');
    assert.deepEqual(
      listening.map((l) => [l.msg, l.url, l.listener, l.port]),
      [
        [`listening on mqtt://127.0.0.1:${tcp} (MQTT over TCP)`, `mqtt://127.0.0.1:${tcp}`, `mqtt://127.0.0.1:${tcp}`, tcp],
        [
          `listening on ws://127.0.0.1:${ws}/custom (MQTT over WebSocket; browser pages from: this listener's own pages, ` +
            'http(s)://localhost, 127.0.0.0/8, [::1] (any port), null (pages opened from files))',
          `ws://127.0.0.1:${ws}/custom`,
          `ws://127.0.0.1:${ws}/custom`,
          ws,
        ],
      ],
    );
    assert.ok(tcp > 0 && ws > 0);
  });

  it('default start: TLS listeners without a certificate get a development CA and certificate in <dataDir>/certs, with a warning', async () => {
    // The quickstart's four listeners, on port 0 so the test can run beside anything.
    const flags = { mqttListeners: 'mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0', dataDir };
    const { server, lines } = await start(flags);
    servers.push(server);
    const certs = join(dataDir, 'certs');
    for (const f of ['ca.crt', 'server.crt', 'server.key']) assert.ok(existsSync(join(certs, f)), `${f} created`);
    const warning = lines.find((l) => l.level === 40 && /no TLS certificate configured: using a development certificate/.test(l.msg));
    assert.ok(warning, 'the development certificate is warned about');
    assert.equal(warning.cert, join(certs, 'server.crt'));

    const ca = readFileSync(join(certs, 'ca.crt'));
    // Verified against that CA only (rejectUnauthorized is MQTT.js's default; said here for the reader).
    const trusting = { ca, rejectUnauthorized: true };
    await roundTrip(`mqtts://127.0.0.1:${port(server, 'mqtt+ssl')}`, trusting);
    await roundTrip(`wss://127.0.0.1:${port(server, 'ws+ssl')}/mqtt`, trusting);
    // Without the CA the certificate is not trusted: it really is a private development CA.
    await assert.rejects(connectClient(`mqtts://127.0.0.1:${port(server, 'mqtt+ssl')}`, { reconnectPeriod: 0 }, 3000));

    // A second start reuses the certificates rather than making new ones.
    const again = await start(flags);
    servers.push(again.server);
    assert.deepEqual(readFileSync(join(certs, 'ca.crt')), ca);
    await roundTrip(`mqtts://127.0.0.1:${port(again.server, 'mqtt+ssl')}`, trusting);
  });

  it('binds 0.0.0.0:0 for real over TCP and WebSocket', async () => {
    const { server, lines } = await start({ mqttListeners: 'mqtt://0.0.0.0:0,ws://0.0.0.0:0' });
    servers.push(server);
    assert.deepEqual(server.listeners.map((l) => l.host), ['0.0.0.0', '0.0.0.0']);
    await roundTrip(`mqtt://127.0.0.1:${port(server, 'mqtt')}`);
    await roundTrip(`ws://127.0.0.1:${port(server, 'ws')}/mqtt`);
    // The logged address is one a client can dial, not the wildcard.
    assert.ok(lines.some((l) => l.msg === `listening on mqtt://127.0.0.1:${port(server, 'mqtt')} (MQTT over TCP)`));
  });

  it('binds [::1]:0 for real over TCP and WebSocket', async () => {
    await requireIpv6Loopback();
    const { server, lines } = await start({ mqttListeners: 'mqtt://[::1]:0,ws://[::1]:0' });
    servers.push(server);
    assert.deepEqual(server.listeners.map((l) => l.host), ['::1', '::1']);
    await roundTrip(`mqtt://[::1]:${port(server, 'mqtt')}`);
    // MQTT.js drops the brackets of an IPv6 host when it builds its WebSocket URL; the CLI's fix-up puts them back.
    await roundTrip(`ws://[::1]:${port(server, 'ws')}/mqtt`, { transformWsUrl: bracketIpv6 });
    assert.ok(lines.some((l) => l.msg.startsWith(`listening on ws://[::1]:${port(server, 'ws')}/mqtt (MQTT over WebSocket; `)));
    // Bound to the IPv6 loopback only: the IPv4 one is a different address.
    await assert.rejects(connectClient(`mqtt://127.0.0.1:${port(server, 'mqtt')}`, { reconnectPeriod: 0 }, 3000));
  });
});

/** Fails (never skips) when this machine has no IPv6 loopback, saying so. */
async function requireIpv6Loopback(): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, '::1', () => resolve());
    });
  } catch (err) {
    throw new Error(
      `this machine has no IPv6 loopback (::1): ${(err as Error).message}. The [::1] listener test needs it; ` +
        'enable IPv6 on lo (sysctl net.ipv6.conf.lo.disable_ipv6=0; in Docker, --sysctl net.ipv6.conf.all.disable_ipv6=0)',
    );
  } finally {
    probe.close();
  }
}
