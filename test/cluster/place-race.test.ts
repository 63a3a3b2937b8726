// Races for one place key (cluster/nats/place.ts) on a three-server NATS cluster whose coordination
// bucket has replicas 3, each race across a change of the stream's leader: exactly one contender
// holds the place when the race is over, and the key names it.
//
// - "frozen": node X holds its place through the server that leads the bucket's stream; that server
//   is frozen (SIGSTOP) long enough for the other two to elect a leader and for X's key to stand
//   still, while adopters y and z (each on another server) race for it; then it is thawed, and what
//   X wrote meanwhile reaches the cluster. Either X still holds its place (no adopter won) or one
//   adopter does and X knows it lost it.
// - "returning": node X died (its key stands still); adopters y and z race for it with the node
//   itself coming back, while the leader is frozen (SIGSTOP) or killed and restarted with its old
//   store (a replica that lags when it comes back).
// - "quick": 24 races of six adopters (two through each server) and, in some, the node coming back,
//   with every server up; half on a key that stands still, half on one that has no entry yet.
// Real nats-server processes; every wait is bounded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startNatsCluster, type NatsClusterHandle, type NatsServerHandle } from '../helpers/nats-server.js';
import { silentLog } from '../helpers/channel.js';
import { clusterKv, holdOwnPlace, releasePlace, resolve, takePlace, type OwnPlace, type PlaceBucket, type PlaceMark, type TakeResult } from '../../src/cluster/nats/place.js';

