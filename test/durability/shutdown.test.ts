// Graceful shutdown of the real `starling start` process: SIGTERM stops accepting, flushes the
// store, logs and exits 0; on the next start the persistent session's queued messages are there.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { compiledRoot } from '../helpers/paths.js';
import mqtt from 'mqtt';
import { connectClient, endClient, Inbox, whenConnected } from '../helpers/mqttjs.js';
import { dataDir } from './helpers.js';

interface CliBroker {
  child: ChildProcess;
  port: number;
  /** Everything written to stdout so far (the JSON log). */
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the compiled CLI's `starling start` (bin/starling.js loads it from dist/; this from the tree under test). */
function startCli(dir: string, timeoutMs = 15_000): Promise<CliBroker> {
  const args = ['start', '--mqtt-listeners', 'mqtt://127.0.0.1:0', '--persistence', 'sqlite', '--data-dir', dir, '--log-format', 'json', '--sys-interval-sec', '0'];
  // The real `starling start` of the build under test (bin/starling.js always loads dist/).
  const child = spawn(process.execPath, [join(compiledRoot, 'test/helpers/run-cli.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`starling start did not listen within ${timeoutMs} ms: ${out}${err}`));
    }, timeoutMs);
    const check = (): void => {
      // Standard output is a pipe: JSON log lines only, the `ready` line lists the client URLs.
      const m = /"listeners":\["mqtt:\/\/127\.0\.0\.1:(\d+)"\][^\n]*"msg":"ready/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve({ child, port: Number(m[1]), stdout: () => out, exited });
    };
    child.stdout!.on('data', check);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`starling start exited with ${code} before listening: ${out}${err}`));
    });
  });
}

/** The JSON log lines of a run. */
function logLines(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Sends SIGTERM and waits (bounded) for the exit. */
async function terminate(b: CliBroker): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  b.child.kill('SIGTERM');
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 10 s of SIGTERM')), 10_000).unref());
  try {
    return await Promise.race([b.exited, timeout]);
  } finally {
    if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
  }
}

describe('durability: graceful shutdown (SIGTERM)', () => {
  it('exits 0 with its shutdown logged, and an offline persistent QoS 1 subscriber gets its queued messages after the restart', async () => {
    const dir = dataDir();
    const first = await startCli(dir);
    const url = `mqtt://127.0.0.1:${first.port}`;
    try {
      const sub = await connectClient(url, { clientId: 'sd-sub', clean: false });
      await sub.subscribeAsync('sd/#', { qos: 1 });
      await endClient(sub);
      const pub = await connectClient(url, { clientId: 'sd-pub' });
      for (let i = 0; i < 5; i++) await pub.publishAsync('sd/m', String(i), { qos: 1 });
      await endClient(pub);
    } catch (err) {
      first.child.kill('SIGKILL');
      throw err;
    }
    const exit = await terminate(first);
    assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM ends the process with exit code 0');
    const msgs = logLines(first.stdout()).map((l) => l.msg);
    assert.ok(msgs.some((m) => typeof m === 'string' && m.startsWith('shutting down')), `logged the shutdown: ${msgs.join(' | ')}`);
    assert.ok(msgs.includes('stopped'), 'logged the end of the shutdown');

    const second = await startCli(dir);
    try {
      const recovered = logLines(second.stdout()).find((l) => l.msg === 'state recovered');
      assert.ok(recovered && (recovered.queued as number) >= 5, `recovery logged the queued messages: ${JSON.stringify(recovered)}`);
      // Listening before CONNACK: the queued messages follow it at once.
      const url2 = `mqtt://127.0.0.1:${second.port}`;
      const sub = mqtt.connect(url2, { clientId: 'sd-sub', clean: false, reconnectPeriod: 0 });
      const inbox = new Inbox(sub);
      await whenConnected(sub, url2, 5000);
      const got = await inbox.waitFor(5);
      assert.deepEqual(got.map((m) => m.payload.toString()), ['0', '1', '2', '3', '4']);
      await endClient(sub);
    } finally {
      const end = await terminate(second);
      assert.equal(end.code, 0);
    }
  });
});
