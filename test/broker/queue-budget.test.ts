// The broker-wide budgets without a socket: maxQueuedBytesTotal (bytes held by every session's queue
// and in-flight window together) and maxSessions (sessions held, connected or not). The property
// test drives random sequences of connects, publishes, acknowledgements, drops, takeovers, session
// ends and moves, and checks after each step that the total equals the sum over the sessions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import type { Session } from '../../src/session/session.js';
import { waitUntil } from '../helpers/wait.js';
import { captureLog } from '../transport/helpers.js';
import { brokerParts, FakeClient, connectRequest, message, online, subscription, type BrokerParts } from '../helpers/broker-parts.js';

/** What the budget counts for one entry: topic + payload, as maxQueuedBytes does. */
const cost = (topic: string, payload: string): number => topic.length + payload.length;

function heldBySessions(p: BrokerParts): number {
  let n = 0;
  for (const s of p.sessions.reader.values()) n += s.bytesHeld;
  return n;
}

function entriesBytes(s: Session): number {
  return s.allEntries().reduce((n, o) => n + o.bytes, 0);
}

/** The invariant: the budget's total is the sum over the registered sessions, each the sum of its entries. */
function assertBalanced(p: BrokerParts, where: string): void {
  for (const s of p.sessions.reader.values()) assert.equal(s.bytesHeld, entriesBytes(s), `${where}: ${s.clientId} counts what it holds`);
  assert.equal(p.queues.budget.total, heldBySessions(p), `${where}: total = sum over sessions`);
}

