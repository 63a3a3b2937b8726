// Entry point for tests that run the real `starling` command in its own process from the compiled
// tree they belong to (bin/starling.js always loads dist/). `workers=N` forks this same file.
import { main } from '../../src/cli/main.js';

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`starling: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
