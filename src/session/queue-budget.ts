// The bytes held by every session's queue and in-flight window together, against one budget
// (maxQueuedBytesTotal). Each session keeps its own count; a session registered with the broker
// adds every change to it here as it happens (Session.hold / unhold are the only writers), and
// leaving subtracts what it still holds, so the total is always the sum over registered sessions.
export class QueueBudget {
  private held = 0;
  /** Runs when the total comes back within the budget (publishers held on it may go on). */
  onRoom?: () => void;

  /** `max`: most bytes all sessions may hold together; 0 = no limit. */
  constructor(readonly max: number) {}

  /** Bytes held now over all registered sessions. */
  get total(): number {
    return this.held;
  }

  /** Whether `bytes` more would take the total past the budget. */
  full(bytes: number): boolean {
    return this.max > 0 && this.held + bytes > this.max;
  }

  /** Past the budget now (only back-pressure takes a queue there). */
  get over(): boolean {
    return this.max > 0 && this.held > this.max;
  }

  /** @internal Session's bookkeeping: `bytes` may be negative. */
  change(bytes: number): void {
    const wasOver = this.over;
    this.held += bytes;
    if (wasOver && !this.over) this.onRoom?.();
  }
}
