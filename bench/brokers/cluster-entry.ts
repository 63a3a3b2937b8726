// The "starling-cluster" broker of the benchmark: a nats-server and two Starling nodes joined
// through it, each in its own process, so the cross-node scenario measures what a message pays to
// go from a publisher on node 1 to a subscriber on node 2. This process only starts and stops them
// (the benchmark reads CPU and memory of its whole process tree).
//   argv: dir tcp1 ws1 tcp2 ws2; env STARLING_CLUSTER_NODE_FLAGS: node flags for both nodes (e.g. --cpu-prof)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../system.js';
import { accepts } from './launch.js';

const [dir, tcp1, ws1, tcp2, ws2] = process.argv.slice(2) as [string, string, string, string, string];
const children: ChildProcess[] = [];

function natsServerBinary(): string {
  for (const p of [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server']) if (p && existsSync(p)) return p;
  return 'nats-server';
}

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin!.on('error', () => {});
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`starling-cluster: ${command} exited (${signal ?? code}); stopping\n`);
      stop();
    }
  });
  return child;
}

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(0);
  }, 10_000);
  timer.unref();
  void Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r))))).then(() => process.exit(0));
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop).resume();

const natsPort = await freePort();
mkdirSync(join(dir, 'nats'), { recursive: true });
start(natsServerBinary(), ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'nats')]);
const deadline = Date.now() + 10_000;
while (!(await accepts(natsPort))) {
  if (Date.now() > deadline || stopping) throw new Error('nats-server did not start');
  await new Promise((r) => setTimeout(r, 50));
}

const entry = fileURLToPath(new URL('./starling-entry.js', import.meta.url));
// Node flags for each Starling node, e.g. STARLING_CLUSTER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p"
// to profile both nodes during scenario 7.
const nodeFlags = (process.env.STARLING_CLUSTER_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
for (const [id, tcp, ws] of [['n1', tcp1, ws1], ['n2', tcp2, ws2]] as const) {
  const conf = join(dir, `${id}.conf`);
  writeFileSync(
    conf,
    [
      `mqttListeners=mqtt://127.0.0.1:${tcp},ws://127.0.0.1:${ws}`,
      'persistence=sqlite',
      `dataDir=${join(dir, id)}`,
      'maxInflightMessages=100',
      'maxQueuedMessages=100000',
      'logLevel=warn',
      'logFormat=json',
      `clusterNatsUrl=nats://127.0.0.1:${natsPort}`,
      `clusterNodeId=${id}`,
      '',
    ].join('\n'),
  );
  start(process.execPath, [...nodeFlags, entry, conf]);
}