describe('maxQueuedBytesTotal', () => {
  it('an offline session drops a QoS 1 message the full budget cannot take, counted as queueBudget', async () => {
    const p = await brokerParts({ maxQueuedBytesTotal: 3 * cost('b/t', 'xxxxxxxxxx') });
    const a = await online(p, 'off-a', { clean: false, expiryInterval: 600 });
    await p.sessions.subscribe(a.session, [subscription('b/#')]);
    p.sessions.disconnected(a.client, 'normal');
    for (let i = 0; i < 5; i++) await p.pipeline.route(message(p.ids, 'b/t', 'xxxxxxxxxx'));
    assert.equal(a.session.queuedCount, 3, 'three fit, the rest are dropped');
    assert.equal(p.stats.drops.queueBudget, 2);
    assert.equal(p.queues.budget.total, 3 * cost('b/t', 'xxxxxxxxxx'));
    assertBalanced(p, 'offline');
    // Resumed, it is sent the three; acknowledged, the budget is empty again.
    const back = await online(p, 'off-a', { clean: false, expiryInterval: 600 });
    // Sent once their new state is written (a batch of the memory store).
    await waitUntil(() => back.outlet.written.length === 3, 'the three queued messages sent');
    for (const w of back.outlet.written) p.queues.completed(back.session, w.packetId!, 'puback');
    assert.equal(p.queues.budget.total, 0);
    await p.close();
  });

  it('an online session under backPressure holds its publisher until the total has room again', async () => {
    const one = cost('h/t', 'yyyyyyyyyy');
    const p = await brokerParts({ maxQueuedBytesTotal: 2 * one, maxInflightMessages: 10 });
    // An offline session fills the budget.
    const off = await online(p, 'filler', { clean: false, expiryInterval: 600 });
    await p.sessions.subscribe(off.session, [subscription('h/#')]);
    p.sessions.disconnected(off.client, 'normal');
    await p.pipeline.route(message(p.ids, 'h/t', 'yyyyyyyyyy'));
    await p.pipeline.route(message(p.ids, 'h/t', 'yyyyyyyyyy'));
    assert.equal(p.queues.budget.total, 2 * one);
    // An online subscriber of another topic: its publisher (hold = a client's QoS 1 PUBLISH) waits.
    const on = await online(p, 'reader');
    await p.sessions.subscribe(on.session, [subscription('r/#')]);
    let acked = false;
    const routed = p.pipeline.route(message(p.ids, 'r/t', 'yyyyyyyyyy'), { holdPublisher: true });
    assert.ok(routed instanceof Promise, 'held');
    void routed.then(() => (acked = true));
    assert.equal(on.outlet.written.length, 1, 'the message itself is delivered (taken beyond the budget)');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(acked, false, 'the publisher is not acknowledged while the total is over the budget');
    assert.equal(p.stats.drops.queueBudget, 0, 'nothing dropped');
    // The offline session ends: the total is within the budget again and the publisher goes on.
    p.cluster.forgetSession('filler');
    await routed;
    assert.equal(acked, true);
    assertBalanced(p, 'after the hold');
    await p.close();
  });

  it('dropOldest makes room from the online session\'s own queue; refuseNewest drops the new message', async () => {
    const one = cost('d/t', 'zzzzzzzzzz');
    for (const overflow of ['dropOldest', 'refuseNewest'] as const) {
      const p = await brokerParts({ maxQueuedBytesTotal: 3 * one, maxInflightMessages: 1, queue: { overflow } });
      const on = await online(p, 'slow');
      await p.sessions.subscribe(on.session, [subscription('d/#')]);
      for (let i = 0; i < 5; i++) p.pipeline.route(message(p.ids, 'd/t', 'zzzzzzzzzz'));
      // One in flight (never acknowledged) and two queued fill the budget.
      assert.equal(on.session.inflight.size + on.session.queuedCount, 3, overflow);
      if (overflow === 'dropOldest') assert.equal(p.stats.drops.queueFull, 2, 'the oldest queued made room');
      else assert.equal(p.stats.drops.queueBudget, 2, 'the new ones were not taken');
      assertBalanced(p, overflow);
      await p.close();
    }
  });

  it('random sequences of enqueue, ack, drop, takeover, end and moves keep the total equal to the sum over sessions', async () => {
    const ids = ['c0', 'c1', 'c2'];
    const command = fc.oneof(
      fc.record({ kind: fc.constant('connect' as const), id: fc.constantFrom(...ids), clean: fc.boolean(), persistent: fc.boolean() }),
      fc.record({ kind: fc.constant('disconnect' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('publish' as const), size: fc.integer({ min: 0, max: 120 }), qos: fc.constantFrom(1, 2) as fc.Arbitrary<1 | 2>, expired: fc.boolean() }),
      fc.record({ kind: fc.constant('ack' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('discard' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('forget' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('move' as const), id: fc.constantFrom(...ids) }),
    );
    let stepsRun = 0;
    let budgetDrops = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 40, size: 'max' }), fc.constantFrom('dropOldest', 'refuseNewest', 'backPressure'), async (cmds, overflow) => {
        let clock = 1_000_000;
        const p = await brokerParts({ maxQueuedBytesTotal: 400, maxInflightMessages: 2, queue: { maxQueuedMessages: 4, maxQueuedBytes: 250, overflow }, now: () => clock });
        const clients = new Map<string, FakeClient>();
        try {
          for (const [i, c] of cmds.entries()) {
            clock += 10;
            const where = `step ${i} ${JSON.stringify(c)}`;
            if (c.kind === 'connect') {
              const old = clients.get(c.id);
              const r = await online(p, c.id, { clean: c.clean, expiryInterval: c.persistent ? 600 : 0 });
              if (old) p.sessions.disconnected(old, 'takenOver');
              clients.set(c.id, r.client);
              if (r.session.subscriptions.size === 0) await p.sessions.subscribe(r.session, [subscription('p/#', 2)]);
            } else if (c.kind === 'disconnect') {
              const client = clients.get(c.id);
              clients.delete(c.id);
              if (client) p.sessions.disconnected(client, 'normal');
            } else if (c.kind === 'publish') {
              const m = message(p.ids, 'p/t', 'x'.repeat(c.size), { qos: c.qos, ...(c.expired ? { expiresAt: clock + 5 } : {}) });
              // Not a held publisher: nothing here would release it (the holds are unit-tested above).
              await p.pipeline.route(m);
            } else if (c.kind === 'ack' || c.kind === 'discard') {
              const s = p.sessions.get(c.id);
              const first = s ? [...s.inflight.values()][0] : undefined;
              if (s && first) {
                if (c.kind === 'discard') p.queues.discard(s, first.packetId);
                else if (first.qos === 1) p.queues.completed(s, first.packetId, 'puback');
                else {
                  await p.queues.received(s, first.packetId);
                  p.queues.completed(s, first.packetId, 'pubcomp');
                }
              }
            } else if (c.kind === 'forget') {
              p.cluster.forgetSession(c.id);
            } else {
              // Moved to another node and back, as workers do: released here, imported again.
              const client = clients.get(c.id);
              clients.delete(c.id);
              const moved = await p.cluster.releaseSession(c.id, true);
              if (client) p.sessions.disconnected(client, 'takenOver');
              if (moved) p.cluster.importSession(moved);
            }
            assertBalanced(p, where);
            if (overflow !== 'backPressure') assert.ok(p.queues.budget.total <= 400, `${where}: within the budget (${p.queues.budget.total})`);
          }
          for (const id of ids) {
            const client = clients.get(id);
            if (client) p.sessions.disconnected(client, 'normal');
            p.cluster.forgetSession(id);
          }
          assert.equal(p.sessions.reader.size, 0);
          stepsRun += cmds.length;
          budgetDrops += p.stats.drops.queueBudget;
          assert.equal(p.queues.budget.total, 0, 'every session ended: nothing counted');
        } finally {
          await p.close();
        }
      }),
      { numRuns: 150 },
    );
    assert.ok(stepsRun > 1000, `the commands ran (${stepsRun} steps)`);
    assert.ok(budgetDrops > 0, 'the budget was full in some runs');
  });
});

