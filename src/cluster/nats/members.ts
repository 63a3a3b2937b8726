// Which nodes are alive: each node heartbeats on `<prefix>.node.<id>` every `intervalMs` and says
// so in the heartbeat; a node not heard from for MISSED_BEATS of its own intervals is gone. A node
// that closes says goodbye (a heartbeat with the leave header) so the others drop it at once.
// Pure bookkeeping with the clock passed in; link.ts does the I/O.
import { WIRE_VERSION, wireOf, type Heartbeat } from './wire.js';

/** Heartbeats a node may miss before it counts as gone. */
export const MISSED_BEATS = 3;

interface Member {
  instance: string;
  intervalMs: number;
  lastSeen: number;
  startedAt: number;
  /** The cluster protocol version it speaks. */
  wire: number;
}

export type SeenResult = 'joined' | 'known' | 'restarted';

export class Membership {
  private readonly others = new Map<string, Member>();

  constructor(readonly self: string) {}

  /** Records a heartbeat of another node. */
  seen(hb: Heartbeat, now: number): SeenResult {
    const m = this.others.get(hb.node);
    this.others.set(hb.node, { instance: hb.instance, intervalMs: hb.intervalMs, lastSeen: now, startedAt: hb.startedAt, wire: wireOf(hb) });
    if (!m) return 'joined';
    return m.instance === hb.instance ? 'known' : 'restarted';
  }

  /** A node said goodbye; true if it was known. */
  left(node: string): boolean {
    return this.others.delete(node);
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
