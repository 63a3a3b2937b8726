// Shared fixtures for the auth tests: ClientInfo / CONNECT builders, a log that can be read back,
// temporary directories, and a bounded wait for file reloads.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import type { AuthStep, EnhancedAuthenticator } from '../../src/hooks/enhanced-auth.js';
import { ScramSha256Authenticator, type ScramCredentials } from '../../src/hooks/scram.js';
import type { ConnectPacket } from '../../src/protocol/packets.js';
import type { ListenerInfo } from '../../src/transport/transport.js';

export const listener: ListenerInfo = { url: 'mqtt://127.0.0.1:1883', scheme: 'mqtt', host: '127.0.0.1', port: 1883 };

let clientSeq = 0;
/** A fresh ClientInfo each call (the authorize caches are keyed on the object). */
export function client(over: Partial<ClientInfo> = {}): ClientInfo {
  return { clientId: `client-${++clientSeq}`, remoteAddress: '192.0.2.10', listener, ...over };
}

export function connect(username?: string, password?: string | Buffer): ConnectPacket {
  const p: ConnectPacket = { type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'c' };
  if (username !== undefined) p.username = username;
  if (password !== undefined) p.password = typeof password === 'string' ? Buffer.from(password) : password;
  return p;
}

/** A pino logger whose lines can be inspected. */
export function captureLog(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, stream);
  return {
    log,
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export const silentLog: Logger = pino({ level: 'silent' });

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls `probe` until it returns true; fails after `timeoutMs` (bounded in count and time). */
export async function waitFor(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const step = 20;
  for (let i = 0; i < timeoutMs / step; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, step));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A SCRAM-SHA-256 client (RFC 5802) written from the RFC, to drive the server side. */
export async function scramLogin(
  lookup: ((user: string) => ScramCredentials | undefined) | EnhancedAuthenticator,
  user: string,
  password: string,
  info: ClientInfo = client(),
): Promise<AuthStep> {
  const authenticator = typeof lookup === 'function' ? new ScramSha256Authenticator(lookup) : lookup;
  const auth = authenticator.start(info);
  const cnonce = 'fyko+d2lbbFgONRv9qkxdawL';
  const bare = `n=${user},r=${cnonce}`;
  const first = await auth.step(Buffer.from(`n,,${bare}`));
  if (first.kind !== 'continue') return first;
  const serverFirst = first.data!.toString();
  const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const finalNoProof = `c=biws,r=${attrs.r}`;
  const signature = createHmac('sha256', storedKey).update(`${bare},${serverFirst},${finalNoProof}`).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
  return auth.step(Buffer.from(`${finalNoProof},p=${proof.toString('base64')}`));
}

