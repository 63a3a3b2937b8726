// What `starling start` prints, run as a real process with standard output a pipe (as under a
// supervisor or a log collector): JSON log lines only, version and config path first, one line per
// listener, the anonymous-access warning, and expected start-up failures as one line that names the
// problem and the fix, with the stack only at debug.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledRoot, repoRoot } from '../helpers/paths.js';
import { terminalLine } from '../../src/server/logger.js';
import { generateDevCertificates } from '../../src/transport/dev-certs.js';
import { EXCEPTION_LINE, REJECTION_LINE } from '../../src/cli/process-faults.js';
import mqtt from 'mqtt';

interface Run {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
}

function run(args: string[], nodeArgs: string[] = []): Run {
  const child = spawn(process.execPath, [...nodeArgs, join(compiledRoot, 'test/helpers/run-cli.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

type Line = Record<string, unknown> & { level: number; msg: string };

/** Every line of standard output, each of which must be a JSON object. */
function jsonLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      assert.ok(l.startsWith('{'), `not a JSON line on stdout: ${l}`);
      return JSON.parse(l) as Line;
    });
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Bounded wait for the exit code. */
async function exitOf(r: Run, ms = 20_000): Promise<number | null> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((res) => (t = setTimeout(() => res('late'), ms)));
  const code = await Promise.race([r.exited, late]);
  clearTimeout(t);
  if (code === 'late') {
    r.child.kill('SIGKILL');
    throw new Error(`no exit within ${ms} ms: ${r.out()}${r.err()}`);
  }
  return code;
}

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe('starling start: output for machines and people', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-start-out-'));
  const running: Run[] = [];
  const holders: Server[] = [];
  after(async () => {
    for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    for (const s of holders) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const conf = join(dir, 'starling.conf');
  writeFileSync(conf, 'mqttListeners=mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0\nsysIntervalSec=0\n');
  const data = join(dir, 'data');

  it('stdout a pipe: JSON lines only; version and config path first; one line per listener; anonymous access warned; nothing on stderr', async () => {
    const r = run(['start', '--config', conf, '--data-dir', data]);
    running.push(r);
    await until(() => r.out().includes('"msg":"ready'), 'the ready line');
    const lines = jsonLines(r.out());
    assert.equal(lines[0].msg, `Starling ${version} starting; config ${conf}`);
    assert.equal(lines[0].version, version);
    assert.equal(lines[0].config, conf);
    const listening = lines.filter((l) => l.msg.startsWith('listening on '));
    assert.equal(listening.length, 4, 'one line per listener');
    assert.deepEqual(
      listening.map((l) => l.scheme),
      ['mqtt', 'mqtt+ssl', 'ws', 'ws+ssl'],
    );
    assert.deepEqual((listening[2].origins as string[]).slice(0, 1), ["this listener's own pages"], 'the WebSocket line says which pages may connect');
    const anonymous = lines.find((l) => l.anonymous === true);
    assert.equal(anonymous?.level, 40);
    assert.match(anonymous!.msg, /anonymous access is on.*mqttAuthenticationEnabled=true/);
    const ready = lines.find((l) => l.msg.startsWith('ready'))!;
    assert.equal((ready.listeners as string[]).length, 4);
    assert.match(String(ready.console), /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(r.err(), '', 'no banner when standard error is not a terminal');
  });

  it('data directory held by a running broker: one line naming the problem and the fix, exit 1, no stack', async () => {
    const second = run(['start', '--config', conf, '--data-dir', data, '--mqtt-listeners', 'mqtt://127.0.0.1:0']);
    running.push(second);
    assert.equal(await exitOf(second), 1);
    const lines = jsonLines(second.out());
    const failed = lines.find((l) => l.level === 50)!;
    assert.equal(failed.code, 'SQLITE_BUSY');
    assert.match(String(failed.problem), /cannot open store .*starling\.db: the file is in use by another process/);
    assert.match(String(failed.fix), /stop the other broker that uses this data directory, or give this one its own dataDir/);
    assert.ok(!second.out().includes('"stack"'), 'no stack trace at the default level');
    const err = second.err().split('\n').filter((l) => l !== '');
    assert.equal(err.length, 1, second.err());
    assert.match(err[0], /^starling: cannot open store .* in use by another process.*; stop the other broker/);
  });

  it('port in use: one line naming the listener and the fix; at debug level the stack follows', async () => {
    const holder = createServer();
    holders.push(holder);
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    const args = ['start', '--mqtt-listeners', `mqtt://127.0.0.1:${port}`, '--data-dir', join(dir, 'other'), '--persistence', 'memory'];
    const r = run(args);
    assert.equal(await exitOf(r), 1);
    const failed = jsonLines(r.out()).find((l) => l.level === 50)!;
    assert.equal(failed.code, 'EADDRINUSE');
    assert.equal(failed.msg, `start-up failed: ${failed.problem}; ${failed.fix}`);
    assert.match(String(failed.problem), new RegExp(`^cannot listen on mqtt://127\\.0\\.0\\.1:${port}: the address is already in use`));
    assert.match(String(failed.fix), /another port in mqttListeners/);
    assert.ok(!r.out().includes('"stack"'));
    assert.equal(r.err(), `starling: ${failed.problem}; ${failed.fix}\n`);

    const debug = run([...args, '--log-level', 'debug']);
    assert.equal(await exitOf(debug), 1);
    const detail = jsonLines(debug.out()).find((l) => l.level === 20 && l.msg === 'start-up failure in detail');
    assert.match(String((detail?.err as { stack?: string } | undefined)?.stack), /EADDRINUSE/);
  });

  it('a key that does not belong to the certificate: one line naming both files and where each was set, exit 1', async () => {
    const certs = await generateDevCertificates(join(dir, 'certs'));
    const conf = join(dir, 'mismatch.conf');
    writeFileSync(conf, `mqttListeners=mqtt+ssl://127.0.0.1:0\nmqttTlsCertificateFilePath=${certs.certFile}\n`);
    const r = run(['start', '-c', conf, '--persistence', 'memory', '--mqtt-tls-key-file-path', certs.clientKeyFile]);
    assert.equal(await exitOf(r), 1);
    const failed = jsonLines(r.out()).find((l) => l.level === 50)!;
    assert.equal(failed.code, 'STARLING_TLS_FILES_INVALID');
    assert.equal(failed.problem, `the key in ${certs.clientKeyFile} (mqttTlsKeyFilePath) is not the private key of the certificate in ${certs.certFile} (mqttTlsCertificateFilePath)`);
    const fix = String(failed.fix);
    assert.ok(fix.startsWith(`mqttTlsCertificateFilePath (from ${conf}:2) and mqttTlsKeyFilePath (from --mqtt-tls-key-file-path) must be PEM files`), fix);
    assert.equal(r.err(), `starling: ${failed.problem}; ${failed.fix}\n`);
    assert.ok(!r.out().includes('"stack"'));
  });

  it('a promise rejected with nobody to catch it: one JSON error line a minute, the broker goes on serving; an uncaught exception: a fatal line, exit 1', async () => {
    // Loaded before the CLI: a rejection on SIGUSR2 and a throw from a callback on SIGWINCH, as a
    // bug outside any connection's fault barrier would make them.
    const stray =
      "data:text/javascript,process.on('SIGUSR2',()=>{Promise.reject(new Error('stray rejection'))});" +
      "process.on('SIGWINCH',()=>{setImmediate(()=>{throw new Error('stray exception')})})";
    const r = run(['start', '--mqtt-listeners', 'mqtt://127.0.0.1:0', '--persistence', 'memory', '--sys-interval-sec', '0'], ['--import', stray]);
    running.push(r);
    await until(() => r.out().includes('"msg":"ready'), 'the ready line');
    const url = (jsonLines(r.out()).find((l) => l.msg.startsWith('ready'))!.listeners as string[])[0]!;
    const errors = (): Line[] => jsonLines(r.out()).filter((l) => l.level === 50);

    r.child.kill('SIGUSR2');
    await until(() => errors().length === 1, 'the rejection logged');
    r.child.kill('SIGUSR2');
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
    await client.endAsync();
    assert.equal(r.child.exitCode, null, 'still running after two stray rejections');
    const [line] = errors();
    assert.equal(line!.msg, REJECTION_LINE);
    assert.equal((line!.err as { message?: string }).message, 'stray rejection');
    assert.equal(errors().length, 1, 'the second within the minute is held back');

    r.child.kill('SIGWINCH');
    assert.equal(await exitOf(r), 1);
    const fatal = jsonLines(r.out()).find((l) => l.level === 60);
    assert.equal(fatal?.msg, EXCEPTION_LINE);
    assert.match(String((fatal?.err as { stack?: string } | undefined)?.stack), /stray exception/);
  });

  it('a missing certificate file: named with its key before anything starts, exit 2', async () => {
    const r = run(['start', '--mqtt-listeners', 'mqtt+ssl://127.0.0.1:0', '--mqtt-tls-certificate-file-path', join(dir, 'none.crt'), '--mqtt-tls-key-file-path', join(dir, 'none.key')]);
    assert.equal(await exitOf(r), 2);
    assert.match(r.err(), new RegExp(`mqttTlsCertificateFilePath: ${join(dir, 'none.crt')}: no such file`));
    assert.doesNotMatch(r.err(), /\n\s+at /);
  });
});

describe('log lines on a terminal', () => {
  it('one line per record: fields the message already says are left out, the rest as key=value', () => {
    const line = terminalLine(
      { level: 30, time: 1, pid: 9, hostname: 'h', listener: 'ws://127.0.0.1:8083', url: 'ws://127.0.0.1:8083/mqtt', scheme: 'ws', host: '127.0.0.1', port: 8083, msg: 'listening on ws://127.0.0.1:8083/mqtt (MQTT over WebSocket)' },
      false,
    );
    assert.equal(line, 'listening on ws://127.0.0.1:8083/mqtt (MQTT over WebSocket)');
    // The configured spelling (mqtt+ssl, ws+ssl) is the dialled one (mqtts, wss) the message says.
    for (const [scheme, dial, port] of [['mqtt+ssl', 'mqtts', 8883], ['ws+ssl', 'wss', 8084]] as const) {
      const path = scheme === 'ws+ssl' ? '/mqtt' : '';
      const msg = `listening on ${dial}://127.0.0.1:${port}${path} (MQTT over TLS)`;
      const record = { level: 30, listener: `${scheme}://127.0.0.1:${port}`, url: `${dial}://127.0.0.1:${port}${path}`, scheme, host: '127.0.0.1', port, msg };
      assert.equal(terminalLine(record, false), msg);
    }
    // A listener the message does not name is still shown.
    assert.equal(terminalLine({ msg: 'client connected', listener: 'mqtt+ssl://127.0.0.1:8883' }, false), 'client connected  listener=mqtt+ssl://127.0.0.1:8883');
    assert.equal(terminalLine({ msg: 'client connected', clientId: 'a b', keepalive: 60, user: null }, false), 'client connected  clientId="a b"  keepalive=60');
    assert.equal(terminalLine({ msg: 'x', clientId: 'evil\u001b[2J' }, false), 'x  clientId="evil\\u001b[2J"', 'control characters escaped');
    assert.equal(terminalLine({ msg: 'client connected', clientId: 'connected' }, false), 'client connected  clientId=connected', 'who it is about is always shown');
  });

  it("an error shows its message; its stack only at debug", () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at here' };
    assert.equal(terminalLine({ msg: 'failed', err }, false), 'failed  err=boom');
    assert.equal(terminalLine({ msg: 'failed', err }, true), 'failed  err=boom\nError: boom\n    at here');
  });
});
