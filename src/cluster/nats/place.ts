// Who holds a node's place (its store, its sessions) in a durable cluster: one key per node,
// `place.<node>` in the KV bucket `<P>_cluster`, changed only by compare-and-set.
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
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';

export type PlaceState = 'self' | 'adopting' | 'done';

export interface PlaceMark {
  by: string;
  state: PlaceState;
}

/** The bucket of a cluster's coordination keys (adoption), created by whichever node comes first. */
export function clusterKv(nc: NatsConnection, prefix: string, replicas: number): Promise<KV> {
  return new Kvm(nc).create(`${prefix.replace(/\./g, '_')}_cluster`, { history: 1, replicas });
}

const keyOf = (node: string): string => `place.${node}`;
const encode = (mark: PlaceMark): Uint8Array => new TextEncoder().encode(JSON.stringify(mark));

/** The mark in an entry; undefined for none (no key, a deleted one, or a value not written by us). */
export function readMark(e: KvEntry | null): PlaceMark | undefined {
  if (!e || e.operation !== 'PUT') return undefined;
  try {
    const v = JSON.parse(e.string()) as Partial<PlaceMark>;
    if (typeof v.by === 'string' && (v.state === 'self' || v.state === 'adopting' || v.state === 'done')) return { by: v.by, state: v.state };
  } catch {
    // not ours
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sets the key to `mark` if it still is at `revision` (0: if it does not exist); false if it changed. */
async function swap(kv: KV, node: string, mark: PlaceMark, revision: number): Promise<boolean> {
  try {
    if (revision === 0) await kv.create(keyOf(node), encode(mark));
    else await kv.update(keyOf(node), encode(mark), revision);
    return true;
  } catch {
    return false;
  }
}

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
}

/**
 * Takes this node's own place before its store opens: waits while another node adopts it (bounded by
 * `waitMs`; an adopter that died half-way is then overruled, the store's own fencing still guarding
 * the data), then keeps the key changing every `intervalMs` for as long as the node runs.
 */
export async function holdOwnPlace(kv: KV, opts: HoldOptions): Promise<OwnPlace> {
  const { nodeId, log } = opts;
  const self: PlaceMark = { by: nodeId, state: 'self' };
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    const e = await kv.get(keyOf(nodeId));
    const mark = readMark(e);
    if (mark?.state === 'adopting' && mark.by !== nodeId) {
      if (Date.now() < deadline) {
        if (!told) log.warn({ adopter: mark.by }, 'cluster: another node is adopting this node\'s sessions; waiting for it to finish before opening the store');
        told = true;
        await sleep(Math.min(200, opts.intervalMs));
        continue;
      }
      log.error({ adopter: mark.by, waitedMs: opts.waitMs }, 'cluster: the adoption of this node did not finish in time; starting anyway');
      await kv.put(keyOf(nodeId), encode(self));
      break;
    }
    if (await swap(kv, nodeId, self, e && e.operation === 'PUT' ? e.revision : 0)) break;
  }
  if (told) log.info('cluster: the adoption of this node is done; its adopted sessions stay with the adopter');
  const timer = setInterval(() => {
    // A put, not a compare-and-set: an adopter only takes a key that stood still, and this one moves.
    kv.put(keyOf(nodeId), encode(self)).catch((err: unknown) => log.debug({ err }, 'cluster: place key not rewritten'));
  }, opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

export type TakeResult = 'taken' | 'other' | 'alive';

/**
 * An adopter takes the place of lost node `node`. 'other': another node adopts it (or has); 'alive':
 * the node rewrote its key within `stillMs` (it is back); 'taken': this node now adopts it, and
 * marks it done with `release` afterwards.
 */
export async function takePlace(kv: KV, node: string, self: string, stillMs: number): Promise<TakeResult> {
  const adopting: PlaceMark = { by: self, state: 'adopting' };
  let last: PlaceMark | undefined;
  for (let tries = 0; tries < 5; tries++) {
    const e = await kv.get(keyOf(node));
    last = readMark(e);
    if (last?.state === 'adopting') return last.by === self ? 'taken' : 'other';
    // Adopted already, and the node has not taken its place back since: nothing is left to adopt.
    if (last?.state === 'done') return 'other';
    // A node's own key must stand still for a while: the compare-and-set after the pause fails if
    // it was rewritten meanwhile (the node runs). Reads may come from a replica that lags; the
    // compare-and-set does not, so a stale read only costs another round.
    if (last?.state === 'self') await sleep(stillMs);
    if (await swap(kv, node, adopting, e && e.operation === 'PUT' ? e.revision : 0)) return 'taken';
  }
  return last?.state === 'self' ? 'alive' : 'other';
}

/** The adoption of `node` by `self` is over: mark it done (the node may take its place again). */
export async function releasePlace(kv: KV, node: string, self: string): Promise<void> {
  await kv.put(keyOf(node), encode({ by: self, state: 'done' }));
}

/** Waits (at most `waitMs`) until no node is adopting `node` any more. */
export async function whileAdopting(kv: KV, node: string, waitMs: number, stop: () => boolean): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && !stop()) {
    const mark = readMark(await kv.get(keyOf(node)).catch(() => null));
    if (mark?.state !== 'adopting') return;
    await sleep(100);
  }
}
