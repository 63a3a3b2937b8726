// `starling passwd [-D] [--password-stdin] [--no-scram] FILE USER`: adds, updates or deletes a
// user in the password file. The password is typed twice on a terminal (not echoed) or read as
// the first line of stdin with --password-stdin; never taken from the command line, where other
// users could see it in the process list. The file is replaced atomically (write, then rename) so
// the broker's watcher never reads half a file; a new file is created readable by its owner only.
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { passwordLine, parsePasswordFile, replaceUserLine, validateUserName } from '../auth/password-file.js';

export interface PasswdIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const USAGE = `usage: starling passwd [-D] [--password-stdin] [--no-scram] FILE USER
  Adds or updates USER in the password file FILE (created if missing).
  -D                 delete USER instead
  --password-stdin   read the password from the first line of standard input
  --no-scram         do not store SCRAM-SHA-256 credentials for USER (basic logins only)
`;

interface Parsed {
  file: string;
  user: string;
  del: boolean;
  stdinPassword: boolean;
  scram: boolean;
}

function parseArgs(args: readonly string[]): Parsed | string {
  const positional: string[] = [];
  const p = { del: false, stdinPassword: false, scram: true };
  for (const a of args) {
    if (a === '-D' || a === '--delete') p.del = true;
    else if (a === '--password-stdin') p.stdinPassword = true;
    else if (a === '--no-scram') p.scram = false;
    else if (a === '-h' || a === '--help') return '';
    else if (a.startsWith('-') && a.length > 1) return `unknown option ${a}`;
    else positional.push(a);
  }
  if (positional.length !== 2) return 'expected FILE and USER';
  return { file: positional[0], user: positional[1], ...p };
}

/** Everything on stdin up to the first line break (a trailing CR is dropped too). */
async function readFirstLine(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const nl = text.indexOf('\n');
    if (nl >= 0) return text.slice(0, nl).replace(/\r$/, '');
  }
  return text.replace(/\r$/, '');
}

/** Reads one line from a terminal without echoing it. */
function promptHidden(io: PasswdIO, prompt: string): Promise<string> {
  const { stdin, stderr } = io;
  stderr.write(prompt);
  stdin.setRawMode!(true);
  stdin.resume();
  let chars: string[] = [];
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode!(false);
      stdin.pause();
      stderr.write('\n');
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(chars.join(''));
          return;
        }
        if (ch === '\u0003' || (ch === '\u0004' && chars.length === 0)) {
          finish();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1);
        else chars.push(ch);
      }
    };
    stdin.on('data', onData);
  });
}

async function readPassword(io: PasswdIO, fromStdin: boolean): Promise<string> {
  if (fromStdin) return readFirstLine(io.stdin);
  if (!io.stdin.isTTY || !io.stdin.setRawMode) throw new Error('standard input is not a terminal; use --password-stdin');
  const first = await promptHidden(io, 'Password: ');
  const second = await promptHidden(io, 'Reenter password: ');
  if (first !== second) throw new Error('passwords do not match');
  return first;
}

async function readExisting(file: string): Promise<{ text: string; mode: number | undefined }> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { text, mode: st.mode & 0o777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', mode: undefined };
    throw err;
  }
}

async function replaceFile(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await chmod(tmp, mode); // writeFile's mode is filtered by the umask; keep the file's own mode
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Runs the command; resolves to the process exit code. */
export async function runPasswd(args: readonly string[], io: PasswdIO = process): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    if (parsed) io.stderr.write(`starling passwd: ${parsed}\n`);
    (parsed ? io.stderr : io.stdout).write(USAGE);
    return parsed ? 2 : 0;
  }
  const { file, user } = parsed;
  try {
    validateUserName(user);
    const existing = await readExisting(file);
    // Refuse to edit a file the broker cannot read: the result would still be refused.
    parsePasswordFile(existing.text, file);
    let line: string | undefined;
    if (!parsed.del) {
      const password = await readPassword(io, parsed.stdinPassword);
      if (password.length === 0) throw new Error('empty password');
      line = await passwordLine(user, password, { scram: parsed.scram });
    }
    const { text, found } = replaceUserLine(existing.text, user, line);
    if (parsed.del && !found) throw new Error(`user "${user}" is not in ${file}`);
    await replaceFile(file, text, existing.mode ?? 0o600);
    io.stdout.write(`${parsed.del ? 'deleted' : found ? 'updated' : 'added'} user ${user} in ${file}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`starling passwd: ${(err as Error).message}\n`);
    return 1;
  }
}
