// One quick run of one scenario against Starling alone over TCP, as the bench tests make it, and the
// check that figures came out as positive numbers.
import assert from 'node:assert/strict';
import { runScenarios } from '../../bench/run.js';

export async function quickStarlingRun(scenario: number) {
  const report = await runScenarios({ scenarios: [scenario], brokers: ['starling'], transports: ['tcp'], quick: true, seconds: 0.5 });
  assert.equal(report.records.length, 1);
  const [record] = report.records;
  assert.equal(record.error, undefined, `the run failed: ${record.error}`);
  return { report, record, values: record.measured!.values };
}

/** Each of `keys` is a finite number above 0. */
export function assertPositive(values: Record<string, number>, keys: readonly string[]): void {
  for (const key of keys) assert.ok(Number.isFinite(values[key]) && values[key] > 0, `${key} = ${values[key]}`);
}
