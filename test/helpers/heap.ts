// What the test process really holds, for tests that show a structure growing (or not) with what a
// client or a peer sends: the broker under test runs in this process.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A full garbage collection without starting node with --expose-gc (the flag is set at run time). */
export function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * JavaScript heap plus Buffer memory (message payloads live outside the heap) after full
 * collections: what the process really holds, not garbage waiting to be collected.
 */
export function liveBytes(gc: () => void): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export const MiB = 1024 * 1024;
