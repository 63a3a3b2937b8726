// The package as users get it: `npm pack`, installed into an empty folder, `npx starling start`
// with a config on OS-chosen ports, and MQTT.js exchanging a message with it over TCP and WebSocket.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, describeRun, run } from '../helpers/cli-clients.js';
import { connectClient, connectWithInbox, endClient } from '../helpers/mqttjs.js';
import { compiledRoot, repoRoot } from '../helpers/paths.js';

const NPM_TIMEOUT = 120_000;

describe('the packed package, installed into an empty folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-pack-'));
  let broker: Child | undefined;
  /** The broker's own process: npm exec runs it as a child and does not pass signals on to it. */
  let brokerPid: number | undefined;
  after(async () => {
    if (brokerPid !== undefined) {
      try {
        process.kill(brokerPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    broker?.kill('SIGKILL');
    await broker?.done;
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs with npm, and npx starling start serves MQTT and MQTT over WebSocket', async () => {
    // The tests run from the compiled tree that `files` ships (dist/src): pack that, as built, with
    // --ignore-scripts so `prepare` does not build it all again.
    assert.equal(compiledRoot, join(repoRoot, 'dist'), 'pack from a tree built into dist/ (STARLING_DIST elsewhere would pack a stale dist/)');
    const pack = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir, repoRoot], NPM_TIMEOUT);
    assert.equal(pack.code, 0, describeRun(pack));
    const tgz = readdirSync(dir).find((f) => /^starling-mqtt-.*\.tgz$/.test(f));
    assert.ok(tgz, `no starling-mqtt-*.tgz in ${dir}`);

    const project = join(dir, 'project');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-starling', private: true }));
    // Dependencies from npm's cache (--offline). Install scripts are skipped: better-sqlite3's would
    // fetch or compile its native addon (minutes here); the checkout's own build of the same version
    // stands in for that download below.
    const install = await run('npm', ['install', '--prefix', project, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, tgz)], NPM_TIMEOUT);
    assert.equal(install.code, 0, describeRun(install));
    const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
    mkdirSync(join(project, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
    copyFileSync(join(repoRoot, addon), join(project, addon));
    for (const f of ['bin/starling.js', 'dist/src/cli/main.js', 'package.json', 'README.md', 'LICENSE', 'docs/production.md', 'deploy/starling.service', 'deploy/nginx/starling.conf']) {
      assert.ok(existsSync(join(project, 'node_modules/starling-mqtt', f)), `the package lacks ${f}`);
    }

    const version = await run('npx', ['--prefix', project, '--no-install', 'starling', '--version'], NPM_TIMEOUT);
    assert.equal(version.code, 0, describeRun(version));
    assert.match(version.stdout, /^starling \d+\.\d+\.\d+/);

    writeFileSync(join(project, 'starling.conf'), ['mqttListeners=mqtt://127.0.0.1:0,ws://127.0.0.1:0', 'dataDir=./data', 'logFormat=json', ''].join('\n'));
    // npx from inside the project, as a user types it there.
    broker = new Child('sh', ['-c', `cd "${project}" && exec npx --no-install starling start --config starling.conf`], 120_000);
    // Where it listens: the start-up output names each listener's URL (port chosen by the OS).
    const deadline = Date.now() + 60_000;
    let ports: { mqtt?: string; ws?: string } = {};
    while (!(ports.mqtt && ports.ws && brokerPid)) {
      const text = broker.stdout + broker.stderr;
      ports = { mqtt: /mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1], ws: /ws:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1] };
      const pid = /"pid":(\d+)/.exec(text)?.[1];
      brokerPid = pid === undefined ? undefined : Number(pid);
      if (broker.proc.exitCode !== null || Date.now() > deadline) assert.fail(`starling start did not report its listeners: ${broker.stdout}\n${broker.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const { client: sub, inbox } = await connectWithInbox(`ws://127.0.0.1:${ports.ws}/mqtt`, { protocolVersion: 5 });
    await sub.subscribeAsync('installed/#', { qos: 1 });
    const pub = await connectClient(`mqtt://127.0.0.1:${ports.mqtt}`, { protocolVersion: 4 });
    await pub.publishAsync('installed/hello', 'from the packed package', { qos: 1, retain: true });
    const [m] = await inbox.waitFor(1, 10_000);
    assert.equal(m.payload.toString(), 'from the packed package');
    await endClient(pub);
    await endClient(sub);

    // SIGTERM to the broker itself (npm exec would not pass it on): it shuts down, exits 0, and npx with it.
    process.kill(brokerPid!, 'SIGTERM');
    const end = await broker.done;
    brokerPid = undefined;
    assert.equal(end.code, 0, describeRun(end));
    assert.ok(existsSync(join(project, 'data/starling.db')), 'the relative dataDir is under the folder start ran in');
  });
});
