import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import mqtt from 'mqtt';
import { main, type CliIO } from '../../src/cli/main.js';
import { createLogger } from '../../src/server/logger.js';
import { startServer } from '../../src/server/server.js';
import type { Config } from '../../src/config/schema.js';
import type { ListenerInfo } from '../../src/transport/transport.js';
import { renderConfigurationDoc } from '../../src/config/doc.js';
import { repoRoot } from '../helpers/paths.js';

interface FakeIO extends CliIO {
  stdout: string[];
  stderr: string[];
  exits: number[];
  signals: Map<string, () => void>;
  started: Config[];
  closes: number;
}

const silent = pino({ level: 'silent' });

function fakeIO(overrides: Partial<CliIO> = {}, listeners: ListenerInfo[] = []): FakeIO {
  const io: FakeIO = {
    stdout: [],
    stderr: [],
    exits: [],
    signals: new Map(),
    started: [],
    closes: 0,
    out: (t) => void io.stdout.push(t),
    err: (t) => void io.stderr.push(t),
    exit: (code) => void io.exits.push(code),
    onSignal: (sig, fn) => {
      io.signals.set(sig, fn);
      return () => void io.signals.delete(sig);
    },
    env: {},
    // As on a terminal where the log goes to a file: the human start-up lines are on stderr.
    terminal: { out: false, err: true },
    createLogger: () => silent,
    startServer: async (config) => {
      io.started.push(config);
      return {
        listeners,
        close: async () => {
          io.closes++;
        },
      };
    },
    ...overrides,
  };
  return io;
}

const argv = (...args: string[]): string[] => ['node', 'starling', ...args];

/** Resolves on the client's CONNACK; rejects on its first error or after 5 s. */
function connected(client: mqtt.MqttClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    setTimeout(() => reject(new Error('no CONNACK')), 5000);
  });
}

