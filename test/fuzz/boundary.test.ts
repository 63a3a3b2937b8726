// The boundary fuzzer (issue 12, "Proof"): packets from the MQTT 3.1.1 and 5 grammar, at the
// sizes where encoders and limits break, every property a client may send, maximum property
// counts and a catalogue of violations, over TCP and WebSocket, against the broker in its own
// process. After every run: the process is up, a healthy MQTT.js pair still round-trips, and every
// fuzz connection was answered or closed as the spec says (test/fuzz/runner.ts lists the checks).
//
// Time-bounded: FUZZ_MINUTES (default 0.33 of a minute per transport) — `npm run fuzz -- --minutes N`
// runs the same test longer. The seed is random unless FUZZ_SEED is set, and is printed in the test
// name and on failure; FUZZ_SEED (and FUZZ_PATH from a failure message) replays a run exactly.
// FUZZ_SHRINK=1 lets fast-check shrink a counterexample (slow: every try is a real connection).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzConnection, type FuzzConnection } from './grammar.js';
import { describeStep } from './model.js';
import { runConnection, type Outcome } from './runner.js';
import { FUZZ_MAX_PACKET, FuzzTarget } from './target.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const PATH = process.env.FUZZ_PATH;
const MINUTES = Number(process.env.FUZZ_MINUTES ?? 1 / 3);
const SHRINK = process.env.FUZZ_SHRINK === '1';
/** FUZZ_KEEP_GOING=1: collect every failure (restarting a crashed broker) and report them all at the end. */
const KEEP_GOING = process.env.FUZZ_KEEP_GOING === '1';
/** How long the broker has to answer or close a connection (the machine may be loaded). */
const BOUND_MS = 10_000;
/** Fewer runs than this in the time given means the fuzzer did not really run. */
const MIN_RUNS = 10;

/** Prints a connection without its 65,535-byte strings. */
function describeConnection(c: FuzzConnection): string {
  return [`[${c.transport} v${c.version === 5 ? '5' : '3.1.1'}]`, describeStep(c.connect), ...c.steps.map(describeStep), ...(c.final ? [describeStep(c.final)] : [])].join('\n    ');
}

const withPrinter = (c: FuzzConnection): FuzzConnection =>
  Object.defineProperty(c, fc.toStringMethod, { value: () => describeConnection(c), enumerable: false }) as FuzzConnection;

