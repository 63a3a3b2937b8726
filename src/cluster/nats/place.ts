// Who holds a node's place (its store, its sessions) in a durable cluster: one key per node,
// `place.<node>` in the KV bucket `<P>_cluster`.
//
//   {by: X, state: 'self'}       node X runs and holds its own store; it rewrites the key every
//                                heartbeat period, so a live node's key keeps changing
//   {by: Y, state: 'adopting'}   node Y is adopting X's sessions (durable.ts)
//   {by: Y, state: 'done'}       Y has adopted them; X's store has none of them left
//
// A node that starts takes its own place before it opens its store (`holdOwnPlace`): if another node
// is adopting it, it waits until that is done (its sessions stay with the adopter), so it never opens
// a store that another node is taking apart. An adopter takes the place only from a node whose key
// stands still for a while (`takePlace`): a node that came back while it was counted as lost keeps
// rewriting its key, and is left alone.
//
// Who wins is decided by the order of the stream, not by the server's compare-and-set alone. Every
// write names the revision it was made on (`after`, the key's last entry when the writer looked) and
// is sent as a compare-and-set on it; a write *stands* only if it is the first entry of the key after
// that revision, and the key's state is its last entry that stands (`resolve`). The server's check
// is not enough: on a clustered stream NATS 2.9 checks an expected revision before it proposes the
// write to the stream's raft group, not when the group applies it, so two writes made on the same
// revision at nearly the same moment can both be accepted (nats-server issue 4320; later servers
// track writes in flight on the leader, which a leader change forgets). The stream's order is the
// same on every replica, so of two writes made on one revision exactly one is first, and every node
// judges alike. Each writer reads the key back after its write to learn whether it stood (an adopter
// adopts only then), and a node's rewrites are made from the state it read, so a write that did not
// stand is never built on. The bucket keeps 16 entries per key, for the earlier entries a write is
// judged against. Reads go to the stream's leader (no direct gets): with `allow_direct` any replica
// answers, one that lags (a server restarted with its old store) with an old entry, and a frozen one
// not at all. Tested in test/cluster/place-race.test.ts.
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

export type PlaceState = 'self' | 'adopting' | 'done';

export interface PlaceMark {
  by: string;
  state: PlaceState;
}

/** Entries kept per key: enough to judge a write against the entry it was made on. */
const HISTORY = 16;
/** Reads made to find the last entry that stands: each kept entry once, and one more per widening. */
const READS = 2 * HISTORY + 2;

/** The coordination bucket, and what reads it in the stream's order (through the stream's leader). */
export interface PlaceBucket {
  kv: KV;
  jsm: JetStreamManager;
  stream: string;
  subject(node: string): string;
}

/**
 * The bucket of a cluster's coordination keys (adoption), created by whichever node comes first; one
 * an older version made (one entry per key) is widened to keep `HISTORY` entries per key.
 */
