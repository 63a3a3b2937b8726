// The primary's hub of `workers=N`, driven directly: what each worker is sent for each thing a
// worker says. (test/workers/ runs it for real, with worker processes and MQTT.js.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IpcHub } from '../../src/cluster/workers/ipc-hub.js';
import { isFrame, Outbox, PrimaryOutbox, type Batch, type PrimaryMessage, type WorkerMessage } from '../../src/cluster/workers/ipc-wire.js';
import { decodeFrame, encodeFrame, type DecodedFrame } from '../../src/cluster/batch-frame.js';
import { MessageIds } from '../../src/session/message.js';
import type { SessionTransfer } from '../../src/broker/cluster-link.js';
import { message } from './helpers.js';

function hubWith(workers: number[], releaseTimeoutMs = 5000) {
  const sent: Array<{ to: number; m: PrimaryMessage }> = [];
  const warnings: string[] = [];
  const hub = new IpcHub((to, m) => sent.push({ to, m }), { log: { warn: (_o, msg) => warnings.push(msg) }, releaseTimeoutMs });
  for (const w of workers) hub.receive(w, { t: 'hello' });
  // The first worker is welcomed at once; the others after a dump of the first's retained messages.
  for (const s of sent.filter((x) => x.m.t === 'dump')) {
    hub.receive(s.to, { t: 'dumped', id: (s.m as { id: number }).id, retained: [] });
  }
  sent.length = 0;
  const take = (): Array<{ to: number; m: PrimaryMessage }> => sent.splice(0, sent.length);
  const msgs = (list: Array<{ to: number; m: PrimaryMessage }>) =>
    list.filter((x) => x.m.t === 'msg').map((x) => ({ to: x.to, topic: (x.m as { m: { topic: string } }).m.topic, shared: (x.m as { shared?: string }).shared, only: (x.m as { only?: string }).only }));
  return { hub, take, msgs, warnings };
}

function transfer(clientId: string, filters: string[]): SessionTransfer {
  return {
    state: {
      session: { clientId, protocolVersion: 4, expiryInterval: 0xffffffff },
      subscriptions: filters.map((filter) => ({ filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 })),
      queue: [],
      inbound: [],
    },
    messages: [],
  };
}

