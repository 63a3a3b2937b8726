// Moving a session between nodes (the worker processes of `workers=N`): the session leaves one node
// in its stored form, with the bodies its queue refers to, and is rebuilt on the other exactly as
// start-up recovery rebuilds it, so in-flight messages are resent with DUP [MQTT-4.4.0-1].
import type { Session } from '../session/session.js';
import { toQueueEntry } from '../session/outgoing.js';
import type { StoredMessage } from '../store/ports.js';
import type { SessionTransfer } from './cluster-link.js';
import { sessionRecord } from './persistence.js';
import { recover } from './recovery.js';

export function exportSession(s: Session): SessionTransfer {
  const entries = s.allEntries();
  const bodies = new Map<string, StoredMessage>();
  for (const o of entries) bodies.set(o.message.id, o.message);
  return {
    state: {
      session: sessionRecord(s),
      subscriptions: [...s.subscriptions.values()],
      queue: entries.map(toQueueEntry),
      inbound: [...s.inbound],
    },
    messages: [...bodies.values()],
  };
}

/** Rebuilds the moved session and hands it to `adopt` (which registers it like a recovered one). */
export function importSession(t: SessionTransfer, now: number, adopt: (s: Session) => void): void {
  recover({ sessions: [t.state], messages: new Map(t.messages.map((m) => [m.id, m])), retained: [] }, now, adopt);
}
