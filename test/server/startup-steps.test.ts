// Start-up as named steps with one clean-up stack (src/server/startup.ts): a failure at any step
// leaves nothing open (no listener bound, the SQLite store's lock released, no ref'd timer left),
// the error names its step, and stopping unwinds the same stack.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startServer } from '../../src/server/server.js';
import { CleanupStack, runSteps, startupStepOf } from '../../src/server/startup.js';
import { captureLog, waitFor } from '../transport/helpers.js';

/** Whether something accepts TCP connections on 127.0.0.1:port (bounded). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => (s.destroy(), resolve(false)), 3000);
    s.once('connect', () => (clearTimeout(timer), s.destroy(), resolve(true)));
    s.once('error', () => (clearTimeout(timer), resolve(false)));
  });
}

/** Listening sockets and timers that keep this process alive now (unref'd timers are not seen). */
function resources(): { servers: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return { servers: info.filter((r) => r === 'TCPServerWrap').length, timers: info.filter((r) => r === 'Timeout').length };
}

describe('server start-up steps', () => {
  let dir: string;
  let config: Config;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-steps-'));
    // Admin users watch the password file: one more thing the stack must close.
    writeFileSync(join(dir, 'passwd'), '');
    // A durable store (it holds a lock file while open), a TCP, a TLS and a WebSocket listener, $SYS.
    config = loadConfig({
      env: {},
      flags: {
        mqttListeners: 'mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0',
        persistence: 'sqlite',
        dataDir: dir,
        sysIntervalSec: '1',
        httpAdminUsers: 'admin',
        mqttPasswordFile: join(dir, 'passwd'),
      },
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The steps of a start that succeeds, in order; stopping it leaves nothing bound. */
  async function stepNames(): Promise<string[]> {
    const names: string[] = [];
    const server = await startServer(config, captureLog().log, { beforeStep: (n) => void names.push(n) });
    assert.equal(server.listeners.length, 3);
    await server.close();
    for (const l of server.listeners) assert.equal(await accepts(l.port), false, `${l.url} closed on stop`);
    return names;
  }

  it('runs named steps, stores to listeners, and stopping unwinds them', async () => {
    const names = await stepNames();
    assert.deepEqual(names, ['security', 'store', 'place', 'broker', 'certificates', 'cluster', 'workers', 'connections', 'listeners', 'sys']);
  });

  it('a failure at any step leaves nothing open, and the error names the step', async () => {
    // Nothing else in this process listens; a closed server's handle goes at the next turns.
    await waitFor(() => resources().servers === 0, 'listeners of earlier servers closed', 10_000);
    const baseline = resources();
    // A whole start and stop first: stopping leaves no ref'd timer either.
    const names = await stepNames();
    await waitFor(() => resources().timers <= baseline.timers, 'timers cleared on stop', 10_000);
    for (const failAt of names) {
      const cap = captureLog();
      const injected = new Error(`injected at ${failAt}`);
      await assert.rejects(
        startServer(config, cap.log, {
          // Fails just before `failAt` runs: every step before it has opened what it opens.
          beforeStep: (n) => {
            if (n === failAt) throw injected;
          },
        }),
        (err: unknown) => err === injected && startupStepOf(err) === failAt,
      );
      // Listeners that were open before the failure accept nothing now.
      const bound = cap.lines.filter((l) => l.msg.startsWith('listening on')).map((l) => l.port as number);
      for (const port of bound) assert.equal(await accepts(port), false, `port ${port} free after a failure at ${failAt}`);
      await waitFor(() => resources().servers === 0, `no listening socket left after a failure at ${failAt}`, 10_000);
      // Timers that would keep the process alive: all cleared. Bounded wait: a socket's close may run
      // a short timer of its own.
      await waitFor(() => resources().timers <= baseline.timers, `timers cleared after a failure at ${failAt}`, 10_000);
    }
    // The store's lock was released every time: the same data directory opens again.
    const server = await startServer(config, captureLog().log);
    await server.close();
  });

  it('a real failure (a port in use) keeps its code for the operator and names the listeners step', async () => {
    const first = await startServer(config, captureLog().log);
    const taken = first.listeners.find((l) => l.scheme === 'mqtt')!.port;
    await first.close();
    const holder = await startServer({ ...config, persistence: 'memory', mqttListeners: [`mqtt://127.0.0.1:${taken}`] }, captureLog().log).catch(() => undefined);
    // Another process may have taken the port in between; then the point is moot but not failed.
    if (!holder) return assert.ok(true, 'port taken by someone else; nothing to collide with');
    try {
      await assert.rejects(
        startServer({ ...config, mqttListeners: ['ws://127.0.0.1:0', `mqtt://127.0.0.1:${taken}`] }, captureLog().log),
        (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE' && startupStepOf(err) === 'listeners' && /cannot listen on mqtt:/.test(err.message),
      );
      // The store's lock was released: the data directory opens again.
      const again = await startServer({ ...config, mqttListeners: ['mqtt://127.0.0.1:0'] }, captureLog().log);
      await again.close();
    } finally {
      await holder.close();
    }
  });
});

describe('CleanupStack', () => {
  it('undoes last first, and a failing clean-up does not stop the rest', async () => {
    const done: string[] = [];
    const cap = captureLog();
    const stack = new CleanupStack(cap.log);
    stack.push('a', () => void done.push('a'));
    stack.push('b', () => {
      throw new Error('b broke');
    });
    stack.push('c', async () => void done.push('c'));
    await stack.unwind();
    assert.deepEqual(done, ['c', 'a']);
    assert.equal(stack.size, 0);
    assert.ok(cap.lines.some((l) => l.step === 'b' && l.msg.startsWith('clean-up failed')));
    // Unwinding again runs nothing twice.
    await stack.unwind();
    assert.deepEqual(done, ['c', 'a']);
  });

  it('runSteps unwinds what the steps before the failing one pushed, and names it', async () => {
    const done: string[] = [];
    const stack = new CleanupStack();
    const boom = new Error('two failed');
    await assert.rejects(
      runSteps(
        [
          { name: 'one', run: (s) => s.push('one', () => void done.push('undo one')) },
          {
            name: 'two',
            run: (s) => {
              s.push('two', () => void done.push('undo two (partly opened)'));
              throw boom;
            },
          },
          { name: 'three', run: () => void done.push('three ran') },
        ],
        stack,
      ),
      (err: unknown) => err === boom && startupStepOf(err) === 'two',
    );
    assert.deepEqual(done, ['undo two (partly opened)', 'undo one']);
  });
});
