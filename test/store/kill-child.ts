// The crash tests' child: a Node process running `source` (an ES module) that writes one line to
// stdout per batch once apply() resolved, like a PUBACK. It is SIGKILLed once `count` lines came.
import { spawn } from 'node:child_process';

/** Runs the child until `count` acknowledgements, kills it, and returns the last batch it acknowledged. */
export async function killAfterAcks(source: string, count: number, timeoutMs = 60_000): Promise<number> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
  // 'close', not 'exit': the lines of batches acknowledged just before the kill may still be in the pipe.
  const exited = new Promise((r) => proc.once('close', r));
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child never acknowledged ${count} batches: ${err}`)), timeoutMs);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`child exited (${code}) before ${count} acknowledgements: ${err}`));
      });
      proc.stdout.on('data', (d: Buffer) => {
        out += d;
        if (out.split('\n').filter(Boolean).length >= count) {
          proc.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    proc.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  return Math.max(...out.split('\n').filter(Boolean).map(Number));
}
