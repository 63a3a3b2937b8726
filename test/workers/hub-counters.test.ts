// workers=2: the counters of the hub in the primary (cluster/workers/ipc-hub.ts) are shown in
// /metrics (starling_workers_hub_total{kind}, counted once, not once per worker) and in each worker's
// $SYS tree ($SYS/broker/workers/hub/<kind>). A real `starling start` with two worker processes, one
// of them SIGKILLed so that the hub keeps messages for it while it restarts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { startPool, type PoolProcess } from './pool-process.js';
import { http, parsePrometheus, sampleValue } from '../observe/helpers.js';

const KINDS = ['forwarded', 'delivered', 'claims', 'sessionsMoved', 'resentAfterMove', 'heldForRestart', 'droppedForRestart', 'staleSessionsForgotten', 'malformed'];

describe('workers=2: the hub\'s counters in /metrics and $SYS', () => {
  let pool: PoolProcess;
  const clients: MqttClient[] = [];
  const connect = async (clientId: string, extra: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> => {
    const c = await connectClient(pool.url('mqtt'), { clientId, ...extra });
    clients.push(c);
    return c;
  };
  const hubMetrics = async (): Promise<Record<string, number>> => {
    const reply = await http(Number(new URL(pool.url('ws')).port), '/metrics');
    assert.equal(reply.status, 200);
    const text = parsePrometheus(reply.text);
    return Object.fromEntries(KINDS.map((kind) => [kind, sampleValue(text, 'starling_workers_hub_total', { kind })]));
  };

  before(async () => {
    pool = await startPool({ workers: '2', sysIntervalSec: '1' });
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    const code = await pool.stop('SIGTERM');
    rmSync(pool.dir, { recursive: true, force: true });
    assert.equal(code, 0);
  });

  it('counts messages passed between workers and kept for a restarting one', async () => {
    // A persistent session on worker 2 (connections alternate between the workers).
    const options = { clean: false, reconnectPeriod: 0 };
    let served = 0;
    for (let i = 1; i <= 4 && served !== 2; i++) {
      const c = await connectClient(pool.url('mqtt'), { clientId: 'kept', ...options });
      await c.subscribeAsync('hc/t', { qos: 1 });
      served = await pool.workerOf('kept', i);
      await endClient(c);
    }
    assert.equal(served, 2, 'the session is on worker 2');
    const start = await hubMetrics();

    // A publisher on worker 1: its messages cross the hub to the session's worker.
    let publisher: MqttClient | undefined;
    for (let i = 0; i < 4 && !publisher; i++) {
      const c = await connect(`hc-pub-${i}`);
      if ((await pool.workerOf(`hc-pub-${i}`)) === 1) publisher = c;
    }
    assert.ok(publisher, 'a publisher on worker 1');
    for (let i = 0; i < 3; i++) await publisher.publishAsync('hc/t', `a${i}`, { qos: 1 });

    // Worker 2 dies: what is published for its session meanwhile is kept by the hub.
    const victim = pool.logs.find((l) => l.msg === 'worker ready' && l.worker === 2)!;
    process.kill(victim.pid as number, 'SIGKILL');
    await pool.waitForLog((l) => l.msg === 'worker died; starting it again' && l.worker === 2, 'the restart');
    for (let i = 0; i < 2; i++) await publisher.publishAsync('hc/t', `b${i}`, { qos: 1 });
    let readies = 0;
    await pool.waitForLog((l) => l.msg === 'worker ready' && l.worker === 2 && ++readies === 2, 'worker 2 ready again', 20_000);

    // /metrics, on either worker, has the hub's counters once (not summed over the workers).
    const now = await hubMetrics();
    assert.ok(now.forwarded - start.forwarded >= 5, `the 5 messages were forwarded through the hub (${JSON.stringify(now)})`);
    assert.ok(now.delivered - start.delivered >= 3, 'at least the 3 sent while worker 2 ran were delivered to it');
    assert.equal(now.heldForRestart - start.heldForRestart, 2, 'the 2 published while worker 2 was down were kept for it');
    assert.equal(now.malformed, 0, 'no malformed frame');
    for (let i = 0; i < 3; i++) assert.deepEqual(await hubMetrics(), now, `scrape ${i + 1} on either worker reads the same hub counters`);

    // $SYS on worker 1 shows the same counters (sent to the workers when they change).
    const watcher = await connect('hc-sys');
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('$SYS/broker/workers/hub/#', { qos: 0 });
    const seen = new Map<string, number>();
    for (let i = 0; i < 50 && seen.get('heldForRestart') !== now.heldForRestart; i++) {
      await inbox.waitFor(1, 5000);
      for (const m of inbox.messages.splice(0)) seen.set(m.topic.slice('$SYS/broker/workers/hub/'.length), Number(m.payload.toString()));
    }
    assert.equal(seen.get('heldForRestart'), now.heldForRestart, `$SYS/broker/workers/hub/heldForRestart (${JSON.stringify([...seen])})`);
    assert.ok((seen.get('forwarded') ?? 0) >= 5, '$SYS/broker/workers/hub/forwarded');
    assert.equal(seen.get('malformed'), 0, '$SYS/broker/workers/hub/malformed');
    for (const kind of KINDS) assert.ok(seen.has(kind), `$SYS/broker/workers/hub/${kind} is published`);
  });
});
