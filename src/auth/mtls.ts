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
    // Node reports a repeated subject field as an array; which one is the name would be a guess.
    const value: unknown = peer.certificateSubject?.[this.usernameField];
    const name = Array.isArray(value) && value.length === 1 ? value[0] : value;
    if (typeof name !== 'string' || name.length === 0) {
      return fail(ReasonCode.NotAuthorized, `client certificate subject has no single ${this.usernameField}`);
    }
    return { kind: 'pass', username: name };
  }
}
