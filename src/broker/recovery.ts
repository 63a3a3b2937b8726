// Rebuilding live sessions from what the store read back at start-up.
import { Session } from '../session/session.js';
import { fromQueueEntry, type Outgoing } from '../session/outgoing.js';
import type { StoreSnapshot } from '../store/ports.js';

/**
 * Creates a Session for every stored one and hands it to `adopt`. A session that was connected
 * when the broker stopped counts as disconnected at start-up, so its expiry and will run from now.
 */
export function recover(
  snapshot: StoreSnapshot,
  now: number,
  adopt: (s: Session) => void,
): { sessions: number; entries: number } {
  let entries = 0;
  for (const stored of snapshot.sessions) {
    const r = stored.session;
    const s = new Session(r.clientId, r.protocolVersion, r.expiryInterval);
    s.disconnectedAt = r.disconnectedAt ?? now;
    if (r.will) s.will = r.will;
    if (r.streamSeq !== undefined) s.streamSeq = r.streamSeq;
    for (const sub of stored.subscriptions) s.subscribe(sub);
    const outgoing: Outgoing[] = [];
    for (const e of stored.queue) {
      const message = snapshot.messages.get(e.messageId);
      if (!message) continue;
      // Anything that had a packet id may have reached the client: it is resent with DUP.
      outgoing.push(fromQueueEntry(e, message));
    }
    s.restore(outgoing, stored.inbound);
    entries += outgoing.length;
    adopt(s);
  }
  return { sessions: snapshot.sessions.length, entries };
}
