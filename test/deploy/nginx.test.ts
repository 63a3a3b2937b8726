// deploy/nginx/starling.conf as shipped, run by Debian's nginx in front of a real Starling: MQTT.js
// connects through it over wss:// and ws:// and exchanges messages, and the broker sees the client's
// address from X-Forwarded-For (webSocketTrustForwardedFor), not nginx's and not one the client wrote.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, requireExecutable } from '../helpers/cli-clients.js';
import { connectClient, connectWithInbox, endClient } from '../helpers/mqttjs.js';
import { repoRoot } from '../helpers/paths.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { certificateFixture } from '../transport/helpers.js';

const NGINX = '/usr/sbin/nginx';

/** A free loopback port: nginx cannot listen on port 0, so bind 0, note the port, release it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Replaces `from` in the shipped file, failing if the file no longer has it (the test would drift). */
function replaceOnce(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `deploy/nginx/starling.conf no longer contains "${from}"`);
  return text.split(from).join(to);
}

describe('deploy/nginx/starling.conf: wss:// and ws:// through nginx', () => {
  let dir: string;
  let t: TestServer;
  let nginx: Child | undefined;
  let certs: Awaited<ReturnType<typeof certificateFixture>>;
  let tlsPort: number;
  let plainPort: number;
  const seen: string[] = [];

  before(async () => {
    requireExecutable(NGINX, 'nginx');
    dir = mkdtempSync(join(tmpdir(), 'starling-nginx-'));
    certs = await certificateFixture();
    t = await startTestServer(
      { mqttListeners: 'ws://127.0.0.1:0', webSocketTrustForwardedFor: 'true' },
      {
        hooks: {
          authenticate: (client) => {
            seen.push(client.remoteAddress);
            return 0;
          },
        },
      },
    );
    tlsPort = await freePort();
    plainPort = await freePort();
    let site = readFileSync(join(repoRoot, 'deploy/nginx/starling.conf'), 'utf8');
    site = replaceOnce(site, 'server 127.0.0.1:8083;', `server 127.0.0.1:${t.port('ws')};`);
    site = replaceOnce(site, '    listen 443 ssl;\n', `    listen 127.0.0.1:${tlsPort} ssl;\n`);
    site = replaceOnce(site, '    listen 80;\n', `    listen 127.0.0.1:${plainPort};\n`);
    // Loopback only in the test: the IPv6 wildcard listeners go.
    site = replaceOnce(site, '    listen [::]:443 ssl;\n', '');
    site = replaceOnce(site, '    listen [::]:80;\n', '');
    site = replaceOnce(site, '/etc/letsencrypt/live/mqtt.example.com/fullchain.pem', certs.a.certFile);
    site = replaceOnce(site, '/etc/letsencrypt/live/mqtt.example.com/privkey.pem', certs.a.keyFile);
    writeFileSync(join(dir, 'starling.conf'), site);
    mkdirSync(join(dir, 'logs'));
    // The main file stands for /etc/nginx/nginx.conf: everything in the test's own prefix.
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        'pid nginx.pid;',
        'error_log logs/error.log info;',
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        '  client_body_temp_path tmp-body; proxy_temp_path tmp-proxy; fastcgi_temp_path tmp-fcgi; uwsgi_temp_path tmp-uwsgi; scgi_temp_path tmp-scgi;',
        `  include ${join(dir, 'starling.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    nginx = new Child(NGINX, ['-p', dir, '-e', join(dir, 'logs/error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off; master_process off;'], 120_000);
    // Ready once both ports accept connections (bounded).
    for (const port of [tlsPort, plainPort]) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ok = await new Promise<boolean>((r) => {
          const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
          s.once('error', () => r(false));
        });
        if (ok) break;
        if (Date.now() > deadline || nginx.proc.exitCode !== null) {
          throw new Error(`nginx did not listen on ${port}: ${nginx.stderr}\n${readFileSync(join(dir, 'logs/error.log'), 'utf8')}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  after(async () => {
    if (nginx) {
      nginx.kill('SIGQUIT');
      await nginx.done;
    }
    await t?.close();
    certs?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const scheme of ['wss', 'ws'] as const) {
    it(`MQTT.js exchanges messages through nginx over ${scheme}://, and the broker sees the client's address`, async () => {
      const port = scheme === 'wss' ? tlsPort : plainPort;
      const url = `${scheme}://localhost:${port}/mqtt`;
      // The client connects from 127.0.0.2 (any 127/8 address is loopback on Linux) and writes its own,
      // false X-Forwarded-For: nginx appends 127.0.0.2 and the broker takes that last entry.
      const wsOptions = { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '10.9.9.9' } };
      const tls = scheme === 'wss' ? { ca: readFileSync(certs.a.caFile) } : {};
      const before = seen.length;
      const { client: sub, inbox } = await connectWithInbox(url, { protocolVersion: 5, wsOptions, ...tls });
      await sub.subscribeAsync(`through/${scheme}`, { qos: 1 });
      const pub = await connectClient(url, { protocolVersion: 4, wsOptions, ...tls });
      await pub.publishAsync(`through/${scheme}`, `hello over ${scheme}`, { qos: 1 });
      const [m] = await inbox.waitFor(1, 10_000);
      assert.equal(m.payload.toString(), `hello over ${scheme}`);
      assert.deepEqual(seen.slice(before), ['127.0.0.2', '127.0.0.2'], 'the address nginx saw, not 127.0.0.1 (nginx) nor 10.9.9.9 (client-written)');
      await endClient(pub);
      await endClient(sub);
    });
  }

  it('serves the console and /healthz through nginx, and hides /metrics', async () => {
    const health = await fetch(`http://127.0.0.1:${plainPort}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await fetch(`http://127.0.0.1:${plainPort}/metrics`);
    assert.equal(metrics.status, 404);
  });
});