export async function clusterKv(nc: NatsConnection, prefix: string, replicas: number): Promise<PlaceBucket> {
  const name = `${prefix.replace(/\./g, '_')}_cluster`;
  const kv = await new Kvm(nc).create(name, { history: HISTORY, replicas, allow_direct: false });
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${name}`;
  const info = await jsm.streams.info(stream);
  if (info.config.max_msgs_per_subject < HISTORY) await jsm.streams.update(stream, { ...info.config, max_msgs_per_subject: HISTORY });
  return { kv, jsm, stream, subject: (node) => `$KV.${name}.${keyOf(node)}` };
}

const keyOf = (node: string): string => `place.${node}`;
const encode = (mark: PlaceMark, after: number): Uint8Array => new TextEncoder().encode(JSON.stringify({ ...mark, after }));

interface Decoded {
  mark?: PlaceMark;
  /** The revision the write was made on; undefined for one that names none (a deletion, an older version's). */
  after?: number;
}

function decode(text: string): Decoded {
  try {
    const v = JSON.parse(text) as Partial<PlaceMark> & { after?: unknown };
    // A revision is a stream sequence: anything else names none (and stands as written, as an older version's entry does).
    const after = Number.isSafeInteger(v.after) && (v.after as number) >= 0 ? (v.after as number) : undefined;
    if (typeof v.by === 'string' && (v.state === 'self' || v.state === 'adopting' || v.state === 'done')) return { mark: { by: v.by, state: v.state }, after };
  } catch {
    // not ours
  }
  return {};
}

interface Entry extends Decoded {
  seq: number;
}

async function entry(b: PlaceBucket, req: { last_by_subj: string } | { seq: number; next_by_subj: string }): Promise<Entry | null> {
  const sm = await b.jsm.streams.getMessage(b.stream, req);
  if (!sm) return null;
  const op = sm.header?.get('KV-Operation');
  return op === 'DEL' || op === 'PURGE' ? { seq: sm.seq } : { seq: sm.seq, ...decode(sm.string()) };
}

/** What a node's key says: its last entry that stands (`at`), and its last entry of all (`latest`, 0: none). */
export interface Place {
  mark?: PlaceMark;
  at: number;
  latest: number;
}

/**
 * The state of `node`'s key, judged in the stream's order (see the top of this file); undefined when
 * it cannot be told now (no stream leader to ask, or more reads needed than `READS`).
 *
 * The key's entries are read once each, newest first in windows: a window holds every entry of the
 * key with a sequence in (lo, latest], and is widened back only as far as the revision a candidate
 * names. Entries are then judged from the newest back, so a key with many writes made on one
 * revision (the NATS 2.9 fault above) costs one read per entry, not one per pair of entries.
 */
export async function resolve(b: PlaceBucket, node: string): Promise<Place | undefined> {
  const subject = b.subject(node);
  try {
    const latest = await entry(b, { last_by_subj: subject });
    if (!latest) return { at: 0, latest: 0 };
    let reads = 1;
    /** Every entry of the key with a sequence in (lo, latest.seq], oldest first. */
    let known: Entry[] = [latest];
    let lo = latest.seq - 1;
    /** Widens the window back to `to`; false when that would take more than `READS` reads. */
    const widen = async (to: number): Promise<boolean> => {
      const older: Entry[] = [];
      for (let seq = to + 1; ; ) {
        if (reads >= READS) return false;
        const e = await entry(b, { seq, next_by_subj: subject });
        reads++;
        if (!e || e.seq > lo) break;
        older.push(e);
        seq = e.seq + 1;
      }
      known = older.concat(known);
      lo = to;
      return true;
    };
    for (let i = 0; ; ) {
      const e = known[i]!;
      if (e.after === undefined) return { mark: e.mark, at: e.seq, latest: latest.seq };
      if (e.after < lo) {
        if (!(await widen(e.after))) return undefined;
        i = known.indexOf(e);
      }
      // First after the revision it was made on (or all before it are gone): it stands. Otherwise
      // another write made on the same revision came first, and the entry just before this one decides.
      if (i === 0 || known[i - 1]!.seq <= e.after) return { mark: e.mark, at: e.seq, latest: latest.seq };
      i--;
    }
  } catch {
    return undefined;
  }
}

/** Writes `mark` on revision `latest` (0: the key has no entry); its revision, or undefined if refused or not known. */
async function write(b: PlaceBucket, node: string, mark: PlaceMark, latest: number, refused?: (err: unknown) => void): Promise<number | undefined> {
  const value = encode(mark, latest);
  try {
    return latest === 0 ? await b.kv.create(keyOf(node), value) : await b.kv.update(keyOf(node), value, latest);
  } catch (err) {
    refused?.(err);
    return undefined;
  }
}

/** Whether the write at `revision` stands (read back a few times while the stream has no leader). */
async function stood(b: PlaceBucket, node: string, revision: number): Promise<boolean> {
  for (let tries = 0; tries < 10; tries++) {
    const now = await resolve(b, node);
    if (now) return now.at === revision;
    await sleep(200);
  }
  return false;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface OwnPlace {
  /** Stops rewriting the key (the node is closing). */
  stop(): void;
}

export interface HoldOptions {
  nodeId: string;
  /** How often the key is rewritten while the node runs (its heartbeat period). */
  intervalMs: number;
  /** How long to wait for an adoption of this node to finish before starting anyway. */
  waitMs: number;
  log: Logger;
  /**
   * Another node took this running node's place (its rewrites stood still long enough, e.g. while it
   * was cut off from NATS): that node adopts its sessions and fences its store. The node takes its
   * place back once the adoption is done.
   */
  onLost?: (adopter: string) => void;
}

/**
 * Takes this node's place: waits while another node adopts it (for `waitMs`; an adopter that died
 * half-way is then overruled, the store's own fencing still guarding the data). Gives up quietly
 * once `stopped` (the node is closing).
 */
async function takeOwn(b: PlaceBucket, opts: HoldOptions, stopped: () => boolean = () => false): Promise<void> {
  const { nodeId, log } = opts;
  const deadline = Date.now() + opts.waitMs;
  const pause = Math.min(200, opts.intervalMs);
  let told = false;
  let refusedLogged = false;
  const refused = (err: unknown): void => {
    // Usually another write came first (looked at again below); said once, in case it is not (NATS
    // refusing this user the bucket would otherwise retry here in silence).
    if (!refusedLogged) log.warn({ err }, 'cluster: writing this node\'s place key was refused; trying again');
    refusedLogged = true;
  };
  while (!stopped()) {
    const now = await resolve(b, nodeId);
    if (!now) {
      if (Date.now() >= deadline) throw new Error(`cluster: the place key of ${nodeId} could not be read`);
      await sleep(pause);
      continue;
    }
    const mark = now.mark;
    if (mark?.state === 'adopting' && mark.by !== nodeId) {
      if (Date.now() < deadline) {
        if (!told) log.warn({ adopter: mark.by }, 'cluster: another node is adopting this node\'s sessions; waiting for it to finish before opening the store');
        told = true;
        await sleep(pause);
        continue;
      }
      log.error({ adopter: mark.by, waitedMs: opts.waitMs }, 'cluster: the adoption of this node did not finish in time; starting anyway');
    }
    const revision = await write(b, nodeId, { by: nodeId, state: 'self' }, now.latest, refused);
    if (revision !== undefined && (await stood(b, nodeId, revision))) {
      if (told) log.info('cluster: the adoption of this node is done; its adopted sessions stay with the adopter');
      return;
    }
    // Refused (another write came first, or NATS refuses this user the bucket): look again after a
    // pause rather than in a tight loop of requests.
    await sleep(pause);
  }
}

/**
 * Takes this node's own place before its store opens (`takeOwn`), then rewrites the key every
 * `intervalMs` for as long as the node runs, each time from the state it reads: while the key is
 * this node's, on its last entry; once another node took the place, `onLost` is told and the place
 * is taken back as at a start, after that adoption is done.
 */
export async function holdOwnPlace(b: PlaceBucket, opts: HoldOptions): Promise<OwnPlace> {
  const { nodeId, log } = opts;
  const self: PlaceMark = { by: nodeId, state: 'self' };
  await takeOwn(b, opts);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const beat = async (): Promise<void> => {
    const now = await resolve(b, nodeId);
    // Unreadable now (no stream leader): the next beat looks again. A rewrite that is refused or
    // does not stand is seen by the next beat's read. A key with no mark (deleted) is simply this
    // node's to write again: nobody took it.
    if (!now) return;
    const mark = now.mark;
    if (mark === undefined || (mark.by === nodeId && mark.state === 'self')) {
      await write(b, nodeId, self, now.latest);
      return;
    }
    log.error({ adopter: mark.by, state: mark.state }, 'cluster: another node took this node\'s place (its place key stood still, as if the node were lost): that node adopts its sessions and fences its store');
    try {
      opts.onLost?.(mark.by);
    } catch (err) {
      log.error({ err }, 'cluster: onLost failed');
    }
    await takeOwn(b, opts, () => stopped).catch((err: unknown) => log.warn({ err }, 'cluster: this node\'s place could not be taken back'));
  };
  const next = (): void => {
    // On a timer: a failure of one beat (a NATS error, a throwing onLost) is logged, and the next beat runs.
    if (!stopped) timer = setTimeout(() => void beat().catch((err: unknown) => log.error({ err }, 'cluster: a place-key heartbeat failed')).finally(next), opts.intervalMs).unref();
  };
  next();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export type TakeResult = 'taken' | 'other' | 'alive';

/**
 * An adopter takes the place of lost node `node`. 'other': another node adopts it (or has); 'alive':
 * the node rewrote its key within `stillMs` (it is back); 'taken': this node now adopts it, and
 * marks it done with `release` afterwards.
 */
export async function takePlace(b: PlaceBucket, node: string, self: string, stillMs: number): Promise<TakeResult> {
  const adopting: PlaceMark = { by: self, state: 'adopting' };
  let last: PlaceMark | undefined;
  for (let tries = 0; tries < 5; tries++) {
    const now = await resolve(b, node);
    if (!now) {
      // No stream leader to ask (an election): ask again.
      await sleep(stillMs);
      continue;
    }
    last = now.mark;
    if (last?.state === 'adopting' && last.by !== self) return 'other';
    // Adopted already, and the node has not taken its place back since: nothing is left to adopt.
    if (last?.state === 'done') return 'other';
    // A node's own key must stand still for a while: a write made on the entry read before the pause
    // does not stand if the node rewrote its key meanwhile (it runs). A mark of this node's own (a
    // write whose answer was lost, or an adoption of it that did not end) is taken on by one more.
    if (last?.state === 'self') await sleep(stillMs);
    const revision = await write(b, node, adopting, now.latest);
    if (revision !== undefined && (await stood(b, node, revision))) return 'taken';
  }
  return last?.state === 'self' ? 'alive' : 'other';
}

/**
 * The adoption of `node` by `self` is over: mark it done (the node may take its place again), unless
 * the node overruled it meanwhile (it started anyway after waiting).
 */
export async function releasePlace(b: PlaceBucket, node: string, self: string): Promise<void> {
  for (let tries = 0; tries < 10; tries++) {
    const now = await resolve(b, node);
    if (!now) {
      await sleep(200);
      continue;
    }
    if (now.mark?.by !== self || now.mark.state !== 'adopting') return;
    const revision = await write(b, node, { by: self, state: 'done' }, now.latest);
    if (revision !== undefined && (await stood(b, node, revision))) return;
  }
  throw new Error(`cluster: the place of ${node} could not be released`);
}

/** Waits (at most `waitMs`) until no node is adopting `node` any more. */
export async function whileAdopting(b: PlaceBucket, node: string, waitMs: number, stop: () => boolean): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && !stop()) {
    const now = await resolve(b, node);
    if (now && now.mark?.state !== 'adopting') return;
    await sleep(100);
  }
}