describe('boundary fuzzer', () => {
  let target: FuzzTarget;
  before(async () => {
    target = await FuzzTarget.start();
  });
  after(() => target.stop());

  for (const transport of (['tcp', 'ws'] as const).filter((t) => (process.env.FUZZ_TRANSPORT ?? t) === t)) {
    const seed = SEED + (transport === 'ws' ? 1 : 0);
    it(`serves a healthy client and closes what the spec says to close, over ${transport} (seed ${seed})`, async () => {
      const found: Array<{ failure: string; input: string }> = [];
      const stats = { runs: 0, connections: 0, violations: 0, connected: 0, encoders: new Map<string, number>(), codes: new Map<string, number>() };
      const batch = fc.array(fuzzConnection(transport, FUZZ_MAX_PACKET).map(withPrinter), { minLength: 1, maxLength: 3 });
      // fast-check stops waiting for a run when the time is up; the run itself goes on, and is
      // awaited below so that nothing of it outlives the test (a broker it restarted, its sockets).
      let current: Promise<void> = Promise.resolve();
      const property = fc.asyncProperty(batch, (conns) => (current = runBatch(conns)));
      const runBatch = async (conns: FuzzConnection[]): Promise<void> => {
        stats.runs++;
        const t0 = Date.now();
        if (process.env.FUZZ_VERBOSE) process.stderr.write(`run ${stats.runs} starts\n`);
        const outcomes: Outcome[] = await Promise.all(conns.map((c) => runConnection(c, target.ports, { maxPacket: FUZZ_MAX_PACKET, boundMs: BOUND_MS })));
        const failures = outcomes.flatMap((o) => o.failures);
        for (const o of outcomes) {
          stats.connections++;
          stats.violations += o.violations;
          if (o.connected) stats.connected++;
          for (const e of o.encoders) stats.encoders.set(e, (stats.encoders.get(e) ?? 0) + 1);
          for (const c of o.codes) {
            const key = `v${c.version === 5 ? 5 : '3.1.1'} ${c.violation} → ${c.version === 4 ? 'closed' : c.got === undefined ? 'no DISCONNECT' : `0x${c.got.toString(16)}`}${c.version === 5 && c.expected !== undefined && c.expected !== c.got ? ` (spec: 0x${c.expected.toString(16)})` : ''}`;
            stats.codes.set(key, (stats.codes.get(key) ?? 0) + 1);
          }
        }
        const health = await target.check(BOUND_MS);
        // After an exit, the batch's other connections failed only because the broker was gone.
        if (health) failures.splice(0, failures.length, health);
        if (process.env.FUZZ_VERBOSE) process.stderr.write(`run ${stats.runs}: ${Date.now() - t0} ms\n  ${conns.map(describeConnection).join('\n  ')}\n`);
        if (KEEP_GOING) {
          for (const f of failures) found.push({ failure: f, input: conns.map(describeConnection).join('\n  ') });
          return;
        }
        assert.deepEqual(failures, [], `seed ${seed}: ${failures.join('\n')}`);
      };
      await fc.assert(property, {
        seed,
        ...(PATH !== undefined ? { path: PATH } : {}),
        numRuns: PATH !== undefined ? 1 : 1_000_000,
        interruptAfterTimeLimit: MINUTES * 60_000,
        markInterruptAsFailure: false,
        endOnFailure: !SHRINK,
      }).finally(() => current.catch(() => {}));
      const codes = [...stats.codes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${n}× ${k}`).join('\n');
      process.stderr.write(
        `boundary fuzzer ${transport} seed ${seed}: ${stats.runs} runs, ${stats.connections} connections (${stats.connected} connected), ` +
          `${stats.violations} violations, encoders ${JSON.stringify(Object.fromEntries(stats.encoders))}; healthy round trip ${target.roundTripSummary()}\n${codes}\n`,
      );
      if (found.length > 0) {
        // One example of each kind of failure (the message up to its first digit varies least).
        const kinds = new Map<string, { n: number; example: { failure: string; input: string } }>();
        for (const f of found) {
          // Crashes are told apart by the first frame of their stack outside the codec (who called it).
          const frame = /at (\S+)/.exec(f.failure.split('\n').find((l) => /^\s+at .*\/src\//.test(l) && !l.includes('/src/protocol/') && !l.includes('Channel.send')) ?? '');
          const kind = `${f.failure.split('\n')[0].replace(/\d+/g, 'N').slice(0, 120)}${f.failure.startsWith('the broker process exited') ? ` ${(f.failure.split('\n').find((l) => /Error:/.test(l)) ?? '').replace(/\d+/g, 'N')} ${frame?.[1] ?? ''}` : ''}`;
          const k = kinds.get(kind);
          if (k) k.n++;
          else kinds.set(kind, { n: 1, example: f });
        }
        const report = [...kinds].map(([kind, { n, example }]) => `${n}× ${kind}\n  e.g. ${example.failure.slice(0, 2000)}\n  input:\n  ${example.input}`).join('\n\n');
        process.stderr.write(`\nboundary fuzzer ${transport} seed ${seed}: ${found.length} failures of ${kinds.size} kinds\n\n${report}\n`);
      }
      assert.equal(found.length, 0, `seed ${seed}: ${found.length} failures (listed above)`);
      assert.deepEqual(target.exits, [], 'the broker process never exited');
      if (PATH === undefined) assert.ok(stats.runs >= MIN_RUNS, `only ${stats.runs} runs in ${MINUTES} min`);
      assert.ok(stats.violations > 0 && (stats.encoders.get('mqtt-packet') ?? 0) > 0 && (stats.encoders.get('raw') ?? 0) > 0, 'violations sent, both encoders used');
    });
  }
});