describe('maxSessions', () => {
  it('refuses a CONNECT that would add a session (0x97 for MQTT 5, 0x03 for 3.1.1); resumption and takeover are never refused', async () => {
    const p = await brokerParts({ maxSessions: 2 });
    const a = await online(p, 'a', { clean: false, expiryInterval: 600 });
    p.sessions.disconnected(a.client, 'normal');
    const b = await online(p, 'b');
    assert.equal(p.sessions.reader.size, 2);
    await assert.rejects(p.sessions.connect(new FakeClient('c'), connectRequest('c')), (e: { reasonCode?: number }) => e.reasonCode === ReasonCode.QuotaExceeded);
    await assert.rejects(
      p.sessions.connect(new FakeClient('c'), connectRequest('c', { protocolVersion: 4 })),
      (e: { reasonCode?: number }) => e.reasonCode === ReasonCode.ServerUnavailable,
    );
    assert.equal(p.stats.limits.maxSessions, 2);
    // The offline one resumes; the online one is taken over, even with Clean Start.
    const a2 = await online(p, 'a', { clean: false, expiryInterval: 600 });
    assert.equal(a2.sessionPresent, true);
    const b2 = await online(p, 'b', { clean: true });
    assert.deepEqual(b.client.takeovers, [undefined]);
    assert.equal(p.sessions.client('b'), b2.client);
    // A session that ends makes room.
    p.sessions.disconnected(b2.client, 'normal');
    await online(p, 'c');
    assert.equal(p.sessions.reader.size, 2);
    await p.close();
  });

  it('logs refusals at warn once a minute, with how many were refused since the last line', async () => {
    let clock = 0;
    const { log, lines } = captureLog();
    const p = await brokerParts({ maxSessions: 1, now: () => clock, log });
    await online(p, 'only');
    const refuse = (id: string): Promise<unknown> => assert.rejects(p.sessions.connect(new FakeClient(id), connectRequest(id)));
    const warned = (): Array<{ refused?: number }> => lines.filter((l) => l.msg.startsWith('maxSessions reached')) as unknown as Array<{ refused?: number }>;
    await refuse('x1');
    clock += 30_000;
    await refuse('x2');
    await refuse('x3');
    assert.equal(warned().length, 1, 'one line in the first minute');
    clock += 30_000;
    await refuse('x4');
    assert.equal(warned().length, 2, 'the next after a minute');
    assert.deepEqual(warned().map((l) => l.refused), [1, 3]);
    assert.equal(p.stats.limits.maxSessions, 4);
    await p.close();
  });
});
