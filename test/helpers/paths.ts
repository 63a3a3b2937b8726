// Locating the repository from a compiled test file (builds go to dist/ or .build/NAME/).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('repository root not found above the compiled tests');
}

/** The repository checkout. */
export const repoRoot = findRoot();
/** The compiled tree the running tests belong to (dist/ or .build/NAME/). */
export const compiledRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
