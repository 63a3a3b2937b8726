// Runs every compiled test file with node:test. Node 20's `--test` flag has no concurrency option
// and would run one file at a time on a 2-core machine; suites use OS-chosen ports, so they can share.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';

function collect(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
// STARLING_DIST lets parallel work build into its own folder (e.g. .build/codec) and test from there.
const dist = process.env.STARLING_DIST ?? 'dist';
const files = collect(join(dist, 'test'))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = Number(process.env.TEST_CONCURRENCY ?? Math.max(2, availableParallelism() * 2));
let failed = false;
const stream = run({ files, concurrency, timeout: 10 * 60_000 });
stream.on('test:fail', (ev) => {
  if (ev.details?.type !== 'suite') failed = true;
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  if (failed) process.exitCode = 1;
});
