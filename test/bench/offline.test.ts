// Scenario 6 (offline queue): a short run against Starling goes through both warm-up passes (one at
// each protocol level) and both measured passes, queues and drains every message, and reports a
// figure for each. No timing assertions: the figures themselves are the benchmark's business.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertPositive, quickStarlingRun } from './quick-run.js';

describe('bench scenario 6: offline queue', () => {
  it('warms up at both protocol levels, then queues and drains every message at each, losing none', async () => {
    const { record, values } = await quickStarlingRun(6);
    // Tests run side by side, so the harness may note that other processes disturbed a window; any
    // other note is a pass that failed (a warm-up or MQTT 5 pass refused, sessions missing, a drain cut short).
    const notes = record.measured!.notes.filter((n) => !n.startsWith('disturbed:'));
    assert.deepEqual(notes, [], 'no pass (warm-up or measured) left a note');
    assert.equal(values.lost, 0, 'warm-ups and the 3.1.1 pass');
    assert.equal(values.lost5, 0, 'the MQTT 5 pass');
    assertPositive(values, ['queueRate', 'drainRate', 'queueRate5', 'drainRate5', 'coldQueueCpu']);
  });
});
