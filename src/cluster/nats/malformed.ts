// A malformed message on a cluster subject (from a node of this version with a bug, or from anything
// else that can publish there) is dropped and counted (LinkCounters.malformed: /metrics, $SYS), and
// logged at warn at most once a minute per kind of message, the next line saying how many were
// ignored meanwhile: whoever can publish on the cluster's subjects can flood neither the log nor
// this node's memory, and ends nothing.
import { logLimited, OncePerWindow, type LimitedLog } from '../../transport/log-limit.js';

export class MalformedMessages {
  private readonly lines = new OncePerWindow(60_000, 64, 100);

  constructor(
    private readonly counters: { malformed: number },
    private readonly log: LimitedLog,
  ) {}

  /** A message of `kind` (heartbeat, interest, claim, batch, retained, durable, …) was dropped because of `why`. */
  dropped(kind: string, why: unknown, fields: Record<string, unknown> = {}): void {
    this.counters.malformed++;
    const err = why instanceof Error ? why.message : String(why);
    logLimited(this.lines, this.log, 'warn', kind, { kind, err, ...fields }, `cluster: malformed ${kind} message ignored`, 'ignoredSinceLastLine');
  }
}
