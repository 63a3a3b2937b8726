// Scenario 8 (fan-in QoS 1 with 2,000 in flight on each broker's default limits): the brokers are
// started on their own limits, and a short run against Starling counts every message, loses none
// that was acknowledged, and reports the p99 ratio it is for. No timing assertions: the figures
// themselves are the benchmark's business.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerCommand } from '../../bench/brokers/commands.js';
import { formatReport } from '../../bench/report.js';
import { assertPositive, quickStarlingRun } from './quick-run.js';
import { SCENARIOS, scenarioById } from '../../bench/scenarios/index.js';

describe('bench scenario 8: 2,000 QoS 1 in flight on default limits', () => {
  it('starts Starling and Mosquitto on their own queue limits only when asked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-limits-'));
    try {
      const conf = (name: 'starling' | 'mosquitto', limits: 'bench' | 'defaults'): string => {
        brokerCommand(name, { dir, tcpPort: 1883, wsPort: 8080, nodeFlags: [], limits });
        return readFileSync(join(dir, `${name}.conf`), 'utf8');
      };
      assert.match(conf('starling', 'bench'), /^maxQueuedMessages=100000$/m);
      assert.match(conf('starling', 'bench'), /^maxInflightMessages=100$/m);
      const starling = conf('starling', 'defaults');
      assert.doesNotMatch(starling, /maxQueuedMessages|maxInflightMessages|queueOverflowPolicy/);
      assert.match(starling, /^persistence=sqlite$/m);
      assert.match(conf('mosquitto', 'bench'), /^max_queued_messages 100000$/m);
      const mosquitto = conf('mosquitto', 'defaults');
      assert.doesNotMatch(mosquitto, /max_queued_messages|max_inflight_messages/);
      assert.match(mosquitto, /^persistence true$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(scenarioById(8)?.limits, 'defaults');
    assert.ok(SCENARIOS.filter((s) => s.id !== 8).every((s) => s.limits === undefined), 'only scenario 8 runs on default limits');
  });

  it('loses no acknowledged message on Starling and reports the p99 ratio', async () => {
    const { report, record: r, values: v } = await quickStarlingRun(8);
    assertPositive(v, ['q1Rate', 'q1P50', 'q1P99', 'q1OnTheWay', 'q0Rate', 'q0P50', 'q0P99', 'p99Ratio']);
    // Queue full under backPressure (the default): the publishers are held, nothing acknowledged is dropped.
    assert.equal(v.undelivered, 0, `notes: ${r.measured!.notes.join('; ')}`);
    // Open loop: at the window's end the publishers still hold PUBLISHes unacknowledged, never more than the 2,000 allowed.
    assert.ok(v.q1InFlight > 0 && v.q1InFlight <= 2000, `in flight ${v.q1InFlight}`);
    assert.ok(v.q1P50 <= v.q1P99 && v.q0P50 <= v.q0P99);
    assert.equal(v.p99Ratio, v.q1P99 / v.q0P99);
    assert.ok(v.q0Dropped >= 0 && v.q0Dropped <= 100, `dropped ${v.q0Dropped} %`);
    const text = formatReport(report, SCENARIOS);
    assert.match(text, /\| 8 \| fan-in QoS 1, 2,000 in flight, default limits \| tcp \| QoS 1: acknowledged but not delivered \(must be 0\) ↓ \| 0 \|/);
    assert.match(text, /p99 QoS 1 ÷ p99 QoS 0 \(target ≤ 2\) ↓ \| [\d.]+ \|/);
  });
});
