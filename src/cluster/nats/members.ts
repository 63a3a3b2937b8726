// Which nodes are alive: each node heartbeats on `<prefix>.node.<id>` every `intervalMs` and says
// so in the heartbeat; a node not heard from for MISSED_BEATS of its own intervals is gone. A node
// that closes says goodbye (a heartbeat with the leave header) so the others drop it at once.
// Pure bookkeeping with the clock passed in; link.ts does the I/O.
import { WIRE_VERSION, wireOf, type Heartbeat } from './wire.js';

/** Heartbeats a node may miss before it counts as gone. */
export const MISSED_BEATS = 3;

/**
 * Other nodes a node keeps track of at most (members, and the interest of nodes not heard from yet):
 * node ids come from messages on the cluster's subjects, so how many are remembered is bounded too.
 */
export const MAX_NODES = 256;

interface Member {
  instance: string;
  intervalMs: number;
  lastSeen: number;
  startedAt: number;
  /** The cluster protocol version it speaks. */
  wire: number;
}

/** `full`: a node not known yet while MAX_NODES others are: not recorded. */
export type SeenResult = 'joined' | 'known' | 'restarted' | 'full';

export class Membership {
  private readonly others = new Map<string, Member>();

  constructor(readonly self: string) {}

  /** Records a heartbeat of another node (its fields checked by decodeHeartbeat). */
  seen(hb: Heartbeat, now: number): SeenResult {
    const m = this.others.get(hb.node);
    if (!m && this.others.size >= MAX_NODES) return 'full';
    this.others.set(hb.node, { instance: hb.instance, intervalMs: hb.intervalMs, lastSeen: now, startedAt: hb.startedAt, wire: wireOf(hb) });
    if (!m) return 'joined';
    return m.instance === hb.instance ? 'known' : 'restarted';
  }

  /** A node said goodbye; true if it was known. */
  left(node: string): boolean {
    return this.others.delete(node);
  }

  /** Whether `node` is known (heard from, not yet forgotten). */
  has(node: string): boolean {
    return this.others.has(node);
  }

  /** Forgets nodes not heard from in time; returns them. */
  sweep(now: number): string[] {
    const gone: string[] = [];
    for (const [id, m] of this.others) {
      if (now - m.lastSeen > m.intervalMs * MISSED_BEATS) gone.push(id);
    }
    for (const id of gone) this.others.delete(id);
    return gone;
  }

  /** Nodes that missed their heartbeats but that `sweep` has not reported yet. */
  expired(now: number): string[] {
    return [...this.others].filter(([, m]) => now - m.lastSeen > m.intervalMs * MISSED_BEATS).map(([id]) => id);
  }

  /**
   * Whether `node`'s heartbeats name another version of the cluster protocol than this one (a node
   * not heard from yet is taken to speak this one).
   */
  speaksOther(node: string): boolean {
    const m = this.others.get(node);
    return m !== undefined && m.wire !== WIRE_VERSION;
  }

  /** Live nodes that speak another version of the cluster protocol than this one, sorted. */
  incompatible(now: number): string[] {
    return [...this.others]
      .filter(([, m]) => m.wire !== WIRE_VERSION && now - m.lastSeen <= m.intervalMs * MISSED_BEATS)
      .map(([id]) => id)
      .sort();
  }

  /**
   * Live node ids, this one included, sorted. Does not forget anyone: `sweep` does, so that the
   * caller that sweeps sees every lost node exactly once.
   */
  list(now: number): string[] {
    const live = [...this.others].filter(([, m]) => now - m.lastSeen <= m.intervalMs * MISSED_BEATS).map(([id]) => id);
    return [this.self, ...live].sort();
  }
}
