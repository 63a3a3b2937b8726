// Start-up as named steps. Each step that opens something pushes what closes it onto one clean-up
// stack; a failing step unwinds the stack (last opened, first closed) and its error names the
// step. The same stack, unwound, is the server's stop: start-up and shut-down cannot drift apart.
import type { Logger } from 'pino';

export interface StartupStep {
  /** Short and stable: it is logged, and tests inject failures by it. */
  readonly name: string;
  run(cleanups: CleanupStack): unknown;
}

interface Cleanup {
  step: string;
  undo: () => unknown;
}

/** Clean-ups in the order their things were opened; `unwind` runs them in reverse. */
export class CleanupStack {
  #entries: Cleanup[] = [];

  constructor(private readonly log?: Logger) {}

  /** Registers what closes something `step` just opened. */
  push(step: string, undo: () => unknown): void {
    this.#entries.push({ step, undo });
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * Runs every clean-up, last pushed first, each awaited before the next (a listener closes before
   * the broker under it). One that throws is logged and the rest still run: a stop that gives up
   * half-way would leave ports bound or the store locked.
   */
  async unwind(): Promise<void> {
    for (let e = this.#entries.pop(); e; e = this.#entries.pop()) {
      try {
        await e.undo();
      } catch (err) {
        this.log?.warn({ step: e.step, err: (err as Error)?.message ?? String(err) }, 'clean-up failed; going on with the rest');
      }
    }
  }
}

/** The step a start-up error came from (set on the error by `runSteps`), for the failure's log line. */
export function startupStepOf(err: unknown): string | undefined {
  return err !== null && typeof err === 'object' ? ((err as { startupStep?: unknown }).startupStep as string | undefined) : undefined;
}

function nameStep(err: unknown, step: string): void {
  // The error itself is kept (its code and message are what the CLI explains to the operator);
  // the step rides on it, out of its enumerable fields.
  if (err === null || typeof err !== 'object' || !Object.isExtensible(err) || startupStepOf(err) !== undefined) return;
  Object.defineProperty(err, 'startupStep', { value: step, enumerable: false, configurable: true });
}

/**
 * Runs `steps` in order. When one throws, the stack is unwound and the error rethrown, named with
 * its step (`startupStepOf`). `before` is called with each step's name before it runs; what it
 * throws fails that step (tests inject a failure at every step and find nothing left open).
 */
export async function runSteps(steps: readonly StartupStep[], cleanups: CleanupStack, before?: (step: string) => unknown): Promise<void> {
  for (const step of steps) {
    try {
      await before?.(step.name);
      await step.run(cleanups);
    } catch (err) {
      nameStep(err, step.name);
      await cleanups.unwind();
      throw err;
    }
  }
}
