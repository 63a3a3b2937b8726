// "A value now, or a Promise of it later": the shape of every step that is synchronous on the hot
// path (QoS 0 never awaits) and asynchronous only when a store write, a hook or another node must
// answer first. One name for it, and one helper to continue either way.

export type MaybePromise<T> = T | Promise<T>;

/**
 * Settled, never changed: a callback hung on it (`void SETTLED.then(f)`) runs at the end of the
 * current synchronous step, as a microtask, without the AsyncResource queueMicrotask makes per call
 * (on the hot path: once per run of PUBACKs, once per joined store write).
 */
export const SETTLED: Promise<void> = Promise.resolve();

/** Runs `next` on the value now, or once the Promise settles; never makes a synchronous step async. */
export function andThen<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/**
 * A step nobody waits for (a will, a $SYS value, an in-process subscription): if it went on in the
 * background, a failure there goes to `failed` instead of becoming an unhandled rejection.
 */
export function catchLater(value: MaybePromise<unknown>, failed: (err: unknown) => void): void {
  if (value instanceof Promise) value.catch(failed);
}
