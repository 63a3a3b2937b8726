#!/usr/bin/env node
// The `starling` command: a thin launcher for the compiled CLI, so `node bin/starling.js` works from a clone.
import { main } from '../dist/src/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`starling: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
