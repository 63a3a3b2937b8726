// The rule that decides a place key (cluster/nats/place.ts): a write stands only if it is the key's
// first entry after the revision it names, and the key's state is its last entry that stands. The
// entries a clustered NATS 2.9 can accept when two compare-and-sets meet (both made on one revision)
// are written here as plain puts, so every case is exact; one real nats-server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { silentLog } from '../helpers/channel.js';
import { captureLog } from '../transport/helpers.js';
import { clusterKv, holdOwnPlace, resolve, takePlace, type PlaceBucket, type PlaceMark } from '../../src/cluster/nats/place.js';

describe('place keys: the stream\'s order decides', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let b: PlaceBucket;
  /** Writes an entry as a server that let a compare-and-set through would have stored it. */
  const put = (node: string, mark: PlaceMark, after: number): Promise<number> =>
    b.kv.put(`place.${node}`, new TextEncoder().encode(JSON.stringify({ ...mark, after })));

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    b = await clusterKv(nc, 'order', 1);
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  it('of two writes made on one revision the first stands, and what is built on it', async () => {
    const self = await put('n1', { by: 'n1', state: 'self' }, 0);
    const y = await put('n1', { by: 'y', state: 'adopting' }, self);
    const z = await put('n1', { by: 'z', state: 'adopting' }, self);
    assert.deepEqual(await resolve(b, 'n1'), { mark: { by: 'y', state: 'adopting' }, at: y, latest: z }, 'y came first; z\'s write does not stand');
    // The node's rewrite sent before it knew (made on its own last revision) does not stand either.
    const late = await put('n1', { by: 'n1', state: 'self' }, self);
    assert.deepEqual((await resolve(b, 'n1'))?.mark, { by: 'y', state: 'adopting' });
    // y's release is made on the last entry (z's or the node's, which do not stand) and stands.
    const done = await put('n1', { by: 'y', state: 'done' }, late);
    assert.deepEqual(await resolve(b, 'n1'), { mark: { by: 'y', state: 'done' }, at: done, latest: done });
    // Two creations of a key that had none: the first stands.
    const first = await put('n2', { by: 'a', state: 'adopting' }, 0);
    await put('n2', { by: 'b', state: 'adopting' }, 0);
    assert.equal((await resolve(b, 'n2'))?.at, first);
    // An entry that names no revision (a deletion, an older version's put) stands as it is.
    await b.kv.delete('place.n2');
    assert.equal((await resolve(b, 'n2'))?.mark, undefined);
  });

  it('an adopter whose write did not stand has not taken the place; a node whose place was taken is told', async () => {
    const self = await put('n3', { by: 'n3', state: 'self' }, 0);
    await put('n3', { by: 'y', state: 'adopting' }, self);
    await put('n3', { by: 'z', state: 'adopting' }, self);
    // z looks again (as after its write): y adopts, so z leaves it.
    assert.equal(await takePlace(b, 'n3', 'z', 10), 'other');
    assert.equal(await takePlace(b, 'n3', 'y', 10), 'taken', 'y, asking again, holds it (a write of its own stands on top)');
    assert.deepEqual((await resolve(b, 'n3'))?.mark, { by: 'y', state: 'adopting' });

    // A running node whose rewrite lost to an adopter's write made on the same revision.
    const lost: string[] = [];
    await put('n4', { by: 'n4', state: 'self' }, 0);
    const place = await holdOwnPlace(b, { nodeId: 'n4', intervalMs: 50, waitMs: 60_000, log: silentLog, onLost: (by) => lost.push(by) });
    try {
      const last = (await resolve(b, 'n4'))!.latest;
      const adopter = await put('n4', { by: 'w', state: 'adopting' }, last);
      await put('n4', { by: 'n4', state: 'self' }, last);
      for (let i = 0; i < 100 && lost.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(lost, ['w'], 'the node is told who took its place');
      assert.deepEqual(await resolve(b, 'n4').then((p) => [p?.mark, p?.at]), [{ by: 'w', state: 'adopting' }, adopter], 'and rewrites it no more while w adopts');
    } finally {
      place.stop();
    }
  });

  it('a node whose place key writes are refused says so once, and takes its place once they are not', async () => {
    // The bucket refuses the first writes (as NATS does a user without permission to it).
    let refusals = 3;
    const refusing = (f: (...a: never[]) => unknown) => (...a: never[]) => {
      if (refusals > 0) {
        refusals--;
        return Promise.reject(new Error('permissions violation'));
      }
      return f(...a);
    };
    const kv = Object.assign(Object.create(b.kv) as typeof b.kv, { create: refusing(b.kv.create.bind(b.kv)), update: refusing(b.kv.update.bind(b.kv)) });
    const { log, lines } = captureLog();
    const place = await holdOwnPlace({ ...b, kv }, { nodeId: 'n7', intervalMs: 50, waitMs: 60_000, log });
    try {
      assert.equal(refusals, 0, 'every refusal was met');
      assert.deepEqual((await resolve(b, 'n7'))?.mark, { by: 'n7', state: 'self' });
      const said = lines.filter((l) => /place key was refused/.test(String(l.msg)));
      assert.equal(said.length, 1, 'said once, not at each retry');
      assert.match(String((said[0].err as { message?: string })?.message), /permissions violation/);
    } finally {
      place.stop();
    }
  });

  it('a failing heartbeat (here an onLost that throws) is logged and the beats go on: no unhandled rejection ends the process', async () => {
    let told = 0;
    await put('n5', { by: 'n5', state: 'self' }, 0);
    const place = await holdOwnPlace(b, {
      nodeId: 'n5',
      intervalMs: 50,
      waitMs: 60_000,
      log: silentLog,
      onLost: () => {
        told++;
        throw new Error('an embedder\'s onLost that throws');
      },
    });
    try {
      const last = (await resolve(b, 'n5'))!.latest;
      await put('n5', { by: 'w', state: 'adopting' }, last);
      for (let i = 0; i < 100 && told === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(told, 1, 'told once');
      // The adopter finishes: the next beats take the place back, so they ran after the throw.
      await put('n5', { by: 'w', state: 'done' }, (await resolve(b, 'n5'))!.latest);
      for (let i = 0; i < 100 && (await resolve(b, 'n5'))?.mark?.by !== 'n5'; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual((await resolve(b, 'n5'))?.mark, { by: 'n5', state: 'self' });
    } finally {
      place.stop();
    }
  });

  it('a key where many writes were made on one revision reads in one pass: the first stands, and what is built on the last', async () => {
    // Twelve writes accepted on one revision (six adopters retrying, the NATS 2.9 fault many times
    // over): judged pair by pair this took ~80 reads and the key read as unreadable.
    const self = await put('n7', { by: 'n7', state: 'self' }, 0);
    const revisions: number[] = [];
    for (let i = 0; i < 12; i++) revisions.push(await put('n7', { by: `a${i}`, state: 'adopting' }, self));
    assert.deepEqual(await resolve(b, 'n7'), { mark: { by: 'a0', state: 'adopting' }, at: revisions[0], latest: revisions[11] });
    // A write made on the last of them (which does not stand) is first after it, and stands.
    const done = await put('n7', { by: 'a0', state: 'done' }, revisions[11]!);
    assert.deepEqual(await resolve(b, 'n7'), { mark: { by: 'a0', state: 'done' }, at: done, latest: done });
    // Writes made on earlier entries, none of them first after the entry it names: the chain falls
    // back to the write built on the last (done).
    const late = await put('n7', { by: 'n7', state: 'self' }, revisions[3]!);
    const later = await put('n7', { by: 'a5', state: 'adopting' }, revisions[7]!);
    assert.deepEqual(await resolve(b, 'n7'), { mark: { by: 'a0', state: 'done' }, at: done, latest: later });
    assert.ok(late < later);
  });

  it('reads an entry whose revision is not a stream sequence as naming none', async () => {
    await b.kv.put('place.n6', new TextEncoder().encode(JSON.stringify({ by: 'q', state: 'adopting', after: -1.5 })));
    assert.deepEqual((await resolve(b, 'n6'))?.mark, { by: 'q', state: 'adopting' }, 'it stands as written, and the key stays readable');
  });

  it('widens a bucket an older version made (one entry per key) to keep the entries a write is judged against', async () => {
    await new Kvm(nc).create('old_cluster', { history: 1, replicas: 1 });
    const widened = await clusterKv(nc, 'old', 1);
    assert.equal((await widened.jsm.streams.info('KV_old_cluster')).config.max_msgs_per_subject, 16);
  });
});
