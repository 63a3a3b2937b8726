// A node's copy of the cluster's retained messages, shared by both kinds of link: the NATS link
// (nats/retained.ts, against the JetStream bucket) and the worker link (workers/ipc-link.ts, against
// the primary's copy). What the link needs of the local index, which topics never leave a node, and
// how a loaded copy is applied without delivering anything.
import type { StoredMessage } from '../store/ports.js';
import type { LocalRetained } from '../broker/cluster-link.js';

export type { LocalRetained };

/** Only node-local values are never shared: `$SYS/` is each node's own statistics. */
export const isNodeLocalTopic = (topic: string): boolean => topic.startsWith('$SYS/');

/**
 * Applies the cluster's copy (`stored`: the bucket's content, or the primary's) to the local index at
 * start-up. The copy is the cluster's truth: local messages it lacks were cleared while this node was
 * away and are dropped, unless the copy was created just now (`bucket.created`), which is then seeded
 * with them. `live` holds topics already updated by live retain messages since the link subscribed:
 * those are newer. Returns how many local messages were set, removed, seeded into the copy, and purged
 * from it (expired).
 */
export function reconcile(
  local: LocalRetained,
  bucket: { created: boolean; write(m: StoredMessage): void },
  stored: StoredMessage[],
  live: ReadonlySet<string>,
  now: number,
): { set: number; removed: number; seeded: number; purged: number } {
  const result = { set: 0, removed: 0, seeded: 0, purged: 0 };
  const inBucket = new Set<string>();
  for (const m of stored) {
    inBucket.add(m.topic);
    if (live.has(m.topic) || isNodeLocalTopic(m.topic)) continue;
    if (m.expiresAt !== undefined && m.expiresAt <= now) {
      // Expired in the bucket [MQTT-3.3.2-5]: not loaded, and cleared there (an empty retained
      // message deletes the key), so the bucket does not keep dead values forever.
      bucket.write({ ...m, payload: Buffer.alloc(0) });
      result.purged++;
      continue;
    }
    const have = local.get(m.topic);
    if (have && have.id === m.id && have.createdAt === m.createdAt) continue;
    local.set(m);
    result.set++;
  }
  for (const m of local.list()) {
    if (inBucket.has(m.topic) || live.has(m.topic) || isNodeLocalTopic(m.topic)) continue;
    if (bucket.created) {
      bucket.write(m);
      result.seeded++;
    } else {
      local.delete(m.topic);
      result.removed++;
    }
  }
  return result;
}
