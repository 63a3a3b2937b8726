// workers=2: a worker killed while the hub is forwarding a flood of messages to it. Between the kill
// and the primary noticing the exit, the primary still writes to the worker's IPC channel, and those
// writes fail (EPIPE, or the channel closed). A failed send must not end the primary, which would
// take every other worker and connection with it: the worker is started again, and the broker goes
// on serving. The kill is repeated while the flood runs, so the window is hit more than once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { startPool, type PoolProcess } from './pool-process.js';

const KILLS = 6;

describe('workers=2: a worker killed mid-flood', () => {
  let pool: PoolProcess;
  const clients: MqttClient[] = [];

  before(async () => {
    pool = await startPool({ workers: '2' });
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    const code = await pool.stop('SIGTERM');
    rmSync(pool.dir, { recursive: true, force: true });
    assert.equal(code, 0, 'the primary exits 0 after SIGTERM');
  });

  /** A client on worker `want` (connections alternate between the workers; at most 6 tries). */
  async function clientOn(want: number, prefix: string, extra: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
    for (let i = 0; i < 6; i++) {
      const c = await connectClient(pool.url('mqtt'), { clientId: `${prefix}-${i}`, reconnectPeriod: 0, ...extra });
      if ((await pool.workerOf(`${prefix}-${i}`)) === want) {
        clients.push(c);
        return c;
      }
      await endClient(c, true);
    }
    throw new Error(`no connection landed on worker ${want}`);
  }

  it('the primary survives and starts the worker again each time; both workers serve after', async (t) => {
    const publisher = await clientOn(1, 'flood-pub');
    const witness = await clientOn(1, 'flood-witness');
    const after = (c: MqttClient): Promise<void> =>
      new Promise((resolve) => c.on('message', (topic) => topic === 'flood/after' && resolve()));
    const witnessed = after(witness);
    await witness.subscribeAsync('flood/#', { qos: 0 });
    let publishing = true;
    const floodUntil = Date.now() + 120_000;
    // QoS 0 in bursts until the kills are done (bounded in time too); the subscriber on worker 2
    // makes the hub forward each one.
    const flood = (async () => {
      for (let n = 0; publishing && Date.now() < floodUntil; n++) {
        publisher.publish('flood/x', 'm', { qos: 0 });
        if (n % 200 === 199) await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      for (let k = 1; k <= KILLS; k++) {
        const sub = await clientOn(2, `flood-sub${k}`);
        await sub.subscribeAsync('flood/#', { qos: 0 });
        await new Promise((r) => setTimeout(r, 200));
        const ready = pool.logs.filter((l) => l.msg === 'worker ready' && l.worker === 2);
        process.kill(ready.at(-1)!.pid as number, 'SIGKILL');
        let died = 0;
        await pool.waitForLog((l) => l.msg === 'worker died; starting it again' && l.worker === 2 && ++died === k, `restart ${k}`);
        let readies = 0;
        await pool.waitForLog((l) => l.msg === 'worker ready' && l.worker === 2 && ++readies === k + 1, `worker 2 ready again (${k})`, 20_000);
        assert.equal(pool.child.exitCode, null, 'the primary is still running');
      }
    } finally {
      publishing = false;
      await flood;
    }
    // The restarted worker 2 is reached through the hub again, and worker 1 delivers locally.
    const late = await clientOn(2, 'flood-late');
    const reached = after(late);
    await late.subscribeAsync('flood/#', { qos: 0 });
    await publisher.publishAsync('flood/after', 'still here', { qos: 1 });
    const within = (p: Promise<void>, what: string): Promise<void> =>
      Promise.race([p, new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`${what}: no flood/after within 5 s`)), 5000))]);
    await within(witnessed, 'worker 1');
    await within(reached, 'the restarted worker 2');
    const fatal = pool.logs.filter((l) => l.worker === undefined && l.level >= 60);
    assert.deepEqual(fatal, [], 'the primary logged nothing fatal');
    // Whether a kill landed during a write to the dying worker (the failure this guards against) is
    // a race: said, so a run that never hit it is not mistaken for one that did.
    const failedSends = pool.logs.filter((l) => l.worker === undefined && l.msg.startsWith('workers: a batch for a worker that is going')).length;
    t.diagnostic(`writes to a dying worker that failed (and were survived): ${failedSends}`);
  });
});