async function until(check: () => boolean, label: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The client reaches the server that `start` runs, then SIGTERM stops that server with exit 0. */
async function connectThenStop(client: mqtt.MqttClient, io: FakeIO): Promise<void> {
  try {
    await connected(client);
  } finally {
    client.end(true);
    io.signals.get('SIGTERM')!();
    await until(() => io.exits.length === 1, 'shutdown');
  }
  assert.deepEqual(io.exits, [0]);
}

describe('starling CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('start: loads file < env < flags, then prints one connect URL per listener', async () => {
    const conf = join(dir, 'a.conf');
    writeFileSync(conf, 'logLevel=debug\nmaxConnections=5\npersistence=memory\n');
    const listeners: ListenerInfo[] = [
      { url: 'mqtt://0.0.0.0:1883', scheme: 'mqtt', host: '0.0.0.0', port: 1883 },
      { url: 'ws://127.0.0.1:0', scheme: 'ws', host: '127.0.0.1', port: 40001, path: '/mqtt' },
      { url: 'wss://[::1]:8084', scheme: 'ws+ssl', host: '::1', port: 8084, path: '/x' },
      { url: 'mqtts://127.0.0.1:8883', scheme: 'mqtt+ssl', host: '127.0.0.1', port: 8883 },
    ];
    const io = fakeIO({ env: { STARLING_MAX_CONNECTIONS: '6' } }, listeners);
    await main(argv('start', '--config', conf, '--log-level', 'warn', '--mqtt-tls-allow-insecure-connection'), io);
    assert.deepEqual(io.exits, []);
    const c = io.started[0];
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.maxConnections, 6);
    assert.equal(c.persistence, 'memory');
    assert.equal(c.mqttTlsAllowInsecureConnection, true);
    assert.deepEqual(io.stdout, [], 'standard output carries the log only');
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;
    assert.equal(
      io.stderr.join(''),
      [
        `Starling ${version}; config ${conf}`,
        '  mqtt://127.0.0.1:1883      MQTT over TCP',
        '  ws://127.0.0.1:40001/mqtt  MQTT over WebSocket',
        '  wss://[::1]:8084/x         MQTT over secure WebSocket',
        '  mqtts://127.0.0.1:8883     MQTT over TLS',
        'Web console at http://127.0.0.1:40001/',
        'Warning: anonymous access is on: any client that reaches a listener can connect, publish and subscribe without credentials; ' +
          'set mqttAuthenticationEnabled=true with a password file or tokens (docs/security.md)',
        '',
      ].join('\n'),
    );
  });

  it('start: STARLING_CONFIG names the file when --config is absent', async () => {
    const conf = join(dir, 'b.conf');
    writeFileSync(conf, 'sysIntervalSec=0\n');
    const io = fakeIO({ env: { STARLING_CONFIG: conf } });
    await main(argv('start'), io);
    assert.equal(io.started[0].sysIntervalSec, 0);
  });

  it('start: a config error prints the message without a stack and exits 2', async () => {
    const conf = join(dir, 'bad.conf');
    writeFileSync(conf, '# x\nmqttListeners=tcp://127.0.0.1:1883\n');
    const io = fakeIO();
    await main(argv('start', '-c', conf), io);
    assert.deepEqual(io.exits, [2]);
    assert.equal(io.started.length, 0);
    assert.equal(
      io.stderr.join(''),
      `starling: configuration error:\n  ${conf}:2: mqttListeners: unknown scheme "tcp" (use mqtt://, mqtt+ssl://, ws://, ws+ssl://; for plain MQTT write mqtt://)\n`,
    );
    assert.doesNotMatch(io.stderr.join(''), /\n\s+at /);
  });

  it('start: a bad enum flag is a usage error (exit 2)', async () => {
    const io = fakeIO();
    await main(argv('start', '--persistence', 'disk'), io);
    assert.deepEqual(io.exits, [2]);
    assert.match(io.stderr.join(''), /argument 'disk' is invalid\. Allowed choices are sqlite, memory/);
  });

  it('start: an unknown flag is refused with a suggestion (exit 2)', async () => {
    const io = fakeIO();
    await main(argv('start', '--mqtt-listener', 'x'), io);
    assert.deepEqual(io.exits, [2]);
    assert.match(io.stderr.join(''), /unknown option '--mqtt-listener'[\s\S]*--mqtt-listeners/);
  });

  it('start: a failed start-up prints the reason and exits 1', async () => {
    const io = fakeIO({
      terminal: { out: false, err: false },
      startServer: async () => {
        throw new Error('cannot listen on mqtt://127.0.0.1:1883: the address is already in use');
      },
    });
    await main(argv('start'), io);
    assert.deepEqual(io.exits, [1]);
    assert.equal(io.stderr.join(''), 'starling: cannot listen on mqtt://127.0.0.1:1883: the address is already in use\n');
  });

  it('start: a server that closed itself (its cluster place was taken) makes the process exit 1, for a supervisor to restart it', async () => {
    let failWith!: (err: Error) => void;
    const io = fakeIO({ terminal: { out: false, err: false } });
    io.startServer = async (config) => {
      io.started.push(config);
      return { listeners: [], close: async () => {}, failed: new Promise<Error>((r) => (failWith = r)) };
    };
    await main(argv('start'), io);
    assert.deepEqual(io.exits, [], 'runs while the server runs');
    failWith(new Error("cluster: node n1's place was taken by n2, which adopts its sessions"));
    await until(() => io.exits.length === 1, 'exit after the server failed');
    assert.deepEqual(io.exits, [1]);
    assert.match(io.stderr.join(''), /starling: cluster: node n1's place was taken by n2/);
    assert.ok(!io.signals.has('SIGINT') && !io.signals.has('SIGTERM'), 'the signal handlers are removed');
  });

  it('start: SIGINT closes the server and exits 0; a second signal forces the exit', async () => {
    let release!: () => void;
    const io = fakeIO();
    io.startServer = async (config) => {
      io.started.push(config);
      return { listeners: [], close: () => new Promise<void>((r) => (release = () => r())) };
    };
    await main(argv('start'), io);
    assert.ok(io.signals.has('SIGINT') && io.signals.has('SIGTERM'));
    io.signals.get('SIGTERM')!();
    assert.deepEqual(io.exits, [], 'waits for close');
    io.signals.get('SIGINT')!();
    assert.deepEqual(io.exits, [130], 'second signal forces');
    assert.match(io.stderr.join(''), /second SIGINT/);
    release();
    await until(() => io.exits.length === 2, 'exit after close');
    assert.deepEqual(io.exits, [130, 0]);

    const calm = fakeIO();
    await main(argv('start'), calm);
    calm.signals.get('SIGINT')!();
    await until(() => calm.exits.length === 1, 'exit');
    assert.equal(calm.closes, 1);
    assert.deepEqual(calm.exits, [0]);
    assert.equal(calm.signals.size, 0, 'signal handlers removed after shutdown');
  });

  it('start: a real server on port 0 prints a ws:// URL that MQTT.js connects to', async () => {
    const io = fakeIO({ startServer });
    await main(argv('start', '--mqtt-listeners', 'mqtt://127.0.0.1:0,ws://127.0.0.1:0', '--persistence', 'memory', '--log-level', 'silent'), io);
    const url = /(ws:\/\/127\.0\.0\.1:\d+\/mqtt)/.exec(io.stderr.join(''))?.[1];
    assert.ok(url, `a ws URL among ${io.stderr.join('')}`);
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000 });
    await connectThenStop(client, io);
  });

  it('certs: writes the six files for the given hosts and prints the config lines', async () => {
    const out = join(dir, 'certs');
    const io = fakeIO();
    await main(argv('certs', '--out', out, '--host', 'broker.test', '--host', '10.0.0.5,localhost'), io);
    assert.deepEqual(io.exits, []);
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'client.crt', 'client.key']) assert.ok(existsSync(join(out, f)), f);
    const cert = new X509Certificate(readFileSync(join(out, 'server.crt')));
    assert.equal(cert.checkHost('broker.test'), 'broker.test');
    assert.equal(cert.checkIP('10.0.0.5'), '10.0.0.5');
    assert.match(io.stdout.join(''), new RegExp(`mqttTlsCertificateFilePath=${join(out, 'server.crt')}`));

    const again = fakeIO();
    await main(argv('certs', '--out', out), again);
    assert.deepEqual(again.exits, [2]);
    assert.match(again.stderr.join(''), /exists; use --force/);
    const forced = fakeIO();
    await main(argv('certs', '--out', out, '--force'), forced);
    assert.deepEqual(forced.exits, []);
    assert.notEqual(new X509Certificate(readFileSync(join(out, 'server.crt'))).fingerprint256, cert.fingerprint256);
  });

  it('certs: the README\'s mutual-TLS steps work as written; --host adds to the loopback names', async () => {
    // README: `node bin/starling.js certs --out ./certs --host localhost`, then its mutual-TLS config
    // lines, then MQTT.js from Node to wss://127.0.0.1:8084/mqtt with key, cert, ca and rejectUnauthorized.
    const out = join(dir, 'readme-certs');
    const made = fakeIO();
    await main(argv('certs', '--out', out, '--host', 'localhost'), made);
    assert.deepEqual(made.exits, [], made.stderr.join(''));
    const cert = new X509Certificate(readFileSync(join(out, 'server.crt')));
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.match(made.stdout.join(''), /for localhost, 127\.0\.0\.1, ::1 written/);

    const conf = join(dir, 'readme-mtls.conf');
    writeFileSync(
      conf,
      [
        'mqttListeners=ws+ssl://127.0.0.1:0',
        `mqttTlsCertificateFilePath=${join(out, 'server.crt')}`,
        `mqttTlsKeyFilePath=${join(out, 'server.key')}`,
        `mqttTlsTrustCertsFilePath=${join(out, 'ca.crt')}`,
        'mqttTlsRequireTrustedClientCertOnConnect=true',
        'persistence=memory',
        '',
      ].join('\n'),
    );
    const io = fakeIO({ startServer });
    await main(argv('start', '--config', conf, '--log-level', 'silent'), io);
    assert.deepEqual(io.exits, [], io.stderr.join(''));
    const url = /(wss:\/\/127\.0\.0\.1:\d+\/mqtt)/.exec(io.stderr.join(''))?.[1];
    assert.ok(url, `a wss URL among ${io.stderr.join('')}`);
    const client = mqtt.connect(url, {
      key: readFileSync(join(out, 'client.key')),
      cert: readFileSync(join(out, 'client.crt')),
      ca: readFileSync(join(out, 'ca.crt')),
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await connectThenStop(client, io);
  });

  it('config: prints effective values with their sources, and --doc the reference', async () => {
    const io = fakeIO({ env: { STARLING_LOG_LEVEL: 'debug' } });
    await main(argv('config', '--max-connections', '9'), io);
    const text = io.stdout.join('');
    assert.match(text, /^logLevel=debug {4}# STARLING_LOG_LEVEL$/m);
    assert.match(text, /^maxConnections=9 {4}# --max-connections$/m);
    assert.match(text, /^webSocketPath=\/mqtt$/m);
    const doc = fakeIO();
    await main(argv('config', '--doc'), doc);
    assert.equal(doc.stdout.join(''), renderConfigurationDoc());
  });

  it('--help exits 0 and lists the generated flags by group', async () => {
    const io = fakeIO();
    await main(argv('start', '--help'), io);
    assert.deepEqual(io.exits, [0]);
    const help = io.stdout.join('');
    assert.match(help, /WebSocket settings:/);
    assert.match(help, /--web-socket-path <value>/);
    assert.match(help, /--mqtt-tls-require-trusted-client-cert-on-connect \[bool\]/);
  });
});

describe('createLogger', () => {
  const sink = () => {
    const chunks: string[] = [];
    return { chunks, stream: new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) }) };
  };

  it('writes JSON lines at the given level', () => {
    const { chunks, stream } = sink();
    const log = createLogger({ level: 'warn', pretty: false, destination: stream });
    log.info('hidden');
    log.warn({ listener: 'ws://x' }, 'shown');
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; listener: string; level: number });
    assert.equal(lines.length, 1);
    assert.equal(lines[0].msg, 'shown');
    assert.equal(lines[0].listener, 'ws://x');
    assert.equal(lines[0].level, 40);
  });

  it('writes human-readable lines when pretty', () => {
    const { chunks, stream } = sink();
    const log = createLogger({ level: 'info', pretty: true, destination: stream });
    log.info({ listener: 'ws://x' }, 'hello there');
    const text = chunks.join('');
    assert.match(text, /INFO.*hello there/);
    assert.match(text, /listener=ws:\/\/x/);
    assert.doesNotMatch(text, /^\{/);
  });
});
