// Admin users of the HTTP admin API: names listed in httpAdminUsers whose passwords are checked
// against the same password file MQTT `basic` logins use (mqttPasswordFile), so an operator has one
// place to manage credentials. The file is watched and re-read like the MQTT one.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { hashPassword, parsePasswordFile, verifyPassword, type PasswordHash, type PasswordTable } from './password-file.js';
import { WatchedFile } from './watched-file.js';

export type AdminCheck = 'admin' | 'not-admin' | 'bad-credentials';

export interface AdminUsers {
  /** Verifies a password; the answer says whether the (verified) user may administer. */
  check(user: string, password: string): Promise<AdminCheck>;
  close(): void;
}

export interface AdminUsersOptions {
  /** httpAdminUsers. */
  users: readonly string[];
  /** mqttPasswordFile. */
  passwordFile: string;
  log: Logger;
  pollIntervalMs?: number;
  /** A fixed table instead of the file (tests). */
  table?: PasswordTable;
}

/** Undefined when no admin user is configured: Basic credentials are then never accepted. */
export function createAdminUsers(options: AdminUsersOptions): AdminUsers | undefined {
  const users = new Set(options.users.map((u) => u.trim()).filter((u) => u !== ''));
  if (users.size === 0) return undefined;
  const path = options.passwordFile.trim();
  if (options.table === undefined && path === '') {
    options.log.error('httpAdminUsers needs mqttPasswordFile: admin users cannot log in to the admin API');
  }
  const file =
    options.table === undefined && path !== ''
      ? new WatchedFile<PasswordTable>({ path, label: 'password file', parse: parsePasswordFile, log: options.log, pollIntervalMs: options.pollIntervalMs ?? 5_000 })
      : undefined;
  const table = (): PasswordTable | undefined => options.table ?? file?.current;
  // Unknown users are checked against a hash no password matches, so they take as long as known ones.
  let decoy: Promise<PasswordHash> | undefined;

  return {
    async check(user, password) {
      const entry = table()?.get(user);
      if (entry === undefined) {
        decoy ??= hashPassword(randomBytes(18).toString('base64'));
        await verifyPassword(password, await decoy);
        return 'bad-credentials';
      }
      if (!(await verifyPassword(password, entry.password))) return 'bad-credentials';
      return users.has(user) ? 'admin' : 'not-admin';
    },
    close: () => file?.close(),
  };
}