const PREFIX = 'race';
const STREAM = 'KV_race_cluster';
/** The heartbeat period of the contenders; an adopter waits for the key to stand still 1.5 times as long. */
const BEAT = 250;
const STILL = BEAT * 1.5;
/** How long the leader stays frozen or down in a race: longer than an election of the other two. */
const OUTAGE_MS = 10_000;
const ROUNDS = 6;
/** Races with every server up (each about two seconds). */
const QUICK_RACES = 24;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('place keys on a three-server NATS cluster (replicas 3): one holder per race, across leader changes', () => {
  let cluster: NatsClusterHandle;
  let jsmConn: NatsConnection;
  let jsm: JetStreamManager;
  let judgeBucket: PlaceBucket;
  const conns: NatsConnection[] = [];

  /** A connection that stays with one server (reconnecting to it after a restart). */
  const pinned = async (url: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: [url], reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 200, timeout: 5000 });
    conns.push(nc);
    return nc;
  };
  /** The bucket through a connection pinned to `url`, asked again while JetStream elects leaders (bounded). */
  const bucket = async (url: string): Promise<PlaceBucket> => {
    const nc = await pinned(url);
    for (let i = 0; ; i++) {
      try {
        return await clusterKv(nc, PREFIX, 3);
      } catch (err) {
        if (i >= 20) throw err;
        await sleep(500);
      }
    }
  };

  before(async () => {
    cluster = await startNatsCluster(3);
    jsmConn = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    jsm = await jetstreamManager(jsmConn, { timeout: 3000 });
    // The bucket is made once every server has joined JetStream (placement needs all three).
    for (let i = 0; ; i++) {
      const made = await clusterKv(jsmConn, PREFIX, 3).then((b) => b, (err: unknown) => (i >= 50 ? Promise.reject(err) : undefined));
      if (made) {
        judgeBucket = made;
        break;
      }
      await sleep(200);
    }
  });
  after(async () => {
    for (const s of cluster.servers) s.signal('SIGCONT');
    await Promise.all([...conns, jsmConn].map((nc) => nc.close().catch(() => undefined)));
    await cluster.stop();
  });

  /** The server that leads the bucket's stream now (asked until one does, bounded). */
  async function leader(): Promise<NatsServerHandle> {
    for (let i = 0; i < 100; i++) {
      const name = await jsm.streams.info(STREAM).then((info) => info.cluster?.leader, () => undefined);
      const server = cluster.servers.find((s) => s.name === name);
      if (server) return server;
      await sleep(200);
    }
    throw new Error('the bucket has no stream leader');
  }

  /** The mark on `place.<node>`: its last entry that stands, read through the stream's leader by a bucket of its own. */
  async function markOf(node: string): Promise<PlaceMark | undefined> {
    for (let i = 0; i < 50; i++) {
      const place = await resolve(judgeBucket, node);
      if (place) return place.mark;
      await sleep(200);
    }
    throw new Error(`place.${node} could not be read`);
  }

  async function waitMark(node: string, want: PlaceMark, what: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const m = await markOf(node);
      if (m?.by === want.by && m.state === want.state) return;
      await sleep(200);
    }
    assert.deepEqual(await markOf(node), want, what);
  }

  /**
   * An adopter as durable.ts is one: asks again while the node seems alive, until `until`. The
   * result is the last answer ('taken': it holds the place until it releases it).
   */
  async function adopter(kv: PlaceBucket, node: string, self: string, until: number): Promise<TakeResult | 'error'> {
    for (;;) {
      const r = await takePlace(kv, node, self, STILL).catch(() => 'error' as const);
      if (r === 'taken' || r === 'other' || Date.now() >= until) return r;
      await sleep(BEAT);
    }
  }

  /** A node's own place with a count of the times it found it taken by another node. */
  async function startNode(kv: PlaceBucket, node: string): Promise<{ place: Promise<OwnPlace>; lost: () => number }> {
    let lost = 0;
    // Passed as a variable: `onLost` is what a node is told when an adopter took its place.
    const opts = { nodeId: node, intervalMs: BEAT, waitMs: 120_000, log: silentLog, onLost: () => lost++ };
    return { place: holdOwnPlace(kv, opts), lost: () => lost };
  }

  /** Exactly one holder, and the key names it. `nodeHolds`: the node's own place is held and not lost. */
  async function judge(round: string, node: string, results: Record<string, TakeResult | 'error'>, nodeHolds: boolean): Promise<string> {
    const winners = Object.entries(results).filter(([, r]) => r === 'taken').map(([who]) => who);
    if (nodeHolds) winners.push(node);
    const mark = await markOf(node);
    assert.equal(winners.length, 1, `${round}: exactly one holder (adopters ${JSON.stringify(results)}, node holds: ${nodeHolds}, key ${JSON.stringify(mark)})`);
    const [winner] = winners;
    assert.deepEqual(mark, winner === node ? { by: node, state: 'self' } : { by: winner, state: 'adopting' }, `${round}: the key names the holder`);
    return winner!;
  }

  it('a frozen node against two adopters, and a returning node against two adopters, with the stream leader frozen or killed', { timeout: 300_000 }, async (t) => {
    const deadline = Date.now() + 280_000;
    const tally: Record<string, number> = {};
    for (let k = 0; k < ROUNDS && Date.now() < deadline; k++) {
      const lead = await leader();
      const others = cluster.servers.filter((s) => s !== lead);
      const kvY = await bucket(others[0]!.url);
      const kvZ = await bucket(others[1]!.url);
      const adopters = { y: kvY, z: kvZ };
      if (k % 2 === 0) {
        // frozen: X holds its place through the leader, which is then frozen.
        const node = `f${k}`;
        const kvX = await bucket(lead.url);
        const x = await startNode(kvX, node);
        const place = await x.place;
        await waitMark(node, { by: node, state: 'self' }, `${node} holds its place`);
        lead.signal('SIGSTOP');
        const until = Date.now() + OUTAGE_MS;
        const [ry, rz] = await Promise.all([adopter(kvY, node, 'y', until), adopter(kvZ, node, 'z', until)]);
        lead.signal('SIGCONT');
        // What X sent while its server was frozen reaches the cluster now, and X reads its key again
        // (once the requests it made while frozen have had their answers or timed out).
        const thawed = Date.now();
        await sleep(BEAT * 12);
        for (let i = 0; i < 60 && (ry === 'taken' || rz === 'taken') && x.lost() === 0; i++) await sleep(250);
        t.diagnostic(`round ${k}: ${node} looked again ${Date.now() - thawed} ms after the thaw`);
        t.diagnostic(`round ${k} frozen: y ${ry}, z ${rz}, node lost ${x.lost()}`);
        const winner = await judge(`round ${k} (frozen)`, node, { y: ry, z: rz }, x.lost() === 0);
        tally[winner === node ? 'node' : 'adopter'] = (tally[winner === node ? 'node' : 'adopter'] ?? 0) + 1;
        if (winner !== node) {
          assert.ok(x.lost() > 0, `round ${k}: ${node} was told it lost its place`);
          await releasePlace(adopters[winner as 'y' | 'z'], node, winner);
          // The adoption is done: X takes its place back and keeps it.
          await waitMark(node, { by: node, state: 'self' }, `round ${k}: ${node} takes its place back after the adoption`);
        }
        place.stop();
      } else {
        // returning: X died (its key stands still) and comes back while y and z race for it.
        const node = `r${k}`;
        await kvY.kv.put(`place.${node}`, new TextEncoder().encode(JSON.stringify({ by: node, state: 'self' })));
        await waitMark(node, { by: node, state: 'self' }, `${node} held its place`);
        const kvX = await bucket(others[k % 2]!.url);
        const kill = k % 4 === 3;
        if (kill) lead.kill();
        else lead.signal('SIGSTOP');
        const until = Date.now() + OUTAGE_MS;
        const x = await startNode(kvX, node);
        let resolved: OwnPlace | undefined;
        void x.place.then((p) => (resolved = p), () => undefined);
        const [ry, rz] = await Promise.all([adopter(kvY, node, 'y', until), adopter(kvZ, node, 'z', until)]);
        if (kill) {
          const i = cluster.servers.indexOf(lead);
          cluster.servers[i] = await lead.restart();
        } else lead.signal('SIGCONT');
        await sleep(BEAT * 12);
        t.diagnostic(`round ${k} returning (${kill ? 'killed' : 'frozen'}): y ${ry}, z ${rz}, node started ${resolved !== undefined}, lost ${x.lost()}`);
        const winner = await judge(`round ${k} (returning, leader ${kill ? 'killed' : 'frozen'})`, node, { y: ry, z: rz }, resolved !== undefined && x.lost() === 0);
        tally[winner === node ? 'node' : 'adopter'] = (tally[winner === node ? 'node' : 'adopter'] ?? 0) + 1;
        if (winner !== node) {
          await releasePlace(adopters[winner as 'y' | 'z'], node, winner);
          await waitMark(node, { by: node, state: 'self' }, `round ${k}: ${node} takes its place once the adoption is done`);
        }
        const place = await Promise.race([x.place, sleep(20_000).then(() => undefined)]);
        assert.ok(place, `round ${k}: ${node} started`);
        place.stop();
      }
    }
    assert.equal((tally.node ?? 0) + (tally.adopter ?? 0), ROUNDS, `every round ran (${JSON.stringify(tally)})`);
  });

  it('six adopters and the returning node at once, many times, with every server up', { timeout: 150_000 }, async (t) => {
    // Each race starts its contenders together, two adopters through each server; the node comes
    // back as the adopters write (after their pause), or not at all; a key that has no entry yet is
    // written at once. Writes made on the same revision reach the stream's leader milliseconds apart.
    const deadline = Date.now() + 120_000;
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const adopters = await Promise.all(names.map((_, i) => bucket(cluster.servers[i % 3]!.url)));
    const returnVia = await bucket(cluster.servers[0]!.url);
    const tally: Record<string, number> = {};
    let races = 0;
    for (let k = 0; k < QUICK_RACES && Date.now() < deadline; k++) {
      const node = `q${k}`;
      const standing = k % 2 === 0;
      if (standing) {
        await returnVia.kv.put(`place.${node}`, new TextEncoder().encode(JSON.stringify({ by: node, state: 'self' })));
        await waitMark(node, { by: node, state: 'self' }, `${node} held its place`);
      }
      const comesBack = k % 4 === 0;
      let x: Awaited<ReturnType<typeof startNode>> | undefined;
      let resolved: OwnPlace | undefined;
      const returning = comesBack
        ? sleep(STILL).then(async () => {
            x = await startNode(returnVia, node);
            void x.place.then((p) => (resolved = p), () => undefined);
          })
        : Promise.resolve();
      const results = await Promise.all(names.map((who, i) => takePlace(adopters[i]!, node, who, STILL)));
      await returning;
      await sleep(BEAT * 4);
      const outcome = Object.fromEntries(names.map((who, i) => [who, results[i]!]));
      const winner = await judge(`quick race ${k} (${standing ? 'key standing still' : 'no key yet'}${comesBack ? ', node comes back' : ''})`, node, outcome, resolved !== undefined && x!.lost() === 0);
      const key = winner === node ? 'node' : 'adopter';
      tally[key] = (tally[key] ?? 0) + 1;
      races++;
      if (winner !== node) await releasePlace(adopters[names.indexOf(winner)]!, node, winner);
      if (x) {
        const place = await Promise.race([x.place, sleep(20_000).then(() => undefined)]);
        assert.ok(place, `quick race ${k}: ${node} started once the adoption was done`);
        place.stop();
      }
    }
    t.diagnostic(`winners: ${JSON.stringify(tally)}`);
    assert.equal(races, QUICK_RACES, 'every race ran');
    assert.ok((tally.adopter ?? 0) > 0, 'adopters won some races');
  });
});
