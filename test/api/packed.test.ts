// The packed package (npm pack) installed into an empty project: its types check under NodeNext,
// and a program importing `starling-mqtt` starts a broker in process and exchanges messages with
// MQTT.js both ways.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packedTarball } from '../helpers/pack.js';
import { repoRoot } from '../helpers/paths.js';

const run = promisify(execFile);

const PROGRAM = `
import { createBroker, ConfigError } from 'starling-mqtt';
import mqtt from 'mqtt';

const broker = await createBroker({ mqttListeners: ['mqtt://127.0.0.1:0'], persistence: 'memory', logLevel: 'silent' });
const [listener] = await broker.listen();
const fromClient = new Promise((resolve) => broker.subscribe('probe/up', (m) => resolve(m.payload.toString())));
const client = await mqtt.connectAsync('mqtt://127.0.0.1:' + listener.port, { clientId: 'probe', reconnectPeriod: 0 });
const fromBroker = new Promise((resolve) => client.on('message', (topic, payload) => resolve(topic + ' ' + payload.toString())));
await client.subscribeAsync('probe/down', { qos: 1 });
await broker.publish('probe/down', 'hello client', { qos: 1 });
await client.publishAsync('probe/up', 'hello broker', { qos: 1 });
const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no message within 10 s')), 10_000));
const result = { down: await Promise.race([fromBroker, timeout]), up: await Promise.race([fromClient, timeout]), clients: broker.clients().map((c) => c.clientId) };
let configError = '';
try { await createBroker({ maxQueuedMessages: -1 }); } catch (err) { configError = err instanceof ConfigError ? err.problems[0] : String(err); }
result.configError = configError;
await client.endAsync();
await broker.close();
console.log(JSON.stringify(result));
`;

const TYPED = `
import { createBroker, type Broker, type Hooks, type Message } from 'starling-mqtt';
const hooks: Hooks = { authorizeSubscribe: (_client, sub) => (sub.filter.startsWith('x/') ? { qos: 0 } : true) };
const broker: Broker = await createBroker({ mqttListeners: [], maxQueuedMessages: 10, persistence: 'memory', hooks });
const stop: () => void = broker.subscribe('a/#', (m: Message) => void m.payload.length);
stop();
// @ts-expect-error not a setting
await createBroker({ maxQueuedMesages: 10 });
await broker.close();
`;

describe('the packed package in an empty project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-packed-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('installs, type-checks and exchanges messages with MQTT.js', { timeout: 10 * 60_000 }, async () => {
    const tarball = await packedTarball();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'empty-project', private: true, type: 'module' }));
    // Install scripts are skipped: better-sqlite3's native build is not needed with persistence=memory.
    await run('npm', ['install', tarball, 'mqtt@5', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--silent'], { cwd: dir, timeout: 8 * 60_000 });

    writeFileSync(join(dir, 'probe.mjs'), PROGRAM);
    const { stdout } = await run(process.execPath, ['probe.mjs'], { cwd: dir, timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    assert.deepEqual(result, {
      down: 'probe/down hello client',
      up: 'hello broker',
      clients: ['probe'],
      configError: 'createBroker options: maxQueuedMessages: -1 is below the minimum 0',
    });

    // Only the package root is public: deep imports are closed by the exports map.
    await assert.rejects(run(process.execPath, ['--input-type=module', '-e', "await import('starling-mqtt/dist/src/broker/broker.js')"], { cwd: dir }), /ERR_PACKAGE_PATH_NOT_EXPORTED/);

    writeFileSync(join(dir, 'typed.ts'), TYPED);
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const types = join(repoRoot, 'node_modules', '@types');
    await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--typeRoots', types, '--types', 'node', 'typed.ts'], { cwd: dir, timeout: 120_000 }).catch((err: { stdout?: string }) => {
      assert.fail(`the installed package's types do not check:\n${err.stdout ?? String(err)}`);
    });
  });
});
