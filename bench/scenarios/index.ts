// The scenarios, by number.
import type { Scenario } from './scenario.js';
import { fanIn } from './fan-in.js';
import { fanOut } from './fan-out.js';
import { pairs } from './pairs.js';
import { connections } from './connections.js';
import { offline } from './offline.js';
import { crossNode } from './cross-node.js';
import { inFlight } from './in-flight.js';

export const SCENARIOS: readonly Scenario[] = [fanIn(0), fanIn(1), fanOut, pairs, connections, offline, crossNode, inFlight];

export function scenarioById(id: number): Scenario | undefined {
  return SCENARIOS.find((s) => s.id === id);
}
