// `basic`: user name and password checked against the password file (salted scrypt, compared in
// constant time). The same users serve SCRAM-SHA-256 through `scramLookup`.
import { randomBytes } from 'node:crypto';
import type { ClientInfo } from '../hooks/hooks.js';
import type { ScramCredentials } from '../hooks/scram.js';
import type { ConnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { fail, skip, type AuthMethod, type MethodOutcome } from './methods.js';
import { hashPassword, verifyPassword, type PasswordHash, type PasswordTable } from './password-file.js';

/** Where the current password table comes from (a WatchedFile, or a fixed table in tests). */
export interface PasswordSource {
  readonly current: PasswordTable | undefined;
}

export class BasicMethod implements AuthMethod {
  readonly name = 'basic';
  readonly checksUsername = true;
  /** A hash no password matches, checked for unknown users so they take as long as known ones. */
  private decoy: Promise<PasswordHash> | undefined;

  constructor(private readonly source: PasswordSource) {}

  async check(_client: ClientInfo, packet: ConnectPacket): Promise<MethodOutcome> {
    // A user name without a password proves nothing; a password without a name names no user.
    if (packet.username === undefined || packet.password === undefined) return skip;
    const table = this.source.current;
    if (table === undefined) return fail(ReasonCode.BadAuthenticationMethod, 'password file not loaded');
    const password = packet.password.toString('utf8');
    const entry = table.get(packet.username);
    if (entry === undefined) {
      this.decoy ??= hashPassword(randomBytes(18).toString('base64'));
      await verifyPassword(password, await this.decoy);
      return fail(ReasonCode.BadUserNameOrPassword, 'bad user name or password');
    }
    if (!(await verifyPassword(password, entry.password))) return fail(ReasonCode.BadUserNameOrPassword, 'bad user name or password');
    return { kind: 'pass', username: packet.username };
  }

  /** SCRAM-SHA-256 credentials of a user, for ScramSha256Authenticator. */
  scramLookup = (user: string): ScramCredentials | undefined => this.source.current?.get(user)?.scram;
}
