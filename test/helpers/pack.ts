// `npm pack` once per build: the tarball is kept in dist/pack/<build>/ and every test that installs
// the package (library, CLI) shares it. Test files run in separate processes at the same time, so
// the first to come packs under a lock directory and the others wait for its result.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A lock older than this was left by a run that died while packing. */
const STALE_LOCK_MS = 5 * 60_000;

/**
 * The path of the packed tarball of this checkout as built now (dist/, which `npm pack` takes as it
 * is: scripts are not run, so packing never rebuilds). Packs on the first call of a build.
 */
export async function packedTarball(timeoutMs = 5 * 60_000): Promise<string> {
  const dist = join(repoRoot, 'dist');
  // One build, one tarball: the compiler's build info changes with every build.
  const build = Math.round(statSync(join(dist, '.tsbuildinfo')).mtimeMs).toString(36);
  const dir = join(dist, 'pack', build);
  const done = join(dir, 'tarball');
  const lock = join(dist, 'pack', `${build}.lock`);
  const deadline = Date.now() + timeoutMs;
  mkdirSync(join(dist, 'pack'), { recursive: true });
  for (;;) {
    if (existsSync(done)) return join(dir, readFileSync(done, 'utf8').trim());
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`npm pack by another test did not finish within ${timeoutMs} ms`);
      await sleep(250);
      continue;
    }
    try {
      if (existsSync(done)) continue;
      // Tarballs of earlier builds are of no more use.
      for (const old of readdirSync(join(dist, 'pack'))) if (old !== build && !old.endsWith('.lock')) rmSync(join(dist, 'pack', old), { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: repoRoot, timeout: timeoutMs });
      const name = stdout.trim().split('\n').pop()!.trim();
      if (!name.endsWith('.tgz') || !existsSync(join(dir, name))) throw new Error(`npm pack said ${JSON.stringify(stdout)}`);
      writeFileSync(done, name);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
