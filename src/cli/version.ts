// The version of Starling, read from the package.json of the tree this file runs from (a checkout
// or the installed package: dist/src/cli/ is three levels below it in both).
import { readFileSync } from 'node:fs';

export function starlingVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
