// Admin users of the HTTP admin API: names listed in httpAdminUsers whose passwords are checked
// against the same password file MQTT `basic` logins use (mqttPasswordFile), so an operator has one
// place to manage credentials. The file is watched and re-read like the MQTT one.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { hashPassword, parsePasswordFile, verifyPassword, type PasswordHash, type PasswordTable } from './password-file.js';
import { WatchedFile } from './watched-file.js';
import type { FailureThrottle } from './throttle.js';
import { TooManyChecks, type CheckGate } from './check-gate.js';

/** `busy`: the address already has its most password checks under way (check-gate.ts); nothing was checked. */
export type AdminCheck = 'admin' | 'not-admin' | 'bad-credentials' | 'busy';

export interface AdminUsers {
  /**
   * Verifies a password; the answer says whether the (verified) user may administer. With a
   * throttle, an address with recent failures waits first and a failure counts against it.
   */
  check(user: string, password: string, remoteAddress?: string): Promise<AdminCheck>;
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
  /**
   * The MQTT login throttle: guessing admin passwords over HTTP spends the same per-address budget
   * as guessing MQTT passwords, so neither door is a way around the other.
   */
  throttle?: FailureThrottle;
  /** The MQTT logins' check gate: an admin login's scrypt takes its turn in the same thread pool. */
  gate?: CheckGate;
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
    async check(user, password, remoteAddress) {
      const throttle = remoteAddress !== undefined ? options.throttle : undefined;
      await throttle?.wait(remoteAddress!);
      const entry = table()?.get(user);
      const verify = async (): Promise<boolean> => {
        if (entry !== undefined) return verifyPassword(password, entry.password);
        decoy ??= hashPassword(randomBytes(18).toString('base64'));
        await verifyPassword(password, await decoy);
        return false;
      };
      let ok: boolean;
      try {
        ok = options.gate ? await options.gate.run(remoteAddress ?? '', verify) : await verify();
      } catch (err) {
        if (err instanceof TooManyChecks) return 'busy';
        throw err;
      }
      if (!ok) {
        throttle?.failure(remoteAddress!);
        return 'bad-credentials';
      }
      return users.has(user) ? 'admin' : 'not-admin';
    },
    close: () => file?.close(),
  };
}