describe('IpcHub', () => {
  it('welcomes the first worker at once and copies retained messages from a running one to the next', () => {
    const sent: Array<{ to: number; m: PrimaryMessage }> = [];
    const hub = new IpcHub((to, m) => sent.push({ to, m }), { log: { warn: () => {} } });
    hub.receive(1, { t: 'hello' });
    assert.deepEqual(sent.splice(0), [{ to: 1, m: { t: 'welcome' } }]);
    hub.receive(2, { t: 'hello' });
    const [dump] = sent.splice(0);
    assert.equal(dump!.to, 1);
    assert.equal(dump!.m.t, 'dump');
    const retained = [message('a', { retain: true })];
    hub.receive(1, { t: 'dumped', id: (dump!.m as { id: number }).id, retained });
    assert.deepEqual(sent.splice(0), [{ to: 2, m: { t: 'welcome', retained } }]);
    assert.deepEqual(hub.workers(), [1, 2]);
  });

  it('sends a message only to the other workers whose plain interest matches, retained ones to all', () => {
    const { hub, take, msgs } = hubWith([1, 2, 3]);
    hub.receive(2, { t: 'interest', filter: 'a/+', present: true, ack: 7 });
    assert.deepEqual(take(), [{ to: 2, m: { t: 'ack', id: 7 } }]);
    hub.receive(1, { t: 'interest', filter: 'a/#', present: true });
    hub.receive(1, { t: 'fwd', m: message('a/b') });
    assert.deepEqual(msgs(take()), [{ to: 2, topic: 'a/b', shared: undefined, only: undefined }], 'not back to the publisher, not to 3');
    hub.receive(3, { t: 'fwd', m: message('z', { retain: true }) });
    assert.deepEqual(msgs(take()).map((x) => x.to).sort(), [1, 2], 'a retained message reaches every other worker');
    hub.receive(2, { t: 'interest', filter: 'a/+', present: false });
    hub.receive(3, { t: 'fwd', m: message('a/b') });
    assert.deepEqual(msgs(take()).map((x) => x.to), [1]);
  });

  it('never forwards $SYS topics: each worker publishes its own', () => {
    const { hub, take } = hubWith([1, 2]);
    hub.receive(2, { t: 'interest', filter: '$SYS/#', present: true });
    hub.receive(1, { t: 'fwd', m: message('$SYS/broker/uptime', { retain: true }) });
    assert.deepEqual(take(), []);
  });

  it('gives each shared-group message to one worker with a member, in turn, the publisher included', () => {
    const { hub, take, msgs } = hubWith([1, 2]);
    hub.receive(1, { t: 'interest', filter: 's/#', group: 'g', present: true });
    hub.receive(2, { t: 'interest', filter: 's/#', group: 'g', present: true });
    hub.receive(2, { t: 'interest', filter: 's/#', group: 'other', present: true });
    const targets: string[] = [];
    for (let i = 0; i < 4; i++) {
      hub.receive(1, { t: 'fwd', m: message('s/x') });
      for (const x of msgs(take())) targets.push(`${x.to}:${x.shared!.split('\0')[0]}`);
    }
    assert.deepEqual(targets.filter((t) => t.endsWith(':g')), ['1:g', '2:g', '1:g', '2:g']);
    assert.deepEqual(targets.filter((t) => t.endsWith(':other')), ['2:other', '2:other', '2:other', '2:other']);
  });

  it('moves a session to the claimant and re-sends what reached the old worker meanwhile, for that session only', () => {
    const { hub, take, msgs } = hubWith([1, 2]);
    hub.receive(1, { t: 'interest', filter: 'm/#', present: true });
    hub.receive(2, { t: 'claim', id: 5, clientId: 'c', resume: true });
    const [release] = take();
    assert.equal(release!.to, 1);
    assert.equal(release!.m.t, 'release');
    const rid = (release!.m as { id: number }).id;
    // Published while worker 1 is giving the session up: it goes to worker 1, which no longer has it.
    hub.receive(2, { t: 'fwd', m: message('m/1') });
    hub.receive(2, { t: 'fwd', m: message('other/1') });
    assert.deepEqual(msgs(take()).map((x) => x.topic), ['m/1']);
    hub.receive(1, { t: 'interest', filter: 'm/#', present: false });
    hub.receive(1, { t: 'released', id: rid, transfer: transfer('c', ['m/#', '$share/g/q']) });
    const out = take();
    assert.equal(out[0]!.to, 2);
    assert.equal(out[0]!.m.t, 'claimed');
    assert.equal((out[0]!.m as { id: number }).id, 5);
    assert.deepEqual(msgs(out), [{ to: 2, topic: 'm/1', shared: undefined, only: 'c' }]);
    // The claimant's interest covers the moved subscriptions before its own updates arrive.
    hub.receive(1, { t: 'fwd', m: message('m/2') });
    hub.receive(1, { t: 'fwd', m: message('q') });
    assert.deepEqual(msgs(take()).map((x) => `${x.to}:${x.topic}:${x.shared ? 'shared' : 'plain'}`), ['2:m/2:plain', '2:q:shared']);
    assert.equal(hub.counters.sessionsMoved, 1);
  });

  it('handles the claims of one client id one at a time, in order', () => {
    const { hub, take } = hubWith([1, 2, 3]);
    hub.receive(1, { t: 'claim', id: 1, clientId: 'c', resume: true });
    hub.receive(2, { t: 'claim', id: 2, clientId: 'c', resume: true });
    const first = take();
    assert.deepEqual(first.map((x) => x.to).sort(), [2, 3], 'only the first claim is asked of the others');
    for (const r of first) hub.receive(r.to, { t: 'released', id: (r.m as { id: number }).id });
    const second = take();
    assert.deepEqual(second[0], { to: 1, m: { t: 'claimed', id: 1 } });
    assert.deepEqual(second.slice(1).map((x) => x.to).sort(), [1, 3], 'then the second claim releases worker 1');
  });

  it('does not wait for a worker that dies, nor longer than the release timeout for one that hangs', async () => {
    const { hub, take, warnings } = hubWith([1, 2, 3], 50);
    hub.receive(1, { t: 'claim', id: 9, clientId: 'c', resume: false });
    take();
    hub.workerGone(2);
    assert.deepEqual(take(), [], 'still waiting for worker 3');
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(take(), [{ to: 1, m: { t: 'claimed', id: 9 } }]);
    assert.match(warnings.join('\n'), /no answer to a takeover/);
  });

  it('returns a session in transit to its old worker when the claimant died', () => {
    const { hub, take } = hubWith([1, 2]);
    hub.receive(2, { t: 'claim', id: 3, clientId: 'c', resume: true });
    const [release] = take();
    hub.workerGone(2);
    const t = transfer('c', ['a']);
    hub.receive(1, { t: 'released', id: (release!.m as { id: number }).id, transfer: t });
    assert.deepEqual(take(), [{ to: 1, m: { t: 'claimed', id: 0, transfer: t } }]);
  });

  it('keeps the place of a worker being restarted: its messages are kept, claims of its clients wait, then both go to it', () => {
    const sent: Array<{ to: number; m: PrimaryMessage }> = [];
    const hub = new IpcHub((to, m) => sent.push({ to, m }), { log: { warn: () => {} } });
    hub.receive(1, { t: 'hello' });
    hub.receive(2, { t: 'hello', sessions: ['c'] });
    hub.receive(1, { t: 'dumped', id: (sent.find((x) => x.m.t === 'dump')!.m as { id: number }).id, retained: [] });
    hub.receive(2, { t: 'interest', filter: 'a/#', present: true });
    hub.receive(2, { t: 'interest', filter: 'gone/#', present: true });
    sent.length = 0;

    hub.workerGone(2, true);
    hub.receive(1, { t: 'fwd', m: message('a/1') });
    hub.receive(1, { t: 'claim', id: 4, clientId: 'c', resume: true });
    assert.deepEqual(sent.splice(0), [], 'nothing sent while worker 2 is down: the message is kept, the claim waits');
    assert.equal(hub.counters.heldForRestart, 1);

    hub.receive(2, { t: 'hello', sessions: ['c'] });
    const back = sent.splice(0);
    assert.deepEqual(back.map((x) => `${x.to}:${x.m.t}`), ['1:dump'], 'retained copied from worker 1 first');
    hub.receive(1, { t: 'dumped', id: (back[0]!.m as { id: number }).id, retained: [] });
    assert.deepEqual(sent.splice(0).map((x) => `${x.to}:${x.m.t}:${x.m.t === 'msg' ? x.m.m.topic : ''}`), ['2:welcome:', '2:msg:a/1'], 'the kept message follows the welcome');

    hub.receive(2, { t: 'interest', filter: 'a/#', present: true });
    hub.receive(2, { t: 'synced' });
    assert.deepEqual(sent.splice(0).map((x) => `${x.to}:${x.m.t}`), ['2:release'], 'the waiting claim goes to worker 2, which has the session again');
    hub.receive(1, { t: 'fwd', m: message('gone/1') });
    assert.deepEqual(sent.splice(0), [], 'interest it did not announce again is gone');
  });

  it('tells a restarted worker to forget a session another worker took meanwhile, and gives up on one that does not come back', async () => {
    const sent: Array<{ to: number; m: PrimaryMessage }> = [];
    const hub = new IpcHub((to, m) => sent.push({ to, m }), { log: { warn: () => {} }, restartGraceMs: 50 });
    hub.receive(1, { t: 'hello' });
    hub.receive(1, { t: 'claim', id: 1, clientId: 'c', resume: true });
    hub.receive(3, { t: 'hello' });
    hub.receive(1, { t: 'dumped', id: (sent.find((x) => x.m.t === 'dump')!.m as { id: number }).id, retained: [] });
    hub.receive(3, { t: 'interest', filter: 'x', present: true });
    sent.length = 0;
    hub.receive(2, { t: 'hello', sessions: ['c', 'own'] });
    assert.deepEqual(sent.filter((x) => x.m.t === 'forget'), [{ to: 2, m: { t: 'forget', clientId: 'c' } }]);
    sent.length = 0;
    hub.workerGone(3, true);
    hub.receive(1, { t: 'fwd', m: message('x') });
    await new Promise((r) => setTimeout(r, 120));
    hub.receive(1, { t: 'fwd', m: message('x') });
    assert.deepEqual(sent, [], 'after the grace period its interest is gone');
    assert.equal(hub.counters.droppedForRestart, 1);
  });

  it('forgets who held a session once its worker says it ended, so its record does not outlive it', () => {
    const { hub, take } = hubWith([1, 2]);
    const claim = (worker: number, id: number, clientId: string): void => {
      hub.receive(worker, { t: 'claim', id, clientId, resume: true });
      const release = take().find((x) => x.m.t === 'release');
      hub.receive(release!.to, { t: 'released', id: (release!.m as { id: number }).id });
      take();
    };
    for (let i = 0; i < 100; i++) claim(1, i + 1, `c${i}`);
    assert.equal(hub.ownedSessions, 100);
    for (let i = 0; i < 100; i++) hub.receive(1, { t: 'ended', clientId: `c${i}` });
    assert.equal(hub.ownedSessions, 0, 'every record gone with its session');
    // Only the worker that holds the session can end its record: one that moved on stays.
    claim(1, 500, 'moved');
    claim(2, 501, 'moved');
    hub.receive(1, { t: 'ended', clientId: 'moved' });
    assert.equal(hub.ownedSessions, 1);
    // A restarted worker 1 that still lists it is told to forget it: worker 2 holds it.
    hub.workerGone(1, true);
    take();
    hub.receive(1, { t: 'hello', sessions: ['moved'] });
    assert.deepEqual(take().filter((x) => x.m.t === 'forget'), [{ to: 1, m: { t: 'forget', clientId: 'moved' } }]);
  });

  it('forgets the interest of a worker that exits', () => {
    const { hub, take, msgs } = hubWith([1, 2]);
    hub.receive(2, { t: 'interest', filter: '#', present: true });
    hub.workerGone(2);
    hub.receive(1, { t: 'fwd', m: message('a') });
    assert.deepEqual(msgs(take()), []);
    assert.deepEqual(hub.workers(), [1]);
  });

  it('sends each worker one IPC message per turn, its messages in one binary frame (as server/workers.ts wires it)', async () => {
    const batches = new Map<number, Batch<PrimaryMessage>[]>();
    const outboxes = new Map<number, PrimaryOutbox>();
    const outbox = (w: number): PrimaryOutbox => {
      let o = outboxes.get(w);
      if (!o) {
        batches.set(w, []);
        outboxes.set(w, (o = new PrimaryOutbox((b) => batches.get(w)!.push(b))));
      }
      return o;
    };
    const hub = new IpcHub((to, m) => outbox(to).push(m), { log: { warn: () => {} } });
    const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
    for (const w of [1, 2, 3]) {
      hub.receive(w, { t: 'hello' });
      await turn();
      for (const b of batches.get(1) ?? []) for (const m of b.starling) if (!isFrame(m) && m.t === 'dump') hub.receive(1, { t: 'dumped', id: m.id, retained: [] });
      await turn();
    }
    hub.receive(2, { t: 'interest', filter: 'p/#', present: true });
    hub.receive(3, { t: 'interest', filter: 'p/+', present: true });
    hub.receive(3, { t: 'interest', filter: 'p/#', group: 'g', present: true });
    for (const b of batches.values()) b.length = 0;
    // Worker 1's turn of 100 publishes, as its link sends it: one IPC message holding one frame.
    const fromWorker: Batch<WorkerMessage>[] = [];
    const link = new Outbox<WorkerMessage>((b) => fromWorker.push(b), 'worker');
    for (let i = 0; i < 100; i++) link.message(message(`p/${i}`));
    await turn();
    assert.equal(fromWorker.length, 1);
    assert.equal(fromWorker[0].starling.length, 1);
    const frame = fromWorker[0].starling[0];
    assert.ok(isFrame(frame), 'the messages travel as a frame');
    hub.receiveFrame(1, frame);
    await turn();
    assert.equal(batches.get(1)!.length, 0, 'nothing back to the publisher');
    const frames = (w: number) =>
      batches.get(w)!.map((b) => b.starling.map((x) => (isFrame(x) ? decodeFrame(x, new MessageIds()) : x)));
    const w2 = frames(2);
    assert.equal(w2.length, 1, 'one IPC message to worker 2');
    assert.equal(w2[0].length, 1, 'holding one frame');
    assert.deepEqual((w2[0][0] as DecodedFrame).messages.map((m) => m.topic), Array.from({ length: 100 }, (_, i) => `p/${i}`));
    const w3 = frames(3);
    assert.equal(w3.length, 1, 'one IPC message to worker 3');
    const f3 = w3[0][0] as DecodedFrame;
    assert.equal(f3.messages.length, 200, 'plain and shared in one frame');
    assert.equal(f3.shared!.filter((k) => k === 'g\0p/#').length, 100);
  });

  it('keeps control messages in their place between frames, as objects', async () => {
    const sent: Batch<PrimaryMessage>[] = [];
    const o = new PrimaryOutbox((b) => sent.push(b));
    o.push({ t: 'msg', m: message('a') });
    o.push({ t: 'claimed', id: 7 });
    o.push({ t: 'msg', m: message('b'), shared: 'g\0b' });
    o.push({ t: 'msg', m: message('c'), only: 'client' });
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1);
    const items = sent[0].starling;
    assert.equal(items.length, 4);
    assert.deepEqual(decodeFrame(items[0] as Uint8Array, new MessageIds()).messages.map((m) => m.topic), ['a']);
    assert.deepEqual(items[1], { t: 'claimed', id: 7 });
    const f = decodeFrame(items[2] as Uint8Array, new MessageIds());
    assert.deepEqual([f.messages[0].topic, f.shared?.[0]], ['b', 'g\0b']);
    assert.equal((items[3] as { only?: string }).only, 'client', 'a re-send for one session stays an object');
  });

  it('counts and drops a corrupt frame from a worker, never throwing and routing nothing of it', () => {
    const warnings: string[] = [];
    const sent: Array<{ to: number; m: PrimaryMessage }> = [];
    const hub = new IpcHub((to, m) => sent.push({ to, m }), { log: { warn: (_o, msg) => warnings.push(msg) } });
    hub.receive(1, { t: 'hello' });
    hub.receive(2, { t: 'hello' });
    for (const s of sent.filter((x) => x.m.t === 'dump')) hub.receive(s.to, { t: 'dumped', id: (s.m as { id: number }).id, retained: [] });
    hub.receive(2, { t: 'interest', filter: '#', present: true });
    sent.length = 0;
    const good = encodeFrame('worker', [{ message: message('x/1') }, { message: message('x/2') }]);
    for (const bad of [good.subarray(0, good.length - 1), Buffer.from('not a frame'), new Uint8Array(0), Buffer.concat([good, Buffer.from([1])])]) {
      assert.doesNotThrow(() => hub.receiveFrame(1, bad));
    }
    assert.equal(hub.counters.malformed, 4);
    assert.equal(warnings.length, 4);
    assert.equal(sent.length, 0, 'nothing of a corrupt frame routed');
    hub.receiveFrame(1, good);
    assert.deepEqual(sent.map((s) => (s.m as { m: { topic: string } }).m.topic), ['x/1', 'x/2']);
  });
});
