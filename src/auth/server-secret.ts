// The server secret: 32 random bytes the broker keys its made-up answers with (the SCRAM salt of a
// user that does not exist), so they are stable like a real user's and unpredictable to anyone
// else. Kept in the data directory, made on first start with mode 0600; a broker that keeps nothing
// on disk (persistence=memory) makes one per process, and says so.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export const SERVER_SECRET_FILE = 'server-secret';
const SECRET_BYTES = 32;

export interface ServerSecretOptions {
  /** Where the secret file lives; undefined: generate one per process. */
  dataDir: string | undefined;
  log: Logger;
}

/** Reads the secret, creating the file first when there is none. */
export function serverSecret({ dataDir, log }: ServerSecretOptions): Buffer {
  if (dataDir === undefined) {
    log.info('no data directory in use (persistence=memory): the server secret is generated for this process, so made-up SCRAM salts of unknown users change at each restart');
    return randomBytes(SECRET_BYTES);
  }
  const path = join(dataDir, SERVER_SECRET_FILE);
  mkdirSync(dataDir, { recursive: true });
  // Written aside and linked into place: link fails when the file exists, so worker processes
  // starting at once agree on the first one, and nobody ever reads a half-written file.
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${randomBytes(SECRET_BYTES).toString('base64')}\n`, { mode: 0o600 });
    try {
      linkSync(tmp, path);
      log.info({ file: path }, 'server secret created');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  if ((statSync(path).mode & 0o077) !== 0) log.warn({ file: path }, 'the server secret file is readable by other users; make it mode 0600');
  const secret = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (secret.length < SECRET_BYTES) throw new Error(`${path}: the server secret must hold at least ${SECRET_BYTES} base64 bytes; delete the file to have a new one made`);
  return secret;
}
