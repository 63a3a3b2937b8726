// What a session holds that a client may no longer have: its subscriptions and the messages owed to
// it were authorized for whoever held the session then, under the rules of then. A session is found
// by client id alone, so another user resuming it (Clean Start 0, same client id) or a reloaded ACL
// would otherwise inherit access that SUBSCRIBE would refuse today (docs/security.md, "Sessions
// change hands"). The broker asks this on resume and after each ACL reload, and drops what it names.
import type { BrokerHooks, ClientInfo } from '../hooks/hooks.js';
import { codeOf } from '../hooks/hooks.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { isSent, type Outgoing } from '../session/outgoing.js';
import type { Session } from '../session/session.js';

export interface Refused {
  /** Subscriptions SUBSCRIBE would refuse to `client` now. */
  filters: string[];
  /** Queued or in-flight entries on topics `client` may not read. */
  entries: Outgoing[];
}

export function refusedHoldings(session: Session, client: ClientInfo, hooks: Pick<BrokerHooks, 'authorizeSubscribe' | 'authorizeRead'>): Refused {
  const filters: string[] = [];
  for (const filter of session.subscriptions.keys()) {
    const answer = hooks.authorizeSubscribe(client, filter);
    // An answer that comes later (a library hook) cannot be waited for here; only the answers
    // given at once (the configured ACL) re-check what the session holds (so a test, not andThen).
    if (answer instanceof Promise) continue;
    if (codeOf(answer) !== ReasonCode.Success) filters.push(filter);
  }
  const entries: Outgoing[] = [];
  for (const o of session.allEntries()) {
    // After PUBREC the client has the message; only the packet id is left to release.
    if (o.state === 'awaitingPubcomp') continue;
    // Sent on this very connection: it already reached this client; withdrawing it now would only
    // leave the client acknowledging an id the broker forgot. On resume nothing counts as sent.
    if (session.online && isSent(o)) continue;
    if (hooks.authorizeRead(client, o.message.topic) !== ReasonCode.Success) entries.push(o);
  }
  return { filters, entries };
}
