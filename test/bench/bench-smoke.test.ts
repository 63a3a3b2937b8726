// Smoke test of the benchmark harness: the quickest scenario (fan-in, QoS 0) against Starling
// alone for a short window, checking that the numbers it produces are sane. No timing assertions:
// a benchmark on a shared CI machine measures the machine as much as the code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertPositive, quickStarlingRun } from './quick-run.js';
import { formatReport } from '../../bench/report.js';
import { SCENARIOS } from '../../bench/scenarios/index.js';

describe('benchmark harness smoke run', () => {
  it('runs fan-in QoS 0 against Starling over TCP and reports sane figures', async () => {
    const { report, values: v } = await quickStarlingRun(1);
    assertPositive(v, ['rate', 'ratePipelined', 'steadyRate', 'p50', 'p99', 'brokerCpu', 'genCpu']);
    // Percentiles come from one histogram, so they are ordered.
    assert.ok(v.p50 <= v.p99, `p50 ${v.p50} <= p99 ${v.p99}`);
    assert.ok(v.dropped >= 0 && v.dropped <= 100, `dropped ${v.dropped} %`);
    // The steady phase offers 20,000 msgs/s; what arrives is of that order, never wildly more.
    assert.ok(v.steadyRate < 20_000 * 3, `steady rate ${v.steadyRate}`);
    assert.equal(report.persistence.starling, 'SQLite');
    assert.ok(report.machine.cores >= 1);

    const text = formatReport(report, SCENARIOS);
    assert.match(text, /\| 1 \| fan-in QoS 0 \| tcp \| max msgs\/s, 1 msg per write ↑ \| [\d,]+ \|/);
    assert.match(text, /^Machine: .+ cores/m);
  });
});
