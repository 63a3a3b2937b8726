// Runs the CLI entry point in-process with recorded output, a given standard input, and an exit
// that resolves instead of ending the test process.
import { PassThrough } from 'node:stream';
import { main, type CliIO } from '../../src/cli/main.js';
import { processIO } from '../../src/cli/io.js';
import type { PubIO } from '../../src/cli/pub.js';
import type { TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

export interface Run {
  out: string;
  err: string;
  code: number;
}

export interface RunOptions {
  stdin?: string;
  /** Pretend standard error is a terminal (or not); default: not. */
  stderrIsTTY?: boolean;
}

function fakeIO(opts: RunOptions): PubIO & { result: Promise<Run> } {
  const run: Run = { out: '', err: '', code: -1 };
  let finish!: (r: Run) => void;
  const result = new Promise<Run>((r) => (finish = r));
  const io: PubIO & { result: Promise<Run> } = {
    ...processIO(),
    // Not the test runner's process-wide rejection and exception handlers.
    faults: undefined,
    out: (t: string) => void (run.out += t),
    err: (t: string) => void (run.err += t),
    exit: (code: number) => {
      run.code = code;
      finish(run);
    },
    stderrIsTTY: opts.stderrIsTTY ?? false,
    result,
  };
  if (opts.stdin !== undefined) {
    const s = new PassThrough();
    s.end(opts.stdin);
    io.stdin = s;
  }
  return io;
}

/** `starling ARGS...`; resolves when the command exits. */
export async function cli(args: string[], stdin?: string | RunOptions): Promise<Run> {
  const io = fakeIO(typeof stdin === 'string' ? { stdin } : (stdin ?? {}));
  await main(['node', 'starling', ...args], io as CliIO);
  return io.result;
}

/**
 * Resolves once a session on the broker holds `filter`: a `starling sub` started before this has
 * been subscribed, so what is published next reaches it (no guessing how long start-up takes).
 */
export function subscribed(t: TestServer, filter: string): Promise<void> {
  return waitUntil(() => [...t.server.broker.sessions.values()].some((s) => s.subscriptions.has(filter)), `a subscription to ${filter}`);
}
