import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHttpHandler, defaultMqttBundle } from '../../src/observe/http.js';
import { http, rawGet, serve, type Served } from './helpers.js';

const SECRET = 'top-secret-outside-the-console';

describe('HTTP handler: console files', () => {
  let root: string;
  let dist: string;
  let server: Served;
  let ready = false;
  const bigJs = `console.log(${JSON.stringify('x'.repeat(5000))});\n`;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'starling-http-'));
    dist = join(root, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(root, 'secret.txt'), SECRET);
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), bigJs);
    writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(dist, '.hidden'), SECRET);
    symlinkSync(join(root, 'secret.txt'), join(dist, 'link.txt'));
    server = await serve(
      createHttpHandler({
        consoleDir: dist,
        ready: () => ready,
        webSocketPath: '/ws',
        listeners: () => [
          { url: 'mqtt://0.0.0.0:1883', scheme: 'mqtt', host: '0.0.0.0', port: 1883 },
          { url: 'ws+ssl://[::1]:8084', scheme: 'ws+ssl', host: '::1', port: 8084, path: '/secure' },
        ],
      }),
    );
  });

  after(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves index.html at / with a CSP and revalidation', async () => {
    const r = await http(server.port, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
    assert.match(String(r.headers['content-security-policy']), /connect-src 'self' ws: wss:/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.text, '<!doctype html><title>console</title>');
    assert.equal((await http(server.port, '/index.html')).text, r.text);
  });

  it('gives content types and long-lived caching to hashed assets', async () => {
    const js = await http(server.port, '/assets/index-abc123.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.text, bigJs);
    const css = await http(server.port, '/assets/index-abc123.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const svg = await http(server.port, '/favicon.svg');
    assert.equal(svg.headers['content-type'], 'image/svg+xml');
    assert.equal(svg.headers['cache-control'], 'no-cache');
  });

  it('gzips compressible files for clients that accept it', async () => {
    const r = await http(server.port, '/assets/index-abc123.js', { headers: { 'Accept-Encoding': 'gzip, deflate' } });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.ok(r.body.length < bigJs.length / 4);
    assert.equal(gunzipSync(r.body).toString(), bigJs);
    const refused = await http(server.port, '/assets/index-abc123.js', { headers: { 'Accept-Encoding': 'gzip;q=0' } });
    assert.equal(refused.headers['content-encoding'], undefined);
  });

  it('answers a matching If-None-Match with 304', async () => {
    const first = await http(server.port, '/');
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const again = await http(server.port, '/', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  });

  it('HEAD has headers and no body; other methods get 405', async () => {
    const head = await http(server.port, '/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.ok(Number(head.headers['content-length']) > 0);
    const post = await http(server.port, '/', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it('refuses directory traversal in every spelling', async () => {
    const attempts = [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/assets%5c..%5c..%5csecret.txt',
      '/%00/../secret.txt',
      '/./index.html',
      '//secret.txt',
      '/secret.txt',
      '/.hidden',
      '/link.txt',
      '/%',
    ];
    for (const target of attempts) {
      const r = await rawGet(server.port, target);
      assert.ok([400, 404].includes(r.status), `${target} → ${r.status}`);
      assert.ok(!r.text.includes(SECRET), `${target} leaked the file`);
    }
  });

  it('tells the console its WebSocket path and the listeners\' client URLs (nothing more) at /console.json', async () => {
    const r = await http(server.port, '/console.json');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {
      webSocketPath: '/ws',
      adminApi: false,
      listeners: [{ url: 'mqtt://127.0.0.1:1883' }, { url: 'wss://[::1]:8084/secure' }],
    });
  });

  it('leaves paths it does not own to the listener', async () => {
    for (const path of ['/mqtt', '/nope.js', '/assets/']) {
      const r = await http(server.port, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.text, 'fell through', path);
    }
  });

  it('serves MQTT.js’s browser bundle at /mqtt.min.js', async () => {
    const bundle = defaultMqttBundle();
    assert.ok(bundle, 'node_modules/mqtt/dist/mqtt.min.js is installed');
    const r = await http(server.port, '/mqtt.min.js', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.ok(gunzipSync(r.body).equals(readFileSync(bundle)));
  });

  it('/healthz is 200 while up; /readyz follows the ready flag', async () => {
    const h = await http(server.port, '/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.text, 'ok\n');
    ready = false;
    assert.equal((await http(server.port, '/readyz')).status, 503);
    ready = true;
    const r = await http(server.port, '/readyz');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ready\n');
    assert.equal((await http(server.port, '/healthz', { method: 'DELETE' })).status, 405);
  });
});

describe('HTTP handler: console not built', () => {
  it('says how to build it at /', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'starling-empty-'));
    const s = await serve(createHttpHandler({ consoleDir: join(empty, 'missing'), mqttBundle: null }));
    try {
      const r = await http(s.port, '/');
      assert.equal(r.status, 503);
      assert.match(r.text, /not built/);
      assert.equal((await http(s.port, '/mqtt.min.js')).text, 'fell through', 'no bundle configured');
    } finally {
      await s.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
