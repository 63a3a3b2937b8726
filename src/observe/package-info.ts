// Where the Starling package lives on disk and which version it is, found from this module's own
// location so it works from dist/, from a private build folder and from an installed package.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'starling-mqtt';

function readName(dir: string): { name?: string; version?: string } | undefined {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
  } catch {
    return undefined;
  }
}

/** The package root (the folder holding Starling's package.json), or undefined when not found. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from;
  for (let i = 0; i < 12; i++) {
    if (readName(dir)?.name === PACKAGE_NAME) return dir;
    const up = resolve(dir, '..');
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Starling's version from its package.json, or '0.0.0' when it cannot be read. */
export function packageVersion(): string {
  const root = packageRoot();
  return (root && readName(root)?.version) || '0.0.0';
}

/** The built console (web/dist) of this package. */
export function defaultConsoleDir(): string | undefined {
  const root = packageRoot();
  return root ? join(root, 'web', 'dist') : undefined;
}
