// When offline sessions end and when delayed wills fall due. Pure scheduling: what happens then
// is the broker's (publish the will, discard the session). Actions run in slices (KeyedTimers), so
// one may come a few event-loop turns after its time; `cancel` still stops it until it runs.
import { SESSION_NEVER_EXPIRES } from '../protocol/constants.js';
import type { Session } from '../session/session.js';
import { KeyedTimers } from './timers.js';

export interface TimerActions {
  /** The will delay (or the session, whichever is shorter) ran out [MQTT-3.1.3-9]. */
  willDue(session: Session): void;
  /** The Session Expiry Interval ran out while the session was offline. */
  expired(session: Session): void;
}

export class SessionTimers {
  private readonly wills = new KeyedTimers();
  private readonly expiries = new KeyedTimers();

  constructor(
    private readonly now: () => number,
    private readonly actions: TimerActions,
  ) {}

  /** The session went offline (or was recovered offline): arm its will delay and its expiry. */
  arm(session: Session): void {
    const since = session.disconnectedAt ?? this.now();
    const will = session.will;
    if (will) {
      const delay = Math.min(will.delayInterval, session.expiryInterval);
      if (delay === 0) this.actions.willDue(session);
      else this.wills.set(session.clientId, since + delay * 1000 - this.now(), () => this.actions.willDue(session));
    }
    if (session.expiryInterval !== SESSION_NEVER_EXPIRES) {
      this.expiries.set(session.clientId, since + session.expiryInterval * 1000 - this.now(), () => this.actions.expired(session));
    }
  }

  /** The client is back, or the session is gone: nothing is due any more. */
  cancel(clientId: string): void {
    this.wills.clear(clientId);
    this.expiries.clear(clientId);
  }

  cancelWill(clientId: string): void {
    this.wills.clear(clientId);
  }

  clear(): void {
    this.wills.clearAll();
    this.expiries.clearAll();
  }
}
