// `mtls`: a client certificate verified by the TLS listener against its trusted CAs is the
// credential; a field of its subject (CN by default) becomes the user name.
import type { ClientInfo } from '../hooks/hooks.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { fail, skip, type AuthMethod, type MethodOutcome } from './methods.js';

export class MtlsMethod implements AuthMethod {
  readonly name = 'mtls';

  constructor(private readonly usernameField = 'CN') {}

  check(client: ClientInfo): MethodOutcome {
    const peer = client.peer;
    // No TLS, or TLS without a client certificate: nothing for this method to judge.
    if (peer === undefined || (!peer.authorized && peer.certificateSubject === undefined)) return skip;
    if (!peer.authorized) return fail(ReasonCode.NotAuthorized, 'client certificate not verified by a trusted CA');
    // A repeated subject field is a list; which one is the name would be a guess, and joining them
    // would make up a name nobody was issued ("alice,bob"). Refused, and the reason is logged.
    const value = peer.certificateSubject?.[this.usernameField];
    if (Array.isArray(value) && value.length > 1) {
      return fail(ReasonCode.NotAuthorized, `client certificate subject repeats ${this.usernameField} (${value.length} times): refused`);
    }
    const name: unknown = Array.isArray(value) ? value[0] : value;
    if (typeof name !== 'string' || name.length === 0) {
      return fail(ReasonCode.NotAuthorized, `client certificate subject has no ${this.usernameField}`);
    }
    return { kind: 'pass', username: name };
  }
}
