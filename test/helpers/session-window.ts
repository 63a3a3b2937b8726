// A session's window filled as the broker's queues fill it (Queues.fillWindow), for tests that drive
// a Session directly.
import type { Session } from '../../src/session/session.js';
import type { Queued, Unsent } from '../../src/session/outgoing.js';

/** Moves queued entries into `s`'s in-flight window; what was taken and what had expired. */
export function fillWindow(s: Session, now: number): { taken: Unsent[]; expired: Queued[] } {
  const taken: Unsent[] = [];
  const expired: Queued[] = [];
  s.fillWindowInto(now, taken, expired);
  return { taken, expired };
}
