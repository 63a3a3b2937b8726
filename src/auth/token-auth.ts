// `JWT` as an MQTT 5 enhanced authentication method: the token travels as Authentication Data, so
// a client can re-authenticate (AUTH 0x19) with a fresh token before the one it connected with
// expires, and keep its connection (src/channel/credentials-expiry.ts). One step: verified exactly
// as a token in the CONNECT password is (src/auth/token.ts).
import type { AuthStep, EnhancedAuthenticator } from '../hooks/enhanced-auth.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { TokenMethod } from './token.js';

export const JWT_AUTH_METHOD = 'JWT';

export function tokenAuthenticator(token: TokenMethod, usernameClaim: string): EnhancedAuthenticator {
  return {
    method: JWT_AUTH_METHOD,
    start: () => ({
      async step(data): Promise<AuthStep> {
        if (data === undefined) return { kind: 'failure', reasonCode: ReasonCode.NotAuthorized, reason: 'JWT needs the token as Authentication Data' };
        const outcome = await token.verify(data.toString('utf8'));
        if (outcome.kind === 'fail') return { kind: 'failure', reasonCode: outcome.code, reason: outcome.reason };
        if (outcome.kind !== 'pass') return { kind: 'failure', reasonCode: ReasonCode.NotAuthorized, reason: 'no token' };
        // The identity must come from the token: an enhanced exchange has no CONNECT user name to fall back on.
        if (typeof outcome.username !== 'string') return { kind: 'failure', reasonCode: ReasonCode.NotAuthorized, reason: `token has no ${usernameClaim} claim` };
        const step: AuthStep = { kind: 'success', username: outcome.username };
        if (outcome.expiresAt !== undefined) step.expiresAt = outcome.expiresAt;
        if (outcome.grants !== undefined) step.grants = outcome.grants;
        return step;
      },
    }),
  };
}
